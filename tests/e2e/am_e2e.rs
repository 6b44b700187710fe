//! The real peer, end to end: a real Alertmanager (Debian's
//! `prometheus-alertmanager`) whose webhook receiver points at Herald's
//! `/api/v1/alerts/alertmanager` (with Herald's ingress token in its
//! `http_config`), alerts posted to Alertmanager's own API, and targets of
//! all five kinds behind Herald — a webhook, PagerDuty, Slack in bot mode and
//! Rootly as loopback fakes answering as the real APIs do, and a second real
//! Alertmanager — each checked for the right requests, firing and then
//! resolved.
//!
//! Without the Alertmanager binary this fails, saying how to install it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald::model::alertmanager_fingerprint;
use herald_tests::daemon::{DaemonSetup, eventually};
use herald_tests::{Behaviour, MockTarget, RealAlertmanager, Received};
use serde_json::{Value, json};

/// Alertmanager batches, waits and retries on its own clock; generous.
const AM_WAIT: Duration = Duration::from_secs(45);

const INGRESS_TOKEN: &str = "am-e2e-ingress-token-5d0c";
const ROUTING_KEY: &str = "E2eRoutingKey0123456789abcdefghi";
const SLACK_TOKEN: &str = "xoxb-1234567890-0987654321-E2ETOKEN";
const ROOTLY_KEY: &str = "rootly-e2e-api-key-7f7f7f";

fn body(r: &Received) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_default()
}

/// Slack's Web API as the adapter uses it: `chat.postMessage` hands out a
/// fresh `ts` in channel `C0ALERTS`; `chat.update` answers with the `ts` it
/// was given; every answer is HTTP 200 JSON with `ok`.
async fn fake_slack() -> MockTarget {
    let next = AtomicU64::new(0);
    MockTarget::start_with(move |r| {
        let b = body(r);
        let reply = if r.path == "/api/chat.postMessage" {
            let n = next.fetch_add(1, Ordering::SeqCst) + 1;
            json!({"ok": true, "channel": "C0ALERTS", "ts": format!("1700000000.{n:06}"),
                   "message": {"text": b["text"]}})
        } else if r.path == "/api/chat.update" {
            json!({"ok": true, "channel": b["channel"], "ts": b["ts"], "text": b["text"]})
        } else {
            json!({"ok": false, "error": "unknown_method"})
        };
        Behaviour::json(200, &reply)
    })
    .await
}

/// Rootly's alerts API: `POST /v1/alerts` answers 201 with `data.id`, the
/// same id again for the same `deduplication_key` (as Rootly deduplicates);
/// `POST /v1/alerts/{id}/resolve` answers 200 for a known id, 404 otherwise.
async fn fake_rootly() -> MockTarget {
    let ids: Mutex<HashMap<String, String>> = Mutex::new(HashMap::new());
    MockTarget::start_with(move |r| {
        let mut ids = ids.lock().unwrap_or_else(|e| e.into_inner());
        if r.path == "/v1/alerts" {
            let key = body(r)["data"]["attributes"]["deduplication_key"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let n = ids.len() + 1;
            let id = ids.entry(key).or_insert_with(|| format!("rootly-alert-{n}")).clone();
            return Behaviour::json(
                201,
                &json!({"data": {"id": id, "type": "alerts", "attributes": {"status": "triggered"}}}),
            );
        }
        let id = r
            .path
            .strip_prefix("/v1/alerts/")
            .and_then(|p| p.strip_suffix("/resolve"));
        match id {
            Some(id) if ids.values().any(|v| v == id) => Behaviour::json(
                200,
                &json!({"data": {"id": id, "type": "alerts", "attributes": {"status": "resolved"}}}),
            ),
            _ => Behaviour::json(
                404,
                &json!({"errors": [{"title": "Not found", "status": "404"}]}),
            ),
        }
    })
    .await
}

/// PagerDuty's Events API v2: 202 with its usual JSON reply.
async fn fake_pagerduty() -> MockTarget {
    MockTarget::start_with(|r| {
        Behaviour::json(
            202,
            &json!({"status": "success", "message": "Event processed",
                    "dedup_key": body(r)["dedup_key"]}),
        )
    })
    .await
}

fn labels(instance: &str) -> BTreeMap<String, String> {
    [
        ("alertname", "HeraldEndToEnd"),
        ("severity", "critical"),
        ("service", "checkout"),
        ("instance", instance),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The alerts Alertmanager (`am`) lists, by fingerprint.
async fn listed(am: &RealAlertmanager) -> BTreeMap<String, Value> {
    let (status, text) = am.get("/api/v2/alerts").await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Vec<Value>>(&text)
        .unwrap_or_else(|e| panic!("not a JSON array ({e}): {text}"))
        .into_iter()
        .map(|a| (a["fingerprint"].as_str().unwrap_or_default().to_string(), a))
        .collect()
}

/// `(field a, field b)` of every JSON body `mock` received at `path`.
fn pairs(mock: &MockTarget, path: &str, a: &str, b: &str) -> BTreeSet<(String, String)> {
    mock.received()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| {
            let v = body(r);
            let get = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            (get(a), get(b))
        })
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn a_real_alertmanager_drives_all_five_kinds_firing_then_resolved() {
    let (hook, pd, slack, rootly) = (
        MockTarget::start(Behaviour::default()).await,
        fake_pagerduty().await,
        fake_slack().await,
        fake_rootly().await,
    );
    let peer = RealAlertmanager::start().await;
    eprintln!("testing against Alertmanager {}", peer.version());

    let herald = DaemonSetup::new()
        .adapter("webhook")
        .adapter("pagerduty")
        .adapter("slack")
        .adapter("rootly")
        .adapter("alertmanager")
        .file("ingress.token", INGRESS_TOKEN)
        .set("server", "ingress_token_file = \"ingress.token\"")
        .target("hook", "webhook", &hook.url("/hook"), "")
        .target(
            "pd",
            "pagerduty",
            &pd.url(""),
            &format!("[secrets]\nrouting_key = \"{ROUTING_KEY}\"\n"),
        )
        .target(
            "chat",
            "slack",
            &slack.url(""),
            &format!(
                "[options]\nmode = \"bot\"\nchannel = \"#alerts\"\n[secrets]\nbot_token = \"{SLACK_TOKEN}\"\n"
            ),
        )
        .target(
            "incidents",
            "rootly",
            &rootly.url(""),
            &format!("[secrets]\napi_key = \"{ROOTLY_KEY}\"\n"),
        )
        .target("peer", "alertmanager", &peer.url(), "")
        .start()
        .await;
    let targets = herald.get("/api/v1/targets").await.json();
    assert!(
        targets
            .as_array()
            .is_some_and(|t| t.len() == 5 && t.iter().all(|t| t["routable"] == true)),
        "all five targets routable: {targets}"
    );

    // The Alertmanager users run: notifies Herald at once, resolved too.
    let config = format!(
        "route:
  receiver: herald
  group_by: ['alertname']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: herald
    webhook_configs:
      - url: '{}'
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: '{INGRESS_TOKEN}'
",
        herald.url("/api/v1/alerts/alertmanager")
    );
    let am = RealAlertmanager::start_with_config(&config).await;
    let post_to_am = |alerts: Value| {
        let (client, url) = (herald.client.clone(), format!("{}/api/v2/alerts", am.url()));
        async move {
            let reply = client
                .post(url)
                .header("content-type", "application/json")
                .body(alerts.to_string())
                .send()
                .await
                .expect("POST to Alertmanager");
            let status = reply.status().as_u16();
            assert_eq!(
                status,
                200,
                "Alertmanager refused the alerts: {:?}",
                reply.text().await
            );
        }
    };

    let (l1, l2) = (labels("db-1:9100"), labels("db-2:9100"));
    let (f1, f2) = (alertmanager_fingerprint(&l1), alertmanager_fingerprint(&l2));
    let started = chrono::Utc::now() - chrono::Duration::minutes(2);
    let alert = |l: &BTreeMap<String, String>, ends: Option<chrono::DateTime<chrono::Utc>>| {
        let mut a = json!({
            "labels": l,
            "annotations": {"summary": format!("checkout errors on {}", l["instance"]),
                            "runbook_url": "https://runbooks.test/checkout"},
            "startsAt": started.to_rfc3339(),
            "generatorURL": "http://prometheus.test/graph?g0.expr=errors",
        });
        if let Some(end) = ends {
            a["endsAt"] = json!(end.to_rfc3339());
        }
        a
    };

    // ---- firing
    post_to_am(json!([alert(&l1, None), alert(&l2, None)])).await;
    let firing = set(&[(&f1, "firing"), (&f2, "firing")]);
    eventually(
        "the webhook target to get both alerts firing",
        AM_WAIT,
        || async {
            pairs(&hook, "/hook", "/fingerprint", "/status")
                .is_superset(&firing)
                .then_some(())
        },
    )
    .await;
    let triggers = set(&[(&f1, "trigger"), (&f2, "trigger")]);
    eventually("PagerDuty to get both triggers", AM_WAIT, || async {
        pairs(&pd, "/v2/enqueue", "/dedup_key", "/event_action")
            .is_superset(&triggers)
            .then_some(())
    })
    .await;
    let parents: BTreeSet<String> = eventually("Slack to get both messages", AM_WAIT, || async {
        let posts: Vec<Received> = slack
            .received()
            .into_iter()
            .filter(|r| r.path == "/api/chat.postMessage")
            .collect();
        (posts.len() >= 2).then(|| {
            (1..=posts.len())
                .map(|n| format!("1700000000.{n:06}"))
                .collect()
        })
    })
    .await;
    let created = eventually("Rootly to get both alerts", AM_WAIT, || async {
        let keys: BTreeSet<String> = rootly
            .received()
            .iter()
            .filter(|r| r.path == "/v1/alerts")
            .filter_map(|r| {
                body(r)["data"]["attributes"]["deduplication_key"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        (keys.contains(&f1) && keys.contains(&f2)).then_some(keys)
    })
    .await;
    assert_eq!(created.len(), 2, "{created:?}");
    let on_peer = eventually(
        "the peer Alertmanager to list both alerts",
        AM_WAIT,
        || async {
            let listed = listed(&peer).await;
            (listed.contains_key(&f1) && listed.contains_key(&f2)).then_some(listed)
        },
    )
    .await;

    // What each received, in detail.
    let first = hook
        .received()
        .iter()
        .map(body)
        .find(|b| b["fingerprint"] == f1.as_str())
        .expect("a webhook body for db-1");
    assert_eq!(first["alert_name"], "HeraldEndToEnd");
    assert_eq!(first["labels"]["instance"], "db-1:9100");
    assert_eq!(
        first["annotations"]["summary"],
        "checkout errors on db-1:9100"
    );
    assert_eq!(
        first["generator_url"],
        "http://prometheus.test/graph?g0.expr=errors"
    );

    let trigger = pd
        .received()
        .iter()
        .map(body)
        .find(|b| b["dedup_key"] == f1.as_str())
        .expect("a trigger");
    assert_eq!(trigger["routing_key"], ROUTING_KEY);
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert!(
        trigger["payload"]["summary"].as_str().is_some_and(|s| s
            .contains("checkout errors on db-1:9100")
            || s.contains("HeraldEndToEnd")),
        "{trigger}"
    );

    let post = slack
        .received()
        .into_iter()
        .find(|r| r.path == "/api/chat.postMessage")
        .expect("a Slack post");
    assert_eq!(
        post.header("authorization").as_deref(),
        Some(&*format!("Bearer {SLACK_TOKEN}"))
    );
    let post_body = body(&post);
    assert_eq!(post_body["channel"], "#alerts");
    assert!(
        post_body.get("thread_ts").is_none(),
        "a new message, not a reply: {post_body}"
    );
    assert!(
        post_body["text"]
            .as_str()
            .is_some_and(|t| t.contains("HeraldEndToEnd")),
        "{post_body}"
    );

    let create = rootly
        .received()
        .into_iter()
        .find(|r| r.path == "/v1/alerts")
        .expect("a Rootly create");
    assert_eq!(
        create.header("authorization").as_deref(),
        Some(&*format!("Bearer {ROOTLY_KEY}"))
    );
    assert_eq!(
        create.header("content-type").as_deref(),
        Some("application/vnd.api+json")
    );
    let attributes = &body(&create)["data"]["attributes"];
    assert_eq!(attributes["status"], "triggered", "{attributes}");
    assert_eq!(attributes["source"], "alertmanager", "{attributes}");

    let mirrored = &on_peer[&f1];
    let mirrored_labels: BTreeMap<String, String> =
        serde_json::from_value(mirrored["labels"].clone()).unwrap_or_default();
    assert_eq!(
        mirrored_labels, l1,
        "the same label set, so the same fingerprint"
    );
    assert_eq!(
        mirrored["annotations"]["summary"],
        "checkout errors on db-1:9100"
    );
    assert_eq!(mirrored["status"]["state"], "active");

    // ---- resolved: the same alerts again, ending in the past
    let ended = chrono::Utc::now() - chrono::Duration::seconds(5);
    post_to_am(json!([alert(&l1, Some(ended)), alert(&l2, Some(ended))])).await;
    let resolved = set(&[(&f1, "resolved"), (&f2, "resolved")]);
    eventually(
        "the webhook target to get both alerts resolved",
        AM_WAIT,
        || async {
            pairs(&hook, "/hook", "/fingerprint", "/status")
                .is_superset(&resolved)
                .then_some(())
        },
    )
    .await;
    let resolves = set(&[(&f1, "resolve"), (&f2, "resolve")]);
    eventually("PagerDuty to get both resolves", AM_WAIT, || async {
        pairs(&pd, "/v2/enqueue", "/dedup_key", "/event_action")
            .is_superset(&resolves)
            .then_some(())
    })
    .await;
    eventually(
        "Slack to update both messages and reply in their threads",
        AM_WAIT,
        || async {
            let got = slack.received();
            let updated: BTreeSet<String> = got
                .iter()
                .filter(|r| r.path == "/api/chat.update")
                .filter_map(|r| body(r)["ts"].as_str().map(str::to_string))
                .collect();
            let replied: BTreeSet<String> = got
                .iter()
                .filter(|r| r.path == "/api/chat.postMessage")
                .filter_map(|r| body(r)["thread_ts"].as_str().map(str::to_string))
                .collect();
            (updated.is_superset(&parents) && replied.is_superset(&parents)).then_some(())
        },
    )
    .await;
    let resolve_paths: BTreeSet<String> = (1..=2)
        .map(|n| format!("/v1/alerts/rootly-alert-{n}/resolve"))
        .collect();
    eventually("Rootly to resolve both alerts by id", AM_WAIT, || async {
        let paths: BTreeSet<String> = rootly
            .received()
            .iter()
            .filter(|r| r.path.ends_with("/resolve"))
            .map(|r| r.path.clone())
            .collect();
        (paths == resolve_paths).then_some(())
    })
    .await;
    eventually(
        "the peer Alertmanager to drop both alerts",
        AM_WAIT,
        || async {
            let listed = listed(&peer).await;
            (!listed.contains_key(&f1) && !listed.contains_key(&f2)).then_some(())
        },
    )
    .await;

    let resolved_body = hook
        .received()
        .iter()
        .map(body)
        .find(|b| b["fingerprint"] == f1.as_str() && b["status"] == "resolved")
        .expect("a resolved webhook body");
    assert!(
        resolved_body["ends_at"].is_string(),
        "a resolved alert has its end: {resolved_body}"
    );
    let pd_resolve = pd
        .received()
        .iter()
        .map(body)
        .find(|b| b["event_action"] == "resolve")
        .expect("a PagerDuty resolve");
    assert_eq!(
        pd_resolve["routing_key"], ROUTING_KEY,
        "the same key as the trigger"
    );

    // Nothing failed along the way, and no secret went anywhere it should not.
    let metrics = herald.metrics().await;
    for (name, value) in [
        ("pd", ROUTING_KEY),
        ("chat", SLACK_TOKEN),
        ("incidents", ROOTLY_KEY),
    ] {
        assert!(!metrics.contains(value), "{name}'s secret reached /metrics");
        assert_eq!(
            herald_tests::daemon::metric_value(
                &metrics,
                "parallel_publish_targets_failure",
                &[("target_name", name)]
            ),
            0.0,
            "{name} had failed deliveries:\n{metrics}"
        );
    }
    let listing = herald.get("/api/v1/targets").await.body;
    for secret in [ROUTING_KEY, SLACK_TOKEN, ROOTLY_KEY, INGRESS_TOKEN] {
        assert!(!listing.contains(secret), "a secret in /api/v1/targets");
    }
    assert!(
        !am.log().contains("level=error"),
        "Alertmanager had errors notifying Herald:\n{}",
        am.log()
    );
}
