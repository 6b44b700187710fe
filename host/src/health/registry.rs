//! The health cache: one entry per target with its status, counts, last
//! error and circuit breaker, behind an `ArcSwap` map so that the publish
//! path reads it with one atomic load, one hash lookup and a few atomic loads.
//!
//! Writers (the outcome of a delivery, of a probe) take the entry's own mutex
//! for the bookkeeping and publish the status through atomics; adding or
//! removing a target copies the map (rare: the target set changed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use prometheus::IntGauge;
use serde::Serialize;

use super::breaker::{Breaker, BreakerMetrics, BreakerSnapshot, BreakerState, nanos};
use super::config::{HealthConfig, HealthConfigError};
use super::{HealthStatus, HealthView, Verdict};
use crate::metrics::metrics;
use crate::model::{Target, TargetResult};

/// Longest last-error text kept, in bytes.
const MAX_ERROR_LEN: usize = 300;

/// Nanoseconds since the registry was made, on tokio's clock (so a paused
/// test clock drives staleness and cool-downs). Never 0: 0 means "never".
#[derive(Debug, Clone, Copy)]
struct Clock {
    epoch: tokio::time::Instant,
}

impl Clock {
    fn now(&self) -> u64 {
        nanos(self.epoch.elapsed()).saturating_add(1)
    }
}

/// How a probe ended, as the monitor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// How the target was checked.
    pub method: ProbeMethod,
    pub success: bool,
    /// How long the probe took.
    pub latency: Duration,
    /// Why it failed (never contains secrets).
    pub error: Option<String>,
}

/// How a probe checked a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeMethod {
    /// The request the adapter's `health-probe` built.
    Adapter,
    /// A TCP connect to the target url's host and port (the adapter has no probe).
    Tcp,
}

/// What the admin API shows for one target (`GET /api/v1/targets`).
/// Nothing here can hold a secret: error texts come redacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetHealth {
    pub target_name: String,
    pub target_type: String,
    /// As the publisher sees it now (stale results read as `unknown`).
    pub status: HealthStatus,
    /// Duration of the last probe or delivery, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// The last probe or delivery outcome, of any kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<DateTime<Utc>>,
    /// Failures in a row (probes and deliveries).
    pub consecutive_failures: u32,
    /// Probes run.
    pub probes: u64,
    /// Deliveries attempted.
    pub deliveries: u64,
    /// Successful probes and deliveries.
    pub successes: u64,
    /// Failed probes and deliveries that count against the target.
    pub failures: u64,
    /// Deliveries the target refused because of the alert itself (e.g. 400);
    /// they do not count against its health.
    pub rejected: u64,
    /// `successes / (successes + failures)`, when there is any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    /// The last error (probe or delivery), redacted and cut to 300 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// How the last probe checked the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_method: Option<ProbeMethod>,
    pub circuit_breaker: BreakerSnapshot,
}

/// Counts and times only writers touch.
#[derive(Debug, Default)]
struct Stats {
    kind: String,
    consecutive_failures: u32,
    probes: u64,
    deliveries: u64,
    successes: u64,
    failures: u64,
    rejected: u64,
    latency: Option<Duration>,
    last_check: Option<DateTime<Utc>>,
    last_success: Option<DateTime<Utc>>,
    last_failure: Option<DateTime<Utc>>,
    last_error: Option<String>,
    probe_method: Option<ProbeMethod>,
    /// `target_health_status{target_name,target_type}`, resolved for the current kind.
    gauge: Option<IntGauge>,
}

/// One target's health record.
struct Entry {
    name: Arc<str>,
    /// The last judged status ([`HealthStatus`] as `status_bits`).
    status: AtomicU8,
    /// When the last result came ([`Clock`] nanoseconds; 0 = never).
    last_result: AtomicU64,
    /// Results older than this (nanoseconds) are stale: `unknown`.
    stale_after: u64,
    breaker: Breaker,
    stats: Mutex<Stats>,
}

fn status_bits(s: HealthStatus) -> u8 {
    s.as_gauge() as u8
}

fn status_from_bits(b: u8) -> HealthStatus {
    match b {
        1 => HealthStatus::Healthy,
        2 => HealthStatus::Degraded,
        3 => HealthStatus::Unhealthy,
        _ => HealthStatus::Unknown,
    }
}

impl Entry {
    fn status(&self, now: impl FnOnce() -> u64) -> HealthStatus {
        let last = self.last_result.load(Ordering::Acquire);
        if last == 0 || now().saturating_sub(last) > self.stale_after {
            return HealthStatus::Unknown;
        }
        status_from_bits(self.status.load(Ordering::Acquire))
    }
}

/// The health cache and circuit breakers of every target, and the
/// [`HealthView`] the publisher consults.
pub struct HealthRegistry {
    config: HealthConfig,
    clock: Clock,
    entries: ArcSwap<HashMap<Arc<str>, Arc<Entry>>>,
    /// Serialises changes to the map (not reads).
    writer: Mutex<()>,
}

impl std::fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthRegistry")
            .field("targets", &self.entries.load().len())
            .finish_non_exhaustive()
    }
}

impl HealthRegistry {
    /// An empty registry with validated settings. Its clock starts now (on
    /// tokio's clock when called inside a runtime).
    pub fn new(config: HealthConfig) -> Result<Self, HealthConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            clock: Clock {
                epoch: tokio::time::Instant::now(),
            },
            entries: ArcSwap::from_pointee(HashMap::new()),
            writer: Mutex::new(()),
        })
    }

    /// The settings in effect.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Starts tracking `target` (its status is `unknown` until a result
    /// comes), or updates its kind when that changed.
    pub fn track(&self, target: &Target) {
        self.entry(&target.name, &target.kind);
    }

    /// Stops tracking every target for which `keep` says false (removed from
    /// the configuration), and drops their metric series.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.entries.load_full();
        if current.keys().all(|k| keep(k)) {
            return;
        }
        let mut next = HashMap::with_capacity(current.len());
        for (name, entry) in current.iter() {
            if keep(name) {
                next.insert(name.clone(), entry.clone());
            } else {
                forget_metrics(entry);
            }
        }
        self.entries.store(Arc::new(next));
    }

    /// Names of the targets tracked.
    pub fn targets(&self) -> Vec<String> {
        let mut names: Vec<String> = self.entries.load().keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    }

    /// The breaker's state for `target` (`None` when not tracked).
    pub fn breaker_state(&self, target: &str) -> Option<BreakerState> {
        let entries = self.entries.load();
        let entry = entries.get(target)?;
        Some(entry.breaker.state(self.clock.now()))
    }

    /// The admin API's view of one target; `None` when it is not tracked.
    pub fn snapshot(&self, target: &str) -> Option<TargetHealth> {
        let entry = self.entries.load().get(target)?.clone();
        Some(self.snapshot_of(&entry))
    }

    /// Every tracked target's view, by name.
    pub fn snapshots(&self) -> Vec<TargetHealth> {
        let entries = self.entries.load_full();
        let mut out: Vec<TargetHealth> = entries.values().map(|e| self.snapshot_of(e)).collect();
        out.sort_by(|a, b| a.target_name.cmp(&b.target_name));
        out
    }

    /// Records a probe's outcome for `target` (the monitor calls this).
    pub fn record_probe(&self, target: &Target, outcome: &ProbeOutcome) {
        let entry = self.entry(&target.name, &target.kind);
        let m = metrics();
        let result = if outcome.success {
            "success"
        } else {
            "failure"
        };
        m.health_checks
            .with_label_values(&[&target.name, result])
            .inc();
        m.health_check_duration
            .observe(outcome.latency.as_secs_f64());
        let verdict = if outcome.success {
            Verdict::Success
        } else {
            Verdict::Failure
        };
        let error = outcome.error.as_deref().map(|e| target.secrets.redact(e));
        self.apply(
            &entry,
            verdict,
            outcome.latency,
            error.as_deref(),
            Some(outcome.method),
        );
    }

    /// Sets every `target_health_status` gauge to the status as read now, so
    /// that stale targets show `unknown` (0) on dashboards too.
    pub fn refresh_gauges(&self) {
        let entries = self.entries.load_full();
        let now = self.clock.now();
        for entry in entries.values() {
            let status = entry.status(|| now);
            let stats = entry.stats.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(g) = &stats.gauge {
                g.set(status.as_gauge());
            }
        }
    }

    fn snapshot_of(&self, entry: &Entry) -> TargetHealth {
        let now = self.clock.now();
        let status = entry.status(|| now);
        let s = entry.stats.lock().unwrap_or_else(|e| e.into_inner());
        let judged = s.successes + s.failures;
        TargetHealth {
            target_name: entry.name.to_string(),
            target_type: s.kind.clone(),
            status,
            latency_ms: s.latency.map(|l| l.as_secs_f64() * 1000.0),
            last_check: s.last_check,
            last_success: s.last_success,
            last_failure: s.last_failure,
            consecutive_failures: s.consecutive_failures,
            probes: s.probes,
            deliveries: s.deliveries,
            successes: s.successes,
            failures: s.failures,
            rejected: s.rejected,
            success_rate: (judged > 0).then(|| s.successes as f64 / judged as f64),
            last_error: s.last_error.clone(),
            probe_method: s.probe_method,
            circuit_breaker: entry.breaker.snapshot(now),
        }
    }

    /// The entry for `name`, made when missing; its kind follows `kind`.
    fn entry(&self, name: &str, kind: &str) -> Arc<Entry> {
        if let Some(e) = self.entries.load().get(name) {
            self.follow_kind(e, kind);
            return e.clone();
        }
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.entries.load_full();
        if let Some(e) = current.get(name) {
            self.follow_kind(e, kind);
            return e.clone();
        }
        let entry = Arc::new(self.new_entry(name, kind));
        let mut next = (*current).clone();
        next.insert(entry.name.clone(), entry.clone());
        self.entries.store(Arc::new(next));
        entry
    }

    fn new_entry(&self, name: &str, kind: &str) -> Entry {
        let m = metrics();
        let name: Arc<str> = Arc::from(name);
        let gauge = m.target_health_status.with_label_values(&[&*name, kind]);
        gauge.set(HealthStatus::Unknown.as_gauge());
        let transitions = |to: BreakerState| {
            m.circuit_breaker_transitions
                .with_label_values(&[&*name, to.as_str()])
        };
        let breaker_metrics = BreakerMetrics {
            state: m.circuit_breaker_state.with_label_values(&[&*name]),
            to_closed: transitions(BreakerState::Closed),
            to_half_open: transitions(BreakerState::HalfOpen),
            to_open: transitions(BreakerState::Open),
        };
        Entry {
            status: AtomicU8::new(status_bits(HealthStatus::Unknown)),
            last_result: AtomicU64::new(0),
            stale_after: nanos(self.config.stale_after(&name)),
            breaker: Breaker::new(
                self.config.circuit_breaker.clone(),
                name.clone(),
                Some(breaker_metrics),
            ),
            stats: Mutex::new(Stats {
                kind: kind.to_string(),
                gauge: Some(gauge),
                ..Stats::default()
            }),
            name,
        }
    }

    /// A target whose kind changed moves its status series to the new label.
    fn follow_kind(&self, entry: &Entry, kind: &str) {
        let mut s = entry.stats.lock().unwrap_or_else(|e| e.into_inner());
        if s.kind == kind {
            return;
        }
        let m = metrics();
        let _ = m
            .target_health_status
            .remove_label_values(&[&*entry.name, &s.kind]);
        let gauge = m
            .target_health_status
            .with_label_values(&[&*entry.name, kind]);
        gauge.set(entry.status(|| self.clock.now()).as_gauge());
        s.kind = kind.to_string();
        s.gauge = Some(gauge);
    }

    /// Updates status and counts with one outcome (probe or delivery).
    fn apply(
        &self,
        entry: &Entry,
        verdict: Verdict,
        latency: Duration,
        error: Option<&str>,
        probe: Option<ProbeMethod>,
    ) {
        if verdict == Verdict::NotAttempted {
            return;
        }
        let now = self.clock.now();
        let wall = Utc::now();
        let mut s = entry.stats.lock().unwrap_or_else(|e| e.into_inner());
        let before = entry.status(|| now);
        match probe {
            Some(method) => {
                s.probes += 1;
                s.probe_method = Some(method);
            }
            None => s.deliveries += 1,
        }
        s.last_check = Some(wall);
        s.latency = Some(latency);
        if let Some(e) = error {
            s.last_error = Some(cut(e));
        }
        let status = match verdict {
            Verdict::Success => {
                s.successes += 1;
                s.consecutive_failures = 0;
                s.last_success = Some(wall);
                if latency > self.config.degraded_latency {
                    HealthStatus::Degraded
                } else {
                    HealthStatus::Healthy
                }
            }
            Verdict::Failure => {
                s.failures += 1;
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                s.last_failure = Some(wall);
                if s.consecutive_failures >= self.config.unhealthy_threshold {
                    HealthStatus::Unhealthy
                } else {
                    HealthStatus::Degraded
                }
            }
            // The target answered but refused this alert: it says nothing
            // about the target's health, so the status stays as it was.
            Verdict::Neutral | Verdict::NotAttempted => {
                s.rejected += 1;
                return;
            }
        };
        entry.status.store(status_bits(status), Ordering::Release);
        entry.last_result.store(now, Ordering::Release);
        if let Some(g) = &s.gauge {
            g.set(status.as_gauge());
        }
        if status != before {
            let kind = s.kind.clone();
            drop(s);
            log_change(&entry.name, &kind, before, status, error);
        }
    }
}

fn log_change(name: &str, kind: &str, from: HealthStatus, to: HealthStatus, error: Option<&str>) {
    let (from, to) = (from.as_str(), to.as_str());
    match (to, error) {
        ("unhealthy", Some(error)) => {
            tracing::warn!(
                target = name,
                kind,
                from,
                to,
                error,
                "target health changed"
            )
        }
        ("unhealthy", None) => {
            tracing::warn!(target = name, kind, from, to, "target health changed")
        }
        _ => tracing::info!(target = name, kind, from, to, "target health changed"),
    }
}

fn forget_metrics(entry: &Entry) {
    let m = metrics();
    let s = entry.stats.lock().unwrap_or_else(|e| e.into_inner());
    let name = &*entry.name;
    let _ = m.target_health_status.remove_label_values(&[name, &s.kind]);
    let _ = m.circuit_breaker_state.remove_label_values(&[name]);
    for to in ["closed", "half_open", "open"] {
        let _ = m
            .circuit_breaker_transitions
            .remove_label_values(&[name, to]);
    }
    for result in ["success", "failure"] {
        let _ = m.health_checks.remove_label_values(&[name, result]);
    }
}

/// Cuts `text` to [`MAX_ERROR_LEN`] bytes on a character boundary.
fn cut(text: &str) -> String {
    if text.len() <= MAX_ERROR_LEN {
        return text.to_string();
    }
    let mut end = MAX_ERROR_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

impl HealthView for HealthRegistry {
    fn status(&self, target: &str) -> HealthStatus {
        match self.entries.load().get(target) {
            Some(e) => e.status(|| self.clock.now()),
            None => HealthStatus::Unknown,
        }
    }

    fn admit(&self, target: &str) -> bool {
        match self.entries.load().get(target) {
            Some(e) => e.breaker.admit(|| self.clock.now()),
            None => true,
        }
    }

    fn record(&self, target: &str, result: &TargetResult) {
        let verdict = Verdict::of(result);
        if verdict == Verdict::NotAttempted {
            // Give back a half-open trial that was never used.
            if let Some(e) = self.entries.load().get(target) {
                e.breaker.record(verdict, self.clock.now());
            }
            return;
        }
        let entry = self.entry(target, &result.target_type);
        let error = result.error.as_ref().map(|e| e.message.as_str());
        self.apply(&entry, verdict, result.duration, error, None);
        entry.breaker.record(verdict, self.clock.now());
    }

    fn snapshot(&self, target: &str) -> Option<TargetHealth> {
        HealthRegistry::snapshot(self, target)
    }
}
