//! The parallel publisher against real loopback targets through the real
//! webhook plugin: success, partial success, total failure, deadlines,
//! Retry-After, cancellation, concurrency bounds, retries, health skips.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald::health::{AlwaysHealthy, HealthCheckStrategy, HealthStatus, HealthView};
use herald::model::{ErrorClass, SkipReason, Target, TargetResult};
use herald::publish::{ParallelPublishOptions, PublishError, SequentialPublisher};
use herald_tests::{Behaviour, MockTarget, alert, publisher, runtime};

const WEBHOOK: &str = "herald_plugin_webhook";

fn hook(name: &str, mock: &MockTarget) -> Target {
    Target::new(name, "webhook", mock.url(&format!("/{name}")))
}

async fn mocks(behaviours: Vec<Behaviour>) -> Vec<MockTarget> {
    let mut out = Vec::new();
    for b in behaviours {
        out.push(MockTarget::start(b).await);
    }
    out
}

#[tokio::test]
async fn all_targets_succeed_and_receive_the_alert() {
    let ms = mocks(vec![
        Behaviour::default(),
        Behaviour::status(202),
        Behaviour::status(204),
    ])
    .await;
    let targets: Vec<Target> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| hook(&format!("t{i}"), m))
        .collect();
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let r = p.publish_to_all(&alert("AllGood")).await.unwrap();
    assert_eq!(
        (
            r.total_targets,
            r.success_count,
            r.failure_count,
            r.skipped_count
        ),
        (3, 3, 0, 0)
    );
    assert!(!r.is_partial_success);
    for (i, m) in ms.iter().enumerate() {
        let got = m.received();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path, format!("/t{i}"));
        assert_eq!(got[0].json()["alert_name"], "AllGood");
        assert_eq!(r.results[i].status_code, Some([200, 202, 204][i]));
        assert_eq!(
            r.results[i].target_name,
            format!("t{i}"),
            "results keep the given order"
        );
    }
}

#[tokio::test]
async fn partial_success_reports_each_target() {
    let ms = mocks(vec![
        Behaviour::default(),
        Behaviour::status(500),
        Behaviour::status(400),
    ])
    .await;
    let targets = vec![
        hook("ok", &ms[0]),
        hook("down", &ms[1]),
        hook("bad", &ms[2]),
    ];
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let r = p
        .publish_to_all(&alert("Partial"))
        .await
        .expect("one success is success");
    assert!(r.is_partial_success);
    assert_eq!((r.success_count, r.failure_count), (1, 2));
    assert_eq!(
        r.get("down").unwrap().error.as_ref().unwrap().class,
        ErrorClass::Transient
    );
    assert_eq!(r.get("down").unwrap().status_code, Some(500));
    assert_eq!(
        r.get("bad").unwrap().error.as_ref().unwrap().class,
        ErrorClass::Permanent
    );
}

#[tokio::test]
async fn all_failing_returns_an_error_with_the_result() {
    let ms = mocks(vec![Behaviour::status(503), Behaviour::status(401)]).await;
    let targets = vec![hook("a", &ms[0]), hook("b", &ms[1])];
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let err = p.publish_to_all(&alert("Down")).await.unwrap_err();
    assert!(matches!(err, PublishError::AllFailed(_)), "{err}");
    let r = err.result().unwrap();
    assert_eq!(
        (r.total_targets, r.failure_count, r.success_count),
        (2, 2, 0)
    );
    assert_eq!(r.get("b").unwrap().status_code, Some(401));
}

#[tokio::test]
async fn zero_targets_is_not_an_error() {
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        vec![],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let r = p.publish_to_all(&alert("Nobody")).await.unwrap();
    assert_eq!(r.total_targets, 0);
    assert!(r.results.is_empty());
}

#[tokio::test]
async fn a_hung_target_times_out_while_the_others_complete() {
    let ms = mocks(vec![
        Behaviour::default(),
        Behaviour::default().delayed(Duration::from_secs(30)),
        Behaviour::default().delayed(Duration::from_millis(50)),
    ])
    .await;
    let targets = vec![
        hook("fast", &ms[0]),
        hook("hung", &ms[1]),
        hook("slowish", &ms[2]),
    ];
    let options = ParallelPublishOptions {
        timeout: Duration::from_millis(700),
        ..Default::default()
    };
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        Arc::new(AlwaysHealthy),
        options,
    );
    let r = p.publish_to_all(&alert("Hang")).await.unwrap();
    assert!(r.get("fast").unwrap().success);
    assert!(r.get("slowish").unwrap().success);
    let hung = r.get("hung").unwrap();
    assert!(!hung.success);
    let e = hung.error.as_ref().unwrap();
    assert_eq!(e.class, ErrorClass::Transient);
    assert!(e.message.contains("timed out"), "{}", e.message);
    // The hung target's result came at the deadline, not at its 30 s answer.
    assert!(
        hung.duration < Duration::from_secs(5),
        "{:?}",
        hung.duration
    );
}

#[tokio::test]
async fn retry_after_is_carried_in_the_result() {
    let ms = mocks(vec![
        Behaviour::status(429).header("Retry-After", "17"),
        Behaviour::default(),
    ])
    .await;
    let targets = vec![hook("limited", &ms[0]), hook("fine", &ms[1])];
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let r = p.publish_to_all(&alert("Limited")).await.unwrap();
    let e = r.get("limited").unwrap().error.clone().unwrap();
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.retry_after, Some(Duration::from_secs(17)));
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["results"][0]["error"]["retry_after"], 17000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_publish_leaves_no_task_behind() {
    let slow = mocks(vec![
        Behaviour::default().delayed(Duration::from_secs(30));
        4
    ])
    .await;
    let targets: Vec<Target> = slow
        .iter()
        .enumerate()
        .map(|(i, m)| hook(&format!("s{i}"), m))
        .collect();
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let metrics = tokio::runtime::Handle::current().metrics();
    // Let the mock servers' accept loops settle, then take a baseline.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let baseline = metrics.num_alive_tasks();
    let publish = {
        let p = p.clone();
        tokio::spawn(async move { p.publish_to_all(&alert("Cancel")).await })
    };
    // Wait until every target has the request in hand.
    for _ in 0..200 {
        if slow.iter().all(|m| m.hits() == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(slow.iter().all(|m| m.hits() == 1), "all deliveries started");
    assert!(
        metrics.num_alive_tasks() >= baseline + 5,
        "publish + 4 delivery tasks alive"
    );
    publish.abort();
    assert!(publish.await.unwrap_err().is_cancelled());
    // Aborted tasks are reaped asynchronously; give them a moment.
    let mut alive = usize::MAX;
    for _ in 0..200 {
        alive = metrics.num_alive_tasks();
        if alive <= baseline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The mock servers hold one task per open connection until the client
    // side closes; our own publish and delivery tasks must all be gone.
    assert!(
        alive <= baseline + slow.len(),
        "alive {alive}, baseline {baseline}"
    );
    // Every aborted delivery task dropped its in-flight guard (nextest runs
    // each test in its own process, so the gauge is this test's alone).
    let mut in_flight = i64::MAX;
    for _ in 0..200 {
        in_flight = herald::metrics::metrics().in_flight.get();
        if in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        in_flight, 0,
        "parallel_publish_goroutines after cancellation"
    );
}

#[tokio::test]
async fn max_concurrent_is_honoured() {
    // One mock behind eight targets: the mock sees how many overlap.
    let m = MockTarget::start(Behaviour::default().delayed(Duration::from_millis(100))).await;
    let targets: Vec<Target> = (0..8)
        .map(|i| Target::new(format!("c{i}"), "webhook", m.url(&format!("/c{i}"))))
        .collect();
    for (pool, limit) in [(false, 3), (true, 2)] {
        let m2 = MockTarget::start(Behaviour::default().delayed(Duration::from_millis(100))).await;
        let targets: Vec<Target> = targets
            .iter()
            .map(|t| Target::new(t.name.clone(), "webhook", m2.url(&format!("/{}", t.name))))
            .collect();
        let options = ParallelPublishOptions {
            max_concurrent: limit,
            use_worker_pool: pool,
            ..Default::default()
        };
        let p = publisher(
            runtime(&[WEBHOOK]).await,
            targets,
            Arc::new(AlwaysHealthy),
            options,
        );
        let r = p.publish_to_all(&alert("Bounded")).await.unwrap();
        assert_eq!(r.success_count, 8);
        assert_eq!(m2.hits(), 8);
        assert_eq!(m2.max_in_flight(), limit, "worker pool: {pool}");
    }
    // And unbounded enough, they all overlap.
    let options = ParallelPublishOptions {
        max_concurrent: 8,
        ..Default::default()
    };
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        Arc::new(AlwaysHealthy),
        options,
    );
    p.publish_to_all(&alert("Wide")).await.unwrap();
    assert_eq!(m.max_in_flight(), 8);
}

#[tokio::test]
async fn retries_only_the_failed_target() {
    let flaky = MockTarget::start(Behaviour::default()).await;
    flaky.script([Behaviour::status(503), Behaviour::status(502)]);
    let steady = MockTarget::start(Behaviour::default()).await;
    let targets = vec![hook("flaky", &flaky), hook("steady", &steady)];
    let options = ParallelPublishOptions {
        enable_retry: true,
        max_retries: 3,
        retry_interval: Duration::from_millis(10),
        ..Default::default()
    };
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets,
        Arc::new(AlwaysHealthy),
        options,
    );
    let r = p.publish_to_all(&alert("Flaky")).await.unwrap();
    assert!(r.get("flaky").unwrap().success, "{r:?}");
    assert_eq!(flaky.hits(), 3, "two failures then a success");
    assert_eq!(steady.hits(), 1, "the healthy target is not retried");
    // Permanent errors are not retried.
    let bad = MockTarget::start(Behaviour::status(400)).await;
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        vec![hook("bad", &bad)],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions {
            enable_retry: true,
            max_retries: 3,
            ..Default::default()
        },
    );
    p.publish_to_all(&alert("Bad")).await.unwrap_err();
    assert_eq!(bad.hits(), 1);
}

#[tokio::test]
async fn invalid_options_are_rejected_with_the_field() {
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        vec![],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    for (options, needle) in [
        (
            ParallelPublishOptions {
                max_concurrent: 0,
                ..Default::default()
            },
            "max_concurrent",
        ),
        (
            ParallelPublishOptions {
                timeout: Duration::ZERO,
                ..Default::default()
            },
            "timeout",
        ),
        (
            ParallelPublishOptions {
                enable_retry: true,
                max_retries: 0,
                ..Default::default()
            },
            "max_retries",
        ),
        (
            ParallelPublishOptions {
                max_retries: 2,
                ..Default::default()
            },
            "enable_retry",
        ),
    ] {
        let err = p
            .publish(None, &alert("X"), &[], &options)
            .await
            .unwrap_err();
        assert!(matches!(err, PublishError::InvalidOptions(_)));
        assert!(err.to_string().contains(needle), "{err}");
    }
}

/// A health double: fixed statuses and open breakers.
#[derive(Default)]
struct FakeHealth {
    statuses: HashMap<String, HealthStatus>,
    open: Vec<String>,
    recorded: Mutex<Vec<(String, bool)>>,
}

impl HealthView for FakeHealth {
    fn status(&self, target: &str) -> HealthStatus {
        self.statuses
            .get(target)
            .copied()
            .unwrap_or(HealthStatus::Unknown)
    }
    fn admit(&self, target: &str) -> bool {
        !self.open.iter().any(|t| t == target)
    }
    fn record(&self, target: &str, result: &TargetResult) {
        self.recorded
            .lock()
            .unwrap()
            .push((target.to_string(), result.success));
    }
}

#[tokio::test]
async fn health_strategies_skip_with_reasons() {
    let ms = mocks(vec![Behaviour::default(); 5]).await;
    let mut targets = vec![
        hook("healthy", &ms[0]),
        hook("degraded", &ms[1]),
        hook("unhealthy", &ms[2]),
        hook("open", &ms[3]),
        hook("unknown", &ms[4]),
    ];
    targets.push(Target {
        enabled: false,
        ..Target::new("off", "webhook", ms[0].url("/off"))
    });
    targets.push(Target::new(
        "nokind",
        "carrier-pigeon",
        ms[0].url("/pigeon"),
    ));
    let health = Arc::new(FakeHealth {
        statuses: HashMap::from([
            ("healthy".into(), HealthStatus::Healthy),
            ("degraded".into(), HealthStatus::Degraded),
            ("unhealthy".into(), HealthStatus::Unhealthy),
            ("open".into(), HealthStatus::Healthy),
        ]),
        open: vec!["open".into()],
        ..Default::default()
    });
    let rt = runtime(&[WEBHOOK]).await;
    let cases = [
        (
            HealthCheckStrategy::SkipUnhealthy,
            vec!["healthy", "degraded", "unknown"],
        ),
        (
            HealthCheckStrategy::SkipUnhealthyAndDegraded,
            vec!["healthy", "unknown"],
        ),
        (
            HealthCheckStrategy::PublishToAll,
            vec!["healthy", "degraded", "unhealthy", "unknown"],
        ),
    ];
    for (strategy, delivered) in cases {
        let options = ParallelPublishOptions {
            health_strategy: strategy,
            ..Default::default()
        };
        let p = publisher(rt.clone(), targets.clone(), health.clone(), options);
        let r = p.publish_to_healthy(&alert("Health")).await.unwrap();
        let ok: Vec<&str> = r
            .results
            .iter()
            .filter(|r| r.success)
            .map(|r| r.target_name.as_str())
            .collect();
        assert_eq!(ok, delivered, "{strategy:?}");
        assert_eq!(
            r.get("open").unwrap().skip_reason,
            Some(SkipReason::CircuitOpen)
        );
        assert_eq!(
            r.get("off").unwrap().skip_reason,
            Some(SkipReason::Disabled)
        );
        assert_eq!(
            r.get("nokind").unwrap().skip_reason,
            Some(SkipReason::NoPlugin)
        );
        assert_eq!(r.skipped_count, 7 - delivered.len());
        if strategy == HealthCheckStrategy::SkipUnhealthy {
            assert_eq!(
                r.get("unhealthy").unwrap().skip_reason,
                Some(SkipReason::Unhealthy)
            );
        }
        if strategy == HealthCheckStrategy::SkipUnhealthyAndDegraded {
            assert_eq!(
                r.get("degraded").unwrap().skip_reason,
                Some(SkipReason::Degraded)
            );
        }
    }
    // Outcomes of real deliveries are reported to the health view.
    assert!(
        health
            .recorded
            .lock()
            .unwrap()
            .iter()
            .any(|(t, ok)| t == "healthy" && *ok)
    );
    // Breakers can be ignored when asked.
    let options = ParallelPublishOptions {
        health_strategy: HealthCheckStrategy::PublishToAll,
        respect_circuit_breakers: false,
        ..Default::default()
    };
    let p = publisher(rt.clone(), targets.clone(), health.clone(), options);
    let r = p.publish_to_healthy(&alert("Health")).await.unwrap();
    assert!(r.get("open").unwrap().success);
    // Nothing routable: a clear error carrying the skipped list.
    let only_bad = vec![targets[2].clone(), targets[3].clone()];
    let p = publisher(rt, only_bad, health, ParallelPublishOptions::default());
    let err = p.publish_to_healthy(&alert("Health")).await.unwrap_err();
    assert!(matches!(err, PublishError::NoHealthyTargets(_)), "{err}");
    assert!(err.to_string().contains("no healthy targets"));
    assert_eq!(err.result().unwrap().skipped_count, 2);
}

#[tokio::test]
async fn the_sequential_publisher_gives_the_same_results() {
    let ms = mocks(vec![Behaviour::default(), Behaviour::status(503)]).await;
    let targets = vec![hook("a", &ms[0]), hook("b", &ms[1])];
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        targets.clone(),
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let parallel = p
        .publish_to_multiple(None, &alert("Seq"), &targets)
        .await
        .unwrap();
    let sequential = SequentialPublisher::new(p)
        .publish_to_multiple(None, &alert("Seq"), &targets)
        .await
        .unwrap();
    for (a, b) in parallel.results.iter().zip(&sequential.results) {
        assert_eq!(
            (a.success, a.status_code, &a.target_name),
            (b.success, b.status_code, &b.target_name)
        );
    }
}

#[tokio::test]
async fn secrets_never_reach_results_or_errors() {
    let m = MockTarget::start(
        Behaviour::status(401).body("bad signature for key hunter2-signing-secret"),
    )
    .await;
    let t = hook("signed", &m).with_secret("signing_secret", "hunter2-signing-secret");
    let p = publisher(
        runtime(&[WEBHOOK]).await,
        vec![t],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let err = p.publish_to_all(&alert("Secret")).await.unwrap_err();
    let json = serde_json::to_string(err.result().unwrap()).unwrap();
    assert!(!json.contains("hunter2"), "{json}");
    assert!(
        m.received()[0]
            .header("x-herald-signature")
            .unwrap()
            .starts_with("sha256=")
    );
    let metrics = herald::metrics::metrics().render();
    assert!(!metrics.contains("hunter2"));
}
