//! Herald adapter for `example` targets: a small chat service, and the worked
//! example of `plugins/README.md`.
//!
//! Every alert becomes one message, `POST {url}/messages` with the JSON body
//! `{title, body, priority}` and `Authorization: Bearer <secrets.token>`; any
//! 2xx is a delivery, everything else follows the shared status rules of
//! `TARGETS.md`. The chat answers a post with the new message's `id`, which
//! is remembered so that the resolve is posted as a reply to the firing
//! message (`reply_to`).
//!
//! Target configuration: `url` (the chat's base URL), `secrets.token`
//! (required), `options.min_priority` (1..=5, default 1: alerts of a lower
//! priority are skipped).
//!
//! Layout:
//!
//! - `format`: checking a target, building the message and the requests (pure);
//! - `classify`: what a reply means, and keeping the remembered id in step;
//! - this file: only the WIT glue, passing the host's state.

mod classify;
mod format;

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
            kinds: vec!["example".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Example chat service: one message per alert, resolves posted as replies"
                .to_string(),
        }
    }

    fn validate_target(target: Target) -> Result<(), String> {
        format::Config::from_target(&target).map(|_| ())
    }

    fn prepare(alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        format::prepare(&alert, &target, &HostState)
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
