//! An adapter built against `herald:adapter@9.9.0`, a contract version the
//! host does not support.
//!
//! Its bindings come from `wit/adapter.wit`, a copy of the real contract with
//! only the package version changed, so it imports `herald:adapter/state@9.9.0`
//! and `herald:adapter/log@9.9.0` and exports `herald:adapter/adapter@9.9.0`
//! instead of `@0.1.x`. It proves the host rejects it at load time with a
//! clear "unsupported WIT version" error rather than failing on a call.
//! Otherwise it is a trivial, well-behaved adapter for kind `wrong-wit`.

wit_bindgen::generate!({
    world: "plugin",
    path: "wit",
});

use exports::herald::adapter::adapter::Guest;
use herald::adapter::types::{
    Action, AdapterInfo, EnrichedAlert, Error, HttpRequest, HttpResponse, Outcome, OutcomeKind,
    Target,
};

struct Plugin;

impl Guest for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: vec!["wrong-wit".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "test guest built against herald:adapter@9.9.0".to_string(),
        }
    }

    fn validate_target(_target: Target) -> Result<(), String> {
        Ok(())
    }

    fn prepare(_alert: EnrichedAlert, _target: Target) -> Result<Action, Error> {
        Ok(Action::Finish(Outcome {
            kind: OutcomeKind::Delivered,
            note: Some("wrong-wit".to_string()),
        }))
    }

    fn handle_response(
        _alert: EnrichedAlert,
        _target: Target,
        _response: HttpResponse,
    ) -> Result<Action, Error> {
        Ok(Action::Finish(Outcome {
            kind: OutcomeKind::Delivered,
            note: None,
        }))
    }

    /// None: a test guest has no probe.
    fn health_probe(_target: Target) -> Option<HttpRequest> {
        None
    }
}

export!(Plugin);
