//! What happened when delivering to each target, and to all of them.

use std::time::Duration;

use serde::{Serialize, Serializer};

/// How a failed delivery should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// Retry later.
    Transient,
    /// Do not retry; dead-letter it.
    Permanent,
    /// Retry with the normal budget.
    Unknown,
}

impl ErrorClass {
    /// `transient`, `permanent` or `unknown` (also the metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Unknown => "unknown",
        }
    }
}

/// A classified delivery failure. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{class:?}: {message}")]
pub struct DeliveryError {
    pub class: ErrorClass,
    pub message: String,
    /// The target's `Retry-After` hint.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_ms_opt")]
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    /// A transient error.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, message)
    }
    /// A permanent error.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, message)
    }
    /// An error of the given class.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// Why a target was not delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Disabled,
    Unhealthy,
    Degraded,
    CircuitOpen,
    /// No loaded plugin provides the target's kind.
    NoPlugin,
    /// The adapter decided nothing needed sending (e.g. nothing to resolve).
    NothingToSend,
}

impl SkipReason {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Disabled => "disabled",
            SkipReason::Unhealthy => "unhealthy",
            SkipReason::Degraded => "degraded",
            SkipReason::CircuitOpen => "circuit_open",
            SkipReason::NoPlugin => "no_plugin",
            SkipReason::NothingToSend => "nothing_to_send",
        }
    }
}

/// The result of delivering one alert to one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetResult {
    pub target_name: String,
    pub target_type: String,
    pub success: bool,
    pub skipped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<SkipReason>,
    /// The HTTP status of the last response, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(rename = "duration_ms", serialize_with = "ser_ms")]
    pub duration: Duration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<DeliveryError>,
    /// The adapter's note (e.g. "nothing to resolve"), or why a health status was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Version of the adapter that handled the delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_version: Option<String>,
}

impl TargetResult {
    /// A target that was not attempted.
    pub fn skipped(name: &str, kind: &str, reason: SkipReason, note: Option<String>) -> Self {
        Self {
            target_name: name.into(),
            target_type: kind.into(),
            success: false,
            skipped: true,
            skip_reason: Some(reason),
            status_code: None,
            duration: Duration::ZERO,
            error: None,
            note,
            plugin_version: None,
        }
    }
}

/// The result of one publish to many targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParallelPublishResult {
    pub total_targets: usize,
    pub success_count: usize,
    pub failure_count: usize,
    pub skipped_count: usize,
    /// In the order the targets were given.
    pub results: Vec<TargetResult>,
    #[serde(rename = "duration_ms", serialize_with = "ser_ms")]
    pub duration: Duration,
    /// Some, but not all, attempted targets succeeded.
    pub is_partial_success: bool,
}

impl ParallelPublishResult {
    /// Counts the per-target results.
    pub fn from_results(results: Vec<TargetResult>, duration: Duration) -> Self {
        let success_count = results.iter().filter(|r| r.success).count();
        let skipped_count = results.iter().filter(|r| r.skipped).count();
        let failure_count = results.len() - success_count - skipped_count;
        Self {
            total_targets: results.len(),
            success_count,
            failure_count,
            skipped_count,
            is_partial_success: success_count > 0 && failure_count > 0,
            results,
            duration,
        }
    }

    /// The result for a target, by name.
    pub fn get(&self, name: &str) -> Option<&TargetResult> {
        self.results.iter().find(|r| r.target_name == name)
    }
}

fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn ser_ms_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_millis() as u64),
        None => s.serialize_none(),
    }
}
