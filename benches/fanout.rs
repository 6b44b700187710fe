//! Publishing one alert to 1, 2, 5 and 10 loopback targets that each answer
//! after 100 ms, through the real webhook plugin: the parallel publisher
//! (`Publisher::publish_to_multiple`) against the sequential baseline
//! (`SequentialPublisher::publish_to_multiple`), side by side in one run, on
//! a 2-worker tokio runtime sharing one HTTP client and plugin runtime.
//!
//! 1. criterion: latency per publish for each (targets, mode).
//! 2. A summary from our own samples, all configurations interleaved round by
//!    round so that load drift on a shared machine hits them alike: latency
//!    percentiles, the fan-out overhead above the slowest target (latency −
//!    100 ms) at p50/p99, the parallel/sequential speed-ups and the 10/5
//!    latency ratio; printed as a table and written to
//!    `target/bench-results/fanout.json`. The summary also samples an
//!    `http-only` baseline: the same requests (prepared once by the plugin)
//!    sent concurrently with `Deliverer::send`, no plugin call and no
//!    publisher — the floor that loopback HTTP, the client and thread
//!    scheduling set, so that the part of the overhead that is Herald's shows.
//!
//! Targets are [`SlowTarget`]s (precise delay, own threads); set
//! `HERALD_BENCH_TARGETS=mock` to use the tests' axum `MockTarget` instead,
//! whose tokio sleep rounds up to the next millisecond and whose server runs
//! on the bench's own two workers (results then go to `fanout-mock.json`,
//! without the overhead split, which needs the lean target's timestamps).
//!
//! Goals (issue 2): speed-up ≥ 4.5× at 5 targets and ≥ 9× at 10; 10 targets
//! at most 1.1× the latency of 5; overhead above the slowest target < 2 ms p99.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use herald::health::AlwaysHealthy;
use herald::model::{EnrichedAlert, Target};
use herald::plugin::bindings::types as wit;
use herald::plugin::convert::{wit_alert, wit_target};
use herald::plugin::{CallOptions, StateScope};
use herald::publish::{ParallelPublishOptions, Publisher, SequentialPublisher};
use herald_benches::{
    SlowTarget, Stats, WEBHOOK, cores, criterion_median, full_run, load_average, ms, write_results,
};
use herald_tests::{Behaviour, MockTarget};

/// How long every target takes to answer.
const DELAY: Duration = Duration::from_millis(100);
/// Target counts compared.
const COUNTS: [usize; 4] = [1, 2, 5, 10];
/// Own samples per target count: every round publishes in parallel once, and
/// sequentially every `SEQUENTIAL_EVERY`th round (enough for a median, and it
/// keeps the run to about two minutes).
const ROUNDS: usize = 200;
const SEQUENTIAL_EVERY: usize = 8;
/// The `HttpOnly` baseline is sampled every other round.
const HTTP_ONLY_EVERY: usize = 2;

/// Goals.
const SPEEDUP_GOAL_5: f64 = 4.5;
const SPEEDUP_GOAL_10: f64 = 9.0;
const TEN_OVER_FIVE_GOAL: f64 = 1.1;
const OVERHEAD_P99_GOAL: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Parallel,
    Sequential,
    /// The baseline: the plugin's requests, sent concurrently without the
    /// plugin or the publisher.
    HttpOnly,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Parallel => "parallel",
            Mode::Sequential => "sequential",
            Mode::HttpOnly => "http-only",
        }
    }

    /// The least a publish to `n` targets can take: the slowest target's
    /// delay in parallel, every target's delay one after another.
    fn floor(self, n: usize) -> Duration {
        match self {
            Mode::Parallel | Mode::HttpOnly => DELAY,
            Mode::Sequential => DELAY * n as u32,
        }
    }
}

/// The publishers, the targets and the alert, set up once.
struct Setup {
    parallel: Arc<Publisher>,
    sequential: SequentialPublisher,
    /// Ten webhook targets; a publish to `n` uses the first `n`.
    targets: Vec<Target>,
    /// What the webhook plugin asks to send to each target, for `HttpOnly`.
    requests: Vec<wit::HttpRequest>,
    alert: EnrichedAlert,
    /// Which kind of loopback server answers.
    server: &'static str,
    /// The lean servers (none with `HERALD_BENCH_TARGETS=mock`), for the split.
    servers: Vec<SlowTarget>,
}

/// One publish as measured.
struct Sample {
    latency: Duration,
    /// Where the time above the slowest target's delay went (lean targets only).
    split: Option<Split>,
}

/// A publish's overhead above the delay of the target that replied last,
/// taken apart with that target's own timestamps. The parts add up to
/// `latency − DELAY`.
#[derive(Debug, Clone, Copy)]
struct Split {
    /// From the start of the publish until that target had the whole request.
    before: Duration,
    /// The target's sleep overshooting `DELAY`.
    target: Duration,
    /// From the target writing its reply until the publish returned.
    after: Duration,
}

impl Setup {
    async fn new() -> Self {
        let use_mock = std::env::var("HERALD_BENCH_TARGETS").is_ok_and(|v| v == "mock");
        let max = COUNTS[COUNTS.len() - 1];
        let mut targets = Vec::with_capacity(max);
        let mut servers = Vec::new();
        for i in 0..max {
            let name = format!("t{i}");
            let url = if use_mock {
                MockTarget::start(Behaviour::default().delayed(DELAY))
                    .await
                    .url(&format!("/{name}"))
            } else {
                let server = SlowTarget::start(DELAY).expect("a loopback target");
                let url = server.url(&format!("/{name}"));
                servers.push(server);
                url
            };
            targets.push(Target::new(name, "webhook", url));
        }
        let runtime = herald_tests::runtime(&[WEBHOOK]).await;
        let parallel = herald_tests::publisher(
            runtime,
            targets.clone(),
            Arc::new(AlwaysHealthy),
            ParallelPublishOptions::default(),
        );
        let alert = herald_tests::alert("FanoutBench");
        let mut requests = Vec::with_capacity(max);
        for target in &targets {
            requests.push(prepared_request(&parallel, &alert, target).await);
        }
        Self {
            sequential: SequentialPublisher::new(parallel.clone()),
            parallel,
            targets,
            requests,
            alert,
            server: if use_mock {
                "axum MockTarget"
            } else {
                "SlowTarget"
            },
            servers,
        }
    }

    /// One publish to the first `n` targets: its wall-clock latency and
    /// split, or why not every target succeeded.
    async fn publish(&self, mode: Mode, n: usize) -> Result<Sample, String> {
        for server in &self.servers {
            server.take_served();
        }
        let started = Instant::now();
        let latency = self.publish_once(mode, n, started).await?;
        let ended = started + latency;
        let last = self.servers[..n.min(self.servers.len())]
            .iter()
            .flat_map(SlowTarget::take_served)
            .max_by_key(|s| s.replied);
        let split = last.filter(|_| mode != Mode::Sequential).map(|last| Split {
            before: last.received.saturating_duration_since(started),
            target: (last.replied - last.received).saturating_sub(DELAY),
            after: ended.saturating_duration_since(last.replied),
        });
        Ok(Sample { latency, split })
    }

    async fn publish_once(
        &self,
        mode: Mode,
        n: usize,
        started: Instant,
    ) -> Result<Duration, String> {
        let targets = &self.targets[..n];
        let result = match mode {
            Mode::Parallel => {
                self.parallel
                    .publish_to_multiple(None, &self.alert, targets)
                    .await
            }
            Mode::Sequential => {
                self.sequential
                    .publish_to_multiple(None, &self.alert, targets)
                    .await
            }
            Mode::HttpOnly => return self.http_only(n, started).await,
        };
        let elapsed = started.elapsed();
        match result {
            Ok(r) if r.success_count == n => Ok(elapsed),
            Ok(r) => Err(format!(
                "{} of {n} targets failed: {:?}",
                r.failure_count,
                r.results.iter().find_map(|t| t.error.as_ref())
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Setup {
    /// The `HttpOnly` baseline: the prepared requests to the first `n`
    /// targets, one task each, through the publisher's own HTTP client.
    async fn http_only(&self, n: usize, started: Instant) -> Result<Duration, String> {
        let mut set = tokio::task::JoinSet::new();
        for (target, request) in self.targets[..n].iter().zip(&self.requests) {
            let deliverer = self.parallel.deliverer().clone();
            let (target, request) = (target.clone(), request.clone());
            set.spawn(async move { deliverer.send(&target, &request).await });
        }
        let mut failure = None;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(Ok(r)) if r.status == 200 => {}
                Ok(Ok(r)) => failure = Some(format!("answered {}", r.status)),
                Ok(Err(e)) => failure = Some(e.message),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        let elapsed = started.elapsed();
        failure.map_or(Ok(elapsed), Err)
    }
}

/// The request the webhook plugin makes for `alert` to `target`.
async fn prepared_request(
    publisher: &Publisher,
    alert: &EnrichedAlert,
    target: &Target,
) -> wit::HttpRequest {
    let runtime = publisher.deliverer().runtime();
    let plugin = runtime.adapter("webhook").expect("the webhook plugin");
    let scope = StateScope::new(&target.name, alert.alert.fingerprint());
    let mut session = runtime
        .session(&plugin, scope, CallOptions::default())
        .await
        .expect("a session");
    match session
        .prepare(&wit_alert(alert), &wit_target(target))
        .await
    {
        Ok(wit::Action::Send(request)) => request,
        other => panic!("the webhook plugin did not ask to send: {other:?}"),
    }
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn criterion_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime, setup: &Setup) {
    let mut group = c.benchmark_group("fanout");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(200));
    for n in COUNTS {
        for mode in [Mode::Parallel, Mode::Sequential] {
            // Ten one-publish samples, with a little room.
            group.measurement_time(mode.floor(n) * 11);
            group.bench_with_input(BenchmarkId::new(mode.as_str(), n), &n, |b, &n| {
                b.to_async(rt).iter(|| async move {
                    setup.publish(mode, n).await.expect("every target succeeds")
                })
            });
        }
    }
    group.finish();
}

/// A ratio of two durations.
fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn summary(
    rt: &tokio::runtime::Runtime,
    setup: &Setup,
    full: bool,
    load_before: &str,
    since: SystemTime,
) {
    let (rounds, every) = if full {
        (ROUNDS, SEQUENTIAL_EVERY)
    } else {
        (2, 1)
    };
    let mut samples: BTreeMap<(usize, Mode), Vec<Duration>> = BTreeMap::new();
    let mut errors: BTreeMap<(usize, Mode), (usize, String)> = BTreeMap::new();
    let mut splits: BTreeMap<(usize, Mode), Vec<Split>> = BTreeMap::new();
    let started = Instant::now();
    rt.block_on(async {
        for n in COUNTS {
            for mode in [Mode::Parallel, Mode::Sequential, Mode::HttpOnly] {
                // Warm connections and the pool before sampling.
                let _ = setup.publish(mode, n).await;
            }
        }
        for round in 0..rounds {
            for n in COUNTS {
                let mut modes = vec![Mode::Parallel];
                if round % every == 0 {
                    modes.push(Mode::Sequential);
                }
                if round % HTTP_ONLY_EVERY == 0 {
                    modes.push(Mode::HttpOnly);
                }
                for mode in modes {
                    match setup.publish(mode, n).await {
                        Ok(sample) => {
                            samples.entry((n, mode)).or_default().push(sample.latency);
                            if let Some(split) = sample.split {
                                splits.entry((n, mode)).or_default().push(split);
                            }
                        }
                        Err(e) => {
                            let slot = errors.entry((n, mode)).or_insert((0, e));
                            slot.0 += 1;
                        }
                    }
                }
            }
        }
    });
    let sampling = started.elapsed();

    let stats: BTreeMap<(usize, Mode), Stats> = samples
        .iter_mut()
        .map(|(k, v)| (*k, Stats::of(v)))
        .collect();
    let get = |n: usize, mode: Mode| stats.get(&(n, mode)).copied().unwrap_or_default();

    println!();
    println!(
        "== fanout summary: webhook plugin, targets answer after {} ms ({}), 2 tokio workers ==",
        DELAY.as_millis(),
        setup.server
    );
    println!(
        "machine: {} cores, load average before {load_before}, now {} (a shared, noisy machine); sampling took {:.0} s",
        cores(),
        load_average(),
        sampling.as_secs_f64()
    );
    println!(
        "latency per publish in ms; 'above floor' = latency − slowest target's delay (parallel) or − n × delay (sequential)"
    );
    println!(
        "  {:>7} {:<10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>13} {:>13} {:>6}",
        "targets",
        "mode",
        "samples",
        "p50",
        "mean",
        "p90",
        "p99",
        "max",
        "criterion",
        "above fl. p50",
        "above fl. p99",
        "errors"
    );
    let mut configs = Vec::new();
    for n in COUNTS {
        for mode in [Mode::Parallel, Mode::Sequential, Mode::HttpOnly] {
            let s = get(n, mode);
            let above = s.minus(mode.floor(n));
            let crit = criterion_median(&format!("fanout/{}/{n}", mode.as_str()), since);
            let (error_count, first_error) = errors
                .get(&(n, mode))
                .cloned()
                .unwrap_or((0, String::new()));
            println!(
                "  {n:>7} {:<10} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9} {:>13.3} {:>13.3} {:>6}",
                mode.as_str(),
                s.count,
                ms(s.p50),
                ms(s.mean),
                ms(s.p90),
                ms(s.p99),
                ms(s.max),
                crit.map_or("-".to_string(), |d| format!("{:.2}", ms(d))),
                ms(above.p50),
                ms(above.p99),
                error_count
            );
            configs.push(serde_json::json!({
                "targets": n,
                "mode": mode.as_str(),
                "latency": s.to_json_ms(),
                "criterion_median_ms": crit.map(ms),
                "floor_ms": ms(mode.floor(n)),
                "above_floor": above.to_json_ms(),
                "errors": error_count,
                "first_error": (error_count > 0).then_some(first_error),
            }));
        }
    }

    let mut json_splits = Vec::new();
    if !splits.is_empty() {
        println!();
        println!(
            "where the overhead above the slowest target goes (ms, from that target's own clock readings):"
        );
        println!(
            "  {:>7} {:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "targets",
            "mode",
            "before p50",
            "before p99",
            "target p50",
            "target p99",
            "after p50",
            "after p99"
        );
        println!(
            "  (before: publish start → slowest target has its request; target: its sleep overshoot; after: its reply → publish returns)"
        );
    }
    for ((n, mode), list) in &splits {
        let part = |f: fn(&Split) -> Duration| {
            let mut v: Vec<Duration> = list.iter().map(f).collect();
            Stats::of(&mut v)
        };
        let (before, target, after) = (part(|s| s.before), part(|s| s.target), part(|s| s.after));
        println!(
            "  {n:>7} {:<10} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
            mode.as_str(),
            ms(before.p50),
            ms(before.p99),
            ms(target.p50),
            ms(target.p99),
            ms(after.p50),
            ms(after.p99)
        );
        json_splits.push(serde_json::json!({
            "targets": n,
            "mode": mode.as_str(),
            "before_request": before.to_json_ms(),
            "target_overshoot": target.to_json_ms(),
            "after_reply": after.to_json_ms(),
        }));
    }

    let speedup = |n: usize| ratio(get(n, Mode::Sequential).p50, get(n, Mode::Parallel).p50);
    let speedup_mean = |n: usize| ratio(get(n, Mode::Sequential).mean, get(n, Mode::Parallel).mean);
    let ten_over_five = ratio(get(10, Mode::Parallel).p50, get(5, Mode::Parallel).p50);
    let ten_over_five_p99 = ratio(get(10, Mode::Parallel).p99, get(5, Mode::Parallel).p99);
    let overhead = |n: usize| get(n, Mode::Parallel).minus(DELAY);
    let worst_overhead_p99 = COUNTS
        .iter()
        .map(|&n| overhead(n).p99)
        .max()
        .unwrap_or_default();

    println!();
    println!("ratios (from the p50s above, same run):");
    for n in COUNTS {
        println!(
            "  speed-up parallel vs sequential at {n:>2} targets: {:>5.2}× (means: {:.2}×)",
            speedup(n),
            speedup_mean(n)
        );
    }
    println!(
        "  goal ≥ {SPEEDUP_GOAL_5}× at 5: {}; goal ≥ {SPEEDUP_GOAL_10}× at 10: {}",
        verdict(speedup(5) >= SPEEDUP_GOAL_5),
        verdict(speedup(10) >= SPEEDUP_GOAL_10)
    );
    println!(
        "  10-target / 5-target parallel latency: {ten_over_five:.3}× (p99s: {ten_over_five_p99:.3}×); goal ≤ {TEN_OVER_FIVE_GOAL}×: {}",
        verdict(ten_over_five <= TEN_OVER_FIVE_GOAL)
    );
    for n in COUNTS {
        let o = overhead(n);
        println!(
            "  fan-out overhead above the slowest target, {n:>2} targets: p50 {:.3} ms, p99 {:.3} ms",
            ms(o.p50),
            ms(o.p99)
        );
    }
    for n in COUNTS {
        let (p, h) = (get(n, Mode::Parallel), get(n, Mode::HttpOnly));
        println!(
            "  of which Herald's (parallel − http-only), {n:>2} targets: p50 {:+.3} ms, p99 {:+.3} ms",
            ms(p.p50) - ms(h.p50),
            ms(p.p99) - ms(h.p99)
        );
    }
    println!(
        "  goal < {} ms p99 (worst of all counts: {:.3} ms): {}",
        OVERHEAD_P99_GOAL.as_millis(),
        ms(worst_overhead_p99),
        verdict(worst_overhead_p99 < OVERHEAD_P99_GOAL)
    );

    let json = serde_json::json!({
        "bench": "fanout",
        "plugin": "herald_plugin_webhook",
        "target_delay_ms": ms(DELAY),
        "target_server": setup.server,
        "tokio_workers": 2,
        "cores": cores(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "rounds": rounds,
        "sequential_every": every,
        "http_only_every": HTTP_ONLY_EVERY,
        "configs": configs,
        "overhead_split": json_splits,
        "ratios": {
            "speedup_p50": COUNTS.iter().map(|&n| (n.to_string(), speedup(n))).collect::<BTreeMap<_, _>>(),
            "speedup_mean": COUNTS.iter().map(|&n| (n.to_string(), speedup_mean(n))).collect::<BTreeMap<_, _>>(),
            "parallel_10_over_5_p50": ten_over_five,
            "parallel_10_over_5_p99": ten_over_five_p99,
        },
        "overhead_above_slowest_target_ms": COUNTS.iter().map(|&n| {
            let (o, h) = (overhead(n), get(n, Mode::HttpOnly).minus(DELAY));
            (n.to_string(), serde_json::json!({
                "p50": ms(o.p50), "p99": ms(o.p99),
                "http_only_p50": ms(h.p50), "http_only_p99": ms(h.p99),
            }))
        }).collect::<BTreeMap<_, _>>(),
        "goals": {
            "speedup_5": {"goal": SPEEDUP_GOAL_5, "measured": speedup(5), "met": speedup(5) >= SPEEDUP_GOAL_5},
            "speedup_10": {"goal": SPEEDUP_GOAL_10, "measured": speedup(10), "met": speedup(10) >= SPEEDUP_GOAL_10},
            "ten_over_five": {"goal": TEN_OVER_FIVE_GOAL, "measured": ten_over_five, "met": ten_over_five <= TEN_OVER_FIVE_GOAL},
            "overhead_p99_ms": {"goal": ms(OVERHEAD_P99_GOAL), "measured": ms(worst_overhead_p99), "met": worst_overhead_p99 < OVERHEAD_P99_GOAL},
        },
    });
    if !full {
        println!(
            "(smoke run under `cargo test`: the figures above are not measurements; no JSON written)"
        );
        return;
    }
    // The default run's file is `fanout.json`; a run against the mock keeps its own.
    let file = if setup.servers.is_empty() {
        "fanout-mock"
    } else {
        "fanout"
    };
    match write_results(file, &json) {
        Ok(path) => println!("written: {}", path.display()),
        Err(e) => eprintln!("cannot write the results JSON: {e}"),
    }
}

fn main() {
    let full = full_run();
    let since = SystemTime::now();
    let load_before = load_average();
    let rt = tokio_runtime();
    let setup = rt.block_on(Setup::new());
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c, &rt, &setup);
    c.final_summary();
    summary(&rt, &setup, full, &load_before, since);
}
