//! What the publisher asks before and tells after each delivery: is this
//! target healthy, does its circuit breaker let a delivery through, and how
//! did the delivery go.
//!
//! - [`HealthRegistry`]: the health cache and the circuit breakers, one entry
//!   per target; the [`HealthView`] a real publisher uses.
//! - [`HealthMonitor`]: the background task that probes targets through a
//!   [`Prober`] (the adapter's `health-probe`; a TCP connect where there is none).
//! - [`HealthConfig`]: thresholds, intervals, breaker settings (`[health]`).
//!
//! How outcomes count ([`Verdict::of`]): a success counts for the target;
//! transient and unknown errors, and permanent errors the target's own
//! setup causes (401, 403, 404, 405, 407, 410, 501), count against it; a
//! permanent error with any other HTTP status (400, 409, 413, 422, ...) is
//! the alert's fault and does not count; a permanent error with no HTTP
//! status (the plugin trapped, ran out of time or memory, or refused to build
//! a request) never reached the target, says nothing about its health, and
//! does not count either. Skipped targets are not outcomes at all.
//!
//! Depends on `model` (and `metrics`) only. Reads on the publish path are
//! O(1) and never wait: an `ArcSwap` load, one hash lookup, atomic loads.

mod breaker;
mod config;
mod monitor;
mod registry;

#[cfg(test)]
mod tests;

pub use breaker::{BreakerSnapshot, BreakerState};
pub use config::{
    BreakerConfig, HealthConfig, HealthConfigError, ProbeSettings, TargetHealthConfig,
};
pub use monitor::{HealthMonitor, MonitorHandle, ProbeReply, Prober, TcpOnly, tcp_connect};
pub use registry::{HealthRegistry, ProbeMethod, ProbeOutcome, TargetHealth};

use crate::model::{ErrorClass, TargetResult};

/// A target's health as last observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Never checked, or the last result is stale. Published to under every strategy.
    Unknown,
    Healthy,
    Degraded,
    Unhealthy,
}

impl HealthStatus {
    /// The `target_health_status` gauge value: 0 unknown, 1 healthy, 2 degraded, 3 unhealthy.
    pub fn as_gauge(self) -> i64 {
        match self {
            HealthStatus::Unknown => 0,
            HealthStatus::Healthy => 1,
            HealthStatus::Degraded => 2,
            HealthStatus::Unhealthy => 3,
        }
    }

    /// `unknown`, `healthy`, `degraded` or `unhealthy`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Unknown => "unknown",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// What one outcome says about a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// It worked.
    Success,
    /// It failed because of the target (down, slow, refusing our credentials).
    Failure,
    /// It failed because of the alert or the plugin, not the target.
    Neutral,
    /// The target was skipped: nothing was tried.
    NotAttempted,
}

/// HTTP statuses on a permanent error that mean the target (or our setup of
/// it) is broken, not the alert: credentials, address, method, gone.
const TARGET_AT_FAULT: &[u16] = &[401, 403, 404, 405, 407, 410, 501];

impl Verdict {
    /// Judges a delivery's result (see the module docs for the rules).
    pub fn of(result: &TargetResult) -> Self {
        if result.skipped {
            return Verdict::NotAttempted;
        }
        if result.success {
            return Verdict::Success;
        }
        let Some(error) = &result.error else {
            return Verdict::Failure;
        };
        match (error.class, result.status_code) {
            (ErrorClass::Transient | ErrorClass::Unknown, _) => Verdict::Failure,
            (ErrorClass::Permanent, Some(code)) if TARGET_AT_FAULT.contains(&code) => {
                Verdict::Failure
            }
            (ErrorClass::Permanent, _) => Verdict::Neutral,
        }
    }
}

/// Which health states a publish skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheckStrategy {
    /// Skip `unhealthy` targets (the default).
    #[default]
    SkipUnhealthy,
    /// Ignore health (circuit breakers still apply unless told otherwise).
    PublishToAll,
    /// Skip `unhealthy` and `degraded` targets.
    SkipUnhealthyAndDegraded,
}

/// The health and breaker state the publisher consults.
pub trait HealthView: Send + Sync + 'static {
    /// The target's status. Must not block.
    fn status(&self, target: &str) -> HealthStatus;
    /// Asks the target's circuit breaker to let one delivery through; `false`
    /// means the circuit is open. Must not block.
    fn admit(&self, target: &str) -> bool;
    /// Records how a delivery went (passive health, breaker accounting).
    fn record(&self, target: &str, result: &TargetResult);
    /// The target's health record for the admin API, when the view keeps one.
    fn snapshot(&self, _target: &str) -> Option<TargetHealth> {
        None
    }
}

/// A view in which every target is healthy and every breaker closed.
#[derive(Debug, Default, Clone, Copy)]
pub struct AlwaysHealthy;

impl HealthView for AlwaysHealthy {
    fn status(&self, _target: &str) -> HealthStatus {
        HealthStatus::Healthy
    }
    fn admit(&self, _target: &str) -> bool {
        true
    }
    fn record(&self, _target: &str, _result: &TargetResult) {}
}
