//! The durable queue: the [`Intake`] behind asynchronous ingress when Herald
//! must not lose what it accepted. `accept` returns only after the alerts
//! are committed (fsync'd) to the store; workers then deliver them, retry
//! failed targets one by one, and dead-letter what cannot be delivered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backoff::Jitter;
use super::clock::Clock;
use super::core::{AfterCommit, Core, Decision, Id, Limits, QueueStats, Work};
use super::dispatch::{Delivery, worker};
use super::priority::{Wrr, classify};
use super::settings::QueueSettings;
use super::store::{Change, Store, StoreError, StoredAlert};
use super::{Intake, IntakeError};
use crate::metrics::metrics;
use crate::model::{EnrichedAlert, TargetSource};

/// Why the durable queue could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("invalid queue settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the durable queue must be started inside a tokio runtime")]
    NoRuntime,
}

/// What the workers and the handlers share.
pub(crate) struct Inner {
    pub(crate) store: Arc<Store>,
    pub(crate) delivery: Arc<dyn Delivery>,
    pub(crate) targets: Arc<dyn TargetSource>,
    pub(crate) settings: QueueSettings,
    pub(crate) clock: Clock,
    core: Mutex<Core>,
    jitter: Mutex<Jitter>,
    /// Wakes a worker when a unit becomes ready.
    pub(crate) wake: Notify,
    /// Wakes whoever waits for the queue to change (after every commit).
    pub(crate) settled: Notify,
    /// Workers stop taking new units.
    pub(crate) stop: CancellationToken,
    /// Workers abandon what they are running (after the grace period).
    pub(crate) hard_stop: CancellationToken,
    /// Serialises the DLQ admin operations (replay, delete, purge), so their
    /// reads and deletions cannot interleave.
    pub(crate) admin: tokio::sync::Mutex<()>,
}

impl Inner {
    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A jitter draw in `[0, 1)`.
    pub(crate) fn jitter(&self) -> f64 {
        self.jitter.lock().unwrap_or_else(|e| e.into_inner()).unit()
    }

    /// Wakes up to `n` workers.
    pub(crate) fn notify(&self, n: usize) {
        for _ in 0..n.min(self.settings.workers) {
            self.wake.notify_one();
        }
    }

    /// Records a unit's decisions: the changes are queued for the next group
    /// commit (under the core's lock, so the store sees them in the order
    /// memory did), and what follows the commit runs once it is done.
    pub(crate) fn settle(self: &Arc<Self>, work: &Work, decisions: Vec<(Id, Decision)>) {
        let mut core = self.core();
        let (changes, after) = core.settle(work, decisions);
        self.submit_then(changes, after, None);
        drop(core);
    }

    /// Queues `changes`; after the commit applies `after` and wakes workers,
    /// then reports to `reply`. Call with the core locked.
    pub(crate) fn submit_then(
        self: &Arc<Self>,
        changes: Vec<Change>,
        after: AfterCommit,
        reply: Option<tokio::sync::oneshot::Sender<Result<(), StoreError>>>,
    ) {
        let weak: Weak<Inner> = Arc::downgrade(self);
        self.store.writer().submit(
            changes,
            Some(Box::new(move |result: Result<(), StoreError>| {
                if let Some(inner) = weak.upgrade() {
                    if let Err(e) = &result {
                        tracing::error!("queue: a commit failed; the queue's memory may be ahead of the store until a restart: {e}");
                    }
                    let ready = inner.core().after_commit(after, &inner.clock);
                    // Observers first: on a paused test clock, a worker that
                    // runs alone could let time jump before they look.
                    inner.settled.notify_waiters();
                    inner.notify(ready);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            })),
        );
    }
}

/// The durable intake: alerts are committed before `accept` returns, then
/// delivered with per-target retries and a dead-letter queue.
pub struct DurableQueue {
    pub(crate) inner: Arc<Inner>,
    tasks: TaskTracker,
    closed: AtomicBool,
}

impl std::fmt::Debug for DurableQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableQueue")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

impl DurableQueue {
    /// Starts the queue on an open store: restores what was pending (it
    /// resumes at once) and starts `settings.workers` workers, which publish
    /// through `delivery` to the targets `targets` lists at that moment.
    ///
    /// Typical wiring: open the [`Store`] first, give
    /// [`Store::state_store`] to the plugin runtime, build the publisher,
    /// then `DurableQueue::start(store, publisher.clone(), publisher.target_source().clone(), settings)`.
    pub fn start(
        store: Arc<Store>,
        delivery: Arc<dyn Delivery>,
        targets: Arc<dyn TargetSource>,
        settings: QueueSettings,
    ) -> Result<Arc<Self>, QueueError> {
        settings.validate().map_err(QueueError::Settings)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(QueueError::NoRuntime);
        }
        let clock = store.clock();
        let mut core = Core::new(Limits::from(&settings), Wrr::new(settings.weights));
        if let Some(loaded) = store.take_loaded() {
            let (alerts, jobs) = (loaded.alerts.len(), loaded.jobs.len());
            let cleanup = core.restore(loaded, &clock);
            if !cleanup.is_empty() {
                store.writer().submit(cleanup, None);
            }
            if alerts > 0 {
                tracing::info!(alerts, jobs, "queue: resuming pending deliveries");
            }
        }
        core.refresh_gauges(&clock);
        let inner = Arc::new(Inner {
            store,
            delivery,
            targets,
            jitter: Mutex::new(Jitter::new(settings.jitter_seed)),
            clock,
            core: Mutex::new(core),
            wake: Notify::new(),
            settled: Notify::new(),
            stop: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            admin: tokio::sync::Mutex::new(()),
            settings,
        });
        let tasks = TaskTracker::new();
        for _ in 0..inner.settings.workers {
            tasks.spawn(worker(inner.clone()));
        }
        if !inner.settings.metrics_interval.is_zero() {
            let inner = inner.clone();
            tasks.spawn(async move {
                let every = inner.settings.metrics_interval;
                loop {
                    tokio::select! {
                        _ = inner.stop.cancelled() => break,
                        _ = tokio::time::sleep(every) => inner.core().refresh_gauges(&inner.clock),
                    }
                }
            });
        }
        inner.notify(inner.settings.workers);
        Ok(Arc::new(Self {
            inner,
            tasks,
            closed: AtomicBool::new(false),
        }))
    }

    /// The store under the queue.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &QueueSettings {
        &self.inner.settings
    }

    /// Depth by class and state, oldest age, retries, DLQ size.
    pub fn stats(&self) -> QueueStats {
        let core = self.inner.core();
        core.refresh_gauges(&self.inner.clock);
        core.stats(&self.inner.clock)
    }

    /// Whether nothing is waiting for delivery.
    pub fn is_idle(&self) -> bool {
        self.inner.core().is_idle()
    }

    /// Waits until `done` holds for the queue's numbers, checking after every
    /// commit (no timer: safe on a paused clock).
    pub async fn wait_until(&self, mut done: impl FnMut(&QueueStats) -> bool) {
        loop {
            let settled = self.inner.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if done(&self.stats()) {
                return;
            }
            settled.await;
        }
    }

    /// Waits until nothing is waiting for delivery and what was decided is committed.
    pub async fn wait_idle(&self) {
        self.wait_until(|s| s.alerts == 0).await;
        self.flush().await;
    }

    /// Waits until every change submitted so far is committed.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.store.writer().submit(
            Vec::new(),
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        );
        let _ = rx.await;
    }

    fn stop_now(&self) {
        self.closed.store(true, Ordering::Release);
        self.inner.stop.cancel();
        self.tasks.close();
    }
}

#[async_trait::async_trait]
impl Intake for DurableQueue {
    async fn accept(&self, alerts: Vec<EnrichedAlert>) -> Result<usize, IntakeError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(IntakeError::ShuttingDown);
        }
        let n = alerts.len();
        if n == 0 {
            return Ok(0);
        }
        let inner = &self.inner;
        let accepted_ms = inner.clock.wall_ms();
        let mut encoded = Vec::with_capacity(n);
        let mut bodies = Vec::with_capacity(n);
        for alert in alerts {
            let class = classify(&alert);
            let fp: Arc<str> = Arc::from(alert.alert.fingerprint().as_str());
            let body = Arc::new(StoredAlert { alert, accepted_ms });
            let json = serde_json::to_vec(&*body)
                .map_err(|e| IntakeError::Unavailable(format!("cannot encode an alert: {e}")))?;
            encoded.push((class, fp, json));
            bodies.push(body);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut core = inner.core();
            let first = inner.store.ids(n as u64);
            let items: Vec<_> = encoded
                .iter()
                .enumerate()
                .map(|(i, (class, fp, json))| {
                    (
                        first + i as u64,
                        *class,
                        fp.clone(),
                        json.len() as u64,
                        accepted_ms,
                    )
                })
                .collect();
            core.reserve(&items)
                .map_err(|msg| IntakeError::Full(msg, inner.settings.full_retry_after))?;
            let ids: Vec<Id> = items.iter().map(|i| i.0).collect();
            for (id, body) in ids.iter().zip(bodies) {
                core.cache_body(*id, body);
            }
            let changes = encoded
                .into_iter()
                .zip(&ids)
                .map(|((_, _, json), id)| Change::PutAlert(*id, json))
                .collect();
            let weak = Arc::downgrade(inner);
            inner.store.writer().submit(
                changes,
                Some(Box::new(move |result: Result<(), StoreError>| {
                    if let Some(inner) = weak.upgrade() {
                        let mut core = inner.core();
                        let ready = match &result {
                            Ok(()) => core.committed(&ids),
                            Err(_) => core.aborted(&ids),
                        };
                        drop(core);
                        inner.settled.notify_waiters();
                        inner.notify(ready);
                    }
                    let _ = tx.send(result);
                })),
            );
        }
        match rx.await {
            Ok(Ok(())) => {
                metrics().queue_enqueued.inc_by(n as u64);
                Ok(n)
            }
            Ok(Err(e)) => Err(IntakeError::Unavailable(e.to_string())),
            Err(_) => Err(IntakeError::Unavailable("the queue store stopped".into())),
        }
    }

    async fn shutdown(&self, grace: Duration) {
        self.stop_now();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "queue: deliveries still running after the {grace:?} grace period are abandoned; they stay queued and run again after a restart"
            );
            self.inner.hard_stop.cancel();
            self.tasks.wait().await;
        }
        self.inner.store.close();
    }
}

impl Drop for DurableQueue {
    fn drop(&mut self) {
        self.stop_now();
        self.inner.hard_stop.cancel();
        self.inner.store.close();
    }
}
