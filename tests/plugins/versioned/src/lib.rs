//! A tiny adapter (kind `versioned`) built twice for the hot-reload tests:
//! the crates `herald-test-versioned-a` (version 1.0.0) and
//! `herald-test-versioned-b` (version 2.0.0) both compile this file, so the
//! two `.wasm` files provide the same kind and differ only in the version
//! they report and send.
//!
//! `prepare` sends `POST {url}` with `{"version": "<package version>",
//! "fingerprint": "<the alert's>"}`; any 2xx is delivered, with the version
//! as the outcome's note. A test swapping one file for the other can tell,
//! from what the mock target receives, which build served each delivery.
//! Native code never runs this crate; the host's tests load the release `.wasm`.

use herald_plugin_sdk::{
    Action, Adapter, AdapterInfo, EnrichedAlert, Error, HttpRequest, HttpResponse, Target,
    classify_status, export_adapter, json_request, serde_json,
};

/// This build's version: the package version of the crate compiling this file.
const VERSION: &str = env!("CARGO_PKG_VERSION");

struct Plugin;

impl Adapter for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: vec!["versioned".to_string()],
            version: VERSION.to_string(),
            description: "test guest that reports its build's version in every body".to_string(),
        }
    }

    fn validate_target(_target: Target) -> Result<(), String> {
        Ok(())
    }

    fn prepare(alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        let body = serde_json::json!({
            "version": VERSION,
            "fingerprint": alert.alert.fingerprint,
        });
        Ok(Action::Send(json_request(
            "POST",
            target.url.clone(),
            "application/json",
            &target.headers,
            &body,
        )))
    }

    fn handle_response(
        _alert: EnrichedAlert,
        _target: Target,
        response: HttpResponse,
    ) -> Result<Action, Error> {
        classify_status(
            &response,
            format!("versioned target answered {}", response.status),
        )?;
        Ok(Action::delivered_with_note(VERSION))
    }

    /// None: a test guest has no probe.
    fn health_probe(_target: Target) -> Option<HttpRequest> {
        None
    }
}

export_adapter!(Plugin);
