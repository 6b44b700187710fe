//! Accepting alerts, durable against in-memory, side by side in one run, at
//! two levels:
//!
//! 1. **Ingress** (the issue's goals are judged here): the real API router
//!    serves `POST /api/v1/alerts/alertmanager` on loopback; [`callers`]
//!    keep-alive HTTP/1.1 connections each send one alert per request and
//!    wait for the answer. One server hands alerts to the durable queue
//!    (`DurableQueue::accept`: committed, fsync'd, group commit), the other to
//!    the in-memory hand-off (`MemoryIntake::accept`). The server runs on a
//!    2-worker tokio runtime, as `herald serve` does on 2 cores; the client on
//!    a thread of its own with a lean hand-written HTTP client.
//! 2. **Intake call alone**: the same two `accept`s called directly by
//!    [`callers`] tasks, no HTTP. Each caller yields after every answer, as a
//!    handler writing its response does (without it the in-memory callers
//!    never let their own deliveries run and the rate counted an unbounded
//!    backlog). This shows what the intake step itself costs.
//!
//! Both intakes then "deliver" to an empty target set, so what is measured
//! is the intake and its bookkeeping (for the durable queue: the commit of
//! the alert and the commit that deletes it once delivered, both sharing
//! group commits with everything else waiting).
//!
//! Rounds alternate durable / memory so load drift on a shared machine hits
//! both alike; after each round its background work is drained, untimed.
//! Printed as tables and written to `target/bench-results/intake.json`.
//!
//! Goals (issue 6): at least 5,000 alerts/s accepted durably, and at least
//! half the in-memory rate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald::api::{self, ApiSettings, AppState, Control};
use herald::health::AlwaysHealthy;
use herald::model::{EnrichedAlert, StaticTargets};
use herald::plugin::{MemoryStateStore, PluginRuntime, RuntimeLimits, StateStore};
use herald::publish::{Deliverer, ParallelPublishOptions, Publisher};
use herald::queue::{DurableQueue, Intake, IntakeError, MemoryIntake, QueueSettings, Store};
use herald_benches::{Stats, cores, full_run, load_average, ms, write_results};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

/// Results of one side (durable or memory) at one level, summed over rounds.
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
    /// Adds one caller's latencies (one per accepted call) and refusals.
    fn caller(&mut self, (latencies, refused): (Vec<Duration>, usize)) {
        self.accepted += latencies.len();
        self.latencies.extend(latencies);
        self.refused += refused;
    }
    fn add(&mut self, other: Tally) {
        self.accepted += other.accepted;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.refused += other.refused;
    }
    fn rate(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One intake-level round: [`callers`] tasks accepting one alert per call for `length`.
async fn intake_round(intake: Arc<dyn Intake>, length: Duration, offset: usize) -> Tally {
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
                    Err(IntakeError::Full(..)) => refused += 1,
                    Err(e) => panic!("accept failed: {e}"),
                }
                // What a handler does next: write the answer, which yields.
                tokio::task::yield_now().await;
            }
            (lat, refused)
        }));
    }
    let mut tally = Tally::new();
    for t in tasks {
        tally.caller(t.await.expect("caller task"));
    }
    tally.elapsed = started.elapsed();
    tally
}

/// Request bytes for `POST /api/v1/alerts/alertmanager` with one alert,
/// `n` distinct ones (alert names and instances vary; every fourth resolved).
fn requests(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let status = if i.is_multiple_of(4) { "resolved" } else { "firing" };
            let body = serde_json::json!({
                "version": "4",
                "status": status,
                "receiver": "herald",
                "groupKey": format!("{{}}:{{alertname=\"Bench{i}\"}}"),
                "groupLabels": {"alertname": format!("Bench{i}")},
                "commonLabels": {},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager.test",
                "alerts": [{
                    "status": status,
                    "labels": {"alertname": format!("Bench{i}"), "severity": "critical", "instance": format!("db-{}", i % 97)},
                    "annotations": {"summary": "disk almost full", "description": "the disk on db-1 is 97% full"},
                    "startsAt": "2026-12-01T10:00:00Z",
                    "endsAt": if status == "resolved" { "2026-12-01T10:05:00Z" } else { "0001-01-01T00:00:00Z" },
                    "generatorURL": "http://prometheus.test/graph"
                }]
            })
            .to_string();
            let mut req = format!(
                "POST /api/v1/alerts/alertmanager HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            req.extend_from_slice(body.as_bytes());
            req
        })
        .collect()
}

/// Reads one HTTP/1.1 response from `conn` (a `content-length` body, as
/// axum sends for JSON) and returns its status; `buf` keeps any bytes read
/// past it.
async fn read_response(conn: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> u16 {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).expect("ASCII response head");
            let status: u16 = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"));
            let length: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no content-length in {head:?}"));
            let total = end + 4 + length;
            while buf.len() < total {
                let n = conn.read(&mut chunk).await.expect("read the body");
                assert!(n > 0, "the server closed the connection mid-body");
                buf.extend_from_slice(&chunk[..n]);
            }
            if status != 200 && status != 503 {
                panic!(
                    "the ingress answered {status}: {}",
                    String::from_utf8_lossy(&buf[end + 4..total])
                );
            }
            buf.drain(..total);
            return status;
        }
        let n = conn.read(&mut chunk).await.expect("read the response");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One ingress-level round against the server at `addr`: [`callers`]
/// keep-alive connections (connected before the clock starts), each sending
/// one alert per request for `length`. Runs the client on a thread of its
/// own so the server keeps its two workers.
fn ingress_round(
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    length: Duration,
    offset: usize,
) -> Tally {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        rt.block_on(async move {
            let mut conns = Vec::new();
            for _ in 0..callers() {
                let conn = tokio::net::TcpStream::connect(addr)
                    .await
                    .expect("connect to the bench server");
                conn.set_nodelay(true).expect("TCP_NODELAY");
                conns.push(conn);
            }
            let started = Instant::now();
            let until = started + length;
            let local = tokio::task::LocalSet::new();
            let mut tasks = Vec::new();
            for (c, mut conn) in conns.into_iter().enumerate() {
                let requests = requests.clone();
                tasks.push(local.spawn_local(async move {
                    let (mut lat, mut refused) = (Vec::new(), 0);
                    let mut buf = Vec::with_capacity(4096);
                    let mut i = offset + c * 7919;
                    while Instant::now() < until {
                        let req = &requests[i % requests.len()];
                        i += 1;
                        let t = Instant::now();
                        conn.write_all(req).await.expect("send the request");
                        match read_response(&mut conn, &mut buf).await {
                            200 => lat.push(t.elapsed()),
                            _ => refused += 1,
                        }
                    }
                    (lat, refused)
                }));
            }
            local
                .run_until(async move {
                    let mut tally = Tally::new();
                    for t in tasks {
                        tally.caller(t.await.expect("client task"));
                    }
                    tally.elapsed = started.elapsed();
                    tally
                })
                .await
        })
    })
    .join()
    .expect("client thread")
}

/// The daemon's side of the API, reduced to what ingress needs.
struct BenchControl;

#[async_trait::async_trait]
impl Control for BenchControl {
    async fn reload(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
    fn target_issues(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn health(&self, _: &str) -> Option<serde_json::Value> {
        None
    }
}

/// Serves the real router with `intake` behind ingress on a loopback port.
async fn serve(publisher: Arc<Publisher>, intake: Arc<dyn Intake>) -> SocketAddr {
    let state = Arc::new(AppState {
        publisher,
        intake,
        control: Arc::new(BenchControl),
        request_timeout: Duration::from_secs(30),
    });
    let settings = ApiSettings {
        max_body_bytes: 1 << 20,
        admin_token: None,
        ingress_token: None,
        request_timeout: Duration::from_secs(30),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let app = api::router(state, &settings, None);
    tokio::spawn(api::serve(listener, app, std::future::pending()));
    addr
}

/// Durable and memory results at one level.
struct Level {
    durable: Tally,
    memory: Tally,
}

impl Level {
    fn ratio(&self) -> f64 {
        self.durable.rate() / self.memory.rate().max(1e-9)
    }

    fn print(&mut self, title: &str) -> serde_json::Value {
        let (ds, msr) = (
            Stats::of(&mut self.durable.latencies),
            Stats::of(&mut self.memory.latencies),
        );
        println!("{title}");
        println!(
            "  {:<10} {:>12} {:>10} {:>10} {:>10} {:>10} {:>9}",
            "intake", "alerts/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "refused"
        );
        for (name, t, s) in [
            ("durable", &self.durable, &ds),
            ("memory", &self.memory, &msr),
        ] {
            println!(
                "  {:<10} {:>12.0} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>9}",
                name,
                t.rate(),
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                ms(s.max),
                t.refused
            );
        }
        println!("  durable/memory rate: {:.2}", self.ratio());
        serde_json::json!({
            "durable": { "alerts_per_s": self.durable.rate(), "accepted": self.durable.accepted, "refused": self.durable.refused, "latency": ds.to_json_ms() },
            "memory": { "alerts_per_s": self.memory.rate(), "accepted": self.memory.accepted, "refused": self.memory.refused, "latency": msr.to_json_ms() },
            "durable_over_memory": self.ratio(),
        })
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
    let requests = Arc::new(requests(4096));

    let (store, queue, memory, durable_addr, memory_addr) = rt.block_on(async {
        let store = Store::open(&dir).expect("open the store");
        let durable_pub = publisher(store.state_store());
        let settings = QueueSettings {
            max_jobs: 1_000_000,
            max_bytes: 4 << 30,
            ..QueueSettings::in_dir(&dir)
        };
        let queue = DurableQueue::start(
            store.clone(),
            durable_pub.clone(),
            durable_pub.target_source().clone(),
            settings,
        )
        .expect("start the queue");
        let memory_pub = publisher(Arc::new(MemoryStateStore::new()));
        let memory: Arc<dyn Intake> = Arc::new(MemoryIntake::new(memory_pub.clone(), 1_000_000));
        let durable_addr = serve(durable_pub, queue.clone()).await;
        let memory_addr = serve(memory_pub, memory.clone()).await;
        (store, queue, memory, durable_addr, memory_addr)
    });
    let durable_intake: Arc<dyn Intake> = queue.clone();
    let drain = |side: &str| match side {
        "durable" => rt.block_on(queue.wait_idle()),
        // An in-memory delivery to no target is a few microseconds; a short
        // pause lets the last ones finish.
        _ => std::thread::sleep(Duration::from_millis(50)),
    };
    let sides: Vec<&str> = ["durable", "memory"]
        .into_iter()
        .filter(|s| only.is_none_or(|o| o == *s))
        .collect();

    // Warm up both levels and both sides (allocations, page cache, the
    // database file's first pages, connections).
    for side in &sides {
        let (addr, intake) = match *side {
            "durable" => (durable_addr, durable_intake.clone()),
            _ => (memory_addr, memory.clone()),
        };
        ingress_round(addr, requests.clone(), length / 4, 0);
        drain(side);
        rt.block_on(intake_round(intake, length / 4, 0));
        drain(side);
    }

    let mut ingress = Level {
        durable: Tally::new(),
        memory: Tally::new(),
    };
    let mut direct = Level {
        durable: Tally::new(),
        memory: Tally::new(),
    };
    let (mut commits, mut ingress_accepts) = (0, 0);
    for r in 0..ROUNDS {
        let offset = (r + 1) * 100_000_000;
        for side in &sides {
            let (addr, intake) = match *side {
                "durable" => (durable_addr, durable_intake.clone()),
                _ => (memory_addr, memory.clone()),
            };
            let before = store.commits();
            let t = ingress_round(addr, requests.clone(), length, offset);
            if *side == "durable" {
                commits += store.commits() - before;
                ingress_accepts += t.accepted;
                ingress.durable.add(t);
            } else {
                ingress.memory.add(t);
            }
            drain(side);
            let t = rt.block_on(intake_round(intake, length, offset));
            if *side == "durable" {
                direct.durable.add(t);
            } else {
                direct.memory.add(t);
            }
            drain(side);
        }
    }
    rt.block_on(async {
        queue.shutdown(Duration::from_secs(5)).await;
        memory.shutdown(Duration::from_secs(5)).await;
    });
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!(
        "intake: {} concurrent callers, one alert per call, {ROUNDS} alternating rounds of {length:?} per level; {} cores; load {}",
        callers(),
        cores(),
        load_average()
    );
    let ingress_json = ingress.print("ingress: POST /api/v1/alerts/alertmanager over loopback HTTP/1.1 keep-alive (goals judged here)");
    let direct_json = direct.print("intake call alone: Intake::accept, no HTTP");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let (ratio, rate) = (ingress.ratio(), ingress.durable.rate());
    println!(
        "goals at ingress: durable/memory rate {ratio:.2} (goal >= {RATIO_GOAL}: {}); durable rate {rate:.0}/s (goal >= {DURABLE_GOAL}: {})",
        verdict(ratio >= RATIO_GOAL),
        verdict(rate >= DURABLE_GOAL)
    );
    let h = &herald::metrics::metrics().store_commit_duration;
    println!(
        "store commits: mean {:.3} ms over {} (fsync included)",
        h.get_sample_sum() * 1e3 / h.get_sample_count().max(1) as f64,
        h.get_sample_count()
    );
    let per_commit = ingress_accepts as f64 / commits.max(1) as f64;
    println!(
        "group commit at ingress: {commits} commits for {ingress_accepts} durable accepts: {per_commit:.1} accepts per commit (each commit also carries completions)"
    );
    let json = serde_json::json!({
        "callers": callers(),
        "rounds": ROUNDS,
        "round_ms": ms(length),
        "cores": cores(),
        "load_average": load_average(),
        "ingress": ingress_json,
        "intake_call": direct_json,
        "ingress_commits": commits,
        "goals": { "durable_alerts_per_s": DURABLE_GOAL, "ratio": RATIO_GOAL, "judged_at": "ingress" },
    });
    match write_results("intake", &json) {
        Ok(path) => println!("results: {}", path.display()),
        Err(e) => eprintln!("cannot write results: {e}"),
    }
}
