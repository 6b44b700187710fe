//! The in-memory hand-off: accepted alerts are published in the background at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::{Intake, IntakeError};
use crate::model::EnrichedAlert;
use crate::publish::{PublishError, Publisher};

/// Publishes each accepted alert to the healthy targets in a background task.
/// At most `max_in_flight` alerts are being published at once; beyond that,
/// `accept` answers [`IntakeError::Full`].
pub struct MemoryIntake {
    publisher: Arc<Publisher>,
    tracker: TaskTracker,
    slots: Arc<Semaphore>,
    closed: AtomicBool,
}

impl MemoryIntake {
    /// A hand-off with room for `max_in_flight` alerts in flight.
    pub fn new(publisher: Arc<Publisher>, max_in_flight: usize) -> Self {
        Self {
            publisher,
            tracker: TaskTracker::new(),
            slots: Arc::new(Semaphore::new(max_in_flight.max(1))),
            closed: AtomicBool::new(false),
        }
    }
}

#[async_trait::async_trait]
impl Intake for MemoryIntake {
    async fn accept(&self, alerts: Vec<EnrichedAlert>) -> Result<usize, IntakeError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(IntakeError::ShuttingDown);
        }
        let n = alerts.len();
        let permits = self
            .slots
            .clone()
            .try_acquire_many_owned(n as u32)
            .map_err(|_| {
                IntakeError::Full(
                    format!("{n} alerts would exceed the in-flight limit"),
                    Duration::from_secs(5),
                )
            })?;
        let publisher = self.publisher.clone();
        self.tracker.spawn(async move {
            let _permits = permits;
            for alert in alerts {
                match publisher.publish_to_healthy(&alert).await {
                    Ok(_) => {}
                    Err(PublishError::AllFailed(r)) | Err(PublishError::NoHealthyTargets(r)) => {
                        tracing::warn!(
                            fingerprint = %alert.alert.fingerprint(),
                            failed = r.failure_count, skipped = r.skipped_count,
                            "alert not delivered to any target (in-memory intake: not retried)"
                        );
                    }
                    Err(e) => tracing::error!(fingerprint = %alert.alert.fingerprint(), "publish failed: {e}"),
                }
            }
        });
        Ok(n)
    }

    async fn shutdown(&self, grace: Duration) {
        self.closed.store(true, Ordering::Release);
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} background publishes still running after the {grace:?} grace period; abandoning them",
                self.tracker.len()
            );
        }
    }
}
