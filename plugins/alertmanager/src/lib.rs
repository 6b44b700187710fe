//! Herald adapter for `alertmanager` targets: another Prometheus
//! Alertmanager, fed through its API v2.
//!
//! Each alert is posted as `POST {url}/api/v2/alerts` with a one-element
//! JSON array; a resolved alert carries `endsAt`, which resolves it at once.
//! The classification travels in `llm_*` annotations.
//!
//! Layout:
//!
//! - `lib.rs` (this file): the WIT glue only (and the wall clock).
//! - [`format`]: checking targets, building the body, auth and the probe (pure).
//! - [`classify`]: mapping Alertmanager's replies to outcomes and errors (pure).
//!
//! The adapter keeps no state: Alertmanager identifies alerts by their label
//! set, so firing and resolved need nothing remembered between them, and
//! this glue never touches the host's state.

pub mod classify;
pub mod format;

#[cfg(test)]
mod tests;

use herald_plugin_sdk::{
    Action, Adapter, AdapterInfo, EnrichedAlert, Error, HttpRequest, HttpResponse, Target,
    export_adapter, now_rfc3339,
};

/// The `alertmanager` adapter, as exported to the host.
struct Plugin;

impl Adapter for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: vec!["alertmanager".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Prometheus Alertmanager API v2: POST /api/v2/alerts, classification \
                          in llm_* annotations"
                .to_string(),
        }
    }

    fn validate_target(target: Target) -> Result<(), String> {
        format::validate_target(&target)
    }

    fn prepare(alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        format::request(&alert, &target, &now_rfc3339()).map(Action::Send)
    }

    fn handle_response(
        _alert: EnrichedAlert,
        target: Target,
        response: HttpResponse,
    ) -> Result<Action, Error> {
        classify::handle_response(&target, &response)
    }

    /// `GET {url}/-/healthy`: Alertmanager's liveness endpoint, free of side
    /// effects (see [`format::health_probe`]).
    fn health_probe(target: Target) -> Option<HttpRequest> {
        Some(format::health_probe(&target))
    }
}

export_adapter!(Plugin);
