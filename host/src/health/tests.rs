//! Health status, staleness, breakers and the monitor, on a paused tokio clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::advance;

use super::breaker::Breaker;
use super::*;
use crate::metrics::metrics;
use crate::model::{DeliveryError, ErrorClass, SkipReason, Target, TargetResult, TargetSource};

const MS: Duration = Duration::from_millis(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn registry(config: HealthConfig) -> HealthRegistry {
    HealthRegistry::new(config).unwrap()
}

fn default_registry() -> HealthRegistry {
    registry(HealthConfig::default())
}

fn ok(name: &str, took: Duration) -> TargetResult {
    TargetResult {
        target_name: name.into(),
        target_type: "webhook".into(),
        success: true,
        skipped: false,
        skip_reason: None,
        status_code: Some(200),
        duration: took,
        error: None,
        note: None,
        plugin_version: Some("1.0.0".into()),
    }
}

fn failed(name: &str, class: ErrorClass, status: Option<u16>) -> TargetResult {
    TargetResult {
        success: false,
        status_code: status,
        error: Some(DeliveryError::new(class, format!("failed with {status:?}"))),
        ..ok(name, 20 * MS)
    }
}

fn down(name: &str) -> TargetResult {
    failed(name, ErrorClass::Transient, Some(503))
}

fn skipped(name: &str) -> TargetResult {
    TargetResult::skipped(name, "webhook", SkipReason::NothingToSend, None)
}

fn target(name: &str) -> Target {
    Target::new(name, "webhook", "http://127.0.0.1:9/hook")
}

fn probe_result(success: bool) -> ProbeOutcome {
    ProbeOutcome {
        method: ProbeMethod::Tcp,
        success,
        latency: 3 * MS,
        error: (!success).then(|| "TCP connect to 127.0.0.1:9 failed: refused".to_string()),
    }
}

// ---------------------------------------------------------------- status

#[tokio::test(start_paused = true)]
async fn a_target_is_unknown_until_its_first_result() {
    let r = default_registry();
    assert_eq!(r.status("never-seen"), HealthStatus::Unknown);
    r.track(&target("tracked"));
    assert_eq!(r.status("tracked"), HealthStatus::Unknown);
    r.record("tracked", &ok("tracked", 10 * MS));
    assert_eq!(r.status("tracked"), HealthStatus::Healthy);
}

#[tokio::test(start_paused = true)]
async fn a_slow_success_degrades_and_a_quick_one_heals() {
    let r = default_registry();
    r.record("t", &ok("t", secs(5)));
    assert_eq!(
        r.status("t"),
        HealthStatus::Healthy,
        "exactly the threshold is fine"
    );
    r.record("t", &ok("t", secs(5) + MS));
    assert_eq!(r.status("t"), HealthStatus::Degraded);
    r.record("t", &ok("t", 10 * MS));
    assert_eq!(r.status("t"), HealthStatus::Healthy);
}

#[tokio::test(start_paused = true)]
async fn one_or_two_failures_degrade_and_the_third_makes_unhealthy() {
    let r = default_registry();
    r.record("t", &ok("t", MS));
    r.record("t", &down("t"));
    assert_eq!(r.status("t"), HealthStatus::Degraded);
    r.record("t", &down("t"));
    assert_eq!(r.status("t"), HealthStatus::Degraded);
    r.record("t", &down("t"));
    assert_eq!(r.status("t"), HealthStatus::Unhealthy);
    r.record("t", &down("t"));
    assert_eq!(r.status("t"), HealthStatus::Unhealthy);
    // One success is enough to come back.
    r.record("t", &ok("t", MS));
    assert_eq!(r.status("t"), HealthStatus::Healthy);
    // And the failure count starts over.
    r.record("t", &down("t"));
    assert_eq!(r.status("t"), HealthStatus::Degraded);
    assert_eq!(r.snapshot("t").unwrap().consecutive_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn a_first_failure_on_an_unknown_target_degrades_it() {
    let r = default_registry();
    r.record("t", &down("t"));
    assert_eq!(r.status("t"), HealthStatus::Degraded);
}

#[tokio::test(start_paused = true)]
async fn results_go_stale_after_three_intervals() {
    let r = default_registry();
    r.record("stale", &ok("stale", MS));
    advance(secs(90)).await;
    assert_eq!(
        r.status("stale"),
        HealthStatus::Healthy,
        "90 s = 3 × 30 s is still fresh"
    );
    advance(MS).await;
    assert_eq!(r.status("stale"), HealthStatus::Unknown);
    r.refresh_gauges();
    let gauge = metrics()
        .target_health_status
        .with_label_values(&["stale", "webhook"]);
    r.record("stale", &down("stale"));
    r.record("stale", &down("stale"));
    r.record("stale", &down("stale"));
    assert_eq!(r.status("stale"), HealthStatus::Unhealthy);
    assert_eq!(r.snapshot("stale").unwrap().status, HealthStatus::Unhealthy);
    advance(secs(90) + MS).await;
    assert_eq!(
        r.status("stale"),
        HealthStatus::Unknown,
        "unhealthy goes stale too"
    );
    assert_eq!(r.snapshot("stale").unwrap().status, HealthStatus::Unknown);
    r.refresh_gauges();
    assert_eq!(gauge.get(), HealthStatus::Unknown.as_gauge());
    r.record("stale", &ok("stale", MS));
    assert_eq!(r.status("stale"), HealthStatus::Healthy);
}

#[tokio::test(start_paused = true)]
async fn staleness_follows_the_target_interval_and_the_setting() {
    let mut config = HealthConfig {
        stale_after_intervals: 2,
        ..HealthConfig::default()
    };
    config.targets.insert(
        "fast".into(),
        TargetHealthConfig {
            interval: Some(secs(5)),
            ..Default::default()
        },
    );
    let r = registry(config);
    r.record("fast", &ok("fast", MS));
    r.record("slow", &ok("slow", MS));
    advance(secs(10)).await;
    assert_eq!(r.status("fast"), HealthStatus::Healthy);
    advance(MS).await;
    assert_eq!(r.status("fast"), HealthStatus::Unknown);
    advance(secs(50) - MS).await;
    assert_eq!(r.status("slow"), HealthStatus::Healthy);
    advance(MS).await;
    assert_eq!(r.status("slow"), HealthStatus::Unknown);
}

#[tokio::test(start_paused = true)]
async fn thresholds_are_configurable() {
    let r = registry(HealthConfig {
        unhealthy_threshold: 1,
        degraded_latency: Duration::from_millis(100),
        ..HealthConfig::default()
    });
    r.record("t", &ok("t", 101 * MS));
    assert_eq!(r.status("t"), HealthStatus::Degraded);
    r.record("t", &down("t"));
    assert_eq!(
        r.status("t"),
        HealthStatus::Unhealthy,
        "one failure is enough"
    );
}

#[tokio::test(start_paused = true)]
async fn probes_and_deliveries_feed_the_same_status() {
    let r = default_registry();
    let t = target("t");
    r.record_probe(&t, &probe_result(false));
    r.record("t", &down("t"));
    assert_eq!(r.status("t"), HealthStatus::Degraded);
    r.record_probe(&t, &probe_result(false));
    assert_eq!(r.status("t"), HealthStatus::Unhealthy);
    r.record_probe(&t, &probe_result(true));
    assert_eq!(r.status("t"), HealthStatus::Healthy);
    let s = r.snapshot("t").unwrap();
    assert_eq!((s.probes, s.deliveries), (3, 1));
    assert_eq!((s.successes, s.failures), (1, 3));
    assert_eq!(s.probe_method, Some(ProbeMethod::Tcp));
    // Probes never move the breaker: it counts real deliveries only.
    assert_eq!(s.circuit_breaker.consecutive_failures, 1);
}

#[test]
fn verdicts_follow_the_error_rules() {
    use ErrorClass::*;
    let cases: Vec<(TargetResult, Verdict)> = vec![
        (ok("t", MS), Verdict::Success),
        (skipped("t"), Verdict::NotAttempted),
        (failed("t", Transient, None), Verdict::Failure),
        (failed("t", Transient, Some(503)), Verdict::Failure),
        (failed("t", Transient, Some(429)), Verdict::Failure),
        (failed("t", Unknown, Some(200)), Verdict::Failure),
        (failed("t", Unknown, None), Verdict::Failure),
        // The alert's fault.
        (failed("t", Permanent, Some(400)), Verdict::Neutral),
        (failed("t", Permanent, Some(409)), Verdict::Neutral),
        (failed("t", Permanent, Some(413)), Verdict::Neutral),
        (failed("t", Permanent, Some(422)), Verdict::Neutral),
        (failed("t", Permanent, Some(201)), Verdict::Neutral),
        // The target's (or its setup's) fault.
        (failed("t", Permanent, Some(401)), Verdict::Failure),
        (failed("t", Permanent, Some(403)), Verdict::Failure),
        (failed("t", Permanent, Some(404)), Verdict::Failure),
        (failed("t", Permanent, Some(405)), Verdict::Failure),
        (failed("t", Permanent, Some(410)), Verdict::Failure),
        (failed("t", Permanent, Some(501)), Verdict::Failure),
        // Never reached the target: a plugin trap, timeout or refusal.
        (failed("t", Permanent, None), Verdict::Neutral),
    ];
    for (result, verdict) in cases {
        assert_eq!(
            Verdict::of(&result),
            verdict,
            "{:?} {:?}",
            result.error.as_ref().map(|e| e.class),
            result.status_code
        );
    }
}

#[tokio::test(start_paused = true)]
async fn errors_caused_by_the_alert_move_neither_status_nor_breaker() {
    let r = default_registry();
    r.record("t", &ok("t", MS));
    for _ in 0..10 {
        r.record("t", &failed("t", ErrorClass::Permanent, Some(400)));
        r.record("t", &failed("t", ErrorClass::Permanent, None));
    }
    assert_eq!(r.status("t"), HealthStatus::Healthy);
    assert!(r.admit("t"));
    assert_eq!(r.breaker_state("t"), Some(BreakerState::Closed));
    let s = r.snapshot("t").unwrap();
    assert_eq!((s.rejected, s.failures, s.deliveries), (20, 0, 21));
    assert!(s.last_error.is_some(), "the last error is still shown");
    // 401 and 403 do count: our credentials are refused.
    for _ in 0..5 {
        r.record("t", &failed("t", ErrorClass::Permanent, Some(401)));
    }
    assert_eq!(r.status("t"), HealthStatus::Unhealthy);
    assert_eq!(r.breaker_state("t"), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn skipped_results_are_not_outcomes() {
    let r = default_registry();
    r.record("t", &skipped("t"));
    assert!(
        r.snapshot("t").is_none(),
        "a skip does not even start tracking"
    );
    r.record("t", &ok("t", MS));
    r.record("t", &skipped("t"));
    let s = r.snapshot("t").unwrap();
    assert_eq!((s.deliveries, s.successes, s.rejected), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_has_counts_times_and_a_redacted_cut_error() {
    let r = default_registry();
    let t = target("snap").with_secret("token", "hunter2-secret");
    r.record("snap", &ok("snap", 40 * MS));
    r.record_probe(
        &t,
        &ProbeOutcome {
            method: ProbeMethod::Adapter,
            success: false,
            latency: 7 * MS,
            error: Some(format!("refused hunter2-secret {}", "é".repeat(400))),
        },
    );
    let s = r.snapshot("snap").unwrap();
    assert_eq!(s.status, HealthStatus::Degraded);
    assert_eq!(s.target_type, "webhook");
    assert_eq!(s.latency_ms, Some(7.0));
    assert_eq!(s.success_rate, Some(0.5));
    assert!(s.last_success.is_some() && s.last_failure.is_some() && s.last_check.is_some());
    let error = s.last_error.clone().unwrap();
    assert!(error.starts_with("refused *** é"), "{error}");
    assert!(!error.contains("hunter2"));
    assert!(
        error.len() <= 303 && error.ends_with("..."),
        "{}",
        error.len()
    );
    let json = serde_json::to_value(&s).unwrap();
    for key in [
        "target_name",
        "target_type",
        "status",
        "latency_ms",
        "last_check",
        "last_success",
        "last_failure",
        "consecutive_failures",
        "probes",
        "deliveries",
        "successes",
        "failures",
        "rejected",
        "success_rate",
        "last_error",
        "probe_method",
        "circuit_breaker",
    ] {
        assert!(json.get(key).is_some(), "missing `{key}` in {json}");
    }
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["probe_method"], "adapter");
    assert_eq!(json["circuit_breaker"]["state"], "closed");
    assert_eq!(json["circuit_breaker"]["cool_down_ms"], 30_000);
    assert!(!json.to_string().contains("hunter2"));
    // The trait's accessor gives the same.
    let view: &dyn HealthView = &r;
    assert_eq!(view.snapshot("snap"), Some(s));
    assert_eq!(AlwaysHealthy.snapshot("snap"), None);
}

#[tokio::test(start_paused = true)]
async fn untracked_targets_are_admitted_and_removed_ones_forgotten() {
    let r = default_registry();
    assert!(r.admit("nobody"));
    assert!(r.snapshot("nobody").is_none());
    r.track(&target("a"));
    r.track(&target("b"));
    assert_eq!(r.targets(), vec!["a", "b"]);
    r.retain(|name| name == "a");
    assert_eq!(r.targets(), vec!["a"]);
    assert!(r.snapshot("b").is_none());
    assert_eq!(r.snapshots().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_kind_change_moves_the_status_series() {
    let r = default_registry();
    r.record("kinds", &ok("kinds", MS));
    r.track(&Target::new("kinds", "slack", "http://127.0.0.1:9"));
    assert_eq!(r.snapshot("kinds").unwrap().target_type, "slack");
    let text = metrics().render();
    assert!(text.contains(r#"target_health_status{target_name="kinds",target_type="slack"} 1"#));
    assert!(!text.contains(r#"target_name="kinds",target_type="webhook""#));
}

// ---------------------------------------------------------------- config

#[test]
fn invalid_settings_are_refused_naming_the_field() {
    let base = HealthConfig::default();
    let mut per_target = base.clone();
    per_target.targets.insert(
        "pd".into(),
        TargetHealthConfig {
            interval: Some(secs(2)),
            ..Default::default()
        },
    );
    let cases = [
        (
            HealthConfig {
                interval: Duration::ZERO,
                ..base.clone()
            },
            "`interval`",
        ),
        (
            HealthConfig {
                timeout: secs(60),
                ..base.clone()
            },
            "`timeout`",
        ),
        (
            HealthConfig {
                unhealthy_threshold: 0,
                ..base.clone()
            },
            "`unhealthy_threshold`",
        ),
        (
            HealthConfig {
                max_concurrent_probes: 0,
                ..base.clone()
            },
            "`max_concurrent_probes`",
        ),
        (
            HealthConfig {
                circuit_breaker: BreakerConfig {
                    failure_threshold: 0,
                    ..BreakerConfig::default()
                },
                ..base.clone()
            },
            "`circuit_breaker.failure_threshold`",
        ),
        (
            HealthConfig {
                circuit_breaker: BreakerConfig {
                    max_cool_down: secs(1),
                    ..BreakerConfig::default()
                },
                ..base.clone()
            },
            "`circuit_breaker.max_cool_down`",
        ),
        (per_target, "`targets.pd.timeout`"),
    ];
    for (config, field) in cases {
        let e = HealthRegistry::new(config).unwrap_err().to_string();
        assert!(e.contains(field), "{e} should name {field}");
    }
    assert!(base.validate().is_ok());
}

#[test]
fn settings_parse_from_toml_with_defaults() {
    let config: HealthConfig = toml::from_str(
        r#"
        interval = "10s"
        [circuit_breaker]
        failure_threshold = 3
        cool_down = "1m"
        [targets.pd-prod]
        interval = "1m"
        timeout = "2s"
        [targets.quiet]
        probe = false
        "#,
    )
    .unwrap();
    assert_eq!(config.interval, secs(10));
    assert_eq!(config.timeout, secs(5));
    assert_eq!(config.circuit_breaker.failure_threshold, 3);
    assert_eq!(config.circuit_breaker.cool_down, secs(60));
    assert_eq!(config.circuit_breaker.success_threshold, 2);
    let pd = config.probe_settings("pd-prod");
    assert_eq!(
        (pd.enabled, pd.interval, pd.timeout),
        (true, secs(60), secs(2))
    );
    assert!(!config.probe_settings("quiet").enabled);
    assert_eq!(config.stale_after("pd-prod"), secs(180));
    assert!(config.validate().is_ok());
    let typo = toml::from_str::<HealthConfig>("intervall = \"10s\"").unwrap_err();
    assert!(typo.to_string().contains("intervall"), "{typo}");
    let bad = toml::from_str::<HealthConfig>("interval = \"soon\"").unwrap_err();
    assert!(bad.to_string().contains("not a duration"), "{bad}");
}

// ---------------------------------------------------------------- breakers

fn fail_times(r: &HealthRegistry, name: &str, n: usize) {
    for _ in 0..n {
        assert!(r.admit(name));
        r.record(name, &down(name));
    }
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_after_five_consecutive_failed_deliveries() {
    let r = default_registry();
    fail_times(&r, "b", 4);
    r.record("b", &ok("b", MS));
    fail_times(&r, "b", 4);
    assert!(r.admit("b"), "a success in between started the count over");
    assert_eq!(r.breaker_state("b"), Some(BreakerState::Closed));
    r.record("b", &down("b"));
    assert_eq!(r.breaker_state("b"), Some(BreakerState::Open));
    assert!(!r.admit("b"));
    let s = r.snapshot("b").unwrap().circuit_breaker;
    assert_eq!(s.retry_in_ms, Some(30_000));
    assert_eq!(s.times_opened, 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_waits_out_its_cool_down_then_lets_one_trial_through() {
    let r = default_registry();
    fail_times(&r, "b", 5);
    advance(secs(30) - MS).await;
    assert!(!r.admit("b"));
    assert_eq!(r.breaker_state("b"), Some(BreakerState::Open));
    advance(MS).await;
    assert_eq!(r.breaker_state("b"), Some(BreakerState::HalfOpen));
    assert!(r.admit("b"), "the trial");
    assert!(!r.admit("b"), "only one trial at a time");
    assert!(!r.admit("b"));
}

#[tokio::test(start_paused = true)]
async fn two_successful_trials_close_the_breaker() {
    let r = default_registry();
    fail_times(&r, "b", 5);
    advance(secs(30)).await;
    assert!(r.admit("b"));
    r.record("b", &ok("b", MS));
    assert_eq!(r.breaker_state("b"), Some(BreakerState::HalfOpen));
    assert!(r.admit("b"), "the second trial");
    assert!(!r.admit("b"));
    r.record("b", &ok("b", MS));
    assert_eq!(r.breaker_state("b"), Some(BreakerState::Closed));
    for _ in 0..10 {
        assert!(r.admit("b"));
    }
    // Closed again means the next opening starts from the base cool-down.
    fail_times(&r, "b", 5);
    assert_eq!(
        r.snapshot("b").unwrap().circuit_breaker.retry_in_ms,
        Some(30_000)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_trial_reopens_with_the_cool_down_doubled_up_to_the_cap() {
    let r = default_registry();
    fail_times(&r, "b", 5);
    let mut cool_down = secs(30);
    for expected in [60, 120, 240, 300, 300] {
        advance(cool_down - MS).await;
        assert!(!r.admit("b"), "still cooling down ({cool_down:?})");
        advance(MS).await;
        assert!(r.admit("b"));
        r.record("b", &down("b"));
        assert_eq!(r.breaker_state("b"), Some(BreakerState::Open));
        cool_down = secs(expected);
        let s = r.snapshot("b").unwrap().circuit_breaker;
        assert_eq!(s.cool_down_ms, expected * 1000);
        assert_eq!(s.retry_in_ms, Some(expected * 1000));
    }
    // A failed second trial (after one success) reopens it too.
    advance(cool_down).await;
    assert!(r.admit("b"));
    r.record("b", &ok("b", MS));
    assert!(r.admit("b"));
    r.record("b", &down("b"));
    assert_eq!(r.breaker_state("b"), Some(BreakerState::Open));
}

#[tokio::test(start_paused = true)]
async fn a_trial_that_is_skipped_or_refused_for_the_alert_is_given_back() {
    let r = default_registry();
    fail_times(&r, "b", 5);
    advance(secs(30)).await;
    assert!(r.admit("b"));
    r.record("b", &skipped("b"));
    assert!(r.admit("b"), "the unused trial was given back");
    r.record("b", &failed("b", ErrorClass::Permanent, Some(422)));
    assert!(r.admit("b"), "a 422 says nothing about the target");
    assert_eq!(r.breaker_state("b"), Some(BreakerState::HalfOpen));
}

#[tokio::test(start_paused = true)]
async fn a_trial_that_never_reports_stops_blocking_after_the_trial_timeout() {
    let r = default_registry();
    fail_times(&r, "b", 5);
    advance(secs(30)).await;
    assert!(r.admit("b"), "its publish is then cancelled: no record");
    advance(secs(60) - MS).await;
    assert!(!r.admit("b"));
    advance(MS).await;
    assert!(r.admit("b"), "a new trial after the trial timeout");
    assert!(!r.admit("b"));
}

#[tokio::test(start_paused = true)]
async fn outcomes_of_deliveries_admitted_before_the_breaker_opened_are_ignored() {
    let r = default_registry();
    fail_times(&r, "b", 5);
    // Slow deliveries that started while closed report late.
    r.record("b", &ok("b", MS));
    r.record("b", &down("b"));
    assert_eq!(
        r.snapshot("b").unwrap().circuit_breaker.retry_in_ms,
        Some(30_000)
    );
    advance(secs(30)).await;
    assert!(r.admit("b"));
    r.record("b", &ok("b", MS));
    // Half-open with no trial out: a late success is not a trial.
    r.record("b", &ok("b", MS));
    assert_eq!(r.breaker_state("b"), Some(BreakerState::HalfOpen));
    assert_eq!(r.snapshot("b").unwrap().circuit_breaker.trial_successes, 1);
}

#[tokio::test(start_paused = true)]
async fn one_trial_only_when_many_publishes_ask_at_once() {
    let r = Arc::new(default_registry());
    fail_times(&r, "b", 5);
    advance(secs(30)).await;
    let asks = (0..64).map(|_| {
        let r = r.clone();
        tokio::spawn(async move { r.admit("b") })
    });
    let admitted = futures::future::join_all(asks)
        .await
        .into_iter()
        .filter(|a| *a.as_ref().unwrap())
        .count();
    assert_eq!(admitted, 1);
}

#[test]
fn one_trial_only_when_threads_race_for_it() {
    // Real threads racing the compare-and-swap, with explicit clock times.
    const THREADS: usize = 8;
    let config = BreakerConfig::default();
    let cool = config.cool_down.as_nanos() as u64;
    let max = config.max_cool_down.as_nanos() as u64;
    let breaker = Arc::new(Breaker::new(config, Arc::from("race"), None));
    let mut now = 1;
    for _ in 0..5 {
        assert!(breaker.admit(|| now));
        breaker.record(Verdict::Failure, now);
    }
    let barrier = Arc::new(Barrier::new(THREADS));
    for round in 0..200 {
        now += max;
        let at = now;
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let (breaker, barrier) = (breaker.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    breaker.admit(|| at)
                })
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|a| *a)
            .count();
        assert_eq!(admitted, 1, "round {round}");
        // The trial fails: open again.
        breaker.record(Verdict::Failure, now);
        assert!(!breaker.admit(|| now + cool - 1));
    }
}

#[tokio::test(start_paused = true)]
async fn a_disabled_breaker_always_admits() {
    let r = registry(HealthConfig {
        circuit_breaker: BreakerConfig {
            enabled: false,
            ..BreakerConfig::default()
        },
        ..HealthConfig::default()
    });
    fail_times(&r, "b", 50);
    assert!(r.admit("b"));
    assert_eq!(r.breaker_state("b"), Some(BreakerState::Closed));
}

#[tokio::test(start_paused = true)]
async fn breaker_and_health_metrics_follow_the_transitions() {
    let r = default_registry();
    let name = "metrics-probe";
    let to = |state: &str| {
        metrics()
            .circuit_breaker_transitions
            .with_label_values(&[name, state])
            .get()
    };
    let state = || {
        metrics()
            .circuit_breaker_state
            .with_label_values(&[name])
            .get()
    };
    let health = || {
        metrics()
            .target_health_status
            .with_label_values(&[name, "webhook"])
            .get()
    };
    r.record(name, &ok(name, MS));
    assert_eq!((state(), health()), (0, 1));
    fail_times(&r, name, 5);
    assert_eq!((state(), health(), to("open")), (2, 3, 1));
    advance(secs(30)).await;
    assert!(r.admit(name));
    assert_eq!((state(), to("half_open")), (1, 1));
    r.record(name, &ok(name, MS));
    assert!(r.admit(name));
    r.record(name, &ok(name, MS));
    assert_eq!((state(), health(), to("closed")), (0, 1, 1));
    r.record_probe(&target(name), &probe_result(false));
    let checks = metrics()
        .health_checks
        .with_label_values(&[name, "failure"])
        .get();
    assert_eq!(checks, 1);
    let text = metrics().render();
    for series in [
        "target_health_status{target_name=\"metrics-probe\",target_type=\"webhook\"} 2",
        "circuit_breaker_state{target_name=\"metrics-probe\"} 0",
        "circuit_breaker_transitions_total{target_name=\"metrics-probe\",to=\"open\"} 1",
        "health_checks_total{result=\"failure\",target_name=\"metrics-probe\"} 1",
        "health_check_duration_seconds_count",
    ] {
        assert!(text.contains(series), "missing {series}");
    }
}

// ---------------------------------------------------------------- monitor

/// A target list that can change under the monitor.
#[derive(Default)]
struct Targets(Mutex<Arc<Vec<Target>>>);

impl Targets {
    fn set(&self, targets: Vec<Target>) {
        *self.0.lock().unwrap() = Arc::new(targets);
    }
}

impl TargetSource for Targets {
    fn targets(&self) -> Arc<Vec<Target>> {
        self.0.lock().unwrap().clone()
    }
}

/// A prober that counts calls, answers from a table and can hang.
#[derive(Default)]
struct FakeProber {
    calls: Mutex<HashMap<String, usize>>,
    replies: Mutex<HashMap<String, ProbeReply>>,
    hang: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Probes dropped before they finished (cancelled).
    cancelled: AtomicUsize,
}

impl FakeProber {
    fn calls(&self, name: &str) -> usize {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

struct InFlight<'a>(&'a FakeProber, bool);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.1 {
            self.0.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Prober for FakeProber {
    fn probe<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, ProbeReply> {
        Box::pin(async move {
            *self
                .calls
                .lock()
                .unwrap()
                .entry(target.name.clone())
                .or_default() += 1;
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let mut guard = InFlight(self, false);
            let hang = self.hang.lock().unwrap().contains(&target.name);
            // Every probe takes a little while, so that several overlap.
            tokio::time::sleep(if hang { secs(3600) } else { 100 * MS }).await;
            guard.1 = true;
            self.replies
                .lock()
                .unwrap()
                .get(&target.name)
                .cloned()
                .unwrap_or(ProbeReply::Healthy)
        })
    }
}

fn monitor_for(
    config: HealthConfig,
    targets: Vec<Target>,
) -> (HealthMonitor, Arc<Targets>, Arc<FakeProber>) {
    let source = Arc::new(Targets::default());
    source.set(targets);
    let prober = Arc::new(FakeProber::default());
    let monitor = HealthMonitor::new(Arc::new(registry(config)), source.clone(), prober.clone());
    (monitor, source, prober)
}

#[tokio::test(start_paused = true)]
async fn the_monitor_probes_each_target_on_its_own_interval() {
    let mut config = HealthConfig::default();
    config.targets.insert(
        "often".into(),
        TargetHealthConfig {
            interval: Some(secs(10)),
            ..Default::default()
        },
    );
    config.targets.insert(
        "never".into(),
        TargetHealthConfig {
            probe: Some(false),
            ..Default::default()
        },
    );
    let off = Target {
        enabled: false,
        ..target("off")
    };
    let (monitor, _, prober) = monitor_for(
        config,
        vec![target("often"), target("normal"), target("never"), off],
    );
    let registry = monitor.registry().clone();
    let handle = monitor.spawn();
    // Probes at 0, 30, 60, 90 s for `normal`; every 10 s for `often`.
    tokio::time::sleep(secs(95)).await;
    assert_eq!(prober.calls("normal"), 4);
    assert_eq!(prober.calls("often"), 10);
    assert_eq!(prober.calls("never"), 0, "probing turned off for it");
    assert_eq!(prober.calls("off"), 0, "disabled targets are not probed");
    assert_eq!(registry.status("normal"), HealthStatus::Healthy);
    assert_eq!(registry.snapshot("normal").unwrap().probes, 4);
    assert_eq!(registry.status("never"), HealthStatus::Unknown);
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_monitor_bounds_concurrent_probes_and_a_hung_one_does_not_hold_the_rest() {
    let config = HealthConfig {
        max_concurrent_probes: 2,
        ..HealthConfig::default()
    };
    let names = ["hung", "a", "b", "c", "d", "e"];
    let (monitor, _, prober) = monitor_for(config, names.iter().map(|n| target(n)).collect());
    prober.hang.lock().unwrap().push("hung".into());
    let registry = monitor.registry().clone();
    let handle = monitor.spawn();
    tokio::time::sleep(secs(1)).await;
    assert_eq!(prober.max_in_flight.load(Ordering::SeqCst), 2);
    for name in &names[1..] {
        assert_eq!(
            prober.calls(name),
            1,
            "{name} was probed beside the hung one"
        );
        assert_eq!(registry.status(name), HealthStatus::Healthy);
    }
    // The hung probe ends at its timeout as a failure.
    tokio::time::sleep(secs(5)).await;
    assert_eq!(registry.status("hung"), HealthStatus::Degraded);
    let s = registry.snapshot("hung").unwrap();
    assert!(
        s.last_error
            .as_deref()
            .unwrap()
            .contains("timed out after 5000 ms"),
        "{s:?}"
    );
    assert_eq!(prober.cancelled.load(Ordering::SeqCst), 1);
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn probe_failures_and_fallbacks_are_recorded() {
    let (monitor, _, prober) = monitor_for(HealthConfig::default(), vec![]);
    prober.replies.lock().unwrap().insert(
        "bad".into(),
        ProbeReply::Unhealthy {
            status: Some(401),
            message: "health probe answered HTTP 401".into(),
        },
    );
    prober
        .replies
        .lock()
        .unwrap()
        .insert("none".into(), ProbeReply::NoProbe);
    let out = monitor.check(&target("bad")).await;
    assert!(!out.success);
    assert_eq!(out.method, ProbeMethod::Adapter);
    assert_eq!(out.error.as_deref(), Some("health probe answered HTTP 401"));
    // `NoProbe` falls back to TCP; the target's url is a URL without a host here.
    let out = monitor
        .check(&Target::new("none", "webhook", "unix:/run/sock"))
        .await;
    assert_eq!(out.method, ProbeMethod::Tcp);
    assert!(!out.success);
    assert!(out.error.unwrap().contains("url"));
    assert_eq!(
        monitor.registry().snapshot("none").unwrap().probe_method,
        Some(ProbeMethod::Tcp)
    );
}

#[tokio::test(start_paused = true)]
async fn the_monitor_follows_target_changes() {
    let (monitor, source, prober) = monitor_for(HealthConfig::default(), vec![target("a")]);
    let registry = monitor.registry().clone();
    let handle = monitor.spawn();
    tokio::time::sleep(secs(1)).await;
    assert_eq!(registry.targets(), vec!["a"]);
    source.set(vec![target("b")]);
    tokio::time::sleep(secs(2)).await;
    assert_eq!(
        prober.calls("b"),
        1,
        "a new target is probed within a rescan"
    );
    assert_eq!(registry.status("b"), HealthStatus::Healthy);
    assert_eq!(
        registry.targets(),
        vec!["b"],
        "a removed target is forgotten"
    );
    assert!(registry.snapshot("a").is_none());
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_monitor_stops_on_shutdown_and_cancels_its_probes() {
    let (monitor, _, prober) = monitor_for(HealthConfig::default(), vec![target("hung")]);
    prober.hang.lock().unwrap().push("hung".into());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(monitor.clone().run(async move {
        let _ = stopped.await;
    }));
    tokio::time::sleep(secs(1)).await;
    assert_eq!(prober.in_flight.load(Ordering::SeqCst), 1);
    stop.send(()).unwrap();
    run.await.unwrap();
    assert_eq!(prober.in_flight.load(Ordering::SeqCst), 0);
    assert_eq!(prober.cancelled.load(Ordering::SeqCst), 1);

    // Dropping a handle stops it too.
    let handle = monitor.spawn();
    tokio::time::sleep(secs(1)).await;
    assert_eq!(prober.in_flight.load(Ordering::SeqCst), 1);
    drop(handle);
    tokio::time::sleep(secs(1)).await;
    assert_eq!(prober.in_flight.load(Ordering::SeqCst), 0);
    assert_eq!(prober.cancelled.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn tcp_connect_checks_host_and_port_only() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tcp_connect(&format!("http://127.0.0.1:{port}/secret-token-path"))
        .await
        .unwrap();
    drop(listener);
    let e = tcp_connect(&format!("http://127.0.0.1:{port}/secret-token-path"))
        .await
        .unwrap_err();
    assert!(
        e.starts_with(&format!("TCP connect to 127.0.0.1:{port} failed")),
        "{e}"
    );
    assert!(!e.contains("secret-token-path"));
    assert!(
        tcp_connect("not a url")
            .await
            .unwrap_err()
            .contains("not a valid URL")
    );
}
