//! Herald adapter for generic `webhook` targets.
//!
//! One `POST` of a JSON body to the target's `url` per alert, with the
//! target's headers added verbatim; any 2xx is a delivery. See
//! `TARGETS.md`, "Generic webhook".
//!
//! Layout:
//! - `format` — checking a target's configuration, building the body (Herald's
//!   own `version: "1"` shape, or Alertmanager's v4 payload with
//!   `options.format = "alertmanager"`), HMAC signing, the health probe;
//! - `classify` — what the reply means (delivered, or an error with its class);
//! - this file — only the WIT glue.
//!
//! Configuration: `url` (http or https); `options.format` (`herald` |
//! `alertmanager`), `options.external_url` (Alertmanager format only: the
//! payload's `externalURL`), `options.health_path` (enables the health probe);
//! `secrets.signing_secret` (adds `X-Herald-Timestamp` and
//! `X-Herald-Signature: sha256=<hex HMAC-SHA256 of "timestamp.body">`).
//!
//! A webhook keeps no state between deliveries: firing, repeated firing and
//! resolved are each one self-contained request, so nothing here takes a
//! `State`, and a resolve needs nothing remembered.

mod classify;
mod format;

#[cfg(test)]
mod tests;

use herald_plugin_sdk::{
    Action, Adapter, AdapterInfo, EnrichedAlert, Error, HttpRequest, HttpResponse, Target,
    export_adapter, now_unix_seconds,
};

/// The component's export.
struct Plugin;

impl Adapter for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: vec!["webhook".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Generic JSON webhook: Herald's own body or Alertmanager's v4 payload, \
                          optionally HMAC-signed"
                .to_string(),
        }
    }

    fn validate_target(target: Target) -> Result<(), String> {
        format::validate(&target)
    }

    fn prepare(alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        format::validate(&target)
            .and_then(|()| format::request(&alert, &target, now_unix_seconds()))
            .map(Action::Send)
            .map_err(Error::permanent)
    }

    fn handle_response(
        _alert: EnrichedAlert,
        target: Target,
        response: HttpResponse,
    ) -> Result<Action, Error> {
        classify::response(&response, &target)
    }

    fn health_probe(target: Target) -> Option<HttpRequest> {
        format::health_probe(&target, now_unix_seconds())
    }
}

export_adapter!(Plugin);
