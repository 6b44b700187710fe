//! The queue's store: one `redb` file in the data directory holding accepted
//! alerts, per-target delivery jobs, dead letters and the adapters' state.
//!
//! All writes go through one writer thread that commits whatever is waiting
//! as one fsync'd write transaction (group commit) and hands the batch to a
//! second thread, which runs each writer's completion in submission order
//! (and frees the batch) while the writer already commits the next one.
//! Reads open their own read transactions and never wait for the writer.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::clock::Clock;
use super::priority::{Class, classify};
use super::state::DurableStateStore;
use crate::metrics::metrics;
use crate::model::{EnrichedAlert, ErrorClass};

/// Accepted alerts: id → JSON [`StoredAlert`].
const ALERTS: TableDefinition<u64, &[u8]> = TableDefinition::new("alerts");
/// Alerts already expanded into per-target jobs: id → 1.
const EXPANDED: TableDefinition<u64, u8> = TableDefinition::new("expanded");
/// Per-target delivery jobs: id → JSON [`JobRecord`].
const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
/// Dead letters: id → JSON [`DlqEntry`].
const DLQ: TableDefinition<u64, &[u8]> = TableDefinition::new("dlq");
/// Dead letters by id → (target name, dead-lettered at ms): what filters read.
const DLQ_INDEX: TableDefinition<u64, (&str, u64)> = TableDefinition::new("dlq_index");
/// Adapter state: (target, fingerprint, key) → (value, expires at ms).
const STATE: TableDefinition<(&str, &str, &str), (&str, u64)> = TableDefinition::new("state");
/// Counters: `next_id`, the end of the reserved id block (see [`ID_BLOCK`]).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "herald.redb";

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 4096;

/// Ids are reserved in the store in blocks of this many, so most commits
/// need not rewrite the `next_id` counter; a restart skips what is left of
/// the block (ids are never reused, gaps are harmless).
const ID_BLOCK: u64 = 4096;

/// Why the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("queue store {path}: cannot open: {message}")]
    Open { path: String, message: String },
    /// A read or a commit failed.
    #[error("queue store: {0}")]
    Io(String),
    /// The store was closed (shutdown).
    #[error("queue store is closed")]
    Closed,
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// An accepted alert as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredAlert {
    pub alert: EnrichedAlert,
    /// When ingress accepted it (ms since the epoch).
    pub accepted_ms: u64,
}

/// Why a delivery is waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Wait {
    /// Not attempted yet (behind an earlier delivery of the same alert fingerprint).
    New,
    /// After a failed attempt.
    Retry,
    /// The target was skipped (circuit open, unhealthy): no attempt was made.
    Held,
    /// Would be dead-lettered, but the DLQ is full.
    Parked,
}

/// The last failure of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LastError {
    pub class: ErrorClass,
    pub message: String,
}

/// One target's pending delivery of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    pub alert_id: u64,
    pub target: String,
    /// The target's kind when the job was made (for the DLQ when the target is gone).
    pub kind: String,
    pub attempts: u32,
    pub first_attempt_ms: Option<u64>,
    pub last_attempt_ms: Option<u64>,
    /// When to try next; `None`: as soon as it is first in line.
    pub due_ms: Option<u64>,
    pub wait: Wait,
    pub last_error: Option<LastError>,
    /// Why it is parked (the dead-letter reason it is waiting to be filed under).
    #[serde(default)]
    pub parked: Option<DlqReason>,
}

/// Why a delivery was dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DlqReason {
    /// The target answered with a permanent error.
    PermanentError,
    /// Every allowed attempt failed.
    RetriesExhausted,
    /// The target is no longer configured.
    TargetRemoved,
    /// The target was disabled while the delivery was pending.
    TargetDisabled,
}

impl DlqReason {
    /// The reason as text.
    pub fn as_str(self) -> &'static str {
        match self {
            DlqReason::PermanentError => "permanent_error",
            DlqReason::RetriesExhausted => "retries_exhausted",
            DlqReason::TargetRemoved => "target_removed",
            DlqReason::TargetDisabled => "target_disabled",
        }
    }
}

/// A dead letter: one alert that could not be delivered to one target. It
/// names the target; it never holds the target's configuration or secrets
/// (a replay uses the target's configuration at that time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DlqEntry {
    pub id: u64,
    pub target_name: String,
    pub target_kind: String,
    pub reason: DlqReason,
    pub error_class: ErrorClass,
    /// The last error's message (redacted by the deliverer).
    pub error_message: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub dead_lettered_at: chrono::DateTime<chrono::Utc>,
    /// When ingress accepted the alert.
    pub accepted_at: chrono::DateTime<chrono::Utc>,
    pub fingerprint: String,
    pub alert: EnrichedAlert,
}

/// One write, applied inside a group commit.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    PutAlert(u64, Vec<u8>),
    /// Removes the alert and its expanded mark.
    DelAlert(u64),
    PutExpanded(u64),
    PutJob(u64, Vec<u8>),
    DelJob(u64),
    PutDlq {
        id: u64,
        json: Vec<u8>,
        target: String,
        at_ms: u64,
    },
    DelDlq(u64),
    PutState {
        target: String,
        fingerprint: String,
        key: String,
        value: String,
        expires_ms: u64,
    },
    DelState {
        target: String,
        fingerprint: String,
        key: String,
    },
}

impl Change {
    fn id(&self) -> Option<u64> {
        match self {
            Change::PutAlert(id, _)
            | Change::PutExpanded(id)
            | Change::PutJob(id, _)
            | Change::PutDlq { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// What runs after a commit (or its failure), on the completion thread.
pub(crate) type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

struct Op {
    changes: Vec<Change>,
    done: Option<Done>,
    /// Tests: runs on the writer thread before the batch this op opens is
    /// gathered, so a test can hold the writer while work queues up.
    #[cfg(test)]
    stall: Option<Box<dyn FnOnce() + Send>>,
}

/// The writer and completion threads, and the way to them.
pub(crate) struct Writer {
    tx: RwLock<Option<Sender<Op>>>,
    /// The writer thread, then the completion thread.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Transactions committed.
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Queues `changes` for the next group commit; `done` runs after it, on
    /// the completion thread. When the store is closed, `done` is dropped unrun
    /// (callers may hold locks that `done` takes): a caller waiting on a
    /// channel inside it sees the channel close.
    pub(crate) fn submit(&self, changes: Vec<Change>, done: Option<Done>) {
        let tx = self.tx.read().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = tx.as_ref() {
            // A send fails only when the thread is gone; `done` is dropped with the op.
            let _ = tx.send(Op {
                changes,
                done,
                #[cfg(test)]
                stall: None,
            });
        }
    }

    /// Tests: the writer runs `stall` before it gathers its next batch.
    #[cfg(test)]
    pub(crate) fn stall(&self, stall: impl FnOnce() + Send + 'static) {
        let tx = self.tx.read().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = tx.as_ref() {
            let _ = tx.send(Op {
                changes: Vec::new(),
                done: None,
                stall: Some(Box::new(stall)),
            });
        }
    }

    /// Commits what is queued, runs the completions and stops both threads.
    /// A completion may close the store (by dropping the last reference to
    /// it): the completion thread then does not wait for itself.
    fn close(&self) {
        self.tx.write().unwrap_or_else(|e| e.into_inner()).take();
        let handles = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in handles {
            let thread = handle.thread().clone();
            if thread.id() != std::thread::current().id() && handle.join().is_err() {
                tracing::error!(
                    "the queue store's thread `{}` panicked",
                    thread.name().unwrap_or("?")
                );
            }
        }
    }
}

/// Pending work as found in the store when it was opened.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Accepted alerts, in id order.
    pub alerts: Vec<LoadedAlert>,
    /// Ids of alerts already expanded into jobs.
    pub expanded: HashSet<u64>,
    /// Jobs, in id order.
    pub jobs: Vec<(u64, JobRecord)>,
    /// Dead letters per target.
    pub dlq_by_target: HashMap<String, u64>,
    /// The first unused id.
    pub next_id: u64,
    /// Deletions of adapter state that expired while Herald was down.
    pub expired_state: Vec<Change>,
}

/// What the queue keeps in memory of a stored alert.
#[derive(Debug, Clone)]
pub(crate) struct LoadedAlert {
    pub id: u64,
    pub class: Class,
    pub fingerprint: String,
    pub accepted_ms: u64,
    pub bytes: u64,
}

/// A filter over dead letters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DlqFilter {
    /// Only this target's entries.
    pub target: Option<String>,
    /// Dead-lettered at or after (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Dead-lettered before (ms since the epoch).
    pub until_ms: Option<u64>,
}

impl DlqFilter {
    fn matches(&self, target: &str, at_ms: u64) -> bool {
        self.target.as_deref().is_none_or(|t| t == target)
            && self.since_ms.is_none_or(|s| at_ms >= s)
            && self.until_ms.is_none_or(|u| at_ms < u)
    }
}

/// The store: the database, its writer and the adapters' state.
pub struct Store {
    path: PathBuf,
    db: RwLock<Option<Arc<Database>>>,
    writer: Arc<Writer>,
    clock: Clock,
    state: Arc<DurableStateStore>,
    /// The first id never handed out.
    next_id: AtomicU64,
    /// What was pending when the store was opened, until the queue takes it.
    loaded: Mutex<Option<Loaded>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `data_dir` with the system clock.
    pub fn open(data_dir: &Path) -> Result<Arc<Store>, StoreError> {
        Self::open_with_clock(data_dir, Clock::system())
    }

    /// Opens (or creates) the store in `data_dir`; `clock` stamps what is persisted.
    pub fn open_with_clock(data_dir: &Path, clock: Clock) -> Result<Arc<Store>, StoreError> {
        let path = data_dir.join(DB_FILE);
        let open_err = |message: String| StoreError::Open {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| {
            open_err(format!(
                "cannot create the data directory {}: {e}; set `[queue] data_dir` to a writable directory",
                data_dir.display()
            ))
        })?;
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => open_err(
                "the database is already open (is another Herald using this data directory?)"
                    .into(),
            ),
            e => open_err(e.to_string()),
        })?;
        let db = Arc::new(db);
        // Create every table so readers never meet a missing one.
        let txn = db.begin_write().map_err(|e| open_err(e.to_string()))?;
        {
            let init = || -> Result<(), redb::Error> {
                txn.open_table(ALERTS)?;
                txn.open_table(EXPANDED)?;
                txn.open_table(JOBS)?;
                txn.open_table(DLQ)?;
                txn.open_table(DLQ_INDEX)?;
                txn.open_table(STATE)?;
                txn.open_table(META)?;
                Ok(())
            };
            init().map_err(|e| open_err(e.to_string()))?;
        }
        txn.commit().map_err(|e| open_err(e.to_string()))?;

        let (mut loaded, state) = load(&db, &clock).map_err(|e| open_err(e.to_string()))?;
        let expired = std::mem::take(&mut loaded.expired_state);
        let next_id = loaded.next_id;
        let (tx, rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let completer = std::thread::Builder::new()
            .name("herald-store-done".into())
            .spawn(move || complete_loop(&done_rx))
            .map_err(|e| open_err(format!("cannot start the completion thread: {e}")))?;
        let thread = {
            let (db, commits) = (db.clone(), commits.clone());
            std::thread::Builder::new()
                .name("herald-store".into())
                .spawn(move || write_loop(&db, &rx, &done_tx, &commits))
                .map_err(|e| open_err(format!("cannot start the writer thread: {e}")))?
        };
        let writer = Arc::new(Writer {
            tx: RwLock::new(Some(tx)),
            threads: Mutex::new(vec![thread, completer]),
            commits,
        });
        if !expired.is_empty() {
            writer.submit(expired, None);
        }
        let state = Arc::new(DurableStateStore::new(writer.clone(), clock, state));
        Ok(Arc::new(Store {
            path,
            db: RwLock::new(Some(db)),
            writer,
            clock,
            state,
            next_id: AtomicU64::new(next_id),
            loaded: Mutex::new(Some(loaded)),
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The clock that stamps persisted times.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The adapters' state, persisted in this store (give it to the plugin runtime).
    pub fn state_store(&self) -> Arc<DurableStateStore> {
        self.state.clone()
    }

    /// Write transactions committed since the store was opened.
    pub fn commits(&self) -> u64 {
        self.writer.commits.load(Ordering::Relaxed)
    }

    /// Hands out `n` consecutive fresh ids; returns the first.
    pub(crate) fn ids(&self, n: u64) -> u64 {
        self.next_id.fetch_add(n, Ordering::Relaxed)
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.writer
    }

    /// What was pending at open; `None` after the first call.
    pub(crate) fn take_loaded(&self) -> Option<Loaded> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Commits what is queued, stops the writer and releases the file (so it
    /// can be opened again). Later writes fail with [`StoreError::Closed`].
    pub fn close(&self) {
        self.writer.close();
        self.db.write().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Closed)
    }

    /// Queues changes and waits for their commit.
    #[cfg(test)]
    pub(crate) async fn commit(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer.submit(
            changes,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        );
        rx.await.unwrap_or(Err(StoreError::Closed))
    }

    /// A stored alert.
    pub(crate) fn read_alert(&self, id: u64) -> Result<Option<StoredAlert>, StoreError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(io)?;
        let table = txn.open_table(ALERTS).map_err(io)?;
        let Some(v) = table.get(id).map_err(io)? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| io(format!("alert {id} is unreadable: {e}")))
    }

    /// A dead letter by id.
    pub fn dlq_get(&self, id: u64) -> Result<Option<DlqEntry>, StoreError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(io)?;
        let table = txn.open_table(DLQ).map_err(io)?;
        let Some(v) = table.get(id).map_err(io)? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| io(format!("dead letter {id} is unreadable: {e}")))
    }

    /// Ids (with their target) of dead letters matching `filter` with an id
    /// above `after`, in id order, at most `limit`; and whether more match.
    pub fn dlq_ids(
        &self,
        filter: &DlqFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<(u64, String)>, bool), StoreError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(io)?;
        let index = txn.open_table(DLQ_INDEX).map_err(io)?;
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut out = Vec::new();
        for item in index.range(start..).map_err(io)? {
            let (k, v) = item.map_err(io)?;
            let (target, at_ms) = v.value();
            if filter.matches(target, at_ms) {
                if out.len() == limit {
                    return Ok((out, true));
                }
                out.push((k.value(), target.to_string()));
            }
        }
        Ok((out, false))
    }

    /// Dead letters matching `filter` after `after`, at most `limit`, and the
    /// cursor of the next page when there is one.
    pub fn dlq_page(
        &self,
        filter: &DlqFilter,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<DlqEntry>, Option<u64>), StoreError> {
        let (ids, more) = self.dlq_ids(filter, after, limit)?;
        let mut entries = Vec::with_capacity(ids.len());
        for (id, _) in &ids {
            if let Some(e) = self.dlq_get(*id)? {
                entries.push(e);
            }
        }
        let next = if more {
            ids.last().map(|(id, _)| *id)
        } else {
            None
        };
        Ok((entries, next))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.writer.close();
    }
}

/// Reads everything pending, and the adapters' live state.
#[allow(clippy::type_complexity)]
fn load(
    db: &Database,
    clock: &Clock,
) -> Result<
    (
        Loaded,
        HashMap<(String, String), HashMap<String, (String, u64)>>,
    ),
    redb::Error,
> {
    let txn = db.begin_read()?;
    let mut loaded = Loaded::default();
    let mut max_id = 0u64;
    let alerts = txn.open_table(ALERTS)?;
    for item in alerts.iter()? {
        let (k, v) = item?;
        let id = k.value();
        max_id = max_id.max(id);
        match serde_json::from_slice::<StoredAlert>(v.value()) {
            Ok(a) => loaded.alerts.push(LoadedAlert {
                id,
                class: classify(&a.alert),
                fingerprint: a.alert.alert.fingerprint(),
                accepted_ms: a.accepted_ms,
                bytes: v.value().len() as u64,
            }),
            Err(e) => tracing::error!(
                alert = id,
                "queue store: stored alert is unreadable, skipped: {e}"
            ),
        }
    }
    for item in txn.open_table(EXPANDED)?.iter()? {
        let (k, _) = item?;
        loaded.expanded.insert(k.value());
    }
    for item in txn.open_table(JOBS)?.iter()? {
        let (k, v) = item?;
        let id = k.value();
        max_id = max_id.max(id);
        match serde_json::from_slice::<JobRecord>(v.value()) {
            Ok(j) => loaded.jobs.push((id, j)),
            Err(e) => tracing::error!(
                job = id,
                "queue store: stored job is unreadable, skipped: {e}"
            ),
        }
    }
    for item in txn.open_table(DLQ_INDEX)?.iter()? {
        let (k, v) = item?;
        max_id = max_id.max(k.value());
        *loaded
            .dlq_by_target
            .entry(v.value().0.to_string())
            .or_default() += 1;
    }
    let next = txn
        .open_table(META)?
        .get("next_id")?
        .map(|v| v.value())
        .unwrap_or(0);
    loaded.next_id = next.max(max_id + 1);

    let now = clock.wall_ms();
    let mut state: HashMap<(String, String), HashMap<String, (String, u64)>> = HashMap::new();
    for item in txn.open_table(STATE)?.iter()? {
        let (k, v) = item?;
        let (target, fp, key) = k.value();
        let (value, expires) = v.value();
        if expires <= now {
            loaded.expired_state.push(Change::DelState {
                target: target.to_string(),
                fingerprint: fp.to_string(),
                key: key.to_string(),
            });
        } else {
            state
                .entry((target.to_string(), fp.to_string()))
                .or_default()
                .insert(key.to_string(), (value.to_string(), expires));
        }
    }
    Ok((loaded, state))
}

/// A committed batch and how its commit ended, for the completion thread.
type Committed = (Vec<Op>, Result<(), StoreError>);

/// The writer thread: one transaction per batch of waiting operations.
fn write_loop(db: &Database, rx: &Receiver<Op>, done: &Sender<Committed>, commits: &AtomicU64) {
    let m = metrics();
    #[cfg_attr(not(test), allow(unused_mut))]
    while let Ok(mut first) = rx.recv() {
        #[cfg(test)]
        if let Some(stall) = first.stall.take() {
            stall();
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = apply(db, &batch).map_err(|e| {
            tracing::error!(
                "queue store: commit of {} operations failed: {e}",
                batch.len()
            );
            io(e)
        });
        m.store_commit_duration
            .observe(started.elapsed().as_secs_f64());
        commits.fetch_add(1, Ordering::Relaxed);
        // Completions take locks and wake tasks, and freeing the batch is
        // slow across threads: neither holds up the next commit. A send
        // fails only if the completion thread died; the batch is dropped.
        let _ = done.send((batch, result));
    }
}

/// The completion thread: runs each committed operation's completion, in
/// submission order, then frees the batch.
fn complete_loop(rx: &Receiver<Committed>) {
    while let Ok((batch, result)) = rx.recv() {
        for op in batch {
            if let Some(done) = op.done {
                done(result.clone());
            }
        }
    }
}

fn apply(db: &Database, batch: &[Op]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut alerts = txn.open_table(ALERTS)?;
        let mut expanded = txn.open_table(EXPANDED)?;
        let mut jobs = txn.open_table(JOBS)?;
        let mut dlq = txn.open_table(DLQ)?;
        let mut dlq_index = txn.open_table(DLQ_INDEX)?;
        let mut state = txn.open_table(STATE)?;
        let mut meta = txn.open_table(META)?;
        let mut max_id = None::<u64>;
        for change in batch.iter().flat_map(|op| &op.changes) {
            if let Some(id) = change.id() {
                max_id = Some(max_id.map_or(id, |m| m.max(id)));
            }
            match change {
                Change::PutAlert(id, v) => {
                    alerts.insert(id, v.as_slice())?;
                }
                Change::DelAlert(id) => {
                    alerts.remove(id)?;
                    expanded.remove(id)?;
                }
                Change::PutExpanded(id) => {
                    expanded.insert(id, 1u8)?;
                }
                Change::PutJob(id, v) => {
                    jobs.insert(id, v.as_slice())?;
                }
                Change::DelJob(id) => {
                    jobs.remove(id)?;
                }
                Change::PutDlq {
                    id,
                    json,
                    target,
                    at_ms,
                } => {
                    dlq.insert(id, json.as_slice())?;
                    dlq_index.insert(id, (target.as_str(), *at_ms))?;
                }
                Change::DelDlq(id) => {
                    dlq.remove(id)?;
                    dlq_index.remove(id)?;
                }
                Change::PutState {
                    target,
                    fingerprint,
                    key,
                    value,
                    expires_ms,
                } => {
                    state.insert(
                        (target.as_str(), fingerprint.as_str(), key.as_str()),
                        (value.as_str(), *expires_ms),
                    )?;
                }
                Change::DelState {
                    target,
                    fingerprint,
                    key,
                } => {
                    state.remove((target.as_str(), fingerprint.as_str(), key.as_str()))?;
                }
            }
        }
        if let Some(max_id) = max_id {
            let stored = meta.get("next_id")?.map(|v| v.value()).unwrap_or(0);
            if max_id + 1 > stored {
                meta.insert("next_id", (max_id + 1).next_multiple_of(ID_BLOCK))?;
            }
        }
    }
    txn.commit()?;
    Ok(())
}
