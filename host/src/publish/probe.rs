//! Health probes through the adapters: the [`Prober`] the health monitor
//! uses, implemented here because sending a request (checked against the
//! target's origin, with the shared client) is the deliverer's job and
//! `health` sits below `publish`.

use futures::future::BoxFuture;

use super::Deliverer;
use crate::health::{ProbeReply, Prober};
use crate::model::{ErrorClass, Target};
use crate::plugin::convert::wit_target;
use crate::plugin::{CallOptions, StateScope};

/// The state scope of probe sessions. Probes never commit state; the scope
/// only keeps them apart from every real alert's.
const PROBE_SCOPE: &str = "herald:health-probe";

impl Prober for Deliverer {
    /// Asks the adapter for the target's probe request and sends it; a 2xx
    /// is healthy. Without an adapter, without a probe, or when the plugin
    /// fails to build one (a plugin problem, not the target's), answers
    /// [`ProbeReply::NoProbe`] so that the monitor falls back to TCP.
    fn probe<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, ProbeReply> {
        Box::pin(async move {
            let Some(plugin) = self.runtime.adapter(&target.kind) else {
                return ProbeReply::NoProbe;
            };
            let call = CallOptions {
                clock: None,
                secrets: target.secrets.expose().values().cloned().collect(),
            };
            let request = {
                let scope = StateScope::new(&target.name, PROBE_SCOPE);
                let mut session = match self.runtime.session(&plugin, scope, call).await {
                    Ok(s) => s,
                    Err(e) => return plugin_trouble(target, &e.message),
                };
                match session.health_probe(&wit_target(target)).await {
                    Ok(Some(request)) => request,
                    Ok(None) => return ProbeReply::NoProbe,
                    Err(e) => return plugin_trouble(target, &e.message),
                }
                // The session (and its instance slot) ends here, before any network wait.
            };
            match self.send(target, &request).await {
                Ok(response) if (200..300).contains(&response.status) => ProbeReply::Healthy,
                Ok(response) => ProbeReply::Unhealthy {
                    status: Some(response.status),
                    message: format!("health probe answered HTTP {}", response.status),
                },
                // Transport failures say the target is unreachable.
                Err(e) if e.class != ErrorClass::Permanent => ProbeReply::Unhealthy {
                    status: None,
                    message: format!("health probe: {}", target.secrets.redact(&e.message)),
                },
                // The request itself was refused (another origin, a bad header):
                // the plugin's fault, not the target's.
                Err(e) => plugin_trouble(target, &e.message),
            }
        })
    }
}

fn plugin_trouble(target: &Target, message: &str) -> ProbeReply {
    tracing::warn!(
        target = %target.name,
        kind = %target.kind,
        "the adapter's health probe could not be used ({}); checking by TCP connect instead",
        target.secrets.redact(message)
    );
    ProbeReply::NoProbe
}
