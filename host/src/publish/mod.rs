//! The parallel publisher: select targets (health, breakers, enabled), fan
//! out one delivery per target under a shared deadline and a concurrency
//! bound, fan the results back in, and count everything.
//!
//! Depends on `model`, `health`, and on `plugin` only to look adapters up by
//! kind and open a session; it knows nothing of how plugins are loaded.

mod deliver;
mod options;
mod probe;
mod sequential;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant as Deadline;

pub use deliver::Deliverer;
pub use options::{MAX_CONCURRENT_LIMIT, ParallelPublishOptions, humantime_serde_compat};
pub use sequential::SequentialPublisher;

use crate::health::{HealthCheckStrategy, HealthStatus, HealthView};
use crate::metrics::metrics;
use crate::model::{
    DeliveryError, EnrichedAlert, ParallelPublishResult, SkipReason, Target, TargetResult,
    TargetSource,
};
use crate::plugin::bindings::types as wit;
use crate::plugin::convert::wit_alert;

/// Why a publish returned an error. The per-target result, when there is
/// one, travels with the error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// Targets were attempted and none succeeded.
    #[error("no target succeeded ({} failed, {} skipped)", .0.failure_count, .0.skipped_count)]
    AllFailed(Box<ParallelPublishResult>),
    /// Every target was skipped (unhealthy, circuit open, disabled, no plugin).
    #[error("no healthy targets: all {} targets were skipped", .0.skipped_count)]
    NoHealthyTargets(Box<ParallelPublishResult>),
    #[error("invalid publish options: {0}")]
    InvalidOptions(String),
    #[error("invalid alert: {0}")]
    InvalidAlert(String),
}

impl PublishError {
    /// The per-target result, when targets were considered.
    pub fn result(&self) -> Option<&ParallelPublishResult> {
        match self {
            PublishError::AllFailed(r) | PublishError::NoHealthyTargets(r) => Some(r),
            _ => None,
        }
    }
}

/// Publishes alerts to many targets at once.
pub struct Publisher {
    deliverer: Arc<Deliverer>,
    targets: Arc<dyn TargetSource>,
    health: Arc<dyn HealthView>,
    options: ParallelPublishOptions,
}

impl Publisher {
    /// A publisher with default options for `publish_to_all`/`publish_to_healthy`.
    pub fn new(
        deliverer: Arc<Deliverer>,
        targets: Arc<dyn TargetSource>,
        health: Arc<dyn HealthView>,
        options: ParallelPublishOptions,
    ) -> Result<Self, PublishError> {
        options.validate().map_err(PublishError::InvalidOptions)?;
        Ok(Self {
            deliverer,
            targets,
            health,
            options,
        })
    }

    /// The default options.
    pub fn options(&self) -> &ParallelPublishOptions {
        &self.options
    }

    /// The deliverer (runtime and HTTP client).
    pub fn deliverer(&self) -> &Arc<Deliverer> {
        &self.deliverer
    }

    /// The health view consulted before each delivery.
    pub fn health(&self) -> &Arc<dyn HealthView> {
        &self.health
    }

    /// The target source `publish_to_all` reads.
    pub fn target_source(&self) -> &Arc<dyn TargetSource> {
        &self.targets
    }

    /// Publishes to every enabled target, ignoring health (breakers still
    /// apply per the options).
    pub async fn publish_to_all(
        &self,
        alert: &EnrichedAlert,
    ) -> Result<ParallelPublishResult, PublishError> {
        let options = ParallelPublishOptions {
            health_strategy: HealthCheckStrategy::PublishToAll,
            ..self.options.clone()
        };
        let targets = self.targets.targets();
        self.publish(None, alert, &targets, &options).await
    }

    /// Publishes to every enabled target that the health strategy allows.
    /// When every target is skipped, fails with [`PublishError::NoHealthyTargets`].
    pub async fn publish_to_healthy(
        &self,
        alert: &EnrichedAlert,
    ) -> Result<ParallelPublishResult, PublishError> {
        let targets = self.targets.targets();
        self.publish(None, alert, &targets, &self.options).await
    }

    /// Publishes to the given targets with the default options, by `deadline`
    /// at the latest (and never later than `options.timeout` from now).
    pub async fn publish_to_multiple(
        &self,
        deadline: Option<Deadline>,
        alert: &EnrichedAlert,
        targets: &[Target],
    ) -> Result<ParallelPublishResult, PublishError> {
        self.publish(deadline, alert, targets, &self.options).await
    }

    /// The general form: explicit options.
    pub async fn publish(
        &self,
        deadline: Option<Deadline>,
        alert: &EnrichedAlert,
        targets: &[Target],
        options: &ParallelPublishOptions,
    ) -> Result<ParallelPublishResult, PublishError> {
        self.run(deadline, alert, targets, options, Mode::Parallel)
            .await
    }

    pub(crate) async fn run(
        &self,
        deadline: Option<Deadline>,
        alert: &EnrichedAlert,
        targets: &[Target],
        options: &ParallelPublishOptions,
        mode: Mode,
    ) -> Result<ParallelPublishResult, PublishError> {
        options.validate().map_err(PublishError::InvalidOptions)?;
        alert.validate().map_err(PublishError::InvalidAlert)?;
        let started = Instant::now();
        let deadline = effective_deadline(deadline, options);
        let wit = Arc::new(wit_alert(alert));

        // Select: every target gets a slot in the result, in the given order.
        let mut results: Vec<Option<TargetResult>> = vec![None; targets.len()];
        let mut attempt = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            match self.skip_reason(target, options) {
                Some((reason, note)) => {
                    results[i] = Some(TargetResult::skipped(
                        &target.name,
                        &target.kind,
                        reason,
                        note,
                    ))
                }
                None => attempt.push((i, target.clone())),
            }
        }
        // Targets whose health is unknown are published to (fail open); their result says so.
        let fail_open: Vec<bool> = targets
            .iter()
            .map(|t| {
                options.effective_strategy() != HealthCheckStrategy::PublishToAll
                    && self.health.status(&t.name) == HealthStatus::Unknown
            })
            .collect();

        let delivered = match mode {
            Mode::Parallel => fan_out(&self.deliverer, attempt, wit, options, deadline).await,
            Mode::Sequential => {
                sequential::one_by_one(&self.deliverer, attempt, &wit, deadline).await
            }
        };
        for (i, mut result) in delivered {
            self.health.record(&result.target_name, &result);
            if fail_open[i] && !result.skipped {
                result.note = Some(match result.note.take() {
                    Some(note) => format!("{note}; {FAIL_OPEN_NOTE}"),
                    None => FAIL_OPEN_NOTE.to_string(),
                });
            }
            results[i] = Some(result);
        }
        let results: Vec<TargetResult> = results.into_iter().flatten().collect();
        let result = ParallelPublishResult::from_results(results, started.elapsed());
        record_publish(&result, &alert.alert.fingerprint());

        if result.total_targets == 0 || result.success_count > 0 {
            Ok(result)
        } else if result.skipped_count == result.total_targets {
            Err(PublishError::NoHealthyTargets(Box::new(result)))
        } else {
            Err(PublishError::AllFailed(Box::new(result)))
        }
    }

    /// Why a target is not attempted, if it is not.
    fn skip_reason(
        &self,
        target: &Target,
        options: &ParallelPublishOptions,
    ) -> Option<(SkipReason, Option<String>)> {
        if !target.enabled {
            return Some((SkipReason::Disabled, None));
        }
        if self.deliverer.runtime.adapter(&target.kind).is_none() {
            return Some((
                SkipReason::NoPlugin,
                Some(format!(
                    "no loaded plugin provides the kind `{}`",
                    target.kind
                )),
            ));
        }
        let status = self.health.status(&target.name);
        match (options.effective_strategy(), status) {
            (HealthCheckStrategy::PublishToAll, _) => {}
            (_, HealthStatus::Unhealthy) => return Some((SkipReason::Unhealthy, None)),
            (HealthCheckStrategy::SkipUnhealthyAndDegraded, HealthStatus::Degraded) => {
                return Some((SkipReason::Degraded, None));
            }
            _ => {}
        }
        if options.respect_circuit_breakers && !self.health.admit(&target.name) {
            return Some((SkipReason::CircuitOpen, None));
        }
        None
    }
}

/// The note on a result delivered although its target's health was unknown.
pub const FAIL_OPEN_NOTE: &str =
    "health unknown (never checked or stale): published to anyway (fail open)";

/// How deliveries are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Parallel,
    /// One after another (the benches' baseline).
    Sequential,
}

fn effective_deadline(deadline: Option<Deadline>, options: &ParallelPublishOptions) -> Deadline {
    let by_timeout = Deadline::now() + options.timeout;
    deadline.map_or(by_timeout, |d| d.min(by_timeout))
}

/// Keeps `parallel_publish_goroutines` right even when a task is aborted.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics().in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics().in_flight.dec();
    }
}

/// Runs the deliveries, at most `max_concurrent` at once, each bounded by
/// `deadline`. The tasks live in a `JoinSet` owned by this future: dropping
/// the publish aborts them all.
async fn fan_out(
    deliverer: &Arc<Deliverer>,
    attempt: Vec<(usize, Target)>,
    alert: Arc<wit::EnrichedAlert>,
    options: &ParallelPublishOptions,
    deadline: Deadline,
) -> Vec<(usize, TargetResult)> {
    let (retries, interval) = if options.enable_retry {
        (options.max_retries, options.retry_interval)
    } else {
        (0, std::time::Duration::ZERO)
    };
    let mut set = JoinSet::new();
    let run = move |deliverer: Arc<Deliverer>, target: Target, alert: Arc<wit::EnrichedAlert>| async move {
        let _in_flight = InFlight::enter();
        let started = Instant::now();
        match tokio::time::timeout_at(
            deadline,
            deliverer.deliver(&target, &alert, retries, interval, deadline),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => timed_out(&target, started.elapsed()),
        }
    };

    if options.use_worker_pool {
        // A fixed set of workers pulling from one queue.
        let queue = Arc::new(Mutex::new(VecDeque::from(attempt)));
        let workers = options
            .max_concurrent
            .min(queue.lock().map(|q| q.len()).unwrap_or(0));
        for _ in 0..workers {
            let (queue, deliverer, alert) = (queue.clone(), deliverer.clone(), alert.clone());
            set.spawn(async move {
                let mut done = Vec::new();
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some((i, target)) = next else { break };
                    done.push((i, run(deliverer.clone(), target, alert.clone()).await));
                }
                done
            });
        }
    } else {
        // One task per target, admitted by a semaphore.
        let permits = Arc::new(Semaphore::new(options.max_concurrent));
        for (i, target) in attempt {
            let (permits, deliverer, alert) = (permits.clone(), deliverer.clone(), alert.clone());
            set.spawn(async move {
                let Ok(_permit) = permits.acquire_owned().await else {
                    return Vec::new();
                };
                vec![(i, run(deliverer, target, alert).await)]
            });
        }
    }

    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(results) => out.extend(results),
            Err(e) => tracing::error!("a delivery task failed: {e}"),
        }
    }
    out
}

pub(crate) fn timed_out(target: &Target, elapsed: std::time::Duration) -> TargetResult {
    TargetResult {
        target_name: target.name.clone(),
        target_type: target.kind.clone(),
        success: false,
        skipped: false,
        skip_reason: None,
        status_code: None,
        duration: elapsed,
        error: Some(DeliveryError::transient(format!(
            "timed out: the publish deadline passed after {} ms",
            elapsed.as_millis()
        ))),
        note: None,
        plugin_version: None,
    }
}

/// Metrics and the per-publish log line.
fn record_publish(result: &ParallelPublishResult, fingerprint: &str) {
    let m = metrics();
    m.publish_duration.observe(result.duration.as_secs_f64());
    for r in &result.results {
        if r.skipped {
            let reason = r.skip_reason.map_or("unknown", SkipReason::as_str);
            m.targets_skipped
                .with_label_values(&[&r.target_name, reason])
                .inc();
            tracing::warn!(target = %r.target_name, reason, fingerprint, "target skipped");
            continue;
        }
        m.targets_total.with_label_values(&[&r.target_type]).inc();
        match &r.error {
            None => m.targets_success.with_label_values(&[&r.target_name]).inc(),
            Some(e) => m
                .targets_failure
                .with_label_values(&[&r.target_name, e.class.as_str()])
                .inc(),
        }
    }
    let attempted = result.total_targets - result.skipped_count;
    let label = if result.total_targets == 0 || attempted == 0 {
        "empty"
    } else if result.failure_count == 0 {
        m.publish_success.inc();
        "success"
    } else if result.success_count > 0 {
        m.publish_partial.inc();
        "partial"
    } else {
        m.publish_failure.inc();
        "failure"
    };
    m.publish_total.with_label_values(&[label]).inc();
    let (ok, failed, skipped, ms) = (
        result.success_count,
        result.failure_count,
        result.skipped_count,
        result.duration.as_millis() as u64,
    );
    match label {
        "failure" => tracing::error!(
            fingerprint,
            ok,
            failed,
            skipped,
            ms,
            "publish failed on every target"
        ),
        "partial" => tracing::warn!(
            fingerprint,
            ok,
            failed,
            skipped,
            ms,
            "publish partially succeeded"
        ),
        _ => tracing::info!(fingerprint, ok, failed, skipped, ms, "published"),
    }
}
