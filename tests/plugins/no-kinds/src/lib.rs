//! An adapter whose `info` lists no kinds.
//!
//! It proves the host rejects, at load time, a component that claims to handle
//! nothing (the WIT says `kinds` holds at least one): it must not be registered
//! and must not replace a live plugin on hot reload. Everything else is trivial.

use herald_plugin_sdk::{
    Action, Adapter, AdapterInfo, EnrichedAlert, Error, HttpRequest, HttpResponse, Target,
    export_adapter,
};

struct Plugin;

impl Adapter for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: Vec::new(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "test guest that handles no kinds".to_string(),
        }
    }

    fn validate_target(_target: Target) -> Result<(), String> {
        Ok(())
    }

    fn prepare(_alert: EnrichedAlert, _target: Target) -> Result<Action, Error> {
        Ok(Action::skipped("no-kinds never sends anything"))
    }

    fn handle_response(
        _alert: EnrichedAlert,
        _target: Target,
        _response: HttpResponse,
    ) -> Result<Action, Error> {
        Ok(Action::delivered())
    }

    /// None: a test guest has no probe.
    fn health_probe(_target: Target) -> Option<HttpRequest> {
        None
    }
}

export_adapter!(Plugin);
