//! Accepting alerts: the durable queue (`DurableQueue::accept`: committed,
//! fsync'd, group commit) side by side with the in-memory hand-off
//! (`MemoryIntake::accept`) in one run, each driven by 64 concurrent callers
//! sending one alert per call, on a 2-worker tokio runtime.
//!
//! Both intakes then "deliver" to an empty target set, so what is measured
//! is the intake and its bookkeeping (for the durable queue: the commit of
//! the alert and the commit that deletes it once delivered, both sharing
//! group commits with everything else waiting).
//!
//! Rounds alternate durable / memory so load drift on a shared machine hits
//! both alike. Printed as a table and written to
//! `target/bench-results/intake.json`.
//!
//! Goals (issue 6): at least 5,000 alerts/s accepted durably, and at least
//! half the in-memory rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::health::AlwaysHealthy;
use herald::model::{EnrichedAlert, StaticTargets};
use herald::plugin::{MemoryStateStore, PluginRuntime, RuntimeLimits, StateStore};
use herald::publish::{Deliverer, ParallelPublishOptions, Publisher};
use herald::queue::{DurableQueue, Intake, IntakeError, MemoryIntake, QueueSettings, Store};
use herald_benches::{Stats, cores, full_run, load_average, ms, write_results};

/// Concurrent callers (`HERALD_BENCH_CALLERS` overrides): group commit
/// batches whatever is waiting, so the durable rate grows with them.
fn callers() -> usize {
    std::env::var("HERALD_BENCH_CALLERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(64)
}
/// Alternating rounds per intake.
const ROUNDS: usize = 3;
const DURABLE_GOAL: f64 = 5_000.0;
const RATIO_GOAL: f64 = 0.5;

fn alert(i: usize) -> EnrichedAlert {
    serde_json::from_value(serde_json::json!({
        "alert": {
            "status": if i.is_multiple_of(4) { "resolved" } else { "firing" },
            "labels": {"alertname": format!("Bench{}", i % 5000), "severity": "critical", "instance": format!("db-{}", i % 97)},
            "annotations": {"summary": "disk almost full", "description": "the disk on db-1 is 97% full"},
            "starts_at": "2026-12-01T10:00:00Z",
            "generator_url": "http://prometheus.test/graph"
        }
    }))
    .expect("valid alert")
}

fn publisher(state: Arc<dyn StateStore>) -> Arc<Publisher> {
    let rt = Arc::new(PluginRuntime::new(RuntimeLimits::default(), state).expect("plugin runtime"));
    let deliverer = Arc::new(Deliverer::new(rt).expect("http client"));
    Arc::new(
        Publisher::new(
            deliverer,
            Arc::new(StaticTargets::new(Vec::new())),
            Arc::new(AlwaysHealthy),
            ParallelPublishOptions::default(),
        )
        .expect("valid options"),
    )
}

/// One round: [`callers`] tasks accepting one alert per call for `length`.
/// Returns (alerts accepted, elapsed, per-call latencies, refusals).
async fn round(
    intake: Arc<dyn Intake>,
    length: Duration,
    offset: usize,
) -> (usize, Duration, Vec<Duration>, usize) {
    let started = Instant::now();
    let until = started + length;
    let mut tasks = Vec::new();
    for c in 0..callers() {
        let intake = intake.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut refused = 0;
            let mut i = offset + c * 1_000_000;
            while Instant::now() < until {
                let a = alert(i);
                i += 1;
                let t = Instant::now();
                match intake.accept(vec![a]).await {
                    Ok(_) => lat.push(t.elapsed()),
                    Err(IntakeError::Full(..)) => {
                        refused += 1;
                        tokio::task::yield_now().await;
                    }
                    Err(e) => panic!("accept failed: {e}"),
                }
            }
            (lat, refused)
        }));
    }
    let mut all = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (lat, r) = t.await.expect("caller task");
        all.extend(lat);
        refused += r;
    }
    (all.len(), started.elapsed(), all, refused)
}

struct Tally {
    accepted: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    refused: usize,
}

impl Tally {
    fn new() -> Self {
        Self {
            accepted: 0,
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            refused: 0,
        }
    }
    fn add(&mut self, n: usize, elapsed: Duration, latencies: Vec<Duration>, refused: usize) {
        self.accepted += n;
        self.elapsed += elapsed;
        self.latencies.extend(latencies);
        self.refused += refused;
    }
    fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn main() {
    // `HERALD_BENCH_INTAKE=durable` (or `memory`) runs one side only, for profiling.
    let only_var = std::env::var("HERALD_BENCH_INTAKE").ok();
    let only = only_var
        .as_deref()
        .filter(|v| *v == "durable" || *v == "memory");
    let length = if full_run() {
        Duration::from_secs(4)
    } else {
        Duration::from_millis(200)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = std::env::temp_dir().join(format!("herald-intake-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let (durable, memory, commits) = rt.block_on(async {
        let store = Store::open(&dir).expect("open the store");
        let durable_pub = publisher(store.state_store());
        let settings = QueueSettings {
            max_jobs: 1_000_000,
            max_bytes: 4 << 30,
            ..QueueSettings::in_dir(&dir)
        };
        let queue = DurableQueue::start(
            store,
            durable_pub.clone(),
            durable_pub.target_source().clone(),
            settings,
        )
        .expect("start the queue");
        let memory_pub = publisher(Arc::new(MemoryStateStore::new()));
        let durable_intake: Arc<dyn Intake> = queue.clone();

        // Warm up both (allocations, page cache, the database file's first pages).
        round(durable_intake.clone(), length / 4, 0).await;
        queue.wait_idle().await;
        let warm: Arc<dyn Intake> = Arc::new(MemoryIntake::new(memory_pub.clone(), 1_000_000));
        round(warm.clone(), length / 4, 0).await;
        warm.shutdown(Duration::from_secs(60)).await;

        // After each round, its background work is drained (untimed) so it
        // cannot slow the next round of the other intake.
        let (mut d, mut m) = (Tally::new(), Tally::new());
        let mut commits = 0;
        for r in 0..ROUNDS {
            let offset = (r + 1) * 100_000_000;
            if only != Some("memory") {
                let before = queue.store().commits();
                let (n, elapsed, lat, refused) =
                    round(durable_intake.clone(), length, offset).await;
                commits += queue.store().commits() - before;
                d.add(n, elapsed, lat, refused);
                queue.wait_idle().await;
            }
            if only != Some("durable") {
                let memory: Arc<dyn Intake> =
                    Arc::new(MemoryIntake::new(memory_pub.clone(), 1_000_000));
                let (n, elapsed, lat, refused) = round(memory.clone(), length, offset).await;
                m.add(n, elapsed, lat, refused);
                memory.shutdown(Duration::from_secs(60)).await;
            }
        }
        queue.shutdown(Duration::from_secs(5)).await;
        (d, m, commits)
    });
    let _ = std::fs::remove_dir_all(&dir);

    let (mut d, mut m) = (durable, memory);
    let (ds, msr) = (Stats::of(&mut d.latencies), Stats::of(&mut m.latencies));
    let ratio = d.rate() / m.rate().max(1e-9);
    println!();
    println!(
        "intake: {} concurrent callers, one alert per call, {ROUNDS} alternating rounds of {length:?}; {} cores; load {}",
        callers(),
        cores(),
        load_average()
    );
    println!(
        "{:<10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "intake", "alerts/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "refused"
    );
    for (name, t, s) in [("durable", &d, &ds), ("memory", &m, &msr)] {
        println!(
            "{:<10} {:>12.0} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>9}",
            name,
            t.rate(),
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.max),
            t.refused
        );
    }
    let per_commit = d.accepted as f64 / commits.max(1) as f64;
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "durable/memory rate: {ratio:.2} (goal >= {RATIO_GOAL}: {}); durable rate {:.0}/s (goal >= {DURABLE_GOAL}: {})",
        verdict(ratio >= RATIO_GOAL),
        d.rate(),
        verdict(d.rate() >= DURABLE_GOAL)
    );
    let h = &herald::metrics::metrics().store_commit_duration;
    println!(
        "store commits: mean {:.3} ms over {} (fsync included)",
        h.get_sample_sum() * 1e3 / h.get_sample_count().max(1) as f64,
        h.get_sample_count()
    );
    println!(
        "group commit: {commits} commits for {} durable accepts: {per_commit:.1} accepts per commit (each commit also carries completions)",
        d.accepted
    );
    let json = serde_json::json!({
        "callers": callers(),
        "rounds": ROUNDS,
        "round_ms": ms(length),
        "cores": cores(),
        "load_average": load_average(),
        "durable": { "alerts_per_s": d.rate(), "accepted": d.accepted, "refused": d.refused, "latency": ds.to_json_ms(), "commits": commits },
        "memory": { "alerts_per_s": m.rate(), "accepted": m.accepted, "refused": m.refused, "latency": msr.to_json_ms() },
        "durable_over_memory": ratio,
        "goals": { "durable_alerts_per_s": DURABLE_GOAL, "ratio": RATIO_GOAL },
    });
    match write_results("intake", &json) {
        Ok(path) => println!("results: {}", path.display()),
        Err(e) => eprintln!("cannot write results: {e}"),
    }
}
