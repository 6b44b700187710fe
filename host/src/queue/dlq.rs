//! The dead-letter queue's operations: list (filtered, paginated), replay
//! (one entry, or every entry a filter matches — exactly those), delete and
//! purge. Entries live in the store ([`super::store::DlqEntry`]); a replay
//! re-queues the alert for the entry's target only, with that target's
//! configuration as it is now.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::core::Id;
use super::durable::DurableQueue;
use super::priority::classify;
use super::store::{Change, DlqEntry, DlqFilter, StoreError, StoredAlert};
use crate::metrics::metrics;

/// Most entries one replay or list call handles.
pub const MAX_PAGE: usize = 1000;

/// Why a DLQ operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DlqError {
    #[error("no dead letter with id {0}")]
    NotFound(u64),
    /// The entry's target is not configured now; the entry stays.
    #[error(
        "dead letter {id}: target `{target}` is not configured; add it back, or delete the entry"
    )]
    TargetMissing { id: u64, target: String },
    /// The queue has no room; nothing was replayed.
    #[error("the queue is full ({0}); retry the replay later")]
    QueueFull(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One entry that was not replayed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplayFailure {
    pub id: u64,
    /// `target_missing` or `queue_full`.
    pub reason: &'static str,
    pub message: String,
}

/// What a replay by filter did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ReplayReport {
    /// Entries the filter matched in this call (at most the limit).
    pub matched: usize,
    /// Ids re-queued (and removed from the DLQ).
    pub replayed: Vec<u64>,
    pub failed: Vec<ReplayFailure>,
    /// More entries match beyond the limit; call again.
    pub more: bool,
}

/// A page of dead letters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DlqPage {
    pub entries: Vec<DlqEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl DurableQueue {
    /// Dead letters matching `filter` after `cursor` (an id), at most `limit`.
    pub fn dlq_list(
        &self,
        filter: &DlqFilter,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<DlqPage, DlqError> {
        let (entries, next) =
            self.inner
                .store
                .dlq_page(filter, cursor, limit.clamp(1, MAX_PAGE))?;
        Ok(DlqPage {
            entries,
            next_cursor: next.map(|n| n.to_string()),
        })
    }

    /// One dead letter.
    pub fn dlq_get(&self, id: u64) -> Result<DlqEntry, DlqError> {
        self.inner.store.dlq_get(id)?.ok_or(DlqError::NotFound(id))
    }

    /// Re-queues one dead letter for its target and removes it from the DLQ.
    pub async fn replay(&self, id: u64) -> Result<(), DlqError> {
        let _admin = self.inner.admin.lock().await;
        let Some(entry) = self.inner.store.dlq_get(id)? else {
            metrics()
                .dlq_replays
                .with_label_values(&["not_found"])
                .inc();
            return Err(DlqError::NotFound(id));
        };
        let target = entry.target_name.clone();
        let report = self.replay_entries(vec![entry]).await?;
        match report.failed.first() {
            None => Ok(()),
            Some(f) if f.reason == "target_missing" => Err(DlqError::TargetMissing { id, target }),
            Some(f) => Err(DlqError::QueueFull(f.message.clone())),
        }
    }

    /// Re-queues the dead letters `filter` matches (at most `limit`, oldest first).
    pub async fn replay_matching(
        &self,
        filter: &DlqFilter,
        limit: usize,
    ) -> Result<ReplayReport, DlqError> {
        let _admin = self.inner.admin.lock().await;
        let (ids, more) = self
            .inner
            .store
            .dlq_ids(filter, None, limit.clamp(1, MAX_PAGE))?;
        let mut entries = Vec::with_capacity(ids.len());
        for (id, _) in &ids {
            if let Some(e) = self.inner.store.dlq_get(*id)? {
                entries.push(e);
            }
        }
        let mut report = self.replay_entries(entries).await?;
        report.matched = ids.len();
        report.more = more;
        Ok(report)
    }

    /// Replays entries in one commit. Call with the admin lock held.
    async fn replay_entries(&self, entries: Vec<DlqEntry>) -> Result<ReplayReport, DlqError> {
        let inner = &self.inner;
        let targets = inner.targets.targets();
        let now_ms = inner.clock.wall_ms();
        let mut report = ReplayReport {
            matched: entries.len(),
            ..ReplayReport::default()
        };
        let mut changes = Vec::new();
        let mut removed = Vec::new();
        let mut waits = Vec::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut core = inner.core();
            for entry in entries {
                let Some(target) = targets.iter().find(|t| t.name == entry.target_name) else {
                    metrics()
                        .dlq_replays
                        .with_label_values(&["target_missing"])
                        .inc();
                    report.failed.push(ReplayFailure {
                        id: entry.id,
                        reason: "target_missing",
                        message: format!(
                            "target `{}` is not configured; add it back, or delete the entry",
                            entry.target_name
                        ),
                    });
                    continue;
                };
                let class = classify(&entry.alert);
                let fp: Arc<str> = Arc::from(entry.fingerprint.as_str());
                let stored = StoredAlert {
                    alert: entry.alert.clone(),
                    accepted_ms: now_ms,
                };
                let json =
                    serde_json::to_vec(&stored).map_err(|e| StoreError::Io(e.to_string()))?;
                let alert: Id = inner.store.ids(2);
                let job = alert + 1;
                match core.replay(
                    (alert, job),
                    (class, fp, json.len() as u64, now_ms),
                    (&target.name, &target.kind),
                ) {
                    Err(msg) => {
                        metrics()
                            .dlq_replays
                            .with_label_values(&["queue_full"])
                            .inc();
                        report.failed.push(ReplayFailure {
                            id: entry.id,
                            reason: "queue_full",
                            message: msg,
                        });
                    }
                    Ok(after) => {
                        let rec = core.job_record(job).cloned();
                        changes.push(Change::PutAlert(alert, json));
                        changes.push(Change::PutExpanded(alert));
                        if let Some(rec) = rec {
                            changes.push(Change::PutJob(
                                job,
                                serde_json::to_vec(&rec).unwrap_or_default(),
                            ));
                        }
                        changes.push(Change::DelDlq(entry.id));
                        removed.push(entry.target_name.clone());
                        report.replayed.push(entry.id);
                        waits.push(after);
                    }
                }
            }
            if changes.is_empty() {
                return Ok(report);
            }
            let ready = core.dlq_removed(&removed);
            inner.notify(ready);
            let mut after = super::core::AfterCommit::default();
            for w in waits {
                after.merge(w);
            }
            inner.submit_then(changes, after, Some(tx));
        }
        let n = report.replayed.len() as u64;
        match rx.await.unwrap_or(Err(StoreError::Closed)) {
            Ok(()) => {
                metrics().dlq_replays.with_label_values(&["ok"]).inc_by(n);
                Ok(report)
            }
            Err(e) => {
                metrics()
                    .dlq_replays
                    .with_label_values(&["failed"])
                    .inc_by(n);
                Err(e.into())
            }
        }
    }

    /// Deletes one dead letter.
    pub async fn dlq_delete(&self, id: u64) -> Result<(), DlqError> {
        let _admin = self.inner.admin.lock().await;
        let Some(entry) = self.inner.store.dlq_get(id)? else {
            return Err(DlqError::NotFound(id));
        };
        self.delete_ids(vec![(id, entry.target_name)]).await?;
        Ok(())
    }

    /// Deletes the dead letters dead-lettered more than `older_than` ago
    /// (and, when given, only `target`'s). Returns how many.
    pub async fn dlq_purge(
        &self,
        older_than: Duration,
        target: Option<String>,
    ) -> Result<u64, DlqError> {
        let _admin = self.inner.admin.lock().await;
        let cutoff = self
            .inner
            .clock
            .wall_ms()
            .saturating_sub(older_than.as_millis() as u64);
        let filter = DlqFilter {
            target,
            since_ms: None,
            until_ms: Some(cutoff + 1),
        };
        let mut total = 0u64;
        loop {
            let (ids, more) = self.inner.store.dlq_ids(&filter, None, 10_000)?;
            if ids.is_empty() {
                break;
            }
            total += ids.len() as u64;
            self.delete_ids(ids).await?;
            if !more {
                break;
            }
        }
        Ok(total)
    }

    async fn delete_ids(&self, ids: Vec<(u64, String)>) -> Result<(), DlqError> {
        let inner = &self.inner;
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut core = inner.core();
            let targets: Vec<String> = ids.iter().map(|(_, t)| t.clone()).collect();
            let changes = ids.iter().map(|(id, _)| Change::DelDlq(*id)).collect();
            let ready = core.dlq_removed(&targets);
            inner.notify(ready);
            inner.submit_then(changes, super::core::AfterCommit::default(), Some(tx));
        }
        rx.await.unwrap_or(Err(StoreError::Closed))?;
        Ok(())
    }
}
