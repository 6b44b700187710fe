//! Intake: what happens to alerts that asynchronous ingress accepted.
//!
//! The [`Intake`] trait is what the HTTP layer hands accepted alerts to; it
//! answers only once the alerts are safe by its own standard. [`MemoryIntake`]
//! publishes them in the background straight away (nothing survives a crash).
//! [`DurableQueue`] commits them to a `redb` store first (group commit), then
//! delivers them with per-target retries and a dead-letter queue.
//!
//! Files: `settings` (what the queue is told), `clock` (scheduling vs
//! persisted time), `backoff` (retry delays), `priority` (classes and
//! weighted round robin), `store` (redb, the writer and completion threads),
//! `state` (the adapters' state in the store), `core` (the in-memory index:
//! order, states, timers), `dispatch` (workers and per-target decisions),
//! `durable` (the queue and its intake), `dlq` (list, replay, delete, purge).
//!
//! Depends on `model`, `plugin` (the state-store trait) and `publish`.

mod backoff;
mod clock;
mod core;
mod dispatch;
mod dlq;
mod durable;
mod memory;
mod priority;
mod settings;
mod state;
mod store;

#[cfg(test)]
mod tests;

pub use backoff::{Jitter, ceiling as backoff_ceiling, delay as backoff_delay};
pub use clock::Clock;
pub use core::{QueueStats, RetryCount};
pub use dispatch::Delivery;
pub use dlq::{DlqError, DlqPage, MAX_PAGE, ReplayFailure, ReplayReport};
pub use durable::{DurableQueue, QueueError};
pub use memory::MemoryIntake;
pub use priority::{Class, Wrr, classify};
pub use settings::{PriorityWeights, QueueSettings, RetryPolicy};
pub use state::DurableStateStore;
pub use store::{DB_FILE, DlqEntry, DlqFilter, DlqReason, Store, StoreError};

use crate::model::EnrichedAlert;

/// Why alerts could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// Full: try again later (ingress answers 503 with `Retry-After`).
    #[error("the queue is full ({0}); retry later")]
    Full(String, std::time::Duration),
    /// The store failed; nothing was accepted (ingress answers 503).
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    /// Shutting down: nothing new is accepted.
    #[error("Herald is shutting down")]
    ShuttingDown,
}

/// Takes accepted alerts.
#[async_trait::async_trait]
pub trait Intake: Send + Sync + 'static {
    /// Accepts the alerts (all or none); returns how many were accepted.
    async fn accept(&self, alerts: Vec<EnrichedAlert>) -> Result<usize, IntakeError>;
    /// Stops accepting and waits up to `grace` for work in hand to finish.
    async fn shutdown(&self, grace: std::time::Duration);
}
