//! How a publish behaves: deadline, concurrency, health strategy, retries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::health::HealthCheckStrategy;

/// Options for one publish. Every field does what its name says; see [`validate`](Self::validate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParallelPublishOptions {
    /// The whole publish's deadline; a target still running then is reported as timed out.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Consult target health at all; `false` behaves like `PublishToAll`.
    pub check_health: bool,
    pub health_strategy: HealthCheckStrategy,
    /// Deliveries running at once.
    pub max_concurrent: usize,
    /// Run deliveries on `max_concurrent` long-lived worker tasks pulling from
    /// a queue, instead of one task per target.
    pub use_worker_pool: bool,
    /// Skip targets whose circuit breaker is open.
    pub respect_circuit_breakers: bool,
    /// Retry a target's transient/unknown failure within this publish.
    pub enable_retry: bool,
    /// Extra attempts per target when `enable_retry` is on.
    pub max_retries: u32,
    /// Pause between attempts (a longer `Retry-After` wins, within the deadline).
    #[serde(with = "humantime_serde_compat")]
    pub retry_interval: Duration,
}

impl Default for ParallelPublishOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            check_health: true,
            health_strategy: HealthCheckStrategy::SkipUnhealthy,
            max_concurrent: 10,
            use_worker_pool: false,
            respect_circuit_breakers: true,
            enable_retry: false,
            max_retries: 0,
            retry_interval: Duration::ZERO,
        }
    }
}

/// Largest `max_concurrent` accepted.
pub const MAX_CONCURRENT_LIMIT: usize = 10_000;

impl ParallelPublishOptions {
    /// Rejects combinations that cannot do what they say, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err("`timeout` must be greater than zero".into());
        }
        if self.max_concurrent == 0 || self.max_concurrent > MAX_CONCURRENT_LIMIT {
            return Err(format!(
                "`max_concurrent` must be between 1 and {MAX_CONCURRENT_LIMIT}, not {}",
                self.max_concurrent
            ));
        }
        if self.enable_retry && self.max_retries == 0 {
            return Err(
                "`enable_retry` is true but `max_retries` is 0; set max_retries to at least 1"
                    .into(),
            );
        }
        if !self.enable_retry && self.max_retries > 0 {
            return Err("`max_retries` is set but `enable_retry` is false".into());
        }
        if !self.enable_retry && !self.retry_interval.is_zero() {
            return Err("`retry_interval` is set but `enable_retry` is false".into());
        }
        if self.retry_interval >= self.timeout && self.enable_retry {
            return Err("`retry_interval` must be shorter than `timeout`".into());
        }
        Ok(())
    }

    /// The strategy in effect (`check_health = false` means publish to all).
    pub fn effective_strategy(&self) -> HealthCheckStrategy {
        if self.check_health {
            self.health_strategy
        } else {
            HealthCheckStrategy::PublishToAll
        }
    }
}

/// Durations as humantime strings ("30s", "250ms") in config and JSON.
pub mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `"30s"`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads `"30s"`, `"1m 30s"`, `"250ms"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{s}` is not a duration like \"30s\" or \"250ms\": {e}"
            ))
        })
    }
}
