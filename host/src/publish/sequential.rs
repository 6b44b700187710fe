//! The baseline: the same selection and results, one target after another.

use std::sync::Arc;
use std::time::Instant;

use tokio::time::Instant as Deadline;

use super::{Deliverer, Mode, PublishError, Publisher, timed_out};
use crate::model::{EnrichedAlert, ParallelPublishResult, Target, TargetResult};
use crate::plugin::bindings::types as wit;

/// A publisher that delivers to one target at a time, with the same
/// signature as [`Publisher::publish_to_multiple`] (for side-by-side benches).
pub struct SequentialPublisher {
    inner: Arc<Publisher>,
}

impl SequentialPublisher {
    /// Wraps a publisher, sharing its deliverer, health view and options.
    pub fn new(inner: Arc<Publisher>) -> Self {
        Self { inner }
    }

    /// Publishes to `targets` one by one, by `deadline` at the latest.
    pub async fn publish_to_multiple(
        &self,
        deadline: Option<Deadline>,
        alert: &EnrichedAlert,
        targets: &[Target],
    ) -> Result<ParallelPublishResult, PublishError> {
        let options = self.inner.options().clone();
        self.inner
            .run(deadline, alert, targets, &options, Mode::Sequential)
            .await
    }
}

pub(super) async fn one_by_one(
    deliverer: &Arc<Deliverer>,
    attempt: Vec<(usize, Target)>,
    alert: &wit::EnrichedAlert,
    deadline: Deadline,
) -> Vec<(usize, TargetResult)> {
    let mut out = Vec::with_capacity(attempt.len());
    for (i, target) in attempt {
        let started = Instant::now();
        let delivery = deliverer.deliver(&target, alert, 0, std::time::Duration::ZERO, deadline);
        let result = tokio::time::timeout_at(deadline, delivery)
            .await
            .unwrap_or_else(|_| timed_out(&target, started.elapsed()));
        out.push((i, result));
    }
    out
}
