//! Herald adapter for `pagerduty` targets: PagerDuty's Events API v2.
//!
//! A firing alert becomes a `trigger` event, a resolved one a `resolve`
//! event, both sent as `POST {url}/v2/enqueue` with the integration key
//! (`secrets.routing_key`) in the body. The target's `url` is the Events API
//! base: `https://events.pagerduty.com`, or `https://events.eu.pagerduty.com`
//! for accounts in the EU service region.
//!
//! Layout:
//!
//! - `lib.rs` (this file): the WIT glue only.
//! - [`format`]: checking targets and building the events (pure).
//! - [`classify`]: mapping PagerDuty's replies to outcomes and errors (pure).
//!
//! The adapter keeps no state: the `dedup_key` is the alert's fingerprint, so
//! a resolve needs nothing remembered from the trigger, and this glue never
//! touches the host's state.

pub mod classify;
pub mod format;

#[cfg(test)]
mod tests;

use herald_plugin_sdk::{
    Action, Adapter, AdapterInfo, EnrichedAlert, Error, HttpRequest, HttpResponse, Level, Target,
    export_adapter, log,
};

/// The `pagerduty` adapter, as exported to the host.
struct Plugin;

impl Adapter for Plugin {
    fn info() -> AdapterInfo {
        AdapterInfo {
            kinds: vec!["pagerduty".to_string()],
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "PagerDuty Events API v2: trigger on firing, resolve on resolved, \
                          dedup_key = fingerprint"
                .to_string(),
        }
    }

    fn validate_target(target: Target) -> Result<(), String> {
        format::validate_target(&target)
    }

    fn prepare(alert: EnrichedAlert, target: Target) -> Result<Action, Error> {
        let (request, shrink) = format::request(&alert, &target)?;
        if let Some(note) = shrink.note() {
            log(Level::Warn, note);
        }
        Ok(Action::Send(request))
    }

    fn handle_response(
        _alert: EnrichedAlert,
        target: Target,
        response: HttpResponse,
    ) -> Result<Action, Error> {
        classify::handle_response(&target, &response)
    }

    /// None: PagerDuty's Events API has no side-effect-free endpoint that
    /// checks an integration key or even reachability; the only thing to
    /// call is `/v2/enqueue`, and a probe event would page someone. Health
    /// comes from real deliveries instead (passive accrual in the host).
    fn health_probe(_target: Target) -> Option<HttpRequest> {
        None
    }
}

export_adapter!(Plugin);
