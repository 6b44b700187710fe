//! The queue's memory: which alerts and per-target jobs are pending, in what
//! state, in what order, and what to run next. No I/O and no waiting here:
//! the durable queue holds this behind a mutex, turns its decisions into
//! store changes, and applies the rest once they are committed.
//!
//! Ordering rules:
//! - Alerts with the same fingerprint are expanded into jobs one at a time, in
//!   the order they were accepted (the *gate*).
//! - One target's jobs for one fingerprint form a *lane*: only the lane's
//!   first job runs; the next waits (`blocked`) until it is delivered or
//!   dead-lettered. So a target sees a firing before its resolve, even when
//!   the firing needed retries.
//! - Runnable units wait in one FIFO per priority class; [`Wrr`] picks the class.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use prometheus::IntGauge;
use serde::Serialize;
use tokio::time::Instant;

use super::clock::Clock;
use super::priority::{Class, Wrr};
use super::settings::QueueSettings;
use super::store::{Change, DlqReason, JobRecord, Loaded, StoredAlert, Wait};
use crate::metrics::metrics;

pub(crate) type Id = u64;

/// A unit's state, as `queue_depth{state}` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum St {
    /// Accepted, its commit not yet done (not counted).
    Uncommitted,
    /// Runnable, waiting for a worker.
    Ready,
    /// A worker has it.
    InFlight,
    /// Behind an earlier delivery of the same fingerprint.
    Blocked,
    /// Waiting for its retry time after a failed attempt.
    Retry,
    /// The target was skipped (circuit open, unhealthy); waiting without spending attempts.
    Held,
    /// Would be dead-lettered but the DLQ is full.
    Parked,
}

/// The states shown, in `queue_depth{state}` label order.
pub(crate) const STATES: [St; 6] = [
    St::Ready,
    St::InFlight,
    St::Blocked,
    St::Retry,
    St::Held,
    St::Parked,
];

impl St {
    /// The metric label value; `None` for states not counted.
    pub(crate) fn label(self) -> Option<&'static str> {
        Some(match self {
            St::Uncommitted => return None,
            St::Ready => "ready",
            St::InFlight => "in_flight",
            St::Blocked => "blocked",
            St::Retry => "retry",
            St::Held => "held",
            St::Parked => "parked",
        })
    }
    fn index(self) -> Option<usize> {
        STATES.iter().position(|s| *s == self)
    }
    fn of_wait(wait: Wait) -> St {
        match wait {
            Wait::New => St::Ready,
            Wait::Retry => St::Retry,
            Wait::Held => St::Held,
            Wait::Parked => St::Parked,
        }
    }
}

/// Something a worker can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// A new alert, to be expanded into its targets and published.
    Alert(Id),
    /// A per-target job.
    Job(Id),
}

/// One target's lane for one fingerprint.
pub(crate) type LaneKey = (Arc<str>, Arc<str>);

pub(crate) struct AlertEntry {
    pub class: Class,
    pub fingerprint: Arc<str>,
    pub bytes: u64,
    pub accepted_ms: u64,
    /// `Some` until the alert is expanded into jobs.
    pub st: Option<St>,
    /// Its jobs that are not finished.
    pub jobs: BTreeSet<Id>,
    /// The alert itself, kept from accept until its first dispatch so that
    /// the worker need not read it back (dropped once it waits for retries,
    /// so memory holds only alerts on their way through).
    pub body: Option<Arc<StoredAlert>>,
}

pub(crate) struct JobEntry {
    pub alert: Id,
    pub class: Class,
    pub lane: LaneKey,
    /// What is persisted.
    pub rec: JobRecord,
    pub st: St,
    /// Its timer, while it has one.
    pub due: Option<Instant>,
    /// Its record is committed; until then it may not run even when first in its lane.
    pub persisted: bool,
}

/// What a worker took.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    /// Expand and publish a new alert.
    New { alert: Id },
    /// Run these jobs of one alert (all of its jobs that were ready).
    Jobs {
        alert: Id,
        jobs: Vec<(Id, JobRecord)>,
    },
}

impl Work {
    pub(crate) fn alert(&self) -> Id {
        match self {
            Work::New { alert } | Work::Jobs { alert, .. } => *alert,
        }
    }
}

/// How one job ended, as the worker decided.
#[derive(Debug, Clone)]
pub(crate) enum Decision {
    /// Delivered (or nothing to send): finished.
    Done,
    /// Keep it, with this record (its `wait` and `due_ms` say until when).
    Wait(JobRecord),
    /// Dead-letter it; when the DLQ is full, park it until `park_due`.
    Dead(Box<DeadLetter>),
}

/// A dead letter ready to be filed.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetter {
    pub rec: JobRecord,
    pub reason: DlqReason,
    pub error_class: crate::model::ErrorClass,
    pub dlq_id: Id,
    /// The [`super::store::DlqEntry`] as JSON.
    pub json: Vec<u8>,
    pub at_ms: u64,
    pub park_due_ms: u64,
}

/// What to do once a settle's changes are committed.
#[derive(Debug, Default)]
pub(crate) struct AfterCommit {
    /// Jobs kept: arm their timers or make them runnable.
    waits: Vec<Id>,
    /// Lanes whose first job finished.
    lanes: Vec<LaneKey>,
    /// A new alert leaving its fingerprint's gate.
    gate: Option<(Arc<str>, Id)>,
}

impl AfterCommit {
    /// Adds another settle's follow-up to this one.
    pub(crate) fn merge(&mut self, other: AfterCommit) {
        self.waits.extend(other.waits);
        self.lanes.extend(other.lanes);
        if other.gate.is_some() {
            self.gate = other.gate;
        }
    }
}

/// Capacity limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_jobs: usize,
    pub max_bytes: u64,
    pub max_dlq: usize,
}

impl From<&QueueSettings> for Limits {
    fn from(s: &QueueSettings) -> Self {
        Self {
            max_jobs: s.max_jobs,
            max_bytes: s.max_bytes,
            max_dlq: s.max_dlq_entries,
        }
    }
}

/// Depth per (class, state) and its gauges.
struct Depth {
    counts: [[i64; 6]; 3],
    gauges: Vec<Vec<IntGauge>>,
}

impl Depth {
    fn new() -> Self {
        let m = metrics();
        let gauges = Class::ALL
            .iter()
            .map(|c| {
                STATES
                    .iter()
                    .map(|s| {
                        m.queue_depth
                            .with_label_values(&[c.as_str(), s.label().unwrap_or("")])
                    })
                    .collect()
            })
            .collect();
        Self {
            counts: [[0; 6]; 3],
            gauges,
        }
    }

    fn add(&mut self, class: Class, st: St, n: i64) {
        if let Some(i) = st.index() {
            let c = &mut self.counts[class.index()][i];
            *c += n;
            self.gauges[class.index()][i].set(*c);
        }
    }

    fn reset_gauges(&self) {
        for (c, row) in self.gauges.iter().enumerate() {
            for (s, g) in row.iter().enumerate() {
                g.set(self.counts[c][s]);
            }
        }
    }
}

/// The queue's memory.
pub(crate) struct Core {
    limits: Limits,
    alerts: BTreeMap<Id, AlertEntry>,
    jobs: HashMap<Id, JobEntry>,
    lanes: HashMap<LaneKey, VecDeque<Id>>,
    gates: HashMap<Arc<str>, VecDeque<Id>>,
    ready: [VecDeque<Unit>; 3],
    timers: BTreeSet<(Instant, Id)>,
    wrr: Wrr,
    bytes: u64,
    depth: Depth,
    dlq_count: u64,
    dlq_by_target: HashMap<String, u64>,
}

/// A queue's numbers, as `GET /api/v1/queue` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStats {
    /// Units (new alerts and per-target jobs) by class, then state.
    pub depth: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// Alerts held (accepted and not finished), and the limit.
    pub alerts: usize,
    pub max_jobs: usize,
    /// Bytes of held alerts, and the limit.
    pub bytes: u64,
    pub max_bytes: u64,
    /// Age of the oldest held alert.
    pub oldest_job_age_seconds: f64,
    /// Per target: jobs waiting after at least one failed attempt, and their attempts so far.
    pub retries: BTreeMap<String, RetryCount>,
    /// Dead letters, in all and per target, and the limit.
    pub dlq_size: u64,
    pub dlq_by_target: BTreeMap<String, u64>,
    pub max_dlq_entries: usize,
}

/// One target's retrying jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetryCount {
    pub jobs: u64,
    pub attempts: u64,
}

impl Core {
    /// An empty queue.
    pub(crate) fn new(limits: Limits, wrr: Wrr) -> Self {
        Self {
            limits,
            alerts: BTreeMap::new(),
            jobs: HashMap::new(),
            lanes: HashMap::new(),
            gates: HashMap::new(),
            ready: Default::default(),
            timers: BTreeSet::new(),
            wrr,
            bytes: 0,
            depth: Depth::new(),
            dlq_count: 0,
            dlq_by_target: HashMap::new(),
        }
    }

    /// The queue as the store left it; returns the store changes that clean
    /// up what a crash left half done (finished alerts not yet deleted).
    pub(crate) fn restore(&mut self, loaded: Loaded, clock: &Clock) -> Vec<Change> {
        let mut cleanup = Vec::new();
        let mut with_jobs = BTreeSet::new();
        for (_, j) in &loaded.jobs {
            with_jobs.insert(j.alert_id);
        }
        for a in loaded.alerts {
            let expanded = loaded.expanded.contains(&a.id) || with_jobs.contains(&a.id);
            if expanded && !with_jobs.contains(&a.id) {
                cleanup.push(Change::DelAlert(a.id));
                continue;
            }
            let fingerprint: Arc<str> = Arc::from(a.fingerprint.as_str());
            let st = if expanded {
                None
            } else {
                self.gates
                    .entry(fingerprint.clone())
                    .or_default()
                    .push_back(a.id);
                self.depth.add(a.class, St::Blocked, 1);
                Some(St::Blocked)
            };
            self.bytes += a.bytes;
            self.alerts.insert(
                a.id,
                AlertEntry {
                    class: a.class,
                    fingerprint,
                    bytes: a.bytes,
                    accepted_ms: a.accepted_ms,
                    st,
                    jobs: BTreeSet::new(),
                    body: None,
                },
            );
        }
        for (id, rec) in loaded.jobs {
            let Some(alert) = self.alerts.get_mut(&rec.alert_id) else {
                tracing::error!(
                    job = id,
                    alert = rec.alert_id,
                    "queue store: a job's alert is missing; the job is dropped"
                );
                cleanup.push(Change::DelJob(id));
                continue;
            };
            alert.jobs.insert(id);
            let lane: LaneKey = (Arc::from(rec.target.as_str()), alert.fingerprint.clone());
            self.lanes.entry(lane.clone()).or_default().push_back(id);
            self.depth.add(alert.class, St::Blocked, 1);
            self.jobs.insert(
                id,
                JobEntry {
                    alert: rec.alert_id,
                    class: alert.class,
                    lane,
                    rec,
                    st: St::Blocked,
                    due: None,
                    persisted: true,
                },
            );
        }
        self.dlq_by_target = loaded.dlq_by_target;
        self.dlq_count = self.dlq_by_target.values().sum();
        for (target, n) in &self.dlq_by_target {
            metrics()
                .dlq_size
                .with_label_values(&[target])
                .set(*n as i64);
        }
        // In id order, so that each class's ready queue keeps accept order.
        let now = clock.now();
        let mut heads: Vec<Id> = self
            .lanes
            .values()
            .filter_map(|l| l.front().copied())
            .collect();
        heads.sort_unstable();
        for id in heads {
            self.make_runnable(id, now, clock);
        }
        let mut gates: Vec<(Id, Arc<str>)> = self
            .gates
            .iter()
            .filter_map(|(fp, g)| g.front().map(|id| (*id, fp.clone())))
            .collect();
        gates.sort_unstable();
        for (_, fp) in gates {
            self.advance_gate(&fp);
        }
        cleanup
    }

    /// Alerts held, bytes held.
    #[cfg(test)]
    pub(crate) fn usage(&self) -> (usize, u64) {
        (self.alerts.len(), self.bytes)
    }

    /// Checks room for alerts of these sizes; `Err` says what is full.
    pub(crate) fn room_for(&self, sizes: &[u64]) -> Result<(), String> {
        let n = sizes.len();
        let bytes: u64 = sizes.iter().sum();
        if self.alerts.len() + n > self.limits.max_jobs {
            return Err(format!(
                "{} alerts are waiting for delivery; {n} more would pass max_jobs = {}",
                self.alerts.len(),
                self.limits.max_jobs
            ));
        }
        if self.bytes + bytes > self.limits.max_bytes {
            return Err(format!(
                "{} bytes of alerts are waiting for delivery; {bytes} more would pass max_bytes = {}",
                self.bytes, self.limits.max_bytes
            ));
        }
        Ok(())
    }

    /// Takes in accepted alerts before their commit (call [`Self::committed`] or
    /// [`Self::aborted`] after it). Each is `(id, class, fingerprint, bytes, accepted_ms)`.
    pub(crate) fn reserve(
        &mut self,
        items: &[(Id, Class, Arc<str>, u64, u64)],
    ) -> Result<(), String> {
        let sizes: Vec<u64> = items.iter().map(|i| i.3).collect();
        self.room_for(&sizes)?;
        for (id, class, fp, bytes, accepted_ms) in items {
            self.gates.entry(fp.clone()).or_default().push_back(*id);
            self.bytes += bytes;
            self.alerts.insert(
                *id,
                AlertEntry {
                    class: *class,
                    fingerprint: fp.clone(),
                    bytes: *bytes,
                    accepted_ms: *accepted_ms,
                    st: Some(St::Uncommitted),
                    jobs: BTreeSet::new(),
                    body: None,
                },
            );
        }
        Ok(())
    }

    /// Keeps an accepted alert's body in memory for its first dispatch.
    pub(crate) fn cache_body(&mut self, id: Id, body: Arc<StoredAlert>) {
        if let Some(a) = self.alerts.get_mut(&id) {
            a.body = Some(body);
        }
    }

    /// The alert's body, when it is in memory.
    pub(crate) fn body(&self, id: Id) -> Option<Arc<StoredAlert>> {
        self.alerts.get(&id).and_then(|a| a.body.clone())
    }

    /// Reserved alerts are committed: they may run. Returns how many became ready.
    pub(crate) fn committed(&mut self, ids: &[Id]) -> usize {
        let mut ready = 0;
        for id in ids {
            let Some(a) = self.alerts.get_mut(id) else {
                continue;
            };
            if a.st != Some(St::Uncommitted) {
                continue;
            }
            a.st = Some(St::Blocked);
            let (class, fp) = (a.class, a.fingerprint.clone());
            self.depth.add(class, St::Blocked, 1);
            ready += usize::from(self.advance_gate(&fp));
        }
        ready
    }

    /// Reserved alerts failed to commit: forget them.
    pub(crate) fn aborted(&mut self, ids: &[Id]) -> usize {
        let mut ready = 0;
        for id in ids {
            let Some(a) = self.alerts.remove(id) else {
                continue;
            };
            self.bytes -= a.bytes;
            if let Some(gate) = self.gates.get_mut(&a.fingerprint) {
                gate.retain(|x| x != id);
            }
            ready += usize::from(self.advance_gate(&a.fingerprint));
        }
        ready
    }

    /// Makes the first alert of a gate runnable if it is waiting; drops empty gates.
    fn advance_gate(&mut self, fp: &Arc<str>) -> bool {
        let Some(gate) = self.gates.get(fp) else {
            return false;
        };
        let Some(&head) = gate.front() else {
            self.gates.remove(fp);
            return false;
        };
        let Some(a) = self.alerts.get_mut(&head) else {
            return false;
        };
        if a.st != Some(St::Blocked) {
            return false;
        }
        a.st = Some(St::Ready);
        let class = a.class;
        self.depth.add(class, St::Blocked, -1);
        self.depth.add(class, St::Ready, 1);
        self.ready[class.index()].push_back(Unit::Alert(head));
        true
    }

    fn set_job_st(&mut self, id: Id, st: St) {
        let Some(j) = self.jobs.get_mut(&id) else {
            return;
        };
        let (class, old) = (j.class, j.st);
        j.st = st;
        self.depth.add(class, old, -1);
        self.depth.add(class, st, 1);
    }

    /// A job first in its lane: runnable now, or when its due time comes.
    /// Returns whether a worker should look again (a unit is ready, or a new
    /// timer may come before the one the workers sleep on).
    fn make_runnable(&mut self, id: Id, now: Instant, clock: &Clock) -> bool {
        let Some(j) = self.jobs.get(&id) else {
            return false;
        };
        if !j.persisted || !matches!(j.st, St::Blocked | St::InFlight) {
            return false;
        }
        let due = j
            .rec
            .due_ms
            .map(|ms| clock.instant_of(ms))
            .filter(|d| *d > now);
        let wait = j.rec.wait;
        let class = j.class;
        match due {
            Some(due) => {
                self.set_job_st(id, St::of_wait(wait));
                self.timers.insert((due, id));
                if let Some(j) = self.jobs.get_mut(&id) {
                    j.due = Some(due);
                }
                true
            }
            None => {
                self.set_job_st(id, St::Ready);
                self.ready[class.index()].push_back(Unit::Job(id));
                true
            }
        }
    }

    /// Moves jobs whose time has come to the ready queues.
    fn promote(&mut self, now: Instant) {
        while let Some(&(due, id)) = self.timers.first() {
            if due > now {
                break;
            }
            self.timers.pop_first();
            if let Some(j) = self.jobs.get_mut(&id) {
                j.due = None;
                let class = j.class;
                self.set_job_st(id, St::Ready);
                self.ready[class.index()].push_back(Unit::Job(id));
            }
        }
    }

    /// Whether a unit may be waiting in a ready queue.
    pub(crate) fn has_ready(&self) -> bool {
        self.ready.iter().any(|q| !q.is_empty())
    }

    /// When the next timer fires.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.timers.first().map(|(d, _)| *d)
    }

    fn is_ready(&self, unit: Unit) -> bool {
        match unit {
            Unit::Alert(id) => self
                .alerts
                .get(&id)
                .is_some_and(|a| a.st == Some(St::Ready)),
            Unit::Job(id) => self.jobs.get(&id).is_some_and(|j| j.st == St::Ready),
        }
    }

    /// The next thing to run, by priority; `None` when nothing is runnable now.
    pub(crate) fn take(&mut self, now: Instant) -> Option<Work> {
        self.promote(now);
        for c in 0..3 {
            while let Some(&u) = self.ready[c].front() {
                if self.is_ready(u) {
                    break;
                }
                self.ready[c].pop_front();
            }
        }
        let waiting = [0, 1, 2].map(|c| !self.ready[c].is_empty());
        let class = self.wrr.pick(waiting)?;
        let unit = self.ready[class.index()].pop_front()?;
        match unit {
            Unit::Alert(id) => {
                if let Some(a) = self.alerts.get_mut(&id) {
                    a.st = Some(St::InFlight);
                }
                self.depth.add(class, St::Ready, -1);
                self.depth.add(class, St::InFlight, 1);
                Some(Work::New { alert: id })
            }
            Unit::Job(id) => {
                let alert = self.jobs.get(&id)?.alert;
                let siblings: Vec<Id> = self
                    .alerts
                    .get(&alert)
                    .map(|a| a.jobs.iter().copied().collect())
                    .unwrap_or_default();
                let mut jobs = Vec::new();
                for jid in siblings {
                    if self.jobs.get(&jid).is_some_and(|j| j.st == St::Ready) {
                        self.set_job_st(jid, St::InFlight);
                        if let Some(j) = self.jobs.get(&jid) {
                            jobs.push((jid, j.rec.clone()));
                        }
                    }
                }
                Some(Work::Jobs { alert, jobs })
            }
        }
    }

    /// Expands a new alert (taken with [`Work::New`]) into one job per target.
    /// Returns each job with `true` when it runs now (first in its lane) or
    /// `false` when it waits behind an earlier delivery.
    pub(crate) fn expand(
        &mut self,
        alert: Id,
        targets: &[(String, String)],
        first_id: Id,
    ) -> Vec<(Id, JobRecord, bool)> {
        let Some(a) = self.alerts.get_mut(&alert) else {
            return Vec::new();
        };
        let (class, fp) = (a.class, a.fingerprint.clone());
        if a.st.take().is_some() {
            self.depth.add(class, St::InFlight, -1);
        }
        let mut out = Vec::with_capacity(targets.len());
        for (i, (name, kind)) in targets.iter().enumerate() {
            let id = first_id + i as u64;
            let rec = JobRecord {
                alert_id: alert,
                target: name.clone(),
                kind: kind.clone(),
                attempts: 0,
                first_attempt_ms: None,
                last_attempt_ms: None,
                due_ms: None,
                wait: Wait::New,
                last_error: None,
                parked: None,
            };
            let lane: LaneKey = (Arc::from(name.as_str()), fp.clone());
            let queue = self.lanes.entry(lane.clone()).or_default();
            let now = queue.is_empty();
            queue.push_back(id);
            let st = if now { St::InFlight } else { St::Blocked };
            self.depth.add(class, st, 1);
            if let Some(a) = self.alerts.get_mut(&alert) {
                a.jobs.insert(id);
            }
            self.jobs.insert(
                id,
                JobEntry {
                    alert,
                    class,
                    lane,
                    rec: rec.clone(),
                    st,
                    due: None,
                    persisted: false,
                },
            );
            out.push((id, rec, now));
        }
        out
    }

    /// Records how a worker's jobs ended. Returns the store changes to commit
    /// and what to do after the commit ([`Self::after_commit`]).
    pub(crate) fn settle(
        &mut self,
        work: &Work,
        decisions: Vec<(Id, Decision)>,
    ) -> (Vec<Change>, AfterCommit) {
        let mut changes = Vec::new();
        let mut after = AfterCommit::default();
        let alert_id = work.alert();
        for (id, decision) in decisions {
            let Some(job) = self.jobs.get(&id) else {
                continue;
            };
            let persisted = job.persisted;
            match decision {
                Decision::Done => {
                    if persisted {
                        changes.push(Change::DelJob(id));
                    }
                    if let Some(lane) = self.remove_job(id) {
                        after.lanes.push(lane);
                    }
                }
                Decision::Wait(rec) => {
                    let json = serde_json::to_vec(&rec).unwrap_or_default();
                    changes.push(Change::PutJob(id, json));
                    if let Some(j) = self.jobs.get_mut(&id) {
                        j.rec = rec;
                    }
                    after.waits.push(id);
                }
                Decision::Dead(dead) => {
                    if self.dlq_count >= self.limits.max_dlq as u64 {
                        let mut rec = dead.rec;
                        rec.wait = Wait::Parked;
                        rec.parked = Some(dead.reason);
                        rec.due_ms = Some(dead.park_due_ms);
                        tracing::error!(
                            target = %rec.target, dlq = self.dlq_count,
                            "the dead-letter queue is full (max_dlq_entries); the delivery is parked in the queue: replay, delete or purge dead letters"
                        );
                        changes.push(Change::PutJob(
                            id,
                            serde_json::to_vec(&rec).unwrap_or_default(),
                        ));
                        if let Some(j) = self.jobs.get_mut(&id) {
                            j.rec = rec;
                        }
                        after.waits.push(id);
                        continue;
                    }
                    let target = dead.rec.target.clone();
                    self.dlq_added(&target, 1);
                    metrics()
                        .dlq_writes
                        .with_label_values(&[&target, dead.error_class.as_str()])
                        .inc();
                    changes.push(Change::PutDlq {
                        id: dead.dlq_id,
                        json: dead.json,
                        target,
                        at_ms: dead.at_ms,
                    });
                    if persisted {
                        changes.push(Change::DelJob(id));
                    }
                    if let Some(lane) = self.remove_job(id) {
                        after.lanes.push(lane);
                    }
                }
            }
        }
        let Some(alert) = self.alerts.get(&alert_id) else {
            return (changes, after);
        };
        let finished = alert.jobs.is_empty();
        if !finished && let Some(a) = self.alerts.get_mut(&alert_id) {
            a.body = None;
        }
        let Some(alert) = self.alerts.get(&alert_id) else {
            return (changes, after);
        };
        if let Work::New { .. } = work {
            after.gate = Some((alert.fingerprint.clone(), alert_id));
            if !finished {
                changes.push(Change::PutExpanded(alert_id));
            }
        }
        if finished {
            if let Some(a) = self.alerts.remove(&alert_id) {
                self.bytes -= a.bytes;
                if let Some(st) = a.st {
                    self.depth.add(a.class, st, -1);
                }
            }
            changes.push(Change::DelAlert(alert_id));
        }
        (changes, after)
    }

    /// Forgets a job; returns its lane when the job was first in it.
    fn remove_job(&mut self, id: Id) -> Option<LaneKey> {
        let job = self.jobs.remove(&id)?;
        self.depth.add(job.class, job.st, -1);
        if let Some(due) = job.due {
            self.timers.remove(&(due, id));
        }
        if let Some(a) = self.alerts.get_mut(&job.alert) {
            a.jobs.remove(&id);
        }
        let lane = self.lanes.get_mut(&job.lane)?;
        let was_first = lane.front() == Some(&id);
        lane.retain(|x| *x != id);
        if lane.is_empty() {
            self.lanes.remove(&job.lane);
            return None;
        }
        was_first.then_some(job.lane)
    }

    /// After a settle's commit: arms timers, lets the next job of each lane and
    /// the next alert of the gate run. Returns how many workers to wake.
    pub(crate) fn after_commit(&mut self, after: AfterCommit, clock: &Clock) -> usize {
        let now = clock.now();
        let mut ready = 0;
        for id in after.waits {
            let Some(j) = self.jobs.get_mut(&id) else {
                continue;
            };
            j.persisted = true;
            let first = self.lanes.get(&j.lane).and_then(|l| l.front()) == Some(&id);
            if first {
                ready += usize::from(self.make_runnable(id, now, clock));
            }
        }
        for lane in after.lanes {
            if let Some(&head) = self.lanes.get(&lane).and_then(|l| l.front()) {
                ready += usize::from(self.make_runnable(head, now, clock));
            }
        }
        if let Some((fp, id)) = after.gate {
            if let Some(gate) = self.gates.get_mut(&fp) {
                gate.retain(|x| *x != id);
            }
            ready += usize::from(self.advance_gate(&fp));
        }
        ready
    }

    fn dlq_added(&mut self, target: &str, n: i64) {
        let count = self.dlq_by_target.entry(target.to_string()).or_default();
        *count = count.saturating_add_signed(n);
        let now = *count;
        if now == 0 {
            self.dlq_by_target.remove(target);
        }
        self.dlq_count = self.dlq_count.saturating_add_signed(n);
        metrics()
            .dlq_size
            .with_label_values(&[target])
            .set(now as i64);
    }

    /// Dead letters were deleted (replayed, deleted, purged): count them out
    /// and let parked deliveries try the DLQ again now.
    pub(crate) fn dlq_removed(&mut self, targets: &[String]) -> usize {
        for t in targets {
            self.dlq_added(t, -1);
        }
        let parked: Vec<(Instant, Id)> = self
            .timers
            .iter()
            .filter(|(_, id)| self.jobs.get(id).is_some_and(|j| j.st == St::Parked))
            .copied()
            .collect();
        let mut ready = 0;
        for (due, id) in parked {
            self.timers.remove(&(due, id));
            if let Some(j) = self.jobs.get_mut(&id) {
                j.due = None;
                let class = j.class;
                self.set_job_st(id, St::Ready);
                self.ready[class.index()].push_back(Unit::Job(id));
                ready += 1;
            }
        }
        ready
    }

    /// A replayed dead letter: a new alert with one job for `target`, first
    /// committed, then run. Returns the store changes (without the DLQ
    /// deletion) and what to do after the commit.
    pub(crate) fn replay(
        &mut self,
        ids: (Id, Id),
        item: (Class, Arc<str>, u64, u64),
        target: (&str, &str),
    ) -> Result<AfterCommit, String> {
        let (alert, job) = ids;
        let (class, fp, bytes, accepted_ms) = item;
        self.room_for(&[bytes])?;
        self.bytes += bytes;
        let lane: LaneKey = (Arc::from(target.0), fp.clone());
        self.lanes.entry(lane.clone()).or_default().push_back(job);
        self.alerts.insert(
            alert,
            AlertEntry {
                class,
                fingerprint: fp,
                bytes,
                accepted_ms,
                st: None,
                jobs: BTreeSet::from([job]),
                body: None,
            },
        );
        self.depth.add(class, St::Blocked, 1);
        self.jobs.insert(
            job,
            JobEntry {
                alert,
                class,
                lane,
                rec: JobRecord {
                    alert_id: alert,
                    target: target.0.to_string(),
                    kind: target.1.to_string(),
                    attempts: 0,
                    first_attempt_ms: None,
                    last_attempt_ms: None,
                    due_ms: None,
                    wait: Wait::New,
                    last_error: None,
                    parked: None,
                },
                st: St::Blocked,
                due: None,
                persisted: false,
            },
        );
        Ok(AfterCommit {
            waits: vec![job],
            ..AfterCommit::default()
        })
    }

    /// The job's record (for building its store change).
    pub(crate) fn job_record(&self, id: Id) -> Option<&JobRecord> {
        self.jobs.get(&id).map(|j| &j.rec)
    }

    /// Pushes every depth gauge and the oldest age.
    pub(crate) fn refresh_gauges(&self, clock: &Clock) {
        self.depth.reset_gauges();
        metrics()
            .queue_oldest_job_age
            .set(self.oldest_age_secs(clock));
    }

    fn oldest_age_secs(&self, clock: &Clock) -> f64 {
        self.alerts
            .values()
            .next()
            .map(|a| clock.wall_ms().saturating_sub(a.accepted_ms) as f64 / 1000.0)
            .unwrap_or(0.0)
    }

    /// The numbers for the admin API.
    pub(crate) fn stats(&self, clock: &Clock) -> QueueStats {
        let mut depth = BTreeMap::new();
        for class in Class::ALL {
            let row: BTreeMap<&'static str, u64> = STATES
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    (
                        s.label().unwrap_or(""),
                        self.depth.counts[class.index()][i].max(0) as u64,
                    )
                })
                .collect();
            depth.insert(class.as_str(), row);
        }
        let mut retries: BTreeMap<String, RetryCount> = BTreeMap::new();
        for j in self.jobs.values().filter(|j| j.rec.attempts > 0) {
            let r = retries.entry(j.rec.target.clone()).or_default();
            r.jobs += 1;
            r.attempts += u64::from(j.rec.attempts);
        }
        QueueStats {
            depth,
            alerts: self.alerts.len(),
            max_jobs: self.limits.max_jobs,
            bytes: self.bytes,
            max_bytes: self.limits.max_bytes,
            oldest_job_age_seconds: self.oldest_age_secs(clock),
            retries,
            dlq_size: self.dlq_count,
            dlq_by_target: self
                .dlq_by_target
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            max_dlq_entries: self.limits.max_dlq,
        }
    }

    /// Total units in a state (for tests and stats).
    #[cfg(test)]
    pub(crate) fn count(&self, st: St) -> i64 {
        st.index()
            .map_or(0, |i| (0..3).map(|c| self.depth.counts[c][i]).sum())
    }

    /// Whether nothing is pending.
    pub(crate) fn is_idle(&self) -> bool {
        self.alerts.is_empty()
    }
}
