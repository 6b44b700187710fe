//! The workers: take the next unit by priority, publish it to the targets
//! still pending for its alert, and decide per target what happens next —
//! done, retry later (backoff with jitter, `Retry-After`), wait without
//! spending an attempt (circuit open, unhealthy), or dead-letter.

use std::sync::Arc;

use tokio::time::Instant;

use super::backoff;
use super::clock::to_datetime;
use super::core::{DeadLetter, Decision, Id, Work};
use super::durable::Inner;
use super::store::{DlqEntry, DlqReason, JobRecord, LastError, StoredAlert, Wait};
use crate::health::HealthCheckStrategy;
use crate::metrics::metrics;
use crate::model::{DeliveryError, EnrichedAlert, ErrorClass, SkipReason, Target, TargetResult};
use crate::publish::{ParallelPublishOptions, PublishError, Publisher};

/// What the queue publishes through: the parallel publisher in the daemon,
/// a scripted fake in tests.
#[async_trait::async_trait]
pub trait Delivery: Send + Sync + 'static {
    /// Delivers `alert` to each of `targets` and reports per target (any order).
    async fn deliver(&self, alert: &EnrichedAlert, targets: &[Target]) -> Vec<TargetResult>;
}

/// The queue publishes with the health strategy `PublishToAll`, keeping
/// circuit breakers: each target's job is independent of the others, so a
/// down target delays nobody, and its backoff already spaces the attempts.
/// Skipping on health alone would hold a job until a probe (if any) saw the
/// target recover; the breaker, with its half-open trials, is what keeps a
/// failing target from burning attempts.
#[async_trait::async_trait]
impl Delivery for Publisher {
    async fn deliver(&self, alert: &EnrichedAlert, targets: &[Target]) -> Vec<TargetResult> {
        let options = ParallelPublishOptions {
            health_strategy: HealthCheckStrategy::PublishToAll,
            ..self.options().clone()
        };
        match self.publish(None, alert, targets, &options).await {
            Ok(r) => r.results,
            Err(PublishError::AllFailed(r) | PublishError::NoHealthyTargets(r)) => r.results,
            Err(PublishError::InvalidAlert(m)) => failed_all(
                targets,
                DeliveryError::permanent(format!("invalid alert: {m}")),
            ),
            Err(PublishError::InvalidOptions(m)) => failed_all(
                targets,
                DeliveryError::new(ErrorClass::Unknown, format!("invalid publish options: {m}")),
            ),
        }
    }
}

fn failed_all(targets: &[Target], error: DeliveryError) -> Vec<TargetResult> {
    targets
        .iter()
        .map(|t| TargetResult {
            target_name: t.name.clone(),
            target_type: t.kind.clone(),
            success: false,
            skipped: false,
            skip_reason: None,
            status_code: None,
            duration: std::time::Duration::ZERO,
            error: Some(error.clone()),
            note: None,
            plugin_version: None,
        })
        .collect()
}

/// How one target's attempt ended, for the queue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Delivered,
    /// Skipped without an attempt: wait, keeping the attempt budget.
    Hold(SkipReason),
    Failed(DeliveryError),
}

/// Reads a target's result.
pub(crate) fn verdict(result: Option<&TargetResult>) -> Verdict {
    let Some(r) = result else {
        return Verdict::Failed(DeliveryError::new(
            ErrorClass::Unknown,
            "the publisher returned no result for this target",
        ));
    };
    if r.success {
        return Verdict::Delivered;
    }
    if r.skipped {
        return match r.skip_reason {
            Some(SkipReason::NothingToSend) => Verdict::Delivered,
            Some(
                reason @ (SkipReason::CircuitOpen | SkipReason::Unhealthy | SkipReason::Degraded),
            ) => Verdict::Hold(reason),
            Some(SkipReason::Disabled) => {
                Verdict::Failed(DeliveryError::permanent("the target is disabled"))
            }
            Some(SkipReason::NoPlugin) | None => {
                Verdict::Failed(DeliveryError::transient(r.note.clone().unwrap_or_else(
                    || format!("no loaded plugin provides the kind `{}`", r.target_type),
                )))
            }
        };
    }
    Verdict::Failed(r.error.clone().unwrap_or_else(|| {
        DeliveryError::new(ErrorClass::Unknown, "the delivery failed without an error")
    }))
}

/// One worker: runs units until the queue stops.
pub(crate) async fn worker(inner: Arc<Inner>) {
    loop {
        if inner.stop.is_cancelled() {
            break;
        }
        let notified = inner.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (work, next_due, more) = {
            let mut core = inner.core();
            let work = core.take(inner.clock.now());
            (work, core.next_due(), core.has_ready())
        };
        if let Some(work) = work {
            if more {
                inner.wake.notify_one();
            }
            inner.settled.notify_waiters();
            tokio::select! {
                _ = process(&inner, work) => {}
                _ = inner.hard_stop.cancelled() => break,
            }
            continue;
        }
        tokio::select! {
            _ = inner.stop.cancelled() => break,
            _ = &mut notified => {}
            _ = sleep_until(next_due) => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs one unit and settles it.
async fn process(inner: &Arc<Inner>, work: Work) {
    let alert_id = work.alert();
    if matches!(work, Work::New { .. }) && !inner.targets.targets().iter().any(|t| t.enabled) {
        // Nowhere to deliver: done, without reading the alert back.
        inner.core().expand(alert_id, &[], 0);
        inner.settle(&work, Vec::new());
        return;
    }
    let cached = inner.core().body(alert_id);
    let read = match cached {
        Some(body) => Ok(Some(body)),
        None => inner.store.read_alert(alert_id).map(|a| a.map(Arc::new)),
    };
    let stored = match read {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::error!(
                alert = alert_id,
                "queue: a pending alert is missing from the store; its deliveries are dropped"
            );
            let decisions = match &work {
                Work::New { .. } => Vec::new(),
                Work::Jobs { jobs, .. } => {
                    jobs.iter().map(|(id, _)| (*id, Decision::Done)).collect()
                }
            };
            inner.settle(&work, decisions);
            return;
        }
        Err(e) => {
            // The store is closing or failing: leave the unit; it is persisted
            // and runs again after a restart.
            tracing::error!(alert = alert_id, "queue: cannot read a pending alert: {e}");
            return;
        }
    };
    let decisions = match &work {
        Work::New { alert } => run_new(inner, *alert, &stored).await,
        Work::Jobs { jobs, .. } => run_jobs(inner, jobs.clone(), &stored).await,
    };
    inner.settle(&work, decisions);
}

/// Expands a new alert into the enabled targets and publishes to those first in line.
async fn run_new(inner: &Arc<Inner>, alert: Id, stored: &StoredAlert) -> Vec<(Id, Decision)> {
    let all = inner.targets.targets();
    let chosen: Vec<&Target> = all.iter().filter(|t| t.enabled).collect();
    let names: Vec<(String, String)> = chosen
        .iter()
        .map(|t| (t.name.clone(), t.kind.clone()))
        .collect();
    let first = inner.store.ids(names.len() as u64);
    let plan = inner.core().expand(alert, &names, first);
    let mut now_jobs = Vec::new();
    let mut decisions = Vec::new();
    for (id, rec, run_now) in plan {
        if run_now {
            now_jobs.push((id, rec));
        } else {
            decisions.push((id, Decision::Wait(rec)));
        }
    }
    let targets: Vec<Target> = now_jobs
        .iter()
        .filter_map(|(_, rec)| {
            chosen
                .iter()
                .find(|t| t.name == rec.target)
                .map(|t| (*t).clone())
        })
        .collect();
    decisions.extend(attempt(inner, stored, now_jobs, targets).await);
    decisions
}

/// Runs retry jobs: re-files parked ones, dead-letters those whose target is
/// gone or disabled, publishes the rest.
async fn run_jobs(
    inner: &Arc<Inner>,
    jobs: Vec<(Id, JobRecord)>,
    stored: &StoredAlert,
) -> Vec<(Id, Decision)> {
    let all = inner.targets.targets();
    let now_ms = inner.clock.wall_ms();
    let mut decisions = Vec::new();
    let mut run = Vec::new();
    let mut targets = Vec::new();
    for (id, mut rec) in jobs {
        if let Some(reason) = rec.parked {
            let error = rec.last_error.clone().unwrap_or(LastError {
                class: ErrorClass::Permanent,
                message: reason.as_str().into(),
            });
            decisions.push((id, dead(inner, stored, rec, reason, error, now_ms)));
            continue;
        }
        match all.iter().find(|t| t.name == rec.target) {
            None => {
                let error = LastError {
                    class: ErrorClass::Permanent,
                    message: format!(
                        "target `{}` is no longer configured; replay this entry once it is back",
                        rec.target
                    ),
                };
                decisions.push((
                    id,
                    dead(inner, stored, rec, DlqReason::TargetRemoved, error, now_ms),
                ));
            }
            Some(t) if !t.enabled => {
                let error = LastError {
                    class: ErrorClass::Permanent,
                    message: format!(
                        "target `{}` was disabled while the delivery was pending; replay this entry once it is enabled",
                        rec.target
                    ),
                };
                decisions.push((
                    id,
                    dead(inner, stored, rec, DlqReason::TargetDisabled, error, now_ms),
                ));
            }
            Some(t) => {
                rec.kind = t.kind.clone();
                targets.push(t.clone());
                run.push((id, rec));
            }
        }
    }
    decisions.extend(attempt(inner, stored, run, targets).await);
    decisions
}

/// Publishes to `targets` (one per job, same order) and decides each job.
async fn attempt(
    inner: &Arc<Inner>,
    stored: &StoredAlert,
    jobs: Vec<(Id, JobRecord)>,
    targets: Vec<Target>,
) -> Vec<(Id, Decision)> {
    if jobs.is_empty() {
        return Vec::new();
    }
    let started_ms = inner.clock.wall_ms();
    let results = inner.delivery.deliver(&stored.alert, &targets).await;
    let ended_ms = inner.clock.wall_ms();
    jobs.into_iter()
        .map(|(id, rec)| {
            let result = results.iter().find(|r| r.target_name == rec.target);
            let decision = decide(inner, stored, rec, verdict(result), started_ms, ended_ms);
            (id, decision)
        })
        .collect()
}

/// What happens to a job after an attempt.
fn decide(
    inner: &Inner,
    stored: &StoredAlert,
    mut rec: JobRecord,
    verdict: Verdict,
    started_ms: u64,
    now_ms: u64,
) -> Decision {
    let policy = inner.settings.retry_for(&rec.target).clone();
    match verdict {
        Verdict::Delivered => Decision::Done,
        Verdict::Hold(reason) => {
            let pause = backoff::ceiling(&policy, rec.attempts.max(1));
            rec.wait = Wait::Held;
            rec.due_ms = Some(now_ms + pause.as_millis() as u64);
            tracing::debug!(target = %rec.target, reason = reason.as_str(), "delivery held: target skipped");
            Decision::Wait(rec)
        }
        Verdict::Failed(error) => {
            rec.attempts += 1;
            rec.first_attempt_ms.get_or_insert(started_ms);
            rec.last_attempt_ms = Some(started_ms);
            let last = LastError {
                class: error.class,
                message: error.message.clone(),
            };
            rec.last_error = Some(last.clone());
            if error.class == ErrorClass::Permanent {
                return dead(inner, stored, rec, DlqReason::PermanentError, last, now_ms);
            }
            if rec.attempts >= policy.max_attempts {
                return dead(
                    inner,
                    stored,
                    rec,
                    DlqReason::RetriesExhausted,
                    last,
                    now_ms,
                );
            }
            let unit = inner.jitter();
            let pause = backoff::delay(&policy, rec.attempts, error.retry_after, unit);
            rec.wait = Wait::Retry;
            rec.due_ms = Some(now_ms + pause.as_millis() as u64);
            metrics()
                .queue_retries
                .with_label_values(&[&rec.target])
                .inc();
            tracing::info!(
                target = %rec.target, attempt = rec.attempts, class = error.class.as_str(),
                retry_in_ms = pause.as_millis() as u64, "delivery failed; retry scheduled"
            );
            Decision::Wait(rec)
        }
    }
}

/// A dead letter for `rec`.
fn dead(
    inner: &Inner,
    stored: &StoredAlert,
    rec: JobRecord,
    reason: DlqReason,
    error: LastError,
    now_ms: u64,
) -> Decision {
    let dlq_id = inner.store.ids(1);
    let entry = DlqEntry {
        id: dlq_id,
        target_name: rec.target.clone(),
        target_kind: rec.kind.clone(),
        reason,
        error_class: error.class,
        error_message: error.message.clone(),
        attempts: rec.attempts,
        first_attempt_at: rec.first_attempt_ms.map(to_datetime),
        last_attempt_at: rec.last_attempt_ms.map(to_datetime),
        dead_lettered_at: to_datetime(now_ms),
        accepted_at: to_datetime(stored.accepted_ms),
        fingerprint: stored.alert.alert.fingerprint(),
        alert: stored.alert.clone(),
    };
    tracing::warn!(
        target = %rec.target, reason = reason.as_str(), class = error.class.as_str(),
        attempts = rec.attempts, fingerprint = %entry.fingerprint, "delivery dead-lettered: {}", error.message
    );
    let policy = inner.settings.retry_for(&rec.target);
    Decision::Dead(Box::new(DeadLetter {
        json: serde_json::to_vec(&entry).unwrap_or_default(),
        rec,
        reason,
        error_class: error.class,
        dlq_id,
        at_ms: now_ms,
        park_due_ms: now_ms + policy.max_delay.as_millis() as u64,
    }))
}
