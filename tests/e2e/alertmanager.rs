//! The Alertmanager adapter against a real Alertmanager (Debian's
//! `prometheus-alertmanager`): a firing alert with a classification is
//! posted through the real runtime and publisher and read back from
//! `GET /api/v2/alerts` (labels, annotations with the `llm_*` fields, and the
//! fingerprint Alertmanager computes, which must equal Herald's); the
//! resolved alert then takes it off the active list.
//!
//! Without the binary these tests fail, saying how to install it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use herald::health::AlwaysHealthy;
use herald::model::{
    Alert, AlertStatus, Classification, EnrichedAlert, Severity, Target, alertmanager_fingerprint,
};
use herald::publish::ParallelPublishOptions;
use herald_tests::{RealAlertmanager, publisher, runtime};
use serde_json::Value;

const ALERTMANAGER: &str = "herald_plugin_alertmanager";

fn labels() -> BTreeMap<String, String> {
    [
        ("alertname", "HeraldRealPeer"),
        ("severity", "critical"),
        ("namespace", "prod"),
        ("instance", "db-1:9100"),
        // Non-ASCII and punctuation: the fingerprint hashes raw UTF-8 bytes.
        ("team", "sré/ops — ünïcode"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A firing alert that started a minute ago (Alertmanager refuses nothing in
/// the past, and a resolve with an end before "now" takes effect at once).
fn firing(started: DateTime<Utc>) -> EnrichedAlert {
    EnrichedAlert {
        alert: Alert {
            fingerprint: None,
            status: AlertStatus::Firing,
            labels: labels(),
            annotations: [
                ("summary", "p99 latency over 2s"),
                ("runbook_url", "https://runbooks.test/latency"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            starts_at: started,
            ends_at: None,
            generator_url: Some("http://prometheus.test/graph?g0.expr=latency".into()),
        },
        classification: Some(Classification {
            severity: Severity::Critical,
            confidence: 0.876,
            reasoning: "latency SLO burn on the checkout path".into(),
            recommendations: vec![
                "scale out".into(),
                "check db".into(),
                "page the owner".into(),
                "a fourth one is left out".into(),
            ],
            metadata: BTreeMap::new(),
        }),
        enrichment: None,
    }
}

/// The alerts Alertmanager lists at `path` whose fingerprint is `fingerprint`.
async fn listed(am: &RealAlertmanager, path: &str, fingerprint: &str) -> Vec<Value> {
    let (status, body) = am.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    let all: Vec<Value> = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {path} is not a JSON array ({e}): {body}"));
    all.into_iter()
        .filter(|a| a["fingerprint"] == fingerprint)
        .collect()
}

fn text(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn firing_then_resolved_through_a_real_alertmanager() {
    let am = RealAlertmanager::start().await;
    eprintln!("testing against Alertmanager {}", am.version());
    let target = Target::new("am-peer", "alertmanager", am.url());
    let p = publisher(
        runtime(&[ALERTMANAGER]).await,
        vec![target],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let started = Utc::now().trunc_subsecs(0) - chrono::Duration::minutes(1);
    let alert = firing(started);
    let fingerprint = alert.alert.fingerprint();
    assert_eq!(fingerprint, alertmanager_fingerprint(&labels()));

    // Firing: Alertmanager takes it and lists it as active.
    let r = p.publish_to_all(&alert).await.expect("firing published");
    let result = r.get("am-peer").expect("a result for am-peer");
    assert!(result.success, "{result:?}");
    assert_eq!(result.status_code, Some(200));

    let found = listed(&am, "/api/v2/alerts", &fingerprint).await;
    assert_eq!(
        found.len(),
        1,
        "Alertmanager should list exactly one alert with Herald's fingerprint {fingerprint} \
         (same label set, so the two fingerprint implementations agree); log:\n{}",
        am.log()
    );
    let got = &found[0];
    assert_eq!(text(&got["labels"]), labels());
    let annotations = text(&got["annotations"]);
    let expected: BTreeMap<String, String> = [
        ("summary", "p99 latency over 2s"),
        ("runbook_url", "https://runbooks.test/latency"),
        ("llm_severity", "critical"),
        ("llm_confidence", "0.88"),
        ("llm_reasoning", "latency SLO burn on the checkout path"),
        ("llm_recommendations", "scale out; check db; page the owner"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(annotations, expected);
    assert_eq!(
        got["generatorURL"],
        "http://prometheus.test/graph?g0.expr=latency"
    );
    let starts_at: DateTime<Utc> = got["startsAt"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("startsAt is a timestamp");
    assert_eq!(starts_at, started);
    assert_eq!(got["status"]["state"], "active", "{got}");
    // Sent without endsAt, so Alertmanager gives it its resolve_timeout.
    let ends_at: DateTime<Utc> = got["endsAt"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("endsAt is a timestamp");
    assert!(ends_at > Utc::now(), "a firing alert ends in the future");
    assert_eq!(
        listed(&am, "/api/v2/alerts?active=true", &fingerprint)
            .await
            .len(),
        1
    );

    // Resolved, with an end in the past: Alertmanager resolves it at once and
    // stops listing it (its API leaves out alerts whose endsAt has passed).
    let mut resolved = alert.clone();
    resolved.alert.status = AlertStatus::Resolved;
    resolved.alert.ends_at = Some(started + chrono::Duration::seconds(30));
    let r = p
        .publish_to_all(&resolved)
        .await
        .expect("resolved published");
    let result = r.get("am-peer").expect("a result for am-peer");
    assert!(result.success, "{result:?}");
    assert_eq!(result.status_code, Some(200));

    for path in ["/api/v2/alerts?active=true", "/api/v2/alerts"] {
        assert!(
            listed(&am, path, &fingerprint).await.is_empty(),
            "{path} still lists the resolved alert; log:\n{}",
            am.log()
        );
    }
    // Nor does any alert group hold it any longer.
    let (status, groups) = am.get("/api/v2/alerts/groups").await;
    assert_eq!(status, 200);
    assert!(!groups.contains(&fingerprint), "{groups}");
}

#[tokio::test]
async fn a_resolve_without_an_end_time_is_resolved_at_the_adapters_now() {
    let am = RealAlertmanager::start().await;
    let p = publisher(
        runtime(&[ALERTMANAGER]).await,
        vec![Target::new("am-peer", "alertmanager", am.url())],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let started = Utc::now().trunc_subsecs(0) - chrono::Duration::minutes(5);
    let mut alert = firing(started);
    alert.classification = None;
    alert
        .alert
        .labels
        .insert("alertname".into(), "HeraldNoEnd".into());
    let fingerprint = alert.alert.fingerprint();

    p.publish_to_all(&alert).await.expect("firing published");
    let found = listed(&am, "/api/v2/alerts", &fingerprint).await;
    assert_eq!(found.len(), 1, "log:\n{}", am.log());
    // No classification: no llm_* annotations at all.
    assert!(
        text(&found[0]["annotations"])
            .keys()
            .all(|k| !k.starts_with("llm_")),
        "{}",
        found[0]
    );

    let mut resolved = alert.clone();
    resolved.alert.status = AlertStatus::Resolved;
    resolved.alert.ends_at = None;
    p.publish_to_all(&resolved)
        .await
        .expect("resolved published");
    // endsAt = the adapter's "now", which is already past when we look (a
    // moment later, to be safe with clock granularity).
    let mut still = Vec::new();
    for _ in 0..50 {
        still = listed(&am, "/api/v2/alerts?active=true", &fingerprint).await;
        if still.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(still.is_empty(), "still active: {still:?}");
}

#[tokio::test]
async fn herald_and_alertmanager_agree_on_fingerprints() {
    let am = RealAlertmanager::start().await;
    let p = publisher(
        runtime(&[ALERTMANAGER]).await,
        vec![Target::new("am-peer", "alertmanager", am.url())],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let sets: Vec<Vec<(&str, &str)>> = vec![
        vec![("alertname", "A")],
        vec![("alertname", "B"), ("job", "node"), ("zone", "eu-1")],
        vec![
            ("alertname", "C"),
            ("a", "b=c,d"),
            ("x", "\"quoted\" {braces}"),
        ],
        vec![("alertname", "日本語"), ("emoji", "🔥"), ("_under", "x\ny")],
        // Names that sort differently by bytes than by "natural" order.
        vec![("alertname", "D"), ("Z", "1"), ("a", "2"), ("_", "3")],
    ];
    let started = Utc::now().trunc_subsecs(0) - chrono::Duration::minutes(1);
    for set in sets {
        let mut alert = firing(started);
        alert.classification = None;
        alert.alert.labels = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let ours = alertmanager_fingerprint(&alert.alert.labels);
        let r = p.publish_to_all(&alert).await.expect("published");
        assert!(r.results[0].success, "{:?}", r.results[0]);
        let (_, body) = am.get("/api/v2/alerts").await;
        let all: Vec<Value> = serde_json::from_str(&body).expect("a JSON array");
        let theirs: Vec<&Value> = all
            .iter()
            .filter(|a| text(&a["labels"]) == alert.alert.labels)
            .map(|a| &a["fingerprint"])
            .collect();
        assert_eq!(theirs.len(), 1, "{set:?} not found in {body}");
        assert_eq!(theirs[0], &ours, "labels {set:?}");
    }
}
