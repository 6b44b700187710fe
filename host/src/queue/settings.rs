//! The durable queue's settings: where the store lives, how big the queue
//! may grow, how failed deliveries are retried and how many workers deliver.
//! Plain Rust with defaults; the daemon's `[queue]` config section maps onto it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How a failed delivery to one target is retried: exponential backoff with
/// full jitter. Attempt `k` (1-based) that fails with a transient or unknown
/// error is retried after a random delay in `[0, min(max_delay, initial * factor^(k-1))]`,
/// or the target's `Retry-After` when that is longer (itself capped at `max_delay`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The ceiling of the first retry's delay.
    pub initial: Duration,
    /// How much the ceiling grows with each attempt (at least 1).
    pub factor: f64,
    /// No delay (backoff or `Retry-After`) is ever longer than this.
    pub max_delay: Duration,
    /// Attempts in all, the first included; when the last one fails the
    /// delivery goes to the dead-letter queue.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(300),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// Rejects a policy that cannot work, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.initial.is_zero() {
            return Err("`retry_initial` must be greater than zero".into());
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(format!(
                "`retry_factor` must be at least 1, not {}",
                self.factor
            ));
        }
        if self.max_delay < self.initial {
            return Err("`retry_max_delay` must not be shorter than `retry_initial`".into());
        }
        if self.max_attempts == 0 {
            return Err("`retry_max_attempts` must be at least 1".into());
        }
        Ok(())
    }
}

/// How often each priority class is served when all have work: out of
/// `critical + firing + low` picks, each class gets its weight (so the low
/// class is never starved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityWeights {
    /// Firing alerts whose severity is critical.
    pub critical: u32,
    /// Other firing alerts.
    pub firing: u32,
    /// Resolved alerts and informational ones.
    pub low: u32,
}

impl Default for PriorityWeights {
    fn default() -> Self {
        Self {
            critical: 8,
            firing: 4,
            low: 1,
        }
    }
}

/// Everything the durable queue is told.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSettings {
    /// Directory of the store; the database is the one file `herald.redb` in it.
    pub data_dir: PathBuf,
    /// Most alerts waiting at once (accepted and not yet delivered to every
    /// target nor dead-lettered). Beyond it, ingress answers 503.
    pub max_jobs: usize,
    /// Most bytes of waiting alerts (as stored). Beyond it, ingress answers 503.
    pub max_bytes: u64,
    /// Most dead-letter entries. When the DLQ is full, deliveries that would be
    /// dead-lettered stay in the queue as `parked` (so the queue fills and
    /// ingress pushes back) until entries are replayed, deleted or purged.
    pub max_dlq_entries: usize,
    /// The retry policy of every target without its own.
    pub retry: RetryPolicy,
    /// Retry policies by target name.
    pub per_target_retry: BTreeMap<String, RetryPolicy>,
    /// Deliveries in progress at once (each publishes one alert to its pending targets).
    pub workers: usize,
    /// The `Retry-After` ingress sends when the queue is full.
    pub full_retry_after: Duration,
    /// How often the depth and age gauges are refreshed; zero turns the
    /// refresher off (tests on a paused clock do, so it cannot move time).
    pub metrics_interval: Duration,
    /// Priority weights.
    pub weights: PriorityWeights,
    /// Seed of the jitter's random numbers; `None` seeds from the OS.
    pub jitter_seed: Option<u64>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            max_jobs: 100_000,
            max_bytes: 256 * 1024 * 1024,
            max_dlq_entries: 100_000,
            retry: RetryPolicy::default(),
            per_target_retry: BTreeMap::new(),
            workers: 8,
            full_retry_after: Duration::from_secs(5),
            metrics_interval: Duration::from_secs(5),
            weights: PriorityWeights::default(),
            jitter_seed: None,
        }
    }
}

impl QueueSettings {
    /// Settings with defaults and the store in `data_dir`.
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// The retry policy for `target`.
    pub fn retry_for(&self, target: &str) -> &RetryPolicy {
        self.per_target_retry.get(target).unwrap_or(&self.retry)
    }

    /// Rejects settings that cannot work, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_jobs == 0 {
            return Err("`[queue] max_jobs` must be at least 1".into());
        }
        if self.max_bytes == 0 {
            return Err("`[queue] max_bytes` must be greater than zero".into());
        }
        if self.workers == 0 || self.workers > 1024 {
            return Err(format!(
                "`[queue] workers` must be between 1 and 1024, not {}",
                self.workers
            ));
        }
        if self.weights.critical == 0 || self.weights.firing == 0 || self.weights.low == 0 {
            return Err("priority weights must all be at least 1".into());
        }
        self.retry.validate().map_err(|e| format!("[queue] {e}"))?;
        for (name, policy) in &self.per_target_retry {
            policy
                .validate()
                .map_err(|e| format!("[queue] retry policy of target `{name}`: {e}"))?;
        }
        Ok(())
    }
}
