//! The daemon (`herald serve`) over real HTTP on loopback: ingress
//! (Alertmanager webhook v4, Alertmanager API v2, synchronous publish), the
//! admin API, bearer tokens, probes and `/metrics` (checked by `promtool`),
//! all delivering through the real adapters to recording mock targets.

use std::collections::BTreeMap;
use std::time::Duration;

use herald::model::alertmanager_fingerprint;
use herald_tests::daemon::{DaemonSetup, SOON, TestDaemon, eventually};
use herald_tests::{Behaviour, MockTarget};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A webhook target file's body for `mock`, delivering to `/<name>`.
fn hook(setup: DaemonSetup, name: &str, mock: &MockTarget) -> DaemonSetup {
    setup.target(name, "webhook", &mock.url(&format!("/{name}")), "")
}

/// A publish request for a firing alert named `name`.
fn publish_request(name: &str) -> Value {
    json!({
        "alert": {
            "labels": {"alertname": name, "severity": "critical", "instance": "db-1"},
            "annotations": {"summary": format!("{name} is firing")},
            "status": "firing",
            "starts_at": "2026-12-01T10:00:00Z",
            "generator_url": "http://prometheus.test/graph"
        }
    })
}

/// An Alertmanager webhook payload (version 4) with two alerts, one firing
/// and one resolved, as Alertmanager 0.25 sends it.
fn webhook_payload() -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=~\"^(?:Disk.*)$\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "herald",
        "groupLabels": {},
        "commonLabels": {"severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.test:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "instance": "db-1", "severity": "critical"},
                "annotations": {"summary": "disk 95% full"},
                "startsAt": "2026-12-01T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.test/graph?g0.expr=disk",
                "fingerprint": "0a1b2c3d4e5f6071"
            },
            {
                "status": "resolved",
                "labels": {"alertname": "DiskSlow", "instance": "db-2", "severity": "critical"},
                "annotations": {"summary": "disk latency high"},
                "startsAt": "2026-12-01T09:00:00Z",
                "endsAt": "2026-12-01T09:30:00Z",
                "generatorURL": "http://prometheus.test/graph?g0.expr=latency",
                "fingerprint": "1b2c3d4e5f607182"
            }
        ]
    })
}

/// Waits until `mock` has received `n` requests and returns them.
async fn received(mock: &MockTarget, n: usize, what: &str) -> Vec<herald_tests::Received> {
    eventually(what, SOON, || async {
        let got = mock.received();
        (got.len() >= n).then_some(got)
    })
    .await
}

/// The webhook bodies a mock received, by alert name.
fn by_alert_name(got: &[herald_tests::Received]) -> BTreeMap<String, Value> {
    got.iter()
        .map(|r| {
            let body = r.json();
            (
                body["alert_name"].as_str().unwrap_or_default().to_string(),
                body,
            )
        })
        .collect()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    k.sort_unstable();
    k
}

// ---------------------------------------------------------------- ingress

#[tokio::test]
async fn alertmanager_webhook_is_accepted_and_every_alert_delivered_in_the_background() {
    let (a, b) = (
        MockTarget::start(Behaviour::default()).await,
        MockTarget::start(Behaviour::status(202)).await,
    );
    let setup = DaemonSetup::new().adapter("webhook");
    let d = hook(hook(setup, "hook-a", &a), "hook-b", &b).start().await;

    let reply = d
        .post("/api/v1/alerts/alertmanager", &webhook_payload())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["accepted"], 2, "{}", reply.body);

    for (mock, path) in [(&a, "/hook-a"), (&b, "/hook-b")] {
        let got = received(mock, 2, &format!("both alerts at {path}")).await;
        assert_eq!(got.len(), 2, "each alert exactly once at {path}");
        assert!(got.iter().all(|r| r.path == path));
        let bodies = by_alert_name(&got);
        let full = &bodies["DiskFull"];
        assert_eq!(full["status"], "firing");
        assert_eq!(
            full["fingerprint"], "0a1b2c3d4e5f6071",
            "Alertmanager's fingerprint is kept"
        );
        assert_eq!(full["labels"]["instance"], "db-1");
        assert_eq!(full["annotations"]["summary"], "disk 95% full");
        assert!(
            full.get("ends_at").is_none(),
            "0001-01-01T00:00:00Z means unset: {full}"
        );
        let slow = &bodies["DiskSlow"];
        assert_eq!(slow["status"], "resolved");
        assert_eq!(slow["fingerprint"], "1b2c3d4e5f607182");
        assert_eq!(slow["ends_at"], "2026-12-01T09:30:00Z");
    }
}

#[tokio::test]
async fn alertmanager_webhook_rejects_bad_json_with_400_and_a_message() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = hook(DaemonSetup::new().adapter("webhook"), "hook", &mock)
        .start()
        .await;

    let reply = d
        .post_raw(
            "/api/v1/alerts/alertmanager",
            "{\"version\": \"4\", \"alerts\": [",
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.error();
    assert!(message.contains("invalid"), "{message}");
    assert!(message.contains("line 1"), "says where: {message}");

    let reply = d.post_raw("/api/v1/alerts/alertmanager", "").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.error().contains("empty body"), "{}", reply.body);

    let mut wrong_version = webhook_payload();
    wrong_version["version"] = json!("3");
    let reply = d.post("/api/v1/alerts/alertmanager", &wrong_version).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.error().contains("version"), "{}", reply.body);
    assert_eq!(mock.hits(), 0, "nothing rejected is delivered");
}

#[tokio::test]
async fn alertmanager_webhook_missing_field_is_400_naming_it() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = hook(DaemonSetup::new().adapter("webhook"), "hook", &mock)
        .start()
        .await;

    let mut no_alerts = webhook_payload();
    no_alerts.as_object_mut().map(|m| m.remove("alerts"));
    let reply = d.post("/api/v1/alerts/alertmanager", &no_alerts).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.error().contains("`alerts`"),
        "names the field: {}",
        reply.body
    );

    let mut no_labels = webhook_payload();
    no_labels["alerts"][1]
        .as_object_mut()
        .map(|m| m.remove("labels"));
    let reply = d.post("/api/v1/alerts/alertmanager", &no_labels).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.error().contains("`labels`"),
        "names the field: {}",
        reply.body
    );

    let mut no_alertname = webhook_payload();
    no_alertname["alerts"][1]["labels"]
        .as_object_mut()
        .map(|m| m.remove("alertname"));
    let reply = d.post("/api/v1/alerts/alertmanager", &no_alertname).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.error();
    assert!(
        message.contains("alerts[1]") && message.contains("alertname"),
        "names the alert and the label: {message}"
    );
    // All or nothing: the valid first alert of a rejected payload is not delivered either.
    assert_eq!(mock.hits(), 0);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_one_under_it_is_accepted() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let setup = DaemonSetup::new()
        .adapter("webhook")
        .set("server", "max_body_bytes = \"4KiB\"");
    let d = hook(setup, "hook", &mock).start().await;

    let mut big = webhook_payload();
    big["alerts"][0]["annotations"]["description"] = json!("x".repeat(8 * 1024));
    for path in [
        "/api/v1/alerts/alertmanager",
        "/api/v1/publish",
        "/api/v2/alerts",
    ] {
        let reply = d.post(path, &big).await;
        assert_eq!(reply.status, 413, "{path}: {}", reply.body);
    }

    let reply = d
        .post("/api/v1/alerts/alertmanager", &webhook_payload())
        .await;
    assert_eq!(
        reply.status, 200,
        "a payload under the limit: {}",
        reply.body
    );
    received(&mock, 2, "the payload under the limit delivered").await;
}

#[tokio::test]
async fn v2_alerts_are_delivered_with_alertmanagers_fingerprint_and_status_from_ends_at() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = hook(DaemonSetup::new().adapter("webhook"), "hook", &mock)
        .start()
        .await;

    let now = chrono::Utc::now();
    let past = (now - chrono::Duration::minutes(5)).to_rfc3339();
    let future = (now + chrono::Duration::hours(1)).to_rfc3339();
    let started = (now - chrono::Duration::hours(1)).to_rfc3339();
    let firing_labels: BTreeMap<String, String> = [
        ("alertname", "HighLatency"),
        ("job", "api"),
        ("team", "sré/ops — ünïcode"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let resolved_labels: BTreeMap<String, String> =
        [("alertname", "QueueStuck"), ("job", "worker")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let pending_end_labels: BTreeMap<String, String> = [("alertname", "EndsLater")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let body = json!([
        {"labels": firing_labels, "annotations": {"summary": "p99 > 2s"},
         "startsAt": started, "generatorURL": "http://prometheus.test/graph"},
        {"labels": resolved_labels, "startsAt": started, "endsAt": past},
        {"labels": pending_end_labels, "startsAt": started, "endsAt": future},
    ]);
    let reply = d.post("/api/v2/alerts", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let got = by_alert_name(&received(&mock, 3, "the three v2 alerts delivered").await);
    let firing = &got["HighLatency"];
    assert_eq!(firing["status"], "firing");
    assert_eq!(
        firing["fingerprint"],
        alertmanager_fingerprint(&firing_labels)
    );
    assert_eq!(firing["generator_url"], "http://prometheus.test/graph");
    assert_eq!(firing["annotations"]["summary"], "p99 > 2s");
    let resolved = &got["QueueStuck"];
    assert_eq!(
        resolved["status"], "resolved",
        "endsAt in the past = resolved"
    );
    assert_eq!(
        resolved["fingerprint"],
        alertmanager_fingerprint(&resolved_labels)
    );
    let later = &got["EndsLater"];
    assert_eq!(
        later["status"], "firing",
        "endsAt in the future = still firing"
    );
    assert_eq!(
        later["fingerprint"],
        alertmanager_fingerprint(&pending_end_labels)
    );

    // Not an array, and an alert without labels: 400 naming what is wrong.
    let reply = d.post("/api/v2/alerts", &json!({"labels": {}})).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.error().contains("postable alerts"), "{}", reply.body);
    let reply = d
        .post(
            "/api/v2/alerts",
            &json!([{"annotations": {"summary": "no labels"}}]),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.error().contains("`labels`"), "{}", reply.body);
}

#[tokio::test]
async fn publish_answers_200_with_the_full_result_using_the_documented_field_names() {
    let (ok, broken) = (
        MockTarget::start(Behaviour::status(202)).await,
        MockTarget::start(Behaviour::status(503).body("down for maintenance")).await,
    );
    let setup = DaemonSetup::new().adapter("webhook");
    let d = hook(hook(setup, "hook-ok", &ok), "hook-broken", &broken)
        .start()
        .await;

    let reply = d.publish(&publish_request("PartlyDelivered")).await;
    assert_eq!(reply.status, 200, "one target succeeded: {}", reply.body);
    let r = reply.json();
    for field in [
        "total_targets",
        "success_count",
        "failure_count",
        "skipped_count",
        "is_partial_success",
        "duration_ms",
        "results",
    ] {
        assert!(r.get(field).is_some(), "`{field}` missing: {r}");
    }
    assert_eq!(r["total_targets"], 2);
    assert_eq!(r["success_count"], 1);
    assert_eq!(r["failure_count"], 1);
    assert_eq!(r["skipped_count"], 0);
    assert_eq!(r["is_partial_success"], true);
    assert!(r["duration_ms"].is_number(), "{r}");

    let results = r["results"].as_array().expect("results is an array");
    assert_eq!(results.len(), 2);
    let find = |name: &str| {
        results
            .iter()
            .find(|x| x["target_name"] == name)
            .unwrap_or_else(|| panic!("no result for {name}: {r}"))
    };
    let good = find("hook-ok");
    for field in [
        "target_name",
        "target_type",
        "success",
        "skipped",
        "status_code",
        "duration_ms",
    ] {
        assert!(good.get(field).is_some(), "`{field}` missing: {good}");
    }
    assert_eq!(good["target_type"], "webhook");
    assert_eq!(good["success"], true);
    assert_eq!(good["skipped"], false);
    assert_eq!(good["status_code"], 202);
    assert!(good["duration_ms"].is_number());

    let bad = find("hook-broken");
    assert_eq!(bad["success"], false);
    assert_eq!(bad["skipped"], false);
    assert_eq!(bad["status_code"], 503);
    assert_eq!(keys(&bad["error"]), ["class", "message"], "{bad}");
    assert_eq!(bad["error"]["class"], "transient");
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );

    assert_eq!(ok.received()[0].json()["alert_name"], "PartlyDelivered");
    assert_eq!(broken.hits(), 1);
}

#[tokio::test]
async fn publish_answers_502_with_the_result_when_every_target_fails() {
    let (a, b) = (
        MockTarget::start(Behaviour::status(500)).await,
        MockTarget::start(Behaviour::status(400)).await,
    );
    let setup = DaemonSetup::new().adapter("webhook");
    let d = hook(hook(setup, "hook-a", &a), "hook-b", &b).start().await;

    let reply = d.publish(&publish_request("NobodyHome")).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    let r = reply.json();
    assert_eq!(
        r["total_targets"], 2,
        "the full result comes with the 502: {r}"
    );
    assert_eq!(r["success_count"], 0);
    assert_eq!(r["failure_count"], 2);
    assert_eq!(r["is_partial_success"], false);
    let classes: BTreeMap<String, Value> = r["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x["target_name"].as_str().unwrap_or_default().to_string(),
                x["error"]["class"].clone(),
            )
        })
        .collect();
    assert_eq!(classes["hook-a"], "transient");
    assert_eq!(classes["hook-b"], "permanent");
}

#[tokio::test]
async fn publish_to_an_unknown_target_name_is_404_and_nothing_is_sent() {
    let (mock, other) = (
        MockTarget::start(Behaviour::default()).await,
        MockTarget::start(Behaviour::default()).await,
    );
    let setup = DaemonSetup::new().adapter("webhook");
    let d = hook(hook(setup, "hook", &mock), "other", &other)
        .start()
        .await;

    let mut request = publish_request("Typo");
    request["targets"] = json!(["hook", "no-such-target"]);
    let reply = d.publish(&request).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(reply.error().contains("no-such-target"), "{}", reply.body);
    assert_eq!(
        mock.hits(),
        0,
        "a request naming an unknown target is refused as a whole"
    );

    assert_eq!(other.hits(), 0);

    // Naming only known targets delivers to those only.
    let mut request = publish_request("Chosen");
    request["targets"] = json!(["hook"]);
    let reply = d.publish(&request).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["total_targets"], 1);
    assert_eq!(mock.hits(), 1);
    assert_eq!(other.hits(), 0, "only the named target");
}

#[tokio::test]
async fn publish_of_an_invalid_alert_is_422_and_a_malformed_request_400() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = hook(DaemonSetup::new().adapter("webhook"), "hook", &mock)
        .start()
        .await;

    let mut no_alertname = publish_request("x");
    no_alertname["alert"]["labels"] = json!({"severity": "critical"});
    let reply = d.publish(&no_alertname).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.error().contains("alertname"), "{}", reply.body);

    let mut ends_before_start = publish_request("Backwards");
    ends_before_start["alert"]["ends_at"] = json!("2026-11-30T10:00:00Z");
    let reply = d.publish(&ends_before_start).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.error().contains("ends_at"), "{}", reply.body);

    let mut bad_confidence = publish_request("Overconfident");
    bad_confidence["classification"] =
        json!({"severity": "critical", "confidence": 1.5, "reasoning": "", "recommendations": []});
    let reply = d.publish(&bad_confidence).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(reply.error().contains("confidence"), "{}", reply.body);

    // Not an alert at all: a 400 naming the problem.
    let reply = d.publish(&json!({"targets": ["hook"]})).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.error().contains("`alert`"), "{}", reply.body);
    let mut typo = publish_request("Typo");
    typo["alert"]["statuss"] = json!("firing");
    let reply = d.publish(&typo).await;
    assert_eq!(
        reply.status, 400,
        "unknown fields are rejected: {}",
        reply.body
    );
    assert!(reply.error().contains("statuss"), "{}", reply.body);

    assert_eq!(mock.hits(), 0);
}

#[tokio::test]
async fn publish_is_503_when_no_target_is_routable() {
    let mock = MockTarget::start(Behaviour::default()).await;
    // `orphan`'s kind has no plugin; `paused` is disabled.
    let d = DaemonSetup::new()
        .adapter("webhook")
        .target("orphan", "nosuch", &mock.url("/orphan"), "")
        .target("paused", "webhook", &mock.url("/paused"), "enabled = false")
        .start()
        .await;

    let reply = d.publish(&publish_request("NowhereToGo")).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let body = reply.json();
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    let reasons: BTreeMap<String, Value> = body["result"]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            (
                x["target_name"].as_str().unwrap_or_default().to_string(),
                x["skip_reason"].clone(),
            )
        })
        .collect();
    assert_eq!(reasons["orphan"], "no_plugin", "{body}");
    assert_eq!(reasons["paused"], "disabled", "{body}");

    // Each alone, too.
    for name in ["orphan", "paused"] {
        let mut request = publish_request("NowhereToGo");
        request["targets"] = json!([name]);
        let reply = d.publish(&request).await;
        assert_eq!(reply.status, 503, "only `{name}`: {}", reply.body);
    }
    assert_eq!(mock.hits(), 0);
}

#[tokio::test]
async fn publish_with_no_targets_configured_is_503() {
    let d = DaemonSetup::new().adapter("webhook").start().await;
    let reply = d.publish(&publish_request("Alone")).await;
    assert_eq!(
        reply.status, 503,
        "no target at all is \"no target routable\": {}",
        reply.body
    );
    let mut request = publish_request("Alone");
    request["targets"] = json!([]);
    let reply = d.publish(&request).await;
    assert_eq!(reply.status, 503, "an empty target list: {}", reply.body);
}

#[tokio::test]
async fn shutdown_finishes_background_publishes_already_accepted() {
    let slow = MockTarget::start(Behaviour::default().delayed(Duration::from_millis(500))).await;
    let d = DaemonSetup::new()
        .adapter("webhook")
        .target("slow-drain", "webhook", &slow.url("/slow"), "")
        .start()
        .await;
    let delivered = || {
        herald::metrics::metrics()
            .targets_success
            .with_label_values(&["slow-drain"])
            .get()
    };
    let before = delivered();
    let reply = d
        .post("/api/v1/alerts/alertmanager", &webhook_payload())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The in-memory intake publishes a payload's alerts one after the other.
    received(&slow, 1, "the first alert on its way to the slow target").await;
    assert_eq!(delivered(), before, "the slow target has not answered yet");

    d.stop().await.expect("a clean shutdown");
    assert_eq!(slow.hits(), 2);
    assert_eq!(
        delivered(),
        before + 2,
        "shutdown waited for the accepted alerts' deliveries to finish"
    );
}

#[tokio::test]
async fn shutdown_is_bounded_by_the_grace_period_even_with_a_stalled_client() {
    use tokio::io::AsyncWriteExt;
    let d = DaemonSetup::new()
        .adapter("webhook")
        .set("server", "shutdown_grace = \"1s\"")
        .start()
        .await;
    // A client that starts a request and never finishes its body.
    let mut stalled = tokio::net::TcpStream::connect(d.addr)
        .await
        .expect("connecting to the daemon");
    stalled
        .write_all(
            b"POST /api/v1/publish HTTP/1.1\r\nHost: herald\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"alert\":",
        )
        .await
        .expect("sending half a request");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let stopped = tokio::time::timeout(SOON, d.stop()).await;
    assert!(
        stopped.is_ok(),
        "the daemon still had not stopped {SOON:?} after shutdown began, with a 1s grace \
         period: one stalled client holds shutdown up indefinitely"
    );
    drop(stalled);
}

// ---------------------------------------------------------------- admin

/// A PagerDuty integration key (32 letters and digits); must never be shown.
const ROUTING_KEY: &str = "SecretRoutingKey0123456789abcdef";
/// A webhook signing secret; must never be shown.
const SIGNING_SECRET: &str = "sig-secret-value-9f8e7d";
/// A header value carrying a token; must never be shown.
const HEADER_TOKEN: &str = "hdr-token-value-4242";

#[tokio::test]
async fn targets_are_listed_without_secret_or_header_values() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = DaemonSetup::new()
        .adapter("webhook")
        .adapter("pagerduty")
        .target(
            "hook",
            "webhook",
            &mock.url("/hook"),
            &format!(
                "[headers]\nAuthorization = \"Bearer {HEADER_TOKEN}\"\n\
                 [options]\nformat = \"alertmanager\"\n\
                 [secrets]\nsigning_secret = \"{SIGNING_SECRET}\"\n"
            ),
        )
        .target(
            "pd",
            "pagerduty",
            &mock.url(""),
            &format!("[secrets]\nrouting_key = \"{ROUTING_KEY}\"\n"),
        )
        .target("orphan", "nosuch", &mock.url("/orphan"), "")
        .target("paused", "webhook", &mock.url("/paused"), "enabled = false")
        .start()
        .await;

    let reply = d.get("/api/v1/targets").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    for secret in [ROUTING_KEY, SIGNING_SECRET, HEADER_TOKEN] {
        assert!(
            !reply.body.contains(secret),
            "a secret leaked: {}",
            reply.body
        );
    }
    let list = reply.json();
    let names: Vec<&str> = list
        .as_array()
        .expect("an array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["hook", "orphan", "paused", "pd"]);

    let by_name = |name: &str| {
        list.as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    let hook = by_name("hook");
    assert_eq!(hook["kind"], "webhook");
    assert_eq!(hook["url"], mock.url("/hook"));
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["routable"], true, "{hook}");
    assert_eq!(
        hook["headers"],
        json!(["Authorization"]),
        "header names only"
    );
    assert_eq!(
        hook["secrets"],
        json!(["signing_secret"]),
        "secret names only"
    );
    assert_eq!(hook["options"]["format"], "alertmanager");

    let orphan = by_name("orphan");
    assert_eq!(orphan["routable"], false, "{orphan}");
    let issues = orphan["issues"].to_string();
    assert!(
        issues.contains("nosuch") && issues.contains("plugin"),
        "says why: {orphan}"
    );
    let paused = by_name("paused");
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["routable"], false, "{paused}");
    assert_eq!(by_name("pd")["routable"], true, "{}", by_name("pd"));

    for name in ["hook", "pd", "orphan"] {
        let reply = d.get(&format!("/api/v1/targets/{name}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        for secret in [ROUTING_KEY, SIGNING_SECRET, HEADER_TOKEN] {
            assert!(
                !reply.body.contains(secret),
                "a secret leaked: {}",
                reply.body
            );
        }
        assert_eq!(reply.json()["name"], name);
    }
    assert_eq!(
        d.get("/api/v1/targets/pd").await.json()["secrets"],
        json!(["routing_key"])
    );
    let reply = d.get("/api/v1/targets/nobody").await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(reply.error().contains("nobody"));
}

#[tokio::test]
async fn secrets_never_reach_api_answers_even_when_a_target_echoes_them() {
    // Targets that fail and quote everything they were sent, headers included.
    let echo = || {
        MockTarget::start_with(|r| {
            let headers: Vec<String> = r
                .headers
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default()))
                .collect();
            Behaviour::status(400).body(format!(
                "rejected {} with headers {}",
                String::from_utf8_lossy(&r.body),
                headers.join(", ")
            ))
        })
    };
    let (hook_mock, pd_mock) = (echo().await, echo().await);
    let d = DaemonSetup::new()
        .adapter("webhook")
        .adapter("pagerduty")
        .target(
            "hook",
            "webhook",
            &hook_mock.url("/hook"),
            &format!(
                "[headers]\nAuthorization = \"Bearer {HEADER_TOKEN}\"\n\
                 [secrets]\nsigning_secret = \"{SIGNING_SECRET}\"\n"
            ),
        )
        .target(
            "pd",
            "pagerduty",
            &pd_mock.url(""),
            &format!("[secrets]\nrouting_key = \"{ROUTING_KEY}\"\n"),
        )
        .start()
        .await;

    let reply = d.publish(&publish_request("Echoed")).await;
    assert_eq!(reply.status, 502, "{}", reply.body);
    let test = d
        .send(Method::POST, "/api/v1/targets/pd/test", None, None)
        .await;
    assert_eq!(test.status, 502, "{}", test.body);
    // The targets did get the values (so the echo really contained them)...
    assert!(String::from_utf8_lossy(&pd_mock.received()[0].body).contains(ROUTING_KEY));
    assert_eq!(
        hook_mock.received()[0].header("authorization"),
        Some(format!("Bearer {HEADER_TOKEN}"))
    );
    // ...and none came back out through the API or the metrics.
    let metrics = d.metrics().await;
    for (what, text) in [
        ("the publish answer", &reply.body),
        ("the test answer", &test.body),
        ("/metrics", &metrics),
    ] {
        for secret in [ROUTING_KEY, SIGNING_SECRET, HEADER_TOKEN] {
            assert!(
                !text.contains(secret),
                "a secret leaked into {what}: {text}"
            );
        }
    }
    let errors = reply.json()["results"].to_string();
    assert!(
        errors.contains("400"),
        "the errors still say what happened: {errors}"
    );
}

#[tokio::test]
async fn test_endpoint_sends_a_marked_test_alert_to_that_target_only() {
    let (a, b) = (
        MockTarget::start(Behaviour::default()).await,
        MockTarget::start(Behaviour::default()).await,
    );
    let setup = DaemonSetup::new().adapter("webhook");
    let d = hook(hook(setup, "hook-a", &a), "hook-b", &b).start().await;

    let reply = d
        .send(Method::POST, "/api/v1/targets/hook-a/test", None, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let r = reply.json();
    assert_eq!(r["total_targets"], 1);
    assert_eq!(r["success_count"], 1);
    assert_eq!(r["results"][0]["target_name"], "hook-a");

    let got = a.received();
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["alert_name"], "HeraldTestAlert");
    assert_eq!(body["labels"]["herald_test"], "true");
    assert!(
        body["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.to_lowercase().contains("test")),
        "{body}"
    );
    assert_eq!(b.hits(), 0, "only the named target gets the test alert");

    let reply = d
        .send(Method::POST, "/api/v1/targets/nobody/test", None, None)
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

fn sha256_hex(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn plugins_are_listed_with_kind_versions_sha256_and_counts() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let d = DaemonSetup::new()
        .adapter("webhook")
        .adapter("pagerduty")
        .guest("herald_test_versioned_a", "versioned.wasm")
        .target("hook", "webhook", &mock.url("/hook"), "")
        .start()
        .await;
    let calls = |list: &Value, kind: &str| {
        list.as_array()
            .into_iter()
            .flatten()
            .find(|p| p["kinds"] == json!([kind]))
            .and_then(|p| p["calls"].as_u64())
            .unwrap_or_else(|| panic!("no call count for {kind}: {list}"))
    };
    let before = d.get("/api/v1/plugins").await.json();
    let reply = d.publish(&publish_request("CountMe")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    let reply = d.get("/api/v1/plugins").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let list = reply.json();
    let plugins = list.as_array().expect("an array");
    assert_eq!(plugins.len(), 3, "{list}");
    let by_kind = |kind: &str| {
        plugins
            .iter()
            .find(|p| p["kinds"] == json!([kind]))
            .cloned()
            .unwrap_or_else(|| panic!("no plugin for {kind}: {list}"))
    };
    for (kind, file, version) in [
        ("webhook", "webhook.wasm", "0.1.0"),
        ("pagerduty", "pagerduty.wasm", "0.1.0"),
        ("versioned", "versioned.wasm", "1.0.0"),
    ] {
        let p = by_kind(kind);
        let path = d.files.plugins_dir().join(file);
        assert_eq!(p["version"], version, "{p}");
        assert_eq!(p["wit_version"], "0.1.0", "{p}");
        assert_eq!(p["sha256"], sha256_hex(&path), "sha256 of {file}");
        assert_eq!(
            p["size"],
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            "{p}"
        );
        assert!(
            p["loaded_at"].as_u64().is_some_and(|t| t > 1_600_000_000),
            "{p}"
        );
        assert!(p["failures"].is_u64(), "{p}");
    }
    assert!(
        calls(&list, "webhook") > calls(&before, "webhook"),
        "the publish went through the webhook plugin: {before} then {list}"
    );
    assert_eq!(
        calls(&list, "pagerduty"),
        calls(&before, "pagerduty"),
        "and not through the others: {before} then {list}"
    );
}

#[tokio::test]
async fn reload_endpoint_reloads_on_demand_and_reports_what_it_did() {
    let (a, b) = (
        MockTarget::start(Behaviour::default()).await,
        MockTarget::start(Behaviour::default()).await,
    );
    let d = hook(DaemonSetup::new().adapter("webhook"), "hook-a", &a)
        .start()
        .await;

    d.write_target(
        "hook-b.toml",
        &herald_tests::daemon::target_toml("hook-b", "webhook", &b.url("/hook-b"), ""),
    );
    d.write_target("broken.toml", "name = \"broken\"\nkind = ");
    let reply = d.send(Method::POST, "/api/v1/reload", None, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let report = reply.json();
    for field in [
        "plugins_loaded",
        "kinds_unloaded",
        "plugins_rejected",
        "targets",
        "target_problems",
    ] {
        assert!(report.get(field).is_some(), "`{field}` missing: {report}");
    }
    assert_eq!(report["targets"], 2, "{report}");
    let problems = report["target_problems"].to_string();
    assert!(problems.contains("broken.toml"), "names the file: {report}");

    let mut request = publish_request("AfterReload");
    request["targets"] = json!(["hook-b"]);
    let reply = d.publish(&request).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(b.hits(), 1);
}

// ---------------------------------------------------------------- tokens

/// Every admin endpoint, with a method.
const ADMIN: &[(&str, &str)] = &[
    ("GET", "/api/v1/targets"),
    ("GET", "/api/v1/targets/hook"),
    ("POST", "/api/v1/targets/hook/test"),
    ("GET", "/api/v1/plugins"),
    ("POST", "/api/v1/reload"),
];

/// Every ingress endpoint with a valid body.
fn ingress() -> Vec<(&'static str, Value)> {
    vec![
        ("/api/v1/alerts/alertmanager", webhook_payload()),
        (
            "/api/v2/alerts",
            json!([{"labels": {"alertname": "ViaV2"}, "startsAt": "2026-12-01T10:00:00Z"}]),
        ),
        ("/api/v1/publish", publish_request("ViaPublish")),
    ]
}

async fn call(
    d: &TestDaemon,
    method: &str,
    path: &str,
    body: Option<&Value>,
    bearer: Option<&str>,
) -> u16 {
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    d.send(method, path, body.map(Value::to_string), bearer)
        .await
        .status
}

async fn open_probes(d: &TestDaemon) {
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(
            call(d, "GET", path, None, None).await,
            200,
            "{path} stays open"
        );
    }
}

#[tokio::test]
async fn with_an_admin_token_admin_endpoints_need_the_bearer() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let token = "admin-token-7c1e0d";
    let var = "HERALD_E2E_ADMIN_TOKEN_ADMIN_ENDPOINTS";
    let setup = DaemonSetup::new()
        .adapter("webhook")
        .set("admin", &format!("token_env = \"{var}\""))
        .env(var, token);
    let d = hook(setup, "hook", &mock).start().await;

    for (method, path) in ADMIN {
        assert_eq!(
            call(&d, method, path, None, None).await,
            401,
            "{method} {path} without a token"
        );
        let reply = d
            .send(
                Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
                path,
                None,
                Some("wrong-token"),
            )
            .await;
        assert_eq!(reply.status, 401, "{method} {path} with a wrong token");
        assert!(!reply.body.contains(token), "{}", reply.body);
        assert_eq!(
            call(&d, method, path, None, Some(&format!("{token}x"))).await,
            401,
            "{method} {path} with the token plus a character"
        );
        assert_eq!(
            call(&d, method, path, None, Some(token)).await,
            200,
            "{method} {path} with the token"
        );
    }
    // A Basic header carrying the token is not a bearer token.
    let reply = d
        .client
        .get(d.url("/api/v1/targets"))
        .basic_auth(token, Some(token))
        .send()
        .await
        .expect("GET /api/v1/targets");
    assert_eq!(reply.status(), 401);

    // Ingress has no token of its own here: open.
    for (path, body) in ingress() {
        assert_eq!(
            call(&d, "POST", path, Some(&body), None).await,
            200,
            "{path}"
        );
    }
    open_probes(&d).await;
}

#[tokio::test]
async fn with_an_ingress_token_ingress_endpoints_need_the_bearer() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let token = "ingress-token-51aa09";
    let setup = DaemonSetup::new()
        .adapter("webhook")
        .file("ingress.token", &format!("{token}\n"))
        .set("server", "ingress_token_file = \"ingress.token\"");
    let d = hook(setup, "hook", &mock).start().await;

    for (path, body) in ingress() {
        assert_eq!(
            call(&d, "POST", path, Some(&body), None).await,
            401,
            "{path} without a token"
        );
        assert_eq!(
            call(&d, "POST", path, Some(&body), Some("nope")).await,
            401,
            "{path} with a wrong token"
        );
    }
    assert_eq!(mock.hits(), 0, "nothing unauthenticated is delivered");
    for (path, body) in ingress() {
        assert_eq!(
            call(&d, "POST", path, Some(&body), Some(token)).await,
            200,
            "{path} with the token"
        );
    }
    // The webhook payload (2 alerts), the v2 alert, the publish: 4 deliveries.
    received(&mock, 4, "the authenticated alerts delivered").await;

    // Admin has no token here: open.
    for (method, path) in ADMIN {
        assert_eq!(
            call(&d, method, path, None, None).await,
            200,
            "{method} {path}"
        );
    }
    open_probes(&d).await;
}

#[tokio::test]
async fn admin_and_ingress_tokens_are_separate() {
    let mock = MockTarget::start(Behaviour::default()).await;
    let (admin, ingress_token) = ("admin-only-3f2", "ingress-only-8d4");
    let var = "HERALD_E2E_ADMIN_TOKEN_SEPARATE";
    let setup = DaemonSetup::new()
        .adapter("webhook")
        .set("admin", &format!("token_env = \"{var}\""))
        .env(var, admin)
        .file("ingress.token", ingress_token)
        .set("server", "ingress_token_file = \"ingress.token\"");
    let d = hook(setup, "hook", &mock).start().await;

    assert_eq!(
        call(&d, "GET", "/api/v1/targets", None, Some(ingress_token)).await,
        401
    );
    assert_eq!(
        call(&d, "GET", "/api/v1/targets", None, Some(admin)).await,
        200
    );
    let body = publish_request("Separate");
    assert_eq!(
        call(&d, "POST", "/api/v1/publish", Some(&body), Some(admin)).await,
        401
    );
    assert_eq!(
        call(
            &d,
            "POST",
            "/api/v1/publish",
            Some(&body),
            Some(ingress_token)
        )
        .await,
        200
    );
    open_probes(&d).await;
}

// ---------------------------------------------------------------- probes and metrics

#[tokio::test]
async fn healthz_and_readyz_answer_200_once_loaded() {
    let d = DaemonSetup::new().adapter("webhook").start().await;
    let reply = d.get("/healthz").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = d.get("/readyz").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn readyz_is_503_with_the_reason_when_no_plugin_is_loaded() {
    let d = DaemonSetup::new().start().await;
    assert_eq!(d.get("/healthz").await.status, 200, "alive all the same");
    let reply = d.get("/readyz").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("plugin"), "says why: {}", reply.body);
}

/// Where Debian's `prometheus` package puts promtool.
const PROMTOOL: &str = "/usr/bin/promtool";

/// Runs `promtool check metrics` on `text`: its exit status and output.
fn promtool_check(text: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    assert!(
        std::path::Path::new(PROMTOOL).is_file(),
        "{PROMTOOL} is missing: install Debian's `prometheus` package \
         (`apt-get update && apt-get install -y prometheus`), which provides promtool"
    );
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {PROMTOOL}: {e}"));
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("writing to promtool: {e}"));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for promtool: {e}"));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), output)
}

#[tokio::test]
async fn metrics_pass_promtool_and_carry_the_publish_and_reload_metrics() {
    let (ok, broken) = (
        MockTarget::start(Behaviour::default()).await,
        MockTarget::start(Behaviour::status(500)).await,
    );
    // Target names of their own: the per-target series below are this test's only.
    let d = DaemonSetup::new()
        .adapter("webhook")
        .target("metrics-orphan", "nosuch", &ok.url("/orphan"), "")
        .target("metrics-ok", "webhook", &ok.url("/ok"), "")
        .target("metrics-broken", "webhook", &broken.url("/broken"), "")
        .start()
        .await;
    let before = d.metrics().await;

    // Three partial successes (with a skip in each) and a total failure.
    for i in 0..3 {
        let reply = d.publish(&publish_request(&format!("Metrics{i}"))).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let mut request = publish_request("AllFail");
    request["targets"] = json!(["metrics-broken"]);
    // Three failures made the broken target unhealthy; ignore health so the
    // delivery is attempted (its breaker, at 3 of 5 failures, is still closed).
    request["strategy"] = json!("publish_to_all");
    assert_eq!(d.publish(&request).await.status, 502);

    let text = d.metrics().await;
    let (passed, output) = promtool_check(&text);
    assert!(
        passed,
        "promtool check metrics rejected /metrics:\n{output}\n---\n{text}"
    );

    for name in [
        "parallel_publish_duration_seconds",
        "parallel_publish_total",
        "parallel_publish_success_total",
        "parallel_publish_partial_success_total",
        "parallel_publish_failure_total",
        "parallel_publish_targets_total",
        "parallel_publish_targets_success",
        "parallel_publish_targets_failure",
        "parallel_publish_targets_skipped",
        "parallel_publish_goroutines",
        "plugin_invocations_total",
        "plugin_invocation_duration_seconds",
        "plugin_reloads_total",
        "target_reloads_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "`{name}` is not exported:\n{text}"
        );
    }
    // How much a series grew during this test's publishes. Process-wide
    // series may also grow from other tests sharing the process (`cargo
    // test`), hence `>=` for those.
    let grew = |name: &str, labels: &[(&str, &str)]| {
        herald_tests::daemon::metric_value(&text, name, labels)
            - herald_tests::daemon::metric_value(&before, name, labels)
    };
    assert!(grew("parallel_publish_partial_success_total", &[]) >= 3.0);
    assert!(grew("parallel_publish_failure_total", &[]) >= 1.0);
    assert!(grew("parallel_publish_total", &[("result", "partial")]) >= 3.0);
    assert!(grew("parallel_publish_total", &[("result", "failure")]) >= 1.0);
    assert!(
        grew(
            "parallel_publish_targets_total",
            &[("target_type", "webhook")]
        ) >= 7.0
    );
    assert!(grew("parallel_publish_duration_seconds_count", &[]) >= 4.0);
    assert_eq!(
        grew(
            "parallel_publish_targets_success",
            &[("target_name", "metrics-ok")]
        ),
        3.0
    );
    assert_eq!(
        grew(
            "parallel_publish_targets_failure",
            &[
                ("target_name", "metrics-broken"),
                ("error_type", "transient")
            ]
        ),
        4.0
    );
    assert_eq!(
        grew(
            "parallel_publish_targets_skipped",
            &[
                ("target_name", "metrics-orphan"),
                ("skip_reason", "no_plugin")
            ]
        ),
        3.0
    );
    assert!(
        grew(
            "plugin_invocations_total",
            &[
                ("kind", "webhook"),
                ("function", "prepare"),
                ("result", "ok")
            ]
        ) >= 7.0,
        "{text}"
    );
    let m = |name: &str, labels: &[(&str, &str)]| {
        herald_tests::daemon::metric_value(&text, name, labels)
    };
    assert!(
        m(
            "plugin_reloads_total",
            &[("kind", "webhook"), ("result", "ok")]
        ) >= 1.0
    );
    assert!(
        m("target_reloads_total", &[("result", "problems")]) >= 1.0,
        "metrics-orphan is a problem of the first load"
    );
    // Label values are target names and kinds, never alert labels.
    assert!(
        !text.contains("Metrics0"),
        "an alert label reached /metrics:\n{text}"
    );
}
