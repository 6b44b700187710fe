//! Health and circuit-breaker settings: the `[health]` section of the daemon
//! config, with defaults, per-target overrides and validation.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a health configuration was refused. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthConfigError {
    /// A field has a value that cannot work.
    #[error("health config: `{field}` {reason}")]
    Invalid {
        /// The dotted path of the field, e.g. `circuit_breaker.failure_threshold`.
        field: String,
        /// What is wrong and what to do instead.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> HealthConfigError {
    HealthConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// How target health is judged and probed (`[health]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Run the active probe monitor at all. With `false`, health comes from
    /// real deliveries only (and goes stale, hence `unknown`, when there are none).
    pub probes: bool,
    /// Time between two probes of one target.
    #[serde(with = "durations")]
    pub interval: Duration,
    /// How long one probe may take before it counts as a failure.
    #[serde(with = "durations")]
    pub timeout: Duration,
    /// Probes running at once across all targets.
    pub max_concurrent_probes: usize,
    /// Consecutive failures (probes and deliveries alike) that make a target
    /// `unhealthy`; fewer make it `degraded`.
    pub unhealthy_threshold: u32,
    /// A success slower than this makes the target `degraded` rather than `healthy`.
    #[serde(with = "durations")]
    pub degraded_latency: Duration,
    /// A status older than this many of the target's intervals is `unknown`.
    pub stale_after_intervals: u32,
    /// The per-target circuit breakers.
    pub circuit_breaker: BreakerConfig,
    /// Per-target overrides, by target name.
    pub targets: BTreeMap<String, TargetHealthConfig>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            probes: true,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            max_concurrent_probes: 4,
            unhealthy_threshold: 3,
            degraded_latency: Duration::from_secs(5),
            stale_after_intervals: 3,
            circuit_breaker: BreakerConfig::default(),
            targets: BTreeMap::new(),
        }
    }
}

/// One target's overrides of the probe settings (`[health.targets.<name>]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetHealthConfig {
    /// Probe this target at all (default: the global `probes`).
    pub probe: Option<bool>,
    /// This target's probe interval (default: the global `interval`).
    #[serde(with = "durations::option", skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// This target's probe timeout (default: the global `timeout`).
    #[serde(with = "durations::option", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// Circuit-breaker settings, the same for every target (`[health.circuit_breaker]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// With `false`, every breaker stays closed.
    pub enabled: bool,
    /// Consecutive failed deliveries that open a closed breaker.
    pub failure_threshold: u32,
    /// Successful trial deliveries in a row that close a half-open breaker.
    pub success_threshold: u32,
    /// How long a breaker stays open the first time.
    #[serde(with = "durations")]
    pub cool_down: Duration,
    /// The longest cool-down: each failed trial doubles it up to this.
    #[serde(with = "durations")]
    pub max_cool_down: Duration,
    /// A half-open trial whose outcome is never recorded (its publish was
    /// cancelled) stops blocking the next trial after this long.
    #[serde(with = "durations")]
    pub trial_timeout: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_threshold: 5,
            success_threshold: 2,
            cool_down: Duration::from_secs(30),
            max_cool_down: Duration::from_secs(300),
            trial_timeout: Duration::from_secs(60),
        }
    }
}

/// The probe settings in effect for one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeSettings {
    /// Whether the monitor probes the target.
    pub enabled: bool,
    pub interval: Duration,
    pub timeout: Duration,
}

impl HealthConfig {
    /// Rejects settings that cannot work, naming the field.
    pub fn validate(&self) -> Result<(), HealthConfigError> {
        check_positive("interval", self.interval)?;
        check_positive("timeout", self.timeout)?;
        check_positive("degraded_latency", self.degraded_latency)?;
        if self.timeout > self.interval {
            return Err(invalid(
                "timeout",
                format!(
                    "({}) must not be longer than `interval` ({}); a probe would still run when the next is due",
                    show(self.timeout),
                    show(self.interval)
                ),
            ));
        }
        if self.max_concurrent_probes == 0 {
            return Err(invalid("max_concurrent_probes", "must be at least 1"));
        }
        if self.unhealthy_threshold == 0 {
            return Err(invalid(
                "unhealthy_threshold",
                "must be at least 1 (the consecutive failures that make a target unhealthy)",
            ));
        }
        if self.stale_after_intervals == 0 {
            return Err(invalid("stale_after_intervals", "must be at least 1"));
        }
        let b = &self.circuit_breaker;
        if b.failure_threshold == 0 {
            return Err(invalid(
                "circuit_breaker.failure_threshold",
                "must be at least 1 (set `circuit_breaker.enabled = false` to turn breakers off)",
            ));
        }
        if b.success_threshold == 0 {
            return Err(invalid(
                "circuit_breaker.success_threshold",
                "must be at least 1",
            ));
        }
        check_positive("circuit_breaker.cool_down", b.cool_down)?;
        check_positive("circuit_breaker.trial_timeout", b.trial_timeout)?;
        if b.max_cool_down < b.cool_down {
            return Err(invalid(
                "circuit_breaker.max_cool_down",
                format!(
                    "({}) must not be shorter than `cool_down` ({})",
                    show(b.max_cool_down),
                    show(b.cool_down)
                ),
            ));
        }
        for (name, t) in &self.targets {
            let p = self.probe_settings(name);
            let field = |f: &str| format!("targets.{name}.{f}");
            if t.interval.is_some() {
                check_positive(&field("interval"), p.interval)?;
            }
            if t.timeout.is_some() {
                check_positive(&field("timeout"), p.timeout)?;
            }
            if p.timeout > p.interval {
                return Err(invalid(
                    field("timeout"),
                    format!(
                        "({}) must not be longer than the target's interval ({})",
                        show(p.timeout),
                        show(p.interval)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The probe settings for `target`: its overrides over the global ones.
    pub fn probe_settings(&self, target: &str) -> ProbeSettings {
        let o = self.targets.get(target);
        ProbeSettings {
            enabled: o.and_then(|o| o.probe).unwrap_or(self.probes),
            interval: o.and_then(|o| o.interval).unwrap_or(self.interval),
            timeout: o.and_then(|o| o.timeout).unwrap_or(self.timeout),
        }
    }

    /// How long a result stays fresh for `target` (`stale_after_intervals` × its interval).
    pub fn stale_after(&self, target: &str) -> Duration {
        self.probe_settings(target)
            .interval
            .saturating_mul(self.stale_after_intervals)
    }
}

fn check_positive(field: &str, d: Duration) -> Result<(), HealthConfigError> {
    if d.is_zero() {
        Err(invalid(field, "must be greater than zero"))
    } else {
        Ok(())
    }
}

fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Durations as humantime strings (`"30s"`, `"250ms"`, `"5m"`).
mod durations {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse(&String::deserialize(d)?)
    }

    fn parse<E: serde::de::Error>(s: &str) -> Result<Duration, E> {
        humantime::parse_duration(s).map_err(|e| {
            E::custom(format!(
                "`{s}` is not a duration like \"30s\" or \"250ms\": {e}"
            ))
        })
    }

    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            match Option::<String>::deserialize(d)? {
                Some(s) => super::parse(&s).map(Some),
                None => Ok(None),
            }
        }
    }
}
