//! Herald adapter for `slack` targets: Slack incoming webhooks and the Web
//! API with a bot token (threads, updates, remembered messages).
//!
//! Layout:
//!
//! - `format`: the target's configuration, the Block Kit look of an alert and
//!   the request bodies (pure functions);
//! - `classify`: which request comes first from the remembered state, and
//!   what each response means (finish, fail with a class, or the next request);
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
            kinds: vec!["slack".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Slack: incoming webhooks, or the Web API with a bot token (one thread per alert, updated on repeat and resolve)".to_string(),
        }
    }

    fn validate_target(target: Target) -> Result<(), String> {
        format::Config::from_target(&target).map(|_| ())
    }

    fn prepare(alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        classify::prepare(&alert, &target, &mut HostState)
    }

    fn handle_response(
        alert: EnrichedAlert,
        target: Target,
        response: HttpResponse,
    ) -> Result<Action, Error> {
        classify::handle_response(&alert, &target, &response, &mut HostState)
    }

    /// Bot mode: `auth.test` (posts nothing); webhook mode: none, since any
    /// `POST` to an incoming webhook posts a message. See [`format::health_probe`].
    fn health_probe(target: Target) -> Option<HttpRequest> {
        format::health_probe(&target)
    }
}

export_adapter!(Plugin);
