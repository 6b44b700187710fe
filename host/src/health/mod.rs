//! What the publisher asks before and tells after each delivery: is this
//! target healthy, does its circuit breaker let a delivery through, and how
//! did the delivery go.
//!
//! Depends on `model` only. Reads on the publish path must be O(1) and never wait.

use crate::model::TargetResult;

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
