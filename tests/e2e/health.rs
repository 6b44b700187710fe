//! Health-aware routing against real loopback targets through the real
//! webhook plugin: passive accrual skips a failing target at once, a probe
//! (the adapter's own, or a TCP connect) brings it back, a hung target slows
//! nobody, and a half-open breaker lets exactly one trial through.

use std::sync::Arc;
use std::time::Duration;

use herald::health::{
    BreakerConfig, BreakerState, HealthCheckStrategy, HealthConfig, HealthMonitor, HealthRegistry,
    HealthStatus, HealthView, ProbeMethod,
};
use herald::metrics::metrics;
use herald::model::{SkipReason, Target};
use herald::publish::{FAIL_OPEN_NOTE, ParallelPublishOptions, PublishError, Publisher};
use herald_tests::{Behaviour, MockTarget, alert, publisher, runtime};
use tokio::time::Instant;

const WEBHOOK: &str = "herald_plugin_webhook";

/// A webhook target without a health endpoint: probed by TCP connect.
fn hook(name: &str, mock: &MockTarget) -> Target {
    Target::new(name, "webhook", mock.url(&format!("/{name}")))
}

/// A webhook target whose adapter probes `GET /healthz`.
fn probed(name: &str, mock: &MockTarget) -> Target {
    hook(name, mock).with_option("health_path", "/healthz")
}

async fn setup(
    config: HealthConfig,
    targets: Vec<Target>,
    options: ParallelPublishOptions,
) -> (Arc<Publisher>, Arc<HealthRegistry>, HealthMonitor) {
    let registry = Arc::new(HealthRegistry::new(config).expect("valid health config"));
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        registry.clone(),
        options,
    );
    let monitor = HealthMonitor::new(
        registry.clone(),
        p.target_source().clone(),
        p.deliverer().clone(),
    );
    (p, registry, monitor)
}

/// Polls `cond` until it holds (fails the test after 20 s).
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn posts(mock: &MockTarget) -> usize {
    mock.received()
        .iter()
        .filter(|r| r.method == "POST")
        .count()
}

#[tokio::test]
async fn a_failing_target_is_skipped_after_one_failed_delivery_and_back_after_a_probe() {
    // With the default thresholds one failure makes a target `degraded`,
    // which the strict strategy skips; `unhealthy` needs 3 failures unless
    // the threshold says otherwise.
    let cases = [
        (
            HealthConfig::default(),
            HealthCheckStrategy::SkipUnhealthyAndDegraded,
            SkipReason::Degraded,
        ),
        (
            HealthConfig {
                unhealthy_threshold: 1,
                ..HealthConfig::default()
            },
            HealthCheckStrategy::SkipUnhealthy,
            SkipReason::Unhealthy,
        ),
    ];
    for (config, strategy, reason) in cases {
        let flaky = MockTarget::start(Behaviour::status(503)).await;
        let steady = MockTarget::start(Behaviour::default()).await;
        let options = ParallelPublishOptions {
            health_strategy: strategy,
            ..Default::default()
        };
        let (p, health, monitor) = setup(
            config,
            vec![probed("flaky", &flaky), hook("steady", &steady)],
            options,
        )
        .await;

        // Never checked: published to (fail open), and the result says so.
        let r = p.publish_to_healthy(&alert("GoesDown")).await.unwrap();
        let first = r.get("flaky").unwrap();
        assert!(!first.success && !first.skipped);
        assert_eq!(first.note.as_deref(), Some(FAIL_OPEN_NOTE));
        assert!(r.get("steady").unwrap().success);

        // One failed delivery later it is skipped, without being contacted.
        let r = p.publish_to_healthy(&alert("GoesDown")).await.unwrap();
        assert_eq!(
            r.get("flaky").unwrap().skip_reason,
            Some(reason),
            "{strategy:?}"
        );
        assert_eq!(r.skipped_count, 1);
        assert!(r.get("steady").unwrap().success);
        assert_eq!(
            r.get("steady").unwrap().note,
            None,
            "steady is known healthy now"
        );
        assert_eq!(flaky.hits(), 1);

        // It recovers; the monitor's first round probes it through the adapter.
        flaky.set(Behaviour::default());
        let handle = monitor.spawn();
        wait_for("the probe to mark flaky healthy", || {
            health.status("flaky") == HealthStatus::Healthy
        })
        .await;
        let probes: Vec<_> = flaky
            .received()
            .into_iter()
            .filter(|r| r.path == "/healthz")
            .collect();
        assert!(!probes.is_empty());
        assert!(probes.iter().all(|r| r.method == "GET"));
        assert_eq!(posts(&flaky), 1, "a probe never sends an alert");
        let s = health.snapshot("flaky").unwrap();
        assert_eq!(s.probe_method, Some(ProbeMethod::Adapter));
        assert!(s.probes >= 1);
        assert_eq!(s.deliveries, 1);
        wait_for("steady to be probed", || {
            health.snapshot("steady").is_some_and(|s| s.probes >= 1)
        })
        .await;
        assert_eq!(
            health.snapshot("steady").unwrap().probe_method,
            Some(ProbeMethod::Tcp),
            "no health_path: checked by TCP connect"
        );
        assert_eq!(steady.hits(), 2, "a TCP probe sends no request");

        let r = p.publish_to_healthy(&alert("BackUp")).await.unwrap();
        let back = r.get("flaky").unwrap();
        assert!(back.success);
        assert_eq!(back.note, None);
        assert_eq!(posts(&flaky), 2);
        handle.stop().await;
    }
    assert!(
        metrics()
            .render()
            .contains("target_health_status{target_name=\"flaky\",target_type=\"webhook\"} 1")
    );
}

#[tokio::test]
async fn a_closed_port_is_found_down_by_tcp_probes() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let up = MockTarget::start(Behaviour::default()).await;
    let gone = Target::new("gone", "webhook", format!("http://127.0.0.1:{port}/hook"));
    let (_, health, monitor) = setup(
        HealthConfig::default(),
        vec![gone.clone(), hook("up", &up)],
        ParallelPublishOptions::default(),
    )
    .await;
    for expected in [
        HealthStatus::Degraded,
        HealthStatus::Degraded,
        HealthStatus::Unhealthy,
    ] {
        let out = monitor.check(&gone).await;
        assert_eq!(out.method, ProbeMethod::Tcp);
        assert!(!out.success);
        assert_eq!(health.status("gone"), expected);
    }
    let error = health.snapshot("gone").unwrap().last_error.unwrap();
    assert!(
        error.starts_with(&format!("TCP connect to 127.0.0.1:{port} failed")),
        "{error}"
    );
    assert!(!error.contains("/hook"));
    assert!(monitor.check(&hook("up", &up)).await.success);
    assert_eq!(health.status("up"), HealthStatus::Healthy);
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn a_hung_target_does_not_slow_the_healthy_ones() {
    let hung = MockTarget::start(Behaviour::default().delayed(Duration::from_secs(60))).await;
    let fast = MockTarget::start(Behaviour::default()).await;
    let quick = MockTarget::start(Behaviour::default()).await;
    let config = HealthConfig {
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        max_concurrent_probes: 2,
        ..HealthConfig::default()
    };
    let options = ParallelPublishOptions {
        timeout: Duration::from_millis(700),
        ..Default::default()
    };
    let (p, health, monitor) = setup(
        config,
        vec![
            probed("hung", &hung),
            probed("fast", &fast),
            probed("quick", &quick),
        ],
        options,
    )
    .await;
    let handle = monitor.spawn();
    // The hung probe holds one of the two slots; the others still get checked.
    wait_for("the healthy targets to be probed", || {
        health.status("fast") == HealthStatus::Healthy
            && health.status("quick") == HealthStatus::Healthy
    })
    .await;
    assert_ne!(health.status("hung"), HealthStatus::Healthy);

    let r = p.publish_to_healthy(&alert("Hung")).await.unwrap();
    assert!(r.get("fast").unwrap().success);
    assert!(r.get("quick").unwrap().success);
    assert!(!r.get("hung").unwrap().success);
    assert!(r.duration < Duration::from_secs(10), "{:?}", r.duration);

    // Probes time out and deliveries fail: it becomes unhealthy and is skipped.
    wait_for("the hung target to be marked unhealthy", || {
        health.status("hung") == HealthStatus::Unhealthy
    })
    .await;
    let s = health.snapshot("hung").unwrap();
    assert!(
        s.last_error.as_deref().unwrap_or("").contains("timed out"),
        "{s:?}"
    );
    let posts_before = posts(&hung);
    let r = p.publish_to_healthy(&alert("Hung")).await.unwrap();
    assert_eq!(
        r.get("hung").unwrap().skip_reason,
        Some(SkipReason::Unhealthy)
    );
    assert_eq!(r.success_count, 2);
    assert_eq!(
        posts(&hung),
        posts_before,
        "a skipped target is not contacted"
    );
    handle.stop().await;
}

#[tokio::test]
async fn a_half_open_breaker_lets_one_trial_through_concurrent_publishes() {
    const SECRET: &str = "whsec-e2e-do-not-leak";
    let flaky =
        MockTarget::start(Behaviour::status(503).body(format!("upstream said {SECRET}"))).await;
    let steady = MockTarget::start(Behaviour::default()).await;
    let cool_down = Duration::from_millis(300);
    let config = HealthConfig {
        circuit_breaker: BreakerConfig {
            failure_threshold: 2,
            cool_down,
            max_cool_down: Duration::from_secs(1),
            ..BreakerConfig::default()
        },
        ..HealthConfig::default()
    };
    // Health is ignored here; breakers still apply.
    let options = ParallelPublishOptions {
        health_strategy: HealthCheckStrategy::PublishToAll,
        ..Default::default()
    };
    let (p, health, _) = setup(
        config,
        vec![
            hook("tripping", &flaky).with_secret("signing_secret", SECRET),
            hook("steady", &steady),
        ],
        options,
    )
    .await;
    for _ in 0..2 {
        let r = p.publish_to_healthy(&alert("Trip")).await.unwrap();
        assert!(!r.get("tripping").unwrap().success);
    }
    assert_eq!(health.breaker_state("tripping"), Some(BreakerState::Open));
    let r = p.publish_to_healthy(&alert("Trip")).await.unwrap();
    assert_eq!(
        r.get("tripping").unwrap().skip_reason,
        Some(SkipReason::CircuitOpen)
    );
    assert_eq!(flaky.hits(), 2);
    let snapshot = serde_json::to_string(&health.snapshot("tripping").unwrap()).unwrap();
    assert!(snapshot.contains("upstream said"), "{snapshot}");
    assert!(!snapshot.contains(SECRET), "{snapshot}");

    // After the cool-down, many publishes at once: exactly one trial.
    tokio::time::sleep(cool_down).await;
    flaky.set(Behaviour::default().delayed(Duration::from_millis(300)));
    let alert = alert("Trial");
    // Polled together on this task: every publish selects its targets on its
    // first poll, before any delivery can finish.
    let publishes = (0..8)
        .map(|_| Box::pin(p.publish_to_healthy(&alert)))
        .collect();
    let results: Vec<_> = join_all(publishes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let trials = results
        .iter()
        .filter(|r| r.get("tripping").unwrap().success)
        .count();
    let refused = results
        .iter()
        .filter(|r| r.get("tripping").unwrap().skip_reason == Some(SkipReason::CircuitOpen))
        .count();
    assert_eq!((trials, refused), (1, 7));
    assert_eq!(flaky.hits(), 3);
    assert_eq!(
        health.breaker_state("tripping"),
        Some(BreakerState::HalfOpen)
    );

    // The second successful trial closes it.
    let r = p.publish_to_healthy(&alert).await.unwrap();
    assert!(r.get("tripping").unwrap().success);
    assert_eq!(health.breaker_state("tripping"), Some(BreakerState::Closed));
    let text = metrics().render();
    for series in [
        "circuit_breaker_state{target_name=\"tripping\"} 0",
        "circuit_breaker_transitions_total{target_name=\"tripping\",to=\"open\"} 1",
        "circuit_breaker_transitions_total{target_name=\"tripping\",to=\"half_open\"} 1",
        "circuit_breaker_transitions_total{target_name=\"tripping\",to=\"closed\"} 1",
    ] {
        assert!(text.contains(series), "missing {series}");
    }
    assert!(!text.contains(SECRET));
}

/// A minimal `join_all` (the tests crate does not depend on `futures`).
async fn join_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match std::pin::Pin::new(f).poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[tokio::test]
async fn with_every_target_down_publish_to_healthy_says_no_healthy_targets() {
    let a = MockTarget::start(Behaviour::status(500)).await;
    let b = MockTarget::start(Behaviour::status(502)).await;
    let config = HealthConfig {
        unhealthy_threshold: 1,
        ..HealthConfig::default()
    };
    let (p, _, _) = setup(
        config,
        vec![hook("a", &a), hook("b", &b)],
        ParallelPublishOptions::default(),
    )
    .await;
    let first = p.publish_to_healthy(&alert("AllDown")).await.unwrap_err();
    assert!(matches!(first, PublishError::AllFailed(_)), "{first}");
    let err = p.publish_to_healthy(&alert("AllDown")).await.unwrap_err();
    assert!(err.to_string().contains("no healthy targets"), "{err}");
    let PublishError::NoHealthyTargets(r) = err else {
        panic!("expected NoHealthyTargets")
    };
    assert_eq!(r.skipped_count, 2);
    for name in ["a", "b"] {
        assert_eq!(
            r.get(name).unwrap().skip_reason,
            Some(SkipReason::Unhealthy)
        );
    }
    assert_eq!((a.hits(), b.hits()), (1, 1));
}
