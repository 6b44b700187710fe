//! Unit tests of the durable queue: backoff schedule, priority, ordering
//! (gate and lanes, by property), persistence across reopen, the adapters'
//! state, group commit, backpressure, retries on a paused clock, the DLQ.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::Instant;

use super::backoff::{Jitter, ceiling, delay};
use super::clock::Clock;
use super::core::{Core, Decision, Limits, St, Work};
use super::priority::{Class, Wrr, classify};
use super::settings::{PriorityWeights, QueueSettings, RetryPolicy};
use super::store::{Change, DlqFilter, DlqReason, Store, StoredAlert, Wait};
use super::{Delivery, DurableQueue, Intake, IntakeError};
use crate::model::{
    DeliveryError, EnrichedAlert, ErrorClass, SkipReason, StaticTargets, Target, TargetResult,
};
use crate::plugin::{StateChange, StateScope, StateStore};

// ---------------------------------------------------------------- helpers

fn alert(name: &str, status: &str, severity: &str) -> EnrichedAlert {
    serde_json::from_value(serde_json::json!({
        "alert": {
            "status": status,
            "labels": {"alertname": name, "severity": severity},
            "starts_at": "2026-12-01T10:00:00Z"
        }
    }))
    .expect("valid alert")
}

fn policy(initial_ms: u64, factor: f64, max_ms: u64, attempts: u32) -> RetryPolicy {
    RetryPolicy {
        initial: Duration::from_millis(initial_ms),
        factor,
        max_delay: Duration::from_millis(max_ms),
        max_attempts: attempts,
    }
}

/// How the fake delivery answers one target.
#[derive(Debug, Clone)]
enum Answer {
    Ok,
    Fail(ErrorClass, Option<Duration>),
    Skip(SkipReason),
    /// Never answers.
    Hang,
}

/// One delivery the fake saw.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    target: String,
    alert: String,
    status: &'static str,
}

/// A scripted [`Delivery`]: per-target answers (then a default), and a log.
struct Fake {
    script: Mutex<HashMap<String, VecDeque<Answer>>>,
    default: Mutex<Answer>,
    seen: Mutex<Vec<Seen>>,
}

impl Fake {
    fn new(default: Answer) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(HashMap::new()),
            default: Mutex::new(default),
            seen: Mutex::new(Vec::new()),
        })
    }
    fn script(&self, target: &str, answers: Vec<Answer>) {
        self.script
            .lock()
            .unwrap()
            .entry(target.into())
            .or_default()
            .extend(answers);
    }
    fn set_default(&self, a: Answer) {
        *self.default.lock().unwrap() = a;
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn seen_by(&self, target: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.target == target)
            .collect()
    }
}

#[async_trait::async_trait]
impl Delivery for Fake {
    async fn deliver(&self, alert: &EnrichedAlert, targets: &[Target]) -> Vec<TargetResult> {
        let mut out = Vec::new();
        let mut hang = false;
        for t in targets {
            let answer = self
                .script
                .lock()
                .unwrap()
                .get_mut(&t.name)
                .and_then(|q| q.pop_front())
                .unwrap_or_else(|| self.default.lock().unwrap().clone());
            let mut r = TargetResult::skipped(&t.name, &t.kind, SkipReason::NothingToSend, None);
            r.skipped = false;
            r.skip_reason = None;
            match answer {
                Answer::Ok => r.success = true,
                Answer::Fail(class, retry_after) => {
                    r.error = Some(DeliveryError {
                        class,
                        message: format!("{} answered badly", t.name),
                        retry_after,
                    })
                }
                Answer::Skip(reason) => {
                    r.skipped = true;
                    r.skip_reason = Some(reason);
                }
                Answer::Hang => hang = true,
            }
            if r.skip_reason.is_none() {
                self.seen.lock().unwrap().push(Seen {
                    at: Instant::now(),
                    target: t.name.clone(),
                    alert: alert.alert.name().to_string(),
                    status: alert.alert.status.as_str(),
                });
            }
            out.push(r);
        }
        if hang {
            std::future::pending::<()>().await;
        }
        out
    }
}

fn settings(dir: &std::path::Path) -> QueueSettings {
    QueueSettings {
        workers: 2,
        metrics_interval: Duration::ZERO,
        jitter_seed: Some(7),
        ..QueueSettings::in_dir(dir)
    }
}

fn targets(names: &[&str]) -> Arc<StaticTargets> {
    Arc::new(StaticTargets::new(
        names
            .iter()
            .map(|n| Target::new(*n, "webhook", format!("http://127.0.0.1:9/{n}")))
            .collect(),
    ))
}

fn start(
    dir: &std::path::Path,
    fake: Arc<Fake>,
    names: &[&str],
    settings: QueueSettings,
) -> Arc<DurableQueue> {
    let store = Store::open(dir).expect("open store");
    DurableQueue::start(store, fake, targets(names), settings).expect("start queue")
}

// ---------------------------------------------------------------- backoff

#[test]
fn backoff_ceiling_doubles_from_the_initial_delay_up_to_the_cap() {
    let p = RetryPolicy::default();
    let secs: Vec<u64> = (1..=10).map(|k| ceiling(&p, k).as_secs()).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
    assert_eq!(
        ceiling(&p, 1000),
        Duration::from_secs(300),
        "no overflow far out"
    );
}

#[test]
fn backoff_full_jitter_spans_zero_to_the_ceiling() {
    let p = RetryPolicy::default();
    assert_eq!(delay(&p, 3, None, 0.0), Duration::ZERO);
    assert_eq!(delay(&p, 3, None, 0.5), Duration::from_secs(2));
    assert!(delay(&p, 3, None, 0.999_999) < Duration::from_secs(4));
}

#[test]
fn backoff_honours_retry_after_up_to_the_cap() {
    let p = RetryPolicy::default();
    assert_eq!(
        delay(&p, 1, Some(Duration::from_secs(30)), 0.1),
        Duration::from_secs(30)
    );
    assert_eq!(
        delay(&p, 1, Some(Duration::from_secs(3600)), 0.1),
        Duration::from_secs(300)
    );
}

#[test]
fn jitter_is_in_the_unit_interval_and_seeded() {
    let (mut a, mut b) = (Jitter::new(Some(1)), Jitter::new(Some(1)));
    for _ in 0..1000 {
        let x = a.unit();
        assert!((0.0..1.0).contains(&x));
        assert_eq!(x, b.unit());
    }
}

#[test]
fn retry_policy_validation_names_the_field() {
    assert!(RetryPolicy::default().validate().is_ok());
    let e = policy(0, 2.0, 10, 3).validate().unwrap_err();
    assert!(e.contains("retry_initial"), "{e}");
    let e = policy(10, 0.5, 10, 3).validate().unwrap_err();
    assert!(e.contains("retry_factor"), "{e}");
    let e = policy(10, 2.0, 10, 0).validate().unwrap_err();
    assert!(e.contains("retry_max_attempts"), "{e}");
}

proptest! {
    #[test]
    fn backoff_delay_stays_within_its_bounds(
        initial in 1u64..5_000, factor in 1.0f64..4.0, extra in 0u64..600_000,
        attempt in 1u32..40, unit in 0.0f64..1.0, hint in proptest::option::of(0u64..1_000_000),
    ) {
        let p = policy(initial, factor, initial + extra, 8);
        let hint = hint.map(Duration::from_millis);
        let d = delay(&p, attempt, hint, unit);
        prop_assert!(d <= p.max_delay);
        prop_assert!(d <= ceiling(&p, attempt).max(hint.unwrap_or_default().min(p.max_delay)));
        if let Some(h) = hint {
            prop_assert!(d >= h.min(p.max_delay));
        }
        prop_assert!(ceiling(&p, attempt) <= ceiling(&p, attempt + 1));
    }
}

// ---------------------------------------------------------------- priority

#[test]
fn classes_come_from_status_classification_and_severity_label() {
    assert_eq!(classify(&alert("A", "firing", "critical")), Class::Critical);
    assert_eq!(classify(&alert("A", "firing", "Page")), Class::Critical);
    assert_eq!(classify(&alert("A", "firing", "warning")), Class::Firing);
    assert_eq!(classify(&alert("A", "firing", "info")), Class::Low);
    assert_eq!(classify(&alert("A", "resolved", "critical")), Class::Low);
    let mut classified = alert("A", "firing", "info");
    classified.classification = Some(crate::model::Classification {
        severity: crate::model::Severity::Critical,
        confidence: 0.9,
        reasoning: String::new(),
        recommendations: vec![],
        metadata: BTreeMap::new(),
    });
    assert_eq!(
        classify(&classified),
        Class::Critical,
        "the classifier wins over the label"
    );
}

#[test]
fn wrr_serves_critical_first_and_each_class_its_weight() {
    let mut w = Wrr::new(PriorityWeights::default());
    let picks: Vec<Class> = (0..13).filter_map(|_| w.pick([true; 3])).collect();
    assert_eq!(picks[0], Class::Critical);
    let count = |c| picks.iter().filter(|p| **p == c).count();
    assert_eq!(
        (
            count(Class::Critical),
            count(Class::Firing),
            count(Class::Low)
        ),
        (8, 4, 1)
    );
    assert_eq!(w.pick([false, false, true]), Some(Class::Low));
    assert_eq!(w.pick([false; 3]), None);
}

proptest! {
    /// Whatever the weights and whichever classes come and go, a class that
    /// keeps having work is served at least once in every `total` picks.
    #[test]
    fn wrr_never_starves_a_waiting_class(
        weights in (1u32..10, 1u32..10, 1u32..10),
        pattern in proptest::collection::vec((any::<bool>(), any::<bool>()), 1..300),
    ) {
        let weights = PriorityWeights { critical: weights.0, firing: weights.1, low: weights.2 };
        let total = (weights.critical + weights.firing + weights.low) as usize;
        let mut w = Wrr::new(weights);
        let mut since_low = 0usize;
        for (crit, firing) in pattern {
            let pick = w.pick([crit, firing, true]);
            prop_assert!(pick.is_some());
            if pick == Some(Class::Low) { since_low = 0 } else { since_low += 1 }
            prop_assert!(since_low < total, "low waited {since_low} picks (total weight {total})");
        }
    }
}

// ---------------------------------------------------------------- core ordering

fn big_limits() -> Limits {
    Limits {
        max_jobs: 10_000,
        max_bytes: 1 << 30,
        max_dlq: 10_000,
    }
}

/// Reserves and commits alerts `(fingerprint, class)` with ids 1..=n.
fn core_with(alerts: &[(u8, Class)]) -> Core {
    let mut core = Core::new(big_limits(), Wrr::new(PriorityWeights::default()));
    let items: Vec<_> = alerts
        .iter()
        .enumerate()
        .map(|(i, (fp, class))| {
            (
                i as u64 + 1,
                *class,
                Arc::from(format!("fp{fp}").as_str()),
                10u64,
                0u64,
            )
        })
        .collect();
    core.reserve(&items).unwrap();
    let ids: Vec<u64> = items.iter().map(|i| i.0).collect();
    core.committed(&ids);
    core
}

fn class_of(i: u8) -> Class {
    Class::ALL[(i % 3) as usize]
}

proptest! {
    /// New alerts of one fingerprint are taken one at a time, in accept order,
    /// however takes and completions interleave.
    #[test]
    fn gate_runs_one_alert_per_fingerprint_in_accept_order(
        alerts in proptest::collection::vec((0u8..4, 0u8..3), 1..40),
        ops in proptest::collection::vec((any::<bool>(), any::<u8>()), 1..200),
    ) {
        let specs: Vec<(u8, Class)> = alerts.iter().map(|(f, c)| (*f, class_of(*c))).collect();
        let mut core = core_with(&specs);
        let clock = Clock::starting_at(0);
        let mut running: Vec<u64> = Vec::new();
        let mut done: Vec<u64> = Vec::new();
        let mut ops = ops.into_iter();
        loop {
            let (take, pick) = ops.next().unwrap_or((false, 0));
            if take || running.is_empty() {
                match core.take(clock.now()) {
                    Some(Work::New { alert }) => {
                        let fp = specs[(alert - 1) as usize].0;
                        prop_assert!(running.iter().all(|r| specs[(*r - 1) as usize].0 != fp),
                            "two alerts of one fingerprint ran at once");
                        running.push(alert);
                    }
                    Some(other) => prop_assert!(false, "unexpected work {other:?}"),
                    None if running.is_empty() => break,
                    None => {}
                }
            } else {
                let alert = running.remove(pick as usize % running.len());
                let work = Work::New { alert };
                core.expand(alert, &[], 0);
                let (changes, after) = core.settle(&work, Vec::new());
                prop_assert!(matches!(changes.as_slice(), [Change::DelAlert(id)] if *id == alert));
                core.after_commit(after, &clock);
                done.push(alert);
            }
        }
        prop_assert_eq!(done.len(), specs.len());
        for fp in 0..4u8 {
            let order: Vec<u64> = done.iter().copied().filter(|a| specs[(*a - 1) as usize].0 == fp).collect();
            let mut sorted = order.clone();
            sorted.sort();
            prop_assert_eq!(order, sorted);
        }
        prop_assert!(core.is_idle());
        for st in super::core::STATES {
            prop_assert_eq!(core.count(st), 0);
        }
    }

    /// One target's deliveries of one fingerprint finish in accept order even
    /// when some of them fail and are retried: a later one never overtakes.
    #[test]
    fn lanes_deliver_in_accept_order_despite_retries(
        alerts in proptest::collection::vec(0u8..3, 1..25),
        fails in proptest::collection::vec(any::<bool>(), 1..200),
    ) {
        let specs: Vec<(u8, Class)> = alerts.iter().map(|f| (*f, Class::Firing)).collect();
        let mut core = core_with(&specs);
        let clock = Clock::starting_at(0);
        let mut next_job = 1000u64;
        let mut fails = fails.into_iter();
        let mut delivered: Vec<u64> = Vec::new();
        let mut steps = 0;
        while let Some(work) = core.take(clock.now()) {
            steps += 1;
            prop_assert!(steps < 10_000);
            let mut decisions = Vec::new();
            let jobs = match &work {
                Work::New { alert } => {
                    let plan = core.expand(*alert, &[("t".into(), "webhook".into())], next_job);
                    next_job += 1;
                    plan
                }
                Work::Jobs { jobs, .. } => jobs.iter().map(|(id, rec)| (*id, rec.clone(), true)).collect(),
            };
            for (id, mut rec, now) in jobs {
                if !now {
                    decisions.push((id, Decision::Wait(rec)));
                } else if fails.next().unwrap_or(false) {
                    rec.attempts += 1;
                    rec.wait = Wait::Retry;
                    rec.due_ms = Some(0);
                    decisions.push((id, Decision::Wait(rec)));
                } else {
                    delivered.push(rec.alert_id);
                    decisions.push((id, Decision::Done));
                }
            }
            let (_, after) = core.settle(&work, decisions);
            core.after_commit(after, &clock);
        }
        prop_assert_eq!(delivered.len(), specs.len());
        for fp in 0..3u8 {
            let order: Vec<u64> = delivered.iter().copied().filter(|a| specs[(*a - 1) as usize].0 == fp).collect();
            let mut sorted = order.clone();
            sorted.sort();
            prop_assert_eq!(order, sorted);
        }
        prop_assert!(core.is_idle());
    }
}

#[test]
fn core_refuses_alerts_beyond_count_and_bytes() {
    let mut core = Core::new(
        Limits {
            max_jobs: 2,
            max_bytes: 100,
            max_dlq: 1,
        },
        Wrr::new(PriorityWeights::default()),
    );
    let fp: Arc<str> = Arc::from("f");
    core.reserve(&[(1, Class::Low, fp.clone(), 40, 0)]).unwrap();
    let e = core
        .reserve(&[(2, Class::Low, fp.clone(), 70, 0)])
        .unwrap_err();
    assert!(e.contains("max_bytes"), "{e}");
    core.reserve(&[(2, Class::Low, fp.clone(), 60, 0)]).unwrap();
    let e = core
        .reserve(&[(3, Class::Low, fp.clone(), 1, 0)])
        .unwrap_err();
    assert!(e.contains("max_jobs"), "{e}");
    assert_eq!(core.usage(), (2, 100));
    core.aborted(&[1]);
    assert_eq!(core.usage(), (1, 60));
}

// ---------------------------------------------------------------- store

#[tokio::test]
async fn store_reads_back_what_it_committed_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let a = alert("Disk", "firing", "critical");
    {
        let store = Store::open(dir.path()).unwrap();
        let stored = StoredAlert {
            alert: a.clone(),
            accepted_ms: 1234,
        };
        store
            .commit(vec![
                Change::PutAlert(5, serde_json::to_vec(&stored).unwrap()),
                Change::PutAlert(6, serde_json::to_vec(&stored).unwrap()),
                Change::DelAlert(6),
                Change::PutExpanded(5),
            ])
            .await
            .unwrap();
        store.close();
        assert_eq!(
            store.commit(vec![Change::DelAlert(5)]).await,
            Err(super::StoreError::Closed)
        );
    }
    let store = Store::open(dir.path()).unwrap();
    let back = store.read_alert(5).unwrap().unwrap();
    assert_eq!((back.alert, back.accepted_ms), (a, 1234));
    assert!(store.read_alert(6).unwrap().is_none());
    let loaded = store.take_loaded().unwrap();
    assert_eq!(loaded.alerts.len(), 1);
    assert_eq!(loaded.alerts[0].class, Class::Critical);
    assert!(loaded.expanded.contains(&5));
    assert!(
        loaded.next_id >= 7,
        "ids are never reused: {}",
        loaded.next_id
    );
}

#[test]
fn store_refuses_a_second_opener_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let e = Store::open(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("already open") && e.contains("herald.redb"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    /// Any sequence of puts and deletes reads back, after a reopen, exactly
    /// as a map applying the same sequence.
    #[test]
    fn store_matches_a_model_across_reopen(
        ops in proptest::collection::vec((any::<bool>(), 0u64..20, 0u64..1000), 1..60),
        split in 0usize..60,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let changes: Vec<Change> = ops.iter().map(|(put, id, v)| {
            if *put {
                model.insert(*id, *v);
                let stored = StoredAlert { alert: alert("A", "firing", "warning"), accepted_ms: *v };
                Change::PutAlert(*id, serde_json::to_vec(&stored).unwrap())
            } else {
                model.remove(id);
                Change::DelAlert(*id)
            }
        }).collect();
        let split = split.min(changes.len());
        {
            let store = Store::open(dir.path()).unwrap();
            rt.block_on(store.commit(changes[..split].to_vec())).unwrap();
            rt.block_on(store.commit(changes[split..].to_vec())).unwrap();
            store.close();
        }
        let store = Store::open(dir.path()).unwrap();
        let loaded = store.take_loaded().unwrap();
        let back: BTreeMap<u64, u64> = loaded.alerts.iter().map(|a| (a.id, a.accepted_ms)).collect();
        prop_assert_eq!(back, model);
    }
}

// ---------------------------------------------------------------- adapter state

#[tokio::test]
async fn adapter_state_survives_a_reopen_and_expires_by_its_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let scope = StateScope::new("rootly", "abc");
    let other = StateScope::new("slack", "abc");
    {
        let store = Store::open_with_clock(dir.path(), Clock::starting_at(1_000_000)).unwrap();
        let state = store.state_store();
        state.apply(
            &scope,
            &[
                StateChange::Set {
                    key: "incident".into(),
                    value: "INC-1".into(),
                    ttl: Duration::from_secs(3600),
                },
                StateChange::Set {
                    key: "short".into(),
                    value: "x".into(),
                    ttl: Duration::from_secs(10),
                },
                StateChange::Set {
                    key: "gone".into(),
                    value: "y".into(),
                    ttl: Duration::ZERO,
                },
                StateChange::Remove { key: "gone".into() },
            ],
        );
        assert_eq!(state.get(&scope, "incident").as_deref(), Some("INC-1"));
        assert_eq!(state.get(&other, "incident"), None, "scoped by target");
        store.close();
    }
    // One minute later: the 10 s entry has expired, the hour-long one lives.
    let store = Store::open_with_clock(dir.path(), Clock::starting_at(1_060_000)).unwrap();
    let state = store.state_store();
    assert_eq!(
        state.entries(&scope),
        vec![("incident".to_string(), "INC-1".to_string())]
    );
    // Two hours later, nothing.
    store.close();
    let store =
        Store::open_with_clock(dir.path(), Clock::starting_at(1_000_000 + 7_200_000)).unwrap();
    assert!(store.state_store().entries(&scope).is_empty());
}

// ---------------------------------------------------------------- queue: intake

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accepts_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Hang);
    let q = start(dir.path(), fake, &["t"], settings(dir.path()));
    // Hold the writer thread while the accepts queue up.
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (held_tx, held_rx) = tokio::sync::oneshot::channel();
    q.store().writer().stall(move || {
        let _ = held_tx.send(());
        let _ = release_rx.recv();
    });
    held_rx.await.unwrap();
    let before = q.store().commits();
    const N: usize = 200;
    let mut tasks = Vec::new();
    for i in 0..N {
        let q = q.clone();
        tasks.push(tokio::spawn(async move {
            q.accept(vec![alert(&format!("A{i}"), "firing", "warning")])
                .await
        }));
    }
    // Reserved before their commit: poll until every accept is waiting on it.
    while q.stats().alerts < N {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    release_tx.send(()).unwrap();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(1));
    }
    let used = q.store().commits() - before;
    assert!(used < N as u64, "{N} accepts took {used} commits");
    assert!(
        used <= 2,
        "every waiting accept joins the next commit: {used} commits"
    );
    assert_eq!(q.stats().alerts, N);
}

#[tokio::test]
async fn a_full_queue_refuses_with_retry_after_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Hang);
    let q = start(
        dir.path(),
        fake,
        &["t"],
        QueueSettings {
            max_jobs: 3,
            full_retry_after: Duration::from_secs(7),
            ..settings(dir.path())
        },
    );
    assert_eq!(
        q.accept(vec![alert("A", "firing", "x"), alert("B", "firing", "x")])
            .await,
        Ok(2)
    );
    assert_eq!(q.accept(vec![alert("C", "firing", "x")]).await, Ok(1));
    match q.accept(vec![alert("D", "firing", "x")]).await {
        Err(IntakeError::Full(msg, after)) => {
            assert!(msg.contains("max_jobs = 3"), "{msg}");
            assert_eq!(after, Duration::from_secs(7));
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(q.stats().alerts, 3, "the three accepted are all still held");
    q.shutdown(Duration::from_millis(10)).await;
    assert_eq!(
        q.accept(vec![alert("E", "firing", "x")]).await,
        Err(IntakeError::ShuttingDown)
    );
    // All three survive the restart; the refused one was never stored.
    let store = Store::open(dir.path()).unwrap();
    let names: Vec<String> = store
        .take_loaded()
        .unwrap()
        .alerts
        .iter()
        .map(|a| {
            store
                .read_alert(a.id)
                .unwrap()
                .unwrap()
                .alert
                .alert
                .name()
                .to_string()
        })
        .collect();
    assert_eq!(names, vec!["A", "B", "C"]);
}

#[tokio::test]
async fn a_queue_over_its_byte_limit_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let q = start(
        dir.path(),
        Fake::new(Answer::Hang),
        &["t"],
        QueueSettings {
            max_bytes: 300,
            ..settings(dir.path())
        },
    );
    assert_eq!(q.accept(vec![alert("A", "firing", "x")]).await, Ok(1));
    let e = q
        .accept(vec![alert("B", "firing", "x"), alert("C", "firing", "x")])
        .await;
    assert!(
        matches!(&e, Err(IntakeError::Full(m, _)) if m.contains("max_bytes")),
        "{e:?}"
    );
    assert_eq!(
        q.stats().alerts,
        1,
        "all or none: neither B nor C was taken"
    );
}

#[tokio::test]
async fn an_alert_without_targets_completes() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Ok);
    let q = start(dir.path(), fake.clone(), &[], settings(dir.path()));
    q.accept(vec![alert("Lonely", "firing", "critical")])
        .await
        .unwrap();
    q.wait_idle().await;
    assert!(fake.seen().is_empty());
    assert_eq!(q.stats().dlq_size, 0);
}

#[tokio::test]
async fn pending_alerts_resume_after_a_restart_most_urgent_first() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Nothing is delivered: the only worker hangs on the first alert.
        let q = start(
            dir.path(),
            Fake::new(Answer::Hang),
            &["t"],
            QueueSettings {
                workers: 1,
                ..settings(dir.path())
            },
        );
        q.accept(vec![alert("Blocker", "firing", "warning")])
            .await
            .unwrap();
        q.wait_until(|s| s.depth["firing"]["in_flight"] == 1).await;
        for (name, status, sev) in [
            ("Low1", "resolved", "critical"),
            ("Warn1", "firing", "warning"),
            ("Crit1", "firing", "critical"),
            ("Low2", "firing", "info"),
            ("Crit2", "firing", "critical"),
        ] {
            q.accept(vec![alert(name, status, sev)]).await.unwrap();
        }
        q.shutdown(Duration::from_millis(10)).await;
    }
    let fake = Fake::new(Answer::Ok);
    let q = start(
        dir.path(),
        fake.clone(),
        &["t"],
        QueueSettings {
            workers: 1,
            ..settings(dir.path())
        },
    );
    q.wait_idle().await;
    let order: Vec<String> = fake.seen().into_iter().map(|s| s.alert).collect();
    assert_eq!(
        order.len(),
        6,
        "every accepted alert was delivered after the restart: {order:?}"
    );
    assert_eq!(&order[..2], ["Crit1", "Crit2"], "critical first: {order:?}");
    assert!(
        order.iter().position(|a| a == "Low1") > order.iter().position(|a| a == "Warn1"),
        "{order:?}"
    );
}

// ---------------------------------------------------------------- queue: retries on a paused clock

fn retry_settings(dir: &std::path::Path, p: RetryPolicy) -> QueueSettings {
    QueueSettings {
        retry: p,
        ..settings(dir)
    }
}

#[tokio::test(start_paused = true)]
async fn transient_failures_back_off_exponentially_then_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Fail(ErrorClass::Transient, None));
    let q = start(
        dir.path(),
        fake.clone(),
        &["flaky", "good"],
        retry_settings(dir.path(), policy(1000, 2.0, 5000, 6)),
    );
    fake.script("good", vec![Answer::Ok]);
    q.accept(vec![alert("Boom", "firing", "critical")])
        .await
        .unwrap();
    q.wait_idle().await;

    let times: Vec<Instant> = fake.seen_by("flaky").iter().map(|s| s.at).collect();
    assert_eq!(times.len(), 6, "max_attempts attempts in all");
    assert_eq!(
        fake.seen_by("good").len(),
        1,
        "only the failing target is retried"
    );
    for (k, pair) in times.windows(2).enumerate() {
        let gap = pair[1] - pair[0];
        let ceiling = ceiling(&policy(1000, 2.0, 5000, 6), k as u32 + 1);
        assert!(
            gap <= ceiling + Duration::from_millis(2),
            "gap {k}: {gap:?} > {ceiling:?}"
        );
    }
    let page = q.dlq_list(&DlqFilter::default(), None, 10).unwrap();
    assert_eq!(page.entries.len(), 1);
    let e = &page.entries[0];
    assert_eq!(
        (e.target_name.as_str(), e.reason, e.attempts),
        ("flaky", DlqReason::RetriesExhausted, 6)
    );
    assert_eq!(e.error_class, ErrorClass::Transient);
    assert!(e.first_attempt_at < e.last_attempt_at);
    assert_eq!(q.stats().dlq_by_target.get("flaky"), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_up_to_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Ok);
    fake.script(
        "t",
        vec![
            Answer::Fail(ErrorClass::Transient, Some(Duration::from_secs(3))),
            Answer::Fail(ErrorClass::Unknown, Some(Duration::from_secs(3600))),
        ],
    );
    let q = start(
        dir.path(),
        fake.clone(),
        &["t"],
        retry_settings(dir.path(), policy(100, 2.0, 10_000, 8)),
    );
    q.accept(vec![alert("Slow", "firing", "warning")])
        .await
        .unwrap();
    q.wait_idle().await;
    let times: Vec<Instant> = fake.seen_by("t").iter().map(|s| s.at).collect();
    assert_eq!(times.len(), 3);
    let (g1, g2) = (times[1] - times[0], times[2] - times[1]);
    assert!(
        g1 >= Duration::from_millis(2_998) && g1 <= Duration::from_millis(3_002),
        "{g1:?}"
    );
    assert!(
        g2 >= Duration::from_millis(9_998) && g2 <= Duration::from_millis(10_002),
        "capped at max_delay: {g2:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_holds_the_job_without_spending_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Ok);
    // Ten skips in a row would exhaust two attempts many times over.
    fake.script(
        "t",
        (0..10)
            .map(|_| Answer::Skip(SkipReason::CircuitOpen))
            .collect(),
    );
    fake.script("t", vec![Answer::Fail(ErrorClass::Transient, None)]);
    let q = start(
        dir.path(),
        fake.clone(),
        &["t"],
        retry_settings(dir.path(), policy(100, 2.0, 1000, 2)),
    );
    q.accept(vec![alert("Held", "firing", "critical")])
        .await
        .unwrap();
    q.wait_idle().await;
    assert_eq!(
        fake.seen_by("t").len(),
        2,
        "one failed attempt, then delivered"
    );
    assert_eq!(q.stats().dlq_size, 0, "skips did not count as attempts");
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_dead_letters_at_once_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Fail(ErrorClass::Permanent, None));
    let store = Store::open(dir.path()).unwrap();
    let secret_target = Target::new("pd", "pagerduty", "http://127.0.0.1:9/")
        .with_secret("routing_key", "s3cr3t-routing-key");
    let q = DurableQueue::start(
        store,
        fake.clone(),
        Arc::new(StaticTargets::new(vec![secret_target])),
        settings(dir.path()),
    )
    .unwrap();
    q.accept(vec![alert("Bad", "firing", "warning")])
        .await
        .unwrap();
    q.wait_idle().await;
    assert_eq!(fake.seen().len(), 1, "not retried");
    let page = q
        .dlq_list(
            &DlqFilter {
                target: Some("pd".into()),
                ..DlqFilter::default()
            },
            None,
            10,
        )
        .unwrap();
    let e = &page.entries[0];
    assert_eq!(
        (e.reason, e.attempts, e.target_kind.as_str()),
        (DlqReason::PermanentError, 1, "pagerduty")
    );
    let json = serde_json::to_string(&page).unwrap();
    assert!(
        !json.contains("s3cr3t"),
        "no secret in a dead letter: {json}"
    );
}

#[tokio::test(start_paused = true)]
async fn jobs_of_a_removed_target_go_to_the_dlq_with_that_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Fail(ErrorClass::Transient, None));
    let q = start(
        dir.path(),
        fake.clone(),
        &["old"],
        retry_settings(dir.path(), policy(60_000, 2.0, 60_000, 5)),
    );
    q.accept(vec![alert("Orphan", "firing", "warning")])
        .await
        .unwrap();
    q.wait_until(|s| s.depth["firing"]["retry"] == 1).await;
    q.shutdown(Duration::from_millis(10)).await;
    // Restarted without the target.
    let q = start(dir.path(), fake.clone(), &["new"], settings(dir.path()));
    q.wait_idle().await;
    let e = &q.dlq_list(&DlqFilter::default(), None, 10).unwrap().entries[0];
    assert_eq!(
        (e.target_name.as_str(), e.reason, e.attempts),
        ("old", DlqReason::TargetRemoved, 1)
    );
    assert!(
        e.error_message.contains("no longer configured"),
        "{}",
        e.error_message
    );
    assert!(
        fake.seen_by("new").is_empty(),
        "the new target never sees an old alert's retry"
    );
}

#[tokio::test(start_paused = true)]
async fn a_restart_resumes_retries_with_their_attempt_counts() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Fail(ErrorClass::Transient, None));
    fake.script("ok", vec![Answer::Ok]);
    let p = policy(30_000, 2.0, 60_000, 3);
    let q = start(
        dir.path(),
        fake.clone(),
        &["down", "ok"],
        retry_settings(dir.path(), p.clone()),
    );
    q.accept(vec![alert("Persist", "firing", "critical")])
        .await
        .unwrap();
    q.wait_until(|s| s.retries.get("down").is_some_and(|r| r.attempts == 1))
        .await;
    q.shutdown(Duration::from_millis(10)).await;
    assert_eq!(fake.seen().len(), 2);

    let fake2 = Fake::new(Answer::Fail(ErrorClass::Transient, None));
    let q = start(
        dir.path(),
        fake2.clone(),
        &["down", "ok"],
        retry_settings(dir.path(), p),
    );
    assert_eq!(
        q.stats().depth["critical"]["retry"],
        1,
        "the retry waits for its time"
    );
    q.wait_idle().await;
    assert!(
        fake2.seen_by("ok").is_empty(),
        "a delivered target is not delivered again"
    );
    assert_eq!(
        fake2.seen_by("down").len(),
        2,
        "attempts 2 and 3 after the restart"
    );
    let e = &q.dlq_list(&DlqFilter::default(), None, 10).unwrap().entries[0];
    assert_eq!((e.reason, e.attempts), (DlqReason::RetriesExhausted, 3));
}

#[tokio::test(start_paused = true)]
async fn a_resolve_waits_for_its_firing_on_the_same_target() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Ok);
    fake.script(
        "t",
        vec![
            Answer::Fail(ErrorClass::Transient, None),
            Answer::Fail(ErrorClass::Transient, None),
        ],
    );
    let q = start(
        dir.path(),
        fake.clone(),
        &["t", "u"],
        retry_settings(dir.path(), policy(1000, 2.0, 4000, 8)),
    );
    q.accept(vec![alert("Flap", "firing", "critical")])
        .await
        .unwrap();
    q.wait_until(|s| s.depth["critical"]["retry"] == 1).await;
    q.accept(vec![alert("Flap", "resolved", "critical")])
        .await
        .unwrap();
    q.wait_idle().await;
    let seq: Vec<&str> = fake.seen_by("t").iter().map(|s| s.status).collect();
    assert_eq!(seq, vec!["firing", "firing", "firing", "resolved"]);
    let u: Vec<&str> = fake.seen_by("u").iter().map(|s| s.status).collect();
    assert_eq!(
        u,
        vec!["firing", "resolved"],
        "the healthy target was not held back"
    );
}

// ---------------------------------------------------------------- queue: DLQ operations

#[tokio::test(start_paused = true)]
async fn dlq_replay_delete_and_purge_act_on_exactly_the_entries_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Fail(ErrorClass::Permanent, None));
    let q = start(dir.path(), fake.clone(), &["a", "b"], settings(dir.path()));
    for i in 0..3 {
        q.accept(vec![alert(&format!("X{i}"), "firing", "warning")])
            .await
            .unwrap();
    }
    q.wait_until(|s| s.dlq_size == 6).await;
    q.flush().await;
    let a_only = DlqFilter {
        target: Some("a".into()),
        ..DlqFilter::default()
    };
    let page1 = q.dlq_list(&a_only, None, 2).unwrap();
    assert_eq!(page1.entries.len(), 2);
    let cursor = page1.next_cursor.as_deref().unwrap().parse().unwrap();
    let page2 = q.dlq_list(&a_only, Some(cursor), 2).unwrap();
    assert_eq!(
        (page2.entries.len(), page2.next_cursor.as_deref()),
        (1, None)
    );
    assert!(
        page1
            .entries
            .iter()
            .chain(&page2.entries)
            .all(|e| e.target_name == "a")
    );

    // Replay one of a's entries: only target a gets it again.
    fake.set_default(Answer::Ok);
    let before_b = fake.seen_by("b").len();
    let id = page1.entries[0].id;
    q.replay(id).await.unwrap();
    q.wait_idle().await;
    assert_eq!(
        fake.seen_by("b").len(),
        before_b,
        "replay goes to the entry's target only"
    );
    assert_eq!(
        fake.seen_by("a").last().unwrap().alert,
        page1.entries[0].alert.alert.name()
    );
    assert!(matches!(
        q.replay(id).await,
        Err(super::DlqError::NotFound(_))
    ));
    assert_eq!(q.stats().dlq_size, 5);

    // Replay by filter: the rest of a's.
    let report = q.replay_matching(&a_only, 100).await.unwrap();
    assert_eq!(
        (report.replayed.len(), report.failed.len(), report.more),
        (2, 0, false)
    );
    q.wait_idle().await;
    assert_eq!(q.stats().dlq_by_target.get("a"), None);

    // Delete one of b's; purge the rest (older than an hour, after two hours).
    let b_ids: Vec<u64> = q
        .dlq_list(&DlqFilter::default(), None, 10)
        .unwrap()
        .entries
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(b_ids.len(), 3);
    q.dlq_delete(b_ids[0]).await.unwrap();
    assert_eq!(
        q.dlq_purge(Duration::from_secs(3600), None).await.unwrap(),
        0,
        "nothing that old yet"
    );
    tokio::time::advance(Duration::from_secs(7200)).await;
    assert_eq!(
        q.dlq_purge(Duration::from_secs(3600), None).await.unwrap(),
        2
    );
    assert_eq!(q.stats().dlq_size, 0);
    assert!(
        q.dlq_list(&DlqFilter::default(), None, 10)
            .unwrap()
            .entries
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn replay_of_an_entry_whose_target_is_gone_keeps_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let q = start(
        dir.path(),
        Fake::new(Answer::Fail(ErrorClass::Permanent, None)),
        &["gone"],
        settings(dir.path()),
    );
    q.accept(vec![alert("A", "firing", "warning")])
        .await
        .unwrap();
    q.wait_idle().await;
    q.shutdown(Duration::from_millis(10)).await;
    let q = start(
        dir.path(),
        Fake::new(Answer::Ok),
        &["other"],
        settings(dir.path()),
    );
    let id = q.dlq_list(&DlqFilter::default(), None, 1).unwrap().entries[0].id;
    assert!(matches!(
        q.replay(id).await,
        Err(super::DlqError::TargetMissing { .. })
    ));
    assert_eq!(q.stats().dlq_size, 1);
}

#[tokio::test(start_paused = true)]
async fn a_full_dlq_parks_deliveries_until_room_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::new(Answer::Fail(ErrorClass::Permanent, None));
    let q = start(
        dir.path(),
        fake,
        &["t"],
        QueueSettings {
            max_dlq_entries: 1,
            ..settings(dir.path())
        },
    );
    q.accept(vec![alert("First", "firing", "warning")])
        .await
        .unwrap();
    q.wait_until(|s| s.dlq_size == 1).await;
    q.accept(vec![alert("Second", "firing", "warning")])
        .await
        .unwrap();
    q.wait_until(|s| s.depth["firing"]["parked"] == 1).await;
    assert_eq!(
        q.stats().alerts,
        1,
        "the parked delivery still holds its alert"
    );
    q.dlq_purge(Duration::ZERO, None).await.unwrap();
    q.wait_idle().await;
    let names: Vec<String> = q
        .dlq_list(&DlqFilter::default(), None, 10)
        .unwrap()
        .entries
        .iter()
        .map(|e| e.alert.alert.name().to_string())
        .collect();
    assert_eq!(names, vec!["Second"]);
}

#[tokio::test]
async fn settings_are_validated_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bad = QueueSettings {
        workers: 0,
        ..settings(dir.path())
    };
    let e = DurableQueue::start(store, Fake::new(Answer::Ok), targets(&[]), bad).unwrap_err();
    assert!(e.to_string().contains("workers"), "{e}");
    assert_eq!(St::Ready.label(), Some("ready"));
}
