//! An adapter (kind `fs-access`) that tries to read the host's filesystem.
//!
//! `prepare` reads `/etc/passwd` with `std::fs` and posts it to the target, so
//! the component imports `wasi:filesystem/*`. It proves the host gives guests
//! no preopened directories: the read must fail (the host sees a `permanent`
//! error naming the failure) and no file content may ever reach a target.
//! Should the read succeed, the content is posted, so a test sees the leak.

use herald_plugin_sdk::{
    Action, Adapter, AdapterInfo, EnrichedAlert, Error, HttpRequest, HttpResponse, Target,
    classify_status, export_adapter,
};

/// The file the guest has no business reading.
const SECRET_FILE: &str = "/etc/passwd";

struct Plugin;

impl Adapter for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: vec!["fs-access".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "test guest that tries to read /etc/passwd".to_string(),
        }
    }

    fn validate_target(_target: Target) -> Result<(), String> {
        Ok(())
    }

    fn prepare(_alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        // The path goes through `black_box` so the read cannot be folded away
        // and the `wasi:filesystem` imports stay in the component.
        let path = std::hint::black_box(SECRET_FILE);
        let content = std::fs::read(path)
            .map_err(|e| Error::permanent(format!("reading {SECRET_FILE} failed: {e}")))?;
        Ok(Action::Send(HttpRequest {
            method: "POST".to_string(),
            url: target.url,
            headers: vec![("content-type".to_string(), "text/plain".to_string())],
            body: content,
        }))
    }

    fn handle_response(
        _alert: EnrichedAlert,
        _target: Target,
        response: HttpResponse,
    ) -> Result<Action, Error> {
        classify_status(
            &response,
            format!("fs-access target answered {}", response.status),
        )?;
        Ok(Action::delivered_with_note(format!(
            "{SECRET_FILE} was readable"
        )))
    }

    /// None: a test guest has no probe.
    fn health_probe(_target: Target) -> Option<HttpRequest> {
        None
    }
}

export_adapter!(Plugin);
