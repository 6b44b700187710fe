//! Herald adapter for `rootly` targets: Rootly's JSON:API, in one of two modes.
//!
//! - `alerts` (default): a firing alert becomes a Rootly alert
//!   (`POST /v1/alerts`, deduplicated by fingerprint), a resolved one resolves
//!   it (`POST /v1/alerts/{id}/resolve`).
//! - `incidents`: a firing alert opens a Rootly incident (`POST /v1/incidents`),
//!   a resolved one resolves it (`PATCH /v1/incidents/{id}`).
//!
//! The Rootly id is remembered between firing and resolved in the host's state
//! (scoped to target and fingerprint). Target configuration:
//!
//! | key | | |
//! |---|---|---|
//! | `url` | required | API base, normally `https://api.rootly.com` |
//! | `secrets.api_key` | required | sent as `Authorization: Bearer …` |
//! | `options.mode` | `alerts` \| `incidents` | default `alerts` |
//! | `options.service_ids`, `group_ids`, `environment_ids` | comma-separated ids | attached to alerts and incidents |
//! | `options.alert_urgency_id` | one id | alerts mode only |
//!
//! Layout:
//!
//! - `format`: settings, request bodies, and the choice of request ([`format::prepare`]);
//! - `classify`: replies to outcomes and errors, and the remembered id ([`classify::handle_response`]);
//! - this file: only the WIT glue.

pub mod classify;
pub mod format;

#[cfg(test)]
mod tests;

use herald_plugin_sdk::{
    Action, Adapter, AdapterInfo, EnrichedAlert, Error, HostState, HttpRequest, HttpResponse,
    Target, export_adapter,
};

/// The component's export.
struct Plugin;

impl Adapter for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: vec!["rootly".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Rootly alerts (default) or incidents through the JSON:API, resolved by remembered id".to_string(),
        }
    }

    fn validate_target(target: Target) -> Result<(), String> {
        format::validate_target(&target)
    }

    fn prepare(alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        format::prepare(&alert, &target, &mut HostState)
    }

    fn handle_response(
        alert: EnrichedAlert,
        target: Target,
        response: HttpResponse,
    ) -> Result<Action, Error> {
        classify::handle_response(&alert, &target, &response, &mut HostState)
    }

    fn health_probe(target: Target) -> Option<HttpRequest> {
        format::health_probe(&target)
    }
}

export_adapter!(Plugin);
