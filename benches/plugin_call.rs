//! What one delivery costs in the plugin sandbox: a fresh pooled instance of
//! the webhook adapter, `prepare`, then `handle-response` on a canned `200`
//! (no network) — exactly the plugin work `Deliverer::attempt` does per target.
//!
//! 1. criterion: latency of one call (and of its first phases alone) on one
//!    thread, and throughput of 4 tasks on a 2-worker tokio runtime.
//! 2. A summary: per-phase percentiles (instantiate, prepare, handle-response,
//!    teardown) on one thread, with 2 tasks on 2 workers, and for calls made
//!    after 100 ms of idling (as in a fan-out to targets that take 100 ms;
//!    with the minor page faults per call, to tell faulting from cold
//!    caches), and calls/s from
//!    fixed-time runs for several worker/task counts; printed as a table and
//!    written to `target/bench-results/plugin_call.json`.
//!
//! Goals (issue 2): under 50 µs median per call; at least 10,000 calls/s
//! across both cores.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput};
use herald::plugin::convert::wit_target;
use herald::plugin::{CallOptions, StateScope};
use herald_benches::{
    Phases, PluginCall, Stats, cores, criterion_median, full_run, load_average,
    thread_minor_faults, us, write_results,
};

/// Goal: median per call.
const MEDIAN_GOAL: Duration = Duration::from_micros(50);
/// Goal: calls per second across both cores.
const THROUGHPUT_GOAL: f64 = 10_000.0;
/// Idle time before each "cold" call: what a fan-out to 100 ms targets leaves
/// between one publish's plugin calls and the next's.
const COLD_IDLE: Duration = Duration::from_millis(100);

/// A tokio runtime: `0` workers means the current thread.
fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    let mut builder = if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    builder.enable_all().build().expect("a tokio runtime")
}

fn latency(c: &mut Criterion, call: &PluginCall) {
    let rt = tokio_runtime(0);
    let mut group = c.benchmark_group("plugin_call");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("instantiate", |b| {
        b.to_async(&rt).iter(|| async {
            let scope = StateScope::new(&call.target.name, &call.alert.alert.fingerprint);
            let session = call
                .runtime
                .session(&call.plugin, scope, CallOptions::default())
                .await
                .expect("instantiate");
            drop(session);
        })
    });
    group.bench_function("instantiate_prepare", |b| {
        b.to_async(&rt).iter(|| async {
            let target = wit_target(&call.target);
            let scope = StateScope::new(&call.target.name, &call.alert.alert.fingerprint);
            let mut session = call
                .runtime
                .session(&call.plugin, scope, CallOptions::default())
                .await
                .expect("instantiate");
            session
                .prepare(&call.alert, &target)
                .await
                .expect("prepare");
        })
    });
    group.bench_function("delivery", |b| {
        b.to_async(&rt)
            .iter(|| async { call.once().await.expect("one delivery's plugin work") })
    });
    group.finish();
}

/// Runs `iters` calls spread over `tasks` tasks; returns the wall time.
async fn calls_spread(call: &Arc<PluginCall>, tasks: usize, iters: u64) -> Duration {
    let remaining = Arc::new(AtomicI64::new(iters as i64));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (call, remaining) = (call.clone(), remaining.clone());
        set.spawn(async move {
            while remaining.fetch_sub(1, Ordering::Relaxed) > 0 {
                call.once().await.expect("one delivery's plugin work");
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.expect("a bench task panicked");
    }
    started.elapsed()
}

fn throughput(c: &mut Criterion, call: &Arc<PluginCall>) {
    let rt = tokio_runtime(2);
    let mut group = c.benchmark_group("plugin_call_throughput");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    let tasks = 4;
    group.bench_with_input(
        BenchmarkId::new("2_workers_tasks", tasks),
        &tasks,
        |b, &tasks| b.iter_custom(|iters| rt.block_on(calls_spread(call, tasks, iters))),
    );
    group.finish();
}

/// Calls made by `tasks` tasks that keep calling for `length`, and the wall
/// time until the last one stopped.
async fn calls_for(call: &Arc<PluginCall>, tasks: usize, length: Duration) -> (u64, Duration) {
    let started = Instant::now();
    let end = started + length;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let call = call.clone();
        set.spawn(async move {
            let mut done = 0u64;
            while Instant::now() < end {
                call.once().await.expect("one delivery's plugin work");
                done += 1;
            }
            done
        });
    }
    let mut total = 0;
    while let Some(joined) = set.join_next().await {
        total += joined.expect("a bench task panicked");
    }
    (total, started.elapsed())
}

/// `calls` timed calls on each of `tasks` tasks; every call's phases.
async fn phases(call: &Arc<PluginCall>, tasks: usize, calls: usize) -> Vec<Phases> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let call = call.clone();
        set.spawn(async move {
            let mut out = Vec::with_capacity(calls);
            for _ in 0..calls {
                out.push(call.timed().await.expect("one delivery's plugin work"));
            }
            out
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = set.join_next().await {
        all.extend(joined.expect("a bench task panicked"));
    }
    all
}

/// What [`print_phases`] found.
struct PhaseSummary {
    whole: Stats,
    json: serde_json::Value,
}

/// Prints per-phase percentiles in µs under `label`.
fn print_phases(label: &str, samples: &[Phases]) -> PhaseSummary {
    println!();
    println!("phases per call, {label}, µs:");
    println!(
        "  {:<16} {:>8} {:>8} {:>8} {:>8}",
        "phase", "p50", "mean", "p90", "p99"
    );
    let mut rows = serde_json::Map::new();
    let mut whole = Stats::default();
    for (phase, s) in phase_stats(samples) {
        if phase == "whole call" {
            whole = s;
        }
        println!(
            "  {phase:<16} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            us(s.p50),
            us(s.mean),
            us(s.p90),
            us(s.p99)
        );
        rows.insert(phase.into(), s.to_json_us());
    }
    PhaseSummary {
        whole,
        json: rows.into(),
    }
}

/// Per-phase statistics, one row each, plus the whole call.
fn phase_stats(samples: &[Phases]) -> Vec<(&'static str, Stats)> {
    let pick = |f: fn(&Phases) -> Duration| {
        let mut v: Vec<Duration> = samples.iter().map(f).collect();
        Stats::of(&mut v)
    };
    vec![
        ("instantiate", pick(|p| p.instantiate)),
        ("prepare", pick(|p| p.prepare)),
        ("handle_response", pick(|p| p.handle_response)),
        ("teardown", pick(|p| p.teardown)),
        (
            "whole call",
            pick(|p| p.instantiate + p.prepare + p.handle_response + p.teardown),
        ),
    ]
}

fn summary(call: &Arc<PluginCall>, full: bool, load_before: &str, started: SystemTime) {
    let (breakdown_calls, cold_calls, run_length) = if full {
        (20_000, 30, Duration::from_secs(2))
    } else {
        (20, 2, Duration::from_millis(50))
    };

    println!();
    println!(
        "== plugin_call summary: webhook adapter, fresh instance + prepare + handle-response =="
    );
    println!(
        "machine: {} cores, load average before {load_before}, now {} (a shared, noisy machine)",
        cores(),
        load_average()
    );

    let mut json_phases = serde_json::Map::new();
    // The single-threaded whole-call median, next to criterion's.
    let mut own_median = Duration::ZERO;
    for (label, workers, tasks, calls) in [
        ("1 task, current thread", 0, 1, breakdown_calls),
        ("2 tasks, 2 workers", 2, 2, breakdown_calls / 2),
    ] {
        let rt = tokio_runtime(workers);
        rt.block_on(phases(call, tasks, calls.min(200))); // warm-up
        let samples = rt.block_on(phases(call, tasks, calls));
        let stats = print_phases(&format!("{label} ({} calls)", samples.len()), &samples);
        if workers == 0 {
            own_median = stats.whole.p50;
        }
        json_phases.insert(label.into(), stats.json);
    }
    // A delivery's plugin work normally runs on caches that other work has
    // just churned (in a fan-out, the previous calls were ~100 ms ago).
    let rt = tokio_runtime(0);
    let (cold, cold_faults) = rt.block_on(async {
        let mut out = Vec::with_capacity(cold_calls);
        let mut faults = 0;
        for _ in 0..cold_calls {
            tokio::time::sleep(COLD_IDLE).await;
            let before = thread_minor_faults().unwrap_or(0);
            out.push(call.timed().await.expect("one delivery's plugin work"));
            faults += thread_minor_faults().unwrap_or(0) - before;
        }
        (out, faults as f64 / cold_calls.max(1) as f64)
    });
    let warm_faults = rt.block_on(async {
        let before = thread_minor_faults().unwrap_or(0);
        for _ in 0..cold_calls {
            call.once().await.expect("one delivery's plugin work");
        }
        (thread_minor_faults().unwrap_or(0) - before) as f64 / cold_calls.max(1) as f64
    });
    let label = format!("1 task, each call after {} ms idle", COLD_IDLE.as_millis());
    let stats = print_phases(&format!("{label} ({} calls)", cold.len()), &cold);
    json_phases.insert(label, stats.json);
    println!(
        "minor page faults per call: {cold_faults:.1} after idling, {warm_faults:.1} back to back"
    );

    println!();
    println!(
        "throughput, calls/s over {} s per row:",
        run_length.as_secs_f64()
    );
    println!("  {:>7} {:>5} {:>10}", "workers", "tasks", "calls/s");
    let mut json_throughput = Vec::new();
    let mut best_two_cores = 0.0f64;
    for (workers, tasks) in [(1, 1), (1, 4), (2, 2), (2, 4), (2, 8)] {
        let rt = tokio_runtime(workers);
        rt.block_on(calls_for(call, tasks, run_length / 10)); // warm-up
        let (calls, wall) = rt.block_on(calls_for(call, tasks, run_length));
        let rate = calls as f64 / wall.as_secs_f64();
        if workers == 2 {
            best_two_cores = best_two_cores.max(rate);
        }
        println!("  {workers:>7} {tasks:>5} {rate:>10.0}");
        json_throughput.push(serde_json::json!({
            "workers": workers, "tasks": tasks, "calls": calls,
            "seconds": wall.as_secs_f64(), "calls_per_second": rate,
        }));
    }

    let criterion_median = criterion_median("plugin_call/delivery", started).map(us);
    println!();
    match criterion_median {
        Some(m) => println!(
            "median per call: {m:.1} µs (criterion), {:.1} µs (timed calls); goal < {} µs: {}",
            us(own_median),
            MEDIAN_GOAL.as_micros(),
            if m < us(MEDIAN_GOAL) { "met" } else { "MISSED" }
        ),
        None => println!(
            "median per call: {:.1} µs (timed calls); goal < {} µs",
            us(own_median),
            MEDIAN_GOAL.as_micros()
        ),
    }
    println!(
        "best throughput on 2 workers: {best_two_cores:.0} calls/s; goal ≥ {THROUGHPUT_GOAL:.0}: {}",
        if best_two_cores >= THROUGHPUT_GOAL {
            "met"
        } else {
            "MISSED"
        }
    );

    let json = serde_json::json!({
        "bench": "plugin_call",
        "plugin": "herald_plugin_webhook",
        "cores": cores(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "median_per_call_us": {
            "criterion": criterion_median,
            "timed_calls": us(own_median),
            "goal": us(MEDIAN_GOAL),
        },
        "phases": json_phases,
        "minor_page_faults_per_call": {"after_idle": cold_faults, "back_to_back": warm_faults},
        "throughput": json_throughput,
        "best_two_worker_calls_per_second": best_two_cores,
        "throughput_goal": THROUGHPUT_GOAL,
    });
    if !full {
        println!(
            "(smoke run under `cargo test`: the figures above are not measurements; no JSON written)"
        );
        return;
    }
    match write_results("plugin_call", &json) {
        Ok(path) => println!("written: {}", path.display()),
        Err(e) => eprintln!("cannot write the results JSON: {e}"),
    }
}

fn main() {
    let full = full_run();
    let started = SystemTime::now();
    let load_before = load_average();
    let call = Arc::new(tokio_runtime(0).block_on(PluginCall::webhook()));
    let mut c = Criterion::default().configure_from_args();
    latency(&mut c, &call);
    throughput(&mut c, &call);
    c.final_summary();
    summary(&call, full, &load_before, started);
}
