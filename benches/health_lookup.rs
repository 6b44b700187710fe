//! The health lookup on the publish path: what the publisher asks of the
//! [`HealthRegistry`] for each target before delivering (`status` then
//! `admit`), through `Arc<dyn HealthView>` as the publisher holds it.
//!
//! Cases: registries of 10, 100 and 1000 targets (the lookup cycles through
//! all of them), a target whose breaker is open (the clock is read), a
//! target the registry has never seen, and two threads looking up at once
//! (reads take no lock, so they should not slow each other).
//!
//! Goal (issue 4): under 1 µs per target.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use herald::health::{HealthConfig, HealthRegistry, HealthStatus, HealthView};
use herald::model::{DeliveryError, TargetResult};

fn result(name: &str, success: bool) -> TargetResult {
    TargetResult {
        target_name: name.into(),
        target_type: "webhook".into(),
        success,
        skipped: false,
        skip_reason: None,
        status_code: Some(if success { 200 } else { 503 }),
        duration: Duration::from_millis(20),
        error: (!success).then(|| DeliveryError::transient("webhook answered 503")),
        note: None,
        plugin_version: None,
    }
}

/// A registry with `n` healthy targets, as the publisher sees it.
fn registry(n: usize) -> (Arc<dyn HealthView>, Vec<String>) {
    let registry = HealthRegistry::new(HealthConfig::default()).expect("valid config");
    let names: Vec<String> = (0..n).map(|i| format!("target-{i:04}")).collect();
    for name in &names {
        registry.record(name, &result(name, true));
    }
    (Arc::new(registry), names)
}

/// One target's lookup: both questions the publisher may ask (it skips
/// `admit` for a target it already skips for health; this is the worst case).
fn lookup(health: &dyn HealthView, name: &str) -> (HealthStatus, bool) {
    (
        black_box(health.status(name)),
        black_box(health.admit(name)),
    )
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("health_lookup");
    for n in [10, 100, 1000] {
        let (health, names) = registry(n);
        group.bench_with_input(BenchmarkId::new("status+admit", n), &n, |b, _| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % names.len();
                lookup(&*health, &names[i])
            })
        });
    }

    // An open breaker: `admit` reads the clock and refuses.
    let registry = HealthRegistry::new(HealthConfig::default()).expect("valid config");
    for _ in 0..5 {
        registry.record("down", &result("down", false));
    }
    let health: Arc<dyn HealthView> = Arc::new(registry);
    assert_eq!(
        lookup(&*health, "down"),
        (HealthStatus::Unhealthy, false),
        "the breaker should be open"
    );
    group.bench_function("status+admit/breaker-open", |b| {
        b.iter(|| lookup(&*health, black_box("down")))
    });
    group.bench_function("status+admit/untracked", |b| {
        b.iter(|| lookup(&*health, black_box("never-seen")))
    });

    // Two threads at once over 100 targets: time per lookup on each thread.
    let (health, names) = registry_100();
    group.bench_function("status+admit/2-threads", |b| {
        b.iter_custom(|iters| {
            let per_thread = |offset: usize| {
                let (health, names) = (health.clone(), names.clone());
                std::thread::spawn(move || {
                    let started = Instant::now();
                    for i in 0..iters as usize {
                        lookup(&*health, &names[(i + offset) % names.len()]);
                    }
                    started.elapsed()
                })
            };
            let (a, b) = (per_thread(0), per_thread(50));
            let a = a.join().expect("lookup thread");
            let b = b.join().expect("lookup thread");
            a.max(b)
        })
    });
    group.finish();
}

fn registry_100() -> (Arc<dyn HealthView>, Arc<Vec<String>>) {
    let (health, names) = registry(100);
    (health, Arc::new(names))
}

criterion_group!(benches, bench);
criterion_main!(benches);
