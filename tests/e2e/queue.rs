//! The durable queue against real loopback targets through the real webhook
//! plugin: a target that is down for a while gets everything once it is
//! back, in order per alert, with nothing dead-lettered; a target that
//! refuses (400) gets a dead letter with the reason, and a replay through
//! the admin API delivers it; pending deliveries survive a restart (the queue
//! dropped and reopened from the same directory).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use herald::health::{AlwaysHealthy, BreakerConfig, HealthConfig, HealthRegistry};
use herald::model::{EnrichedAlert, Target};
use herald::plugin::{PluginRuntime, RuntimeLimits};
use herald::publish::{ParallelPublishOptions, Publisher};
use herald::queue::{DlqFilter, DurableQueue, Intake, QueueSettings, RetryPolicy, Store};
use herald_tests::{Behaviour, MockTarget, publisher, wasm};

const WEBHOOK: &str = "herald_plugin_webhook";
/// Longest any test waits for the queue to drain.
const DRAIN: Duration = Duration::from_secs(60);

fn event(name: &str, status: &str) -> EnrichedAlert {
    serde_json::from_value(serde_json::json!({
        "alert": {
            "status": status,
            "labels": {"alertname": name, "severity": "critical", "instance": "db-1"},
            "starts_at": "2026-12-01T10:00:00Z"
        }
    }))
    .expect("valid alert")
}

fn fast_retries(dir: &Path) -> QueueSettings {
    QueueSettings {
        retry: RetryPolicy {
            initial: Duration::from_millis(20),
            factor: 2.0,
            max_delay: Duration::from_millis(200),
            max_attempts: 50,
        },
        workers: 4,
        ..QueueSettings::in_dir(dir)
    }
}

/// A store, a runtime whose adapter state lives in it, a publisher over
/// `targets`, and the queue on top: what the daemon wires.
async fn open(
    dir: &Path,
    targets: Vec<Target>,
    settings: QueueSettings,
) -> (Arc<DurableQueue>, Arc<Publisher>) {
    let store = Store::open(dir).expect("open the queue store");
    let rt = PluginRuntime::new(RuntimeLimits::default(), store.state_store()).expect("runtime");
    rt.load_and_register(&wasm(WEBHOOK))
        .await
        .expect("load the webhook plugin");
    let p = publisher(
        Arc::new(rt),
        targets,
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let q = DurableQueue::start(store, p.clone(), p.target_source().clone(), settings)
        .expect("start the queue");
    (q, p)
}

async fn drain(q: &DurableQueue) {
    tokio::time::timeout(DRAIN, q.wait_idle())
        .await
        .unwrap_or_else(|_| panic!("the queue did not drain within {DRAIN:?}: {:?}", q.stats()));
}

/// The (alert name, status) of every request the mock answered 2xx, in arrival order.
fn delivered(mock: &MockTarget, first_ok: usize) -> Vec<(String, String)> {
    mock.received()
        .iter()
        .skip(first_ok)
        .map(|r| {
            let j = r.json();
            (
                j["alert_name"].as_str().unwrap_or("").to_string(),
                j["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_target_down_for_a_while_gets_everything_in_order_once_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let down = MockTarget::start(Behaviour::default()).await;
    let up = MockTarget::start(Behaviour::default()).await;
    const DOWN_FOR: usize = 25;
    down.script((0..DOWN_FOR).map(|_| Behaviour::status(503)));
    let targets = vec![
        Target::new("down", "webhook", down.url("/hook")),
        Target::new("up", "webhook", up.url("/hook")),
    ];
    let (q, _) = open(dir.path(), targets, fast_retries(dir.path())).await;
    let names: Vec<String> = (0..8).map(|i| format!("Disk{i}")).collect();
    for n in &names {
        q.accept(vec![event(n, "firing")]).await.unwrap();
    }
    for n in &names {
        q.accept(vec![event(n, "resolved")]).await.unwrap();
    }
    drain(&q).await;

    assert!(
        down.hits() > DOWN_FOR,
        "the target was down, then took deliveries"
    );
    let got = delivered(&down, DOWN_FOR);
    assert_eq!(
        got.len(),
        names.len() * 2,
        "everything arrived exactly once after recovery: {got:?}"
    );
    for n in &names {
        let seq: Vec<&str> = got
            .iter()
            .filter(|(a, _)| a == n)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(seq, ["firing", "resolved"], "{n}: in order per alert");
    }
    assert_eq!(
        up.hits(),
        names.len() * 2,
        "the healthy target was not held back or retried"
    );
    let stats = q.stats();
    assert_eq!(stats.dlq_size, 0, "nothing dead-lettered: {stats:?}");
    q.shutdown(Duration::from_secs(5)).await;
}

/// Serves the queue's admin routes on a loopback port; returns the base URL.
async fn serve_admin(q: Arc<DurableQueue>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let app = herald::api::queue::routes(q);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// GETs `url` and reads the JSON answer.
async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    let text = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}"))
}

/// POSTs `body` as JSON to `url`; returns the status and the JSON answer.
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    let text = r
        .text()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: reading the body: {e}"));
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {text}")),
    )
}

#[tokio::test]
async fn a_refusing_target_is_dead_lettered_and_a_replay_through_the_api_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let bad = MockTarget::start(Behaviour::status(400).body("missing field `summary`")).await;
    let good = MockTarget::start(Behaviour::default()).await;
    let targets = vec![
        Target::new("bad", "webhook", bad.url("/hook"))
            .with_secret("signing_secret", "do-not-leak-this-secret"),
        Target::new("good", "webhook", good.url("/hook")),
    ];
    let (q, _) = open(dir.path(), targets, fast_retries(dir.path())).await;
    q.accept(vec![event("Refused", "firing")]).await.unwrap();
    drain(&q).await;
    assert_eq!(
        (bad.hits(), good.hits()),
        (1, 1),
        "a permanent error is not retried"
    );

    let api = serve_admin(q.clone()).await;
    let http = reqwest::Client::new();
    let list = get_json(
        &http,
        &format!("{api}/api/v1/dlq?target=bad&since=1h&limit=10"),
    )
    .await;
    let entries = list["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{list}");
    let e = &entries[0];
    assert_eq!(e["target_name"], "bad");
    assert_eq!(e["target_kind"], "webhook");
    assert_eq!(e["reason"], "permanent_error");
    assert_eq!(e["error_class"], "permanent");
    assert_eq!(e["attempts"], 1);
    assert!(e["error_message"].as_str().unwrap().contains("400"), "{e}");
    assert!(e["first_attempt_at"].is_string() && e["last_attempt_at"].is_string());
    assert!(
        !list.to_string().contains("do-not-leak"),
        "no secret in the DLQ listing"
    );
    let none = get_json(&http, &format!("{api}/api/v1/dlq?target=good")).await;
    assert_eq!(none["entries"].as_array().unwrap().len(), 0);

    let queue = get_json(&http, &format!("{api}/api/v1/queue")).await;
    assert_eq!(queue["dlq_size"], 1, "{queue}");
    assert_eq!(queue["depth"]["critical"]["ready"], 0, "{queue}");

    // The target is fixed; replay the entry.
    bad.set(Behaviour::default());
    let id = e["id"].as_u64().unwrap();
    let r = http
        .post(format!("{api}/api/v1/dlq/{id}/replay"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drain(&q).await;
    assert_eq!(bad.hits(), 2, "replayed to the refusing target");
    assert_eq!(good.hits(), 1, "and only to it");
    assert_eq!(bad.received()[1].json()["alert_name"], "Refused");
    let again = http
        .post(format!("{api}/api/v1/dlq/{id}/replay"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404, "a replayed entry has left the DLQ");

    // Bad input is a 400 that says what to send.
    let r = http
        .get(format!("{api}/api/v1/dlq?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("since"));
    let (status, purged) = post_json(
        &http,
        &format!("{api}/api/v1/dlq/purge"),
        &serde_json::json!({"older_than": "0s"}),
    )
    .await;
    assert_eq!((status, &purged["purged"]), (200, &serde_json::json!(0)));
    q.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn replay_by_filter_and_purge_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let a = MockTarget::start(Behaviour::status(422)).await;
    let b = MockTarget::start(Behaviour::status(400)).await;
    let targets = vec![
        Target::new("a", "webhook", a.url("/")),
        Target::new("b", "webhook", b.url("/")),
    ];
    let (q, _) = open(dir.path(), targets, fast_retries(dir.path())).await;
    for i in 0..3 {
        q.accept(vec![event(&format!("P{i}"), "firing")])
            .await
            .unwrap();
    }
    drain(&q).await;
    let api = serve_admin(q.clone()).await;
    let http = reqwest::Client::new();
    a.set(Behaviour::default());
    let (_, report) = post_json(
        &http,
        &format!("{api}/api/v1/dlq/replay"),
        &serde_json::json!({"target": "a"}),
    )
    .await;
    assert_eq!(report["replayed"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["more"], false);
    drain(&q).await;
    assert_eq!(a.hits(), 6, "three refused, three replayed");
    assert_eq!(b.hits(), 3, "b's entries were not replayed");
    let (_, r) = post_json(
        &http,
        &format!("{api}/api/v1/dlq/purge"),
        &serde_json::json!({"older_than": "0s", "target": "b"}),
    )
    .await;
    assert_eq!(r["purged"], 3);
    let page = q.dlq_list(&DlqFilter::default(), None, 10).unwrap();
    assert!(page.entries.is_empty());
    q.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn pending_deliveries_resume_after_the_queue_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let target = MockTarget::start(Behaviour::status(503)).await;
    let settings = QueueSettings {
        retry: RetryPolicy {
            initial: Duration::from_millis(300),
            factor: 1.0,
            max_delay: Duration::from_millis(300),
            max_attempts: 1000,
        },
        ..QueueSettings::in_dir(dir.path())
    };
    let targets = vec![Target::new("t", "webhook", target.url("/hook"))];
    let names: Vec<String> = (0..5).map(|i| format!("Restart{i}")).collect();
    {
        let (q, _) = open(dir.path(), targets.clone(), settings.clone()).await;
        for n in &names {
            q.accept(vec![event(n, "firing")]).await.unwrap();
        }
        tokio::time::timeout(
            DRAIN,
            q.wait_until(|s| s.retries.get("t").is_some_and(|r| r.jobs == 5)),
        )
        .await
        .expect("every alert failed once and waits for a retry");
        q.shutdown(Duration::from_secs(1)).await;
    }
    let failed_before = target.hits();
    target.set(Behaviour::default());
    let (q, _) = open(dir.path(), targets, settings).await;
    assert_eq!(q.stats().alerts, 5, "all five were waiting in the store");
    drain(&q).await;
    let mut got: Vec<String> = delivered(&target, failed_before)
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    got.sort();
    assert_eq!(got, names, "each pending alert delivered after the restart");
    assert_eq!(q.stats().dlq_size, 0);
    q.shutdown(Duration::from_secs(5)).await;
}

/// With a real health registry (probes and breaker off, as in the crash test)
/// a target that fails more than `unhealthy_threshold` times in a row turns
/// `unhealthy`; queue deliveries must still reach it once it answers again
/// (they publish with `publish_to_all`; skipping on health would hold the
/// jobs forever, since nothing refreshes health with probes off).
#[tokio::test]
async fn a_target_marked_unhealthy_by_failed_deliveries_still_gets_its_retries() {
    let dir = tempfile::tempdir().unwrap();
    let down = MockTarget::start(Behaviour::default()).await;
    // More failures in a row than unhealthy_threshold (3).
    down.script((0..6).map(|_| Behaviour::status(503)));
    let health = Arc::new(
        HealthRegistry::new(HealthConfig {
            probes: false,
            circuit_breaker: BreakerConfig {
                enabled: false,
                ..BreakerConfig::default()
            },
            ..HealthConfig::default()
        })
        .expect("health settings"),
    );
    let store = Store::open(dir.path()).expect("open the queue store");
    let rt = PluginRuntime::new(RuntimeLimits::default(), store.state_store()).expect("runtime");
    rt.load_and_register(&wasm(WEBHOOK))
        .await
        .expect("load the webhook plugin");
    let p = publisher(
        Arc::new(rt),
        vec![Target::new("down", "webhook", down.url("/hook"))],
        health,
        ParallelPublishOptions::default(),
    );
    let q = DurableQueue::start(
        store,
        p.clone(),
        p.target_source().clone(),
        fast_retries(dir.path()),
    )
    .expect("start the queue");
    for i in 0..4 {
        q.accept(vec![event(&format!("Unhealthy{i}"), "firing")])
            .await
            .unwrap();
    }
    drain(&q).await;
    assert_eq!(
        delivered(&down, 6).len(),
        4,
        "every alert reached the target once it answered 2xx"
    );
    q.shutdown(Duration::from_secs(5)).await;
}
