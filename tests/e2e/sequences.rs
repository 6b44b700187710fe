//! Multi-delivery sequences through the adapters that keep state — Slack in
//! bot mode, Rootly in alerts and incidents mode, and the worked example of
//! `plugins/README.md` — with the real runtime, the real publisher and the
//! real state store, against loopback fakes that behave as the real APIs do (Slack hands out `ts` values and forgets deleted
//! messages; Rootly hands out ids, deduplicates alerts, answers 404 for what
//! is gone and 409 for an incident already resolved).
//!
//! Each step checks the requests the fake received (method, path, headers,
//! body fields), the result the publisher reported, and the adapter's state
//! for (target, fingerprint) afterwards. Two targets of the same kind
//! delivering the same alert must never see each other's state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use herald::health::AlwaysHealthy;
use herald::model::{AlertStatus, EnrichedAlert, ParallelPublishResult, Target, TargetResult};
use herald::plugin::{PluginRuntime, StateScope};
use herald::publish::{ParallelPublishOptions, Publisher};
use herald_tests::{Behaviour, MockTarget, Received, alert, publisher, runtime};
use serde_json::{Value, json};

const SLACK: &str = "herald_plugin_slack";
const ROOTLY: &str = "herald_plugin_rootly";

const TOKEN_A: &str = "xoxb-1111111111-2222222222-SEQUENCETOKENA";
const TOKEN_B: &str = "xoxb-3333333333-4444444444-SEQUENCETOKENB";
const KEY_A: &str = "rootly-sequence-key-aaaaaaaaaa";
const KEY_B: &str = "rootly-sequence-key-bbbbbbbbbb";

// ------------------------------------------------------------------ helpers

/// The adapter's state for (target, fingerprint), as a map.
fn state(rt: &PluginRuntime, target: &str, fingerprint: &str) -> BTreeMap<String, String> {
    rt.state()
        .entries(&StateScope::new(target, fingerprint))
        .into_iter()
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The same alert, resolved half an hour after it started.
fn resolved(a: &EnrichedAlert) -> EnrichedAlert {
    let mut r = a.clone();
    r.alert.status = AlertStatus::Resolved;
    r.alert.ends_at = Some(a.alert.starts_at + chrono::Duration::minutes(30));
    r
}

/// Publishes to `targets` only and returns the result for `name`.
async fn deliver(
    p: &Publisher,
    a: &EnrichedAlert,
    targets: &[&Target],
    name: &str,
) -> TargetResult {
    let targets: Vec<Target> = targets.iter().map(|t| (*t).clone()).collect();
    let r: ParallelPublishResult = p
        .publish_to_multiple(None, a, &targets)
        .await
        .unwrap_or_else(|e| panic!("publish failed: {e}: {:?}", e.result()));
    let json = serde_json::to_string(&r).expect("results serialize");
    for secret in [TOKEN_A, TOKEN_B, KEY_A, KEY_B] {
        assert!(!json.contains(secret), "a secret leaked into {json}");
    }
    r.get(name).cloned().expect("a result for the target")
}

/// The requests `mock` received since the last call, advancing `seen`.
fn new_requests(mock: &MockTarget, seen: &mut usize) -> Vec<Received> {
    let all = mock.received();
    let out = all[*seen..].to_vec();
    *seen = all.len();
    out
}

/// Locks a fake's world (a panic in another test thread does not matter here).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn note(r: &TargetResult) -> &str {
    assert!(r.success, "delivery failed: {r:?}");
    r.note.as_deref().unwrap_or_default()
}

// ------------------------------------------------------------ a fake Slack

/// One message in the fake Slack workspace.
#[derive(Debug, Clone)]
struct Message {
    channel: String,
    /// The token that posted it (only its bot may update it).
    token: String,
    text: String,
    color: String,
    thread_ts: Option<String>,
}

#[derive(Debug, Default)]
struct SlackWorld {
    next_ts: u64,
    /// By `ts`.
    messages: BTreeMap<String, Message>,
}

/// Slack's Web API as far as the adapter uses it: `chat.postMessage` hands
/// out a fresh `ts` and answers with the channel id (names are resolved),
/// `chat.update` needs the channel id and a live `ts` of the same bot
/// (`message_not_found`, `cant_update_message` otherwise), every reply is
/// HTTP 200 JSON with `ok`, and a bad token is `invalid_auth`.
struct FakeSlack {
    mock: MockTarget,
    world: Arc<Mutex<SlackWorld>>,
}

/// Channel names the workspace knows, and their ids.
const CHANNELS: &[(&str, &str)] = &[("#alerts", "C0ALERTS"), ("#alerts-b", "C0ALERTSB")];

impl FakeSlack {
    async fn start() -> Self {
        let world = Arc::new(Mutex::new(SlackWorld::default()));
        let w = world.clone();
        let mock = MockTarget::start_with(move |r| slack_answer(&mut lock(&w), r)).await;
        Self { mock, world }
    }

    fn target(&self, name: &str, token: &str, channel: &str) -> Target {
        Target::new(name, "slack", self.mock.url(""))
            .with_option("channel", channel)
            .with_secret("bot_token", token)
    }

    fn message(&self, ts: &str) -> Option<Message> {
        lock(&self.world).messages.get(ts).cloned()
    }

    /// Someone deleted the message in Slack.
    fn delete(&self, ts: &str) {
        lock(&self.world).messages.remove(ts);
    }

    /// The replies in the thread of `ts`.
    fn replies(&self, ts: &str) -> Vec<Message> {
        let world = lock(&self.world);
        world
            .messages
            .values()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .cloned()
            .collect()
    }
}

fn ok(body: Value) -> Behaviour {
    Behaviour::json(200, &body)
}

fn slack_error(code: &str) -> Behaviour {
    ok(json!({"ok": false, "error": code}))
}

fn slack_answer(world: &mut SlackWorld, r: &Received) -> Behaviour {
    let token = match r.header("authorization") {
        None => return slack_error("not_authed"),
        Some(h) => match h.strip_prefix("Bearer ") {
            Some(t) if t == TOKEN_A || t == TOKEN_B => t.to_string(),
            _ => return slack_error("invalid_auth"),
        },
    };
    let body = r.json();
    let color = body["attachments"][0]["color"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let text = body["text"].as_str().unwrap_or_default().to_string();
    match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/api/chat.postMessage") => {
            let wanted = body["channel"].as_str().unwrap_or_default();
            let Some(channel) = CHANNELS
                .iter()
                .find(|(name, id)| *name == wanted || *id == wanted)
                .map(|(_, id)| id.to_string())
            else {
                return slack_error("channel_not_found");
            };
            if text.is_empty() {
                return slack_error("no_text");
            }
            world.next_ts += 1;
            let ts = format!("1767322800.{:06}", world.next_ts);
            let thread_ts = body["thread_ts"].as_str().map(str::to_string);
            world.messages.insert(
                ts.clone(),
                Message {
                    channel: channel.clone(),
                    token,
                    text: text.clone(),
                    color,
                    thread_ts: thread_ts.clone(),
                },
            );
            ok(json!({
                "ok": true, "channel": channel, "ts": ts,
                "message": {"type": "message", "text": text, "ts": ts, "thread_ts": thread_ts}
            }))
        }
        ("POST", "/api/chat.update") => {
            let channel = body["channel"].as_str().unwrap_or_default();
            if !CHANNELS.iter().any(|(_, id)| *id == channel) {
                // chat.update takes the channel id only.
                return slack_error("channel_not_found");
            }
            let ts = body["ts"].as_str().unwrap_or_default();
            let Some(message) = world.messages.get_mut(ts).filter(|m| m.channel == channel) else {
                return slack_error("message_not_found");
            };
            if message.token != token {
                return slack_error("cant_update_message");
            }
            message.text = text.clone();
            message.color = color;
            ok(
                json!({"ok": true, "channel": channel, "ts": ts, "text": text,
                      "message": {"type": "message", "text": text}}),
            )
        }
        _ => slack_error("unknown_method"),
    }
}

/// Checks a Web API call: method, path, bearer token, JSON content type.
fn assert_api_call(r: &Received, method: &str, token: &str) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, format!("/api/{method}"));
    assert_eq!(
        r.header("authorization").as_deref(),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
    r.json()
}

// ------------------------------------------------------------------ Slack

#[tokio::test]
async fn slack_bot_posts_then_updates_then_resolves_in_the_thread() {
    let slack = FakeSlack::start().await;
    let rt = runtime(&[SLACK]).await;
    let target = slack.target("slack-ops", TOKEN_A, "#alerts");
    let p = publisher(
        rt.clone(),
        vec![target.clone()],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let firing = alert("HighLatency");
    let fp = firing.alert.fingerprint();
    let mut seen = 0;

    // 1. Firing, nothing remembered: a new message; its channel id and ts remembered.
    let r = deliver(&p, &firing, &[&target], "slack-ops").await;
    assert_eq!(note(&r), "posted to C0ALERTS (ts 1767322800.000001)");
    let reqs = new_requests(&slack.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    let body = assert_api_call(&reqs[0], "chat.postMessage", TOKEN_A);
    assert_eq!(body["channel"], "#alerts");
    assert!(body.get("thread_ts").is_none(), "{body}");
    assert!(body.get("ts").is_none(), "{body}");
    assert_eq!(body["text"], "HighLatency — FIRING: HighLatency is firing");
    assert_eq!(
        body["blocks"][0]["text"]["text"],
        ":rotating_light: HighLatency — FIRING"
    );
    assert_eq!(body["attachments"][0]["color"], "#E01E5A");
    let ts = "1767322800.000001";
    assert_eq!(
        state(&rt, "slack-ops", &fp),
        map(&[("channel", "C0ALERTS"), ("status", "firing"), ("ts", ts)])
    );

    // 2. Firing again: the same message is updated in place, no thread reply.
    let r = deliver(&p, &firing, &[&target], "slack-ops").await;
    assert_eq!(
        note(&r),
        "updated the message in C0ALERTS (ts 1767322800.000001); still firing, no thread reply"
    );
    let reqs = new_requests(&slack.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    let body = assert_api_call(&reqs[0], "chat.update", TOKEN_A);
    assert_eq!(body["channel"], "C0ALERTS", "updates use the channel id");
    assert_eq!(body["ts"], ts);
    assert_eq!(body["attachments"][0]["color"], "#E01E5A");
    assert_eq!(
        state(&rt, "slack-ops", &fp),
        map(&[("channel", "C0ALERTS"), ("status", "firing"), ("ts", ts)])
    );
    assert!(slack.replies(ts).is_empty());

    // 3. Resolved: the parent turns green, then a reply goes into its thread.
    let r = deliver(&p, &resolved(&firing), &[&target], "slack-ops").await;
    assert_eq!(
        note(&r),
        "updated the message in C0ALERTS (ts 1767322800.000001) and replied in its thread: resolved"
    );
    let reqs = new_requests(&slack.mock, &mut seen);
    assert_eq!(reqs.len(), 2, "update, then thread reply");
    let update = assert_api_call(&reqs[0], "chat.update", TOKEN_A);
    assert_eq!(
        (&update["channel"], &update["ts"]),
        (&json!("C0ALERTS"), &json!(ts))
    );
    assert_eq!(update["attachments"][0]["color"], "#2EB67D");
    assert_eq!(
        update["blocks"][0]["text"]["text"],
        ":white_check_mark: HighLatency — RESOLVED"
    );
    let reply = assert_api_call(&reqs[1], "chat.postMessage", TOKEN_A);
    assert_eq!(reply["channel"], "C0ALERTS");
    assert_eq!(reply["thread_ts"], ts);
    assert_eq!(
        state(&rt, "slack-ops", &fp),
        map(&[("channel", "C0ALERTS"), ("status", "resolved"), ("ts", ts)])
    );
    let parent = slack.message(ts).expect("the parent still exists");
    assert_eq!(parent.color, "#2EB67D");
    assert!(parent.text.contains("RESOLVED"), "{}", parent.text);
    let replies = slack.replies(ts);
    assert_eq!(replies.len(), 1);
    assert!(replies[0].text.contains("RESOLVED"), "{:?}", replies[0]);

    // 4. Resolved again (Alertmanager repeats resolves): update only, no second reply.
    deliver(&p, &resolved(&firing), &[&target], "slack-ops").await;
    let reqs = new_requests(&slack.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    assert_api_call(&reqs[0], "chat.update", TOKEN_A);
    assert_eq!(slack.replies(ts).len(), 1);

    // 5. It fires again: a new message (a new thread) the channel will notice.
    let r = deliver(&p, &firing, &[&target], "slack-ops").await;
    assert_eq!(note(&r), "posted to C0ALERTS (ts 1767322800.000003)");
    let reqs = new_requests(&slack.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    let body = assert_api_call(&reqs[0], "chat.postMessage", TOKEN_A);
    assert!(body.get("thread_ts").is_none(), "{body}");
    assert_eq!(
        state(&rt, "slack-ops", &fp),
        map(&[
            ("channel", "C0ALERTS"),
            ("status", "firing"),
            ("ts", "1767322800.000003")
        ])
    );
}

#[tokio::test]
async fn slack_message_not_found_forgets_the_ts_and_posts_anew() {
    let slack = FakeSlack::start().await;
    let rt = runtime(&[SLACK]).await;
    let target = slack.target("slack-ops", TOKEN_A, "#alerts");
    let p = publisher(
        rt.clone(),
        vec![target.clone()],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let firing = alert("DiskFull");
    let fp = firing.alert.fingerprint();
    let mut seen = 0;

    deliver(&p, &firing, &[&target], "slack-ops").await;
    new_requests(&slack.mock, &mut seen);
    let first = "1767322800.000001";
    assert_eq!(state(&rt, "slack-ops", &fp)["ts"], first);

    // Someone deletes the message; the next firing's update finds nothing.
    slack.delete(first);
    let r = deliver(&p, &firing, &[&target], "slack-ops").await;
    assert_eq!(r.status_code, Some(200));
    assert_eq!(
        note(&r),
        "the remembered message was gone; posted anew to C0ALERTS (ts 1767322800.000002)"
    );
    let reqs = new_requests(&slack.mock, &mut seen);
    assert_eq!(reqs.len(), 2, "update (message_not_found), then a new post");
    let update = assert_api_call(&reqs[0], "chat.update", TOKEN_A);
    assert_eq!(update["ts"], first);
    let post = assert_api_call(&reqs[1], "chat.postMessage", TOKEN_A);
    assert_eq!(
        post["channel"], "#alerts",
        "a new message goes to the configured channel"
    );
    assert!(post.get("thread_ts").is_none(), "{post}");
    let second = "1767322800.000002";
    assert_eq!(
        state(&rt, "slack-ops", &fp),
        map(&[
            ("channel", "C0ALERTS"),
            ("status", "firing"),
            ("ts", second)
        ])
    );

    // The resolve now follows the new message.
    let r = deliver(&p, &resolved(&firing), &[&target], "slack-ops").await;
    assert!(
        note(&r).contains("replied in its thread: resolved"),
        "{r:?}"
    );
    let reqs = new_requests(&slack.mock, &mut seen);
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        assert_api_call(&reqs[0], "chat.update", TOKEN_A)["ts"],
        second
    );
    assert_eq!(
        assert_api_call(&reqs[1], "chat.postMessage", TOKEN_A)["thread_ts"],
        second
    );
    assert_eq!(slack.message(second).expect("parent").color, "#2EB67D");

    // Deleted again before a repeated resolve: it is posted anew, in the resolved look.
    slack.delete(second);
    let r = deliver(&p, &resolved(&firing), &[&target], "slack-ops").await;
    assert!(note(&r).contains("posted anew"), "{r:?}");
    let reqs = new_requests(&slack.mock, &mut seen);
    assert_eq!(reqs.len(), 2);
    let post = assert_api_call(&reqs[1], "chat.postMessage", TOKEN_A);
    assert_eq!(post["attachments"][0]["color"], "#2EB67D");
    assert_eq!(
        state(&rt, "slack-ops", &fp),
        map(&[
            ("channel", "C0ALERTS"),
            ("status", "resolved"),
            ("ts", "1767322800.000004")
        ])
    );
}

#[tokio::test]
async fn two_slack_targets_never_share_state() {
    let slack = FakeSlack::start().await;
    let rt = runtime(&[SLACK]).await;
    let a = slack.target("slack-a", TOKEN_A, "#alerts");
    let b = slack.target("slack-b", TOKEN_B, "#alerts-b");
    let p = publisher(
        rt.clone(),
        vec![a.clone(), b.clone()],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let firing = alert("SharedAlert");
    let fp = firing.alert.fingerprint();

    // Both fire: each gets its own message.
    let r = p.publish_to_all(&firing).await.unwrap();
    assert_eq!(r.success_count, 2, "{r:?}");
    let sa = state(&rt, "slack-a", &fp);
    let sb = state(&rt, "slack-b", &fp);
    assert_eq!(
        (sa["channel"].as_str(), sb["channel"].as_str()),
        ("C0ALERTS", "C0ALERTSB")
    );
    assert_ne!(sa["ts"], sb["ts"], "two messages, two ts");
    assert_eq!(slack.message(&sa["ts"]).unwrap().token, TOKEN_A);
    assert_eq!(slack.message(&sb["ts"]).unwrap().token, TOKEN_B);

    // Both fire again: each updates its own message, with its own token.
    let before = slack.mock.hits();
    let r = p.publish_to_all(&firing).await.unwrap();
    assert_eq!(r.success_count, 2, "{r:?}");
    let updates = &slack.mock.received()[before..];
    assert_eq!(updates.len(), 2);
    for u in updates {
        let token = u.header("authorization").unwrap();
        let body = u.json();
        assert_eq!(u.path, "/api/chat.update");
        let expected = if token.ends_with(TOKEN_A) { &sa } else { &sb };
        assert_eq!(
            body["ts"],
            expected["ts"].as_str(),
            "{token} updated the other's message"
        );
        assert_eq!(body["channel"], expected["channel"].as_str());
    }

    // Only A resolves: A's message and state change, B's stay as they were.
    let r = deliver(&p, &resolved(&firing), &[&a], "slack-a").await;
    assert!(note(&r).contains("replied in its thread"), "{r:?}");
    assert_eq!(state(&rt, "slack-a", &fp)["status"], "resolved");
    assert_eq!(state(&rt, "slack-b", &fp), sb, "B's state is untouched");
    assert_eq!(slack.message(&sa["ts"]).unwrap().color, "#2EB67D");
    assert_eq!(slack.message(&sb["ts"]).unwrap().color, "#E01E5A");
    assert!(slack.replies(&sb["ts"]).is_empty());

    // Then B resolves its own message.
    let before = slack.mock.hits();
    deliver(&p, &resolved(&firing), &[&b], "slack-b").await;
    let reqs = &slack.mock.received()[before..];
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].json()["ts"], sb["ts"].as_str());
    assert_eq!(reqs[1].json()["thread_ts"], sb["ts"].as_str());
    assert_eq!(state(&rt, "slack-b", &fp)["status"], "resolved");
    assert_eq!(state(&rt, "slack-a", &fp)["ts"], sa["ts"]);
}

// ------------------------------------------------------------ a fake Rootly

#[derive(Debug, Clone, PartialEq)]
struct Record {
    /// The API key that created it (its organisation).
    key: String,
    /// Alerts: the deduplication key; incidents: the title.
    dedup: String,
    status: String,
}

#[derive(Debug, Default)]
struct RootlyWorld {
    next_id: u64,
    alerts: BTreeMap<String, Record>,
    incidents: BTreeMap<String, Record>,
}

/// Rootly's JSON:API as far as the adapter uses it: bearer keys per
/// organisation, `application/vnd.api+json` required on writes (415
/// otherwise), `201` with a fresh `data.id` on create, alerts deduplicated by
/// `deduplication_key` while open, `404` for ids it does not know (or that
/// belong to another key), `409` when resolving a resolved incident, errors
/// as `{"errors":[{title, detail, status}]}`.
struct FakeRootly {
    mock: MockTarget,
    world: Arc<Mutex<RootlyWorld>>,
}

impl FakeRootly {
    async fn start() -> Self {
        let world = Arc::new(Mutex::new(RootlyWorld::default()));
        let w = world.clone();
        let mock = MockTarget::start_with(move |r| rootly_answer(&mut lock(&w), r)).await;
        Self { mock, world }
    }

    fn target(&self, name: &str, key: &str, mode: Option<&str>) -> Target {
        let t = Target::new(name, "rootly", self.mock.url("")).with_secret("api_key", key);
        match mode {
            Some(m) => t.with_option("mode", m),
            None => t,
        }
    }

    fn alert(&self, id: &str) -> Option<Record> {
        lock(&self.world).alerts.get(id).cloned()
    }

    fn incident(&self, id: &str) -> Option<Record> {
        lock(&self.world).incidents.get(id).cloned()
    }

    /// Someone deleted the alert in Rootly.
    fn delete_alert(&self, id: &str) {
        lock(&self.world).alerts.remove(id);
    }

    /// Someone resolved the incident in Rootly's UI.
    fn resolve_incident(&self, id: &str) {
        if let Some(i) = lock(&self.world).incidents.get_mut(id) {
            i.status = "resolved".into();
        }
    }
}

fn rootly_error(status: u16, title: &str, detail: &str) -> Behaviour {
    Behaviour::json(
        status,
        &json!({"errors": [{"title": title, "detail": detail, "status": status.to_string()}]}),
    )
    .header("content-type", "application/vnd.api+json")
}

fn rootly_data(status: u16, id: &str, kind: &str, attributes: Value) -> Behaviour {
    Behaviour::json(
        status,
        &json!({"data": {"id": id, "type": kind, "attributes": attributes}}),
    )
    .header("content-type", "application/vnd.api+json")
}

fn rootly_answer(world: &mut RootlyWorld, r: &Received) -> Behaviour {
    let key = match r
        .header("authorization")
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
    {
        Some(k) if k == KEY_A || k == KEY_B => k.to_string(),
        _ => return rootly_error(401, "Unauthorized", "invalid or missing API key"),
    };
    let method = r.method.as_str();
    if method != "GET" && r.header("content-type").as_deref() != Some("application/vnd.api+json") {
        return rootly_error(
            415,
            "Unsupported Media Type",
            "use application/vnd.api+json",
        );
    }
    let path = r.path.split('?').next().unwrap_or_default().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let body = if method == "GET" {
        Value::Null
    } else {
        r.json()
    };
    let attributes = &body["data"]["attributes"];
    match (method, segments.as_slice()) {
        ("POST", ["v1", "alerts"]) => {
            if body["data"]["type"] != "alerts" {
                return rootly_error(422, "Invalid type", "data.type must be alerts");
            }
            let Some(summary) = attributes["summary"].as_str().filter(|s| !s.is_empty()) else {
                return rootly_error(422, "Validation failed", "Summary can't be blank");
            };
            let dedup = attributes["deduplication_key"].as_str().unwrap_or_default();
            let open = world.alerts.iter().find(|(_, a)| {
                a.key == key && a.dedup == dedup && !dedup.is_empty() && a.status == "triggered"
            });
            let id = match open {
                Some((id, _)) => id.clone(),
                None => {
                    world.next_id += 1;
                    let id = format!("00000000-0000-4000-8000-{:012}", world.next_id);
                    world.alerts.insert(
                        id.clone(),
                        Record {
                            key,
                            dedup: dedup.to_string(),
                            status: "triggered".into(),
                        },
                    );
                    id
                }
            };
            rootly_data(
                201,
                &id,
                "alerts",
                json!({"summary": summary, "status": "triggered"}),
            )
        }
        ("POST", ["v1", "alerts", id, "resolve"]) => {
            match world.alerts.get_mut(*id).filter(|a| a.key == key) {
                None => rootly_error(404, "Record not found", "no such alert"),
                Some(a) => {
                    a.status = "resolved".into();
                    rootly_data(200, id, "alerts", json!({"status": "resolved"}))
                }
            }
        }
        ("POST", ["v1", "incidents"]) => {
            let Some(title) = attributes["title"].as_str().filter(|s| !s.is_empty()) else {
                return rootly_error(422, "Validation failed", "Title can't be blank");
            };
            world.next_id += 1;
            let id = format!("11111111-0000-4000-8000-{:012}", world.next_id);
            world.incidents.insert(
                id.clone(),
                Record {
                    key,
                    dedup: title.to_string(),
                    status: "started".into(),
                },
            );
            rootly_data(
                201,
                &id,
                "incidents",
                json!({"title": title, "severity": attributes["severity"], "status": "started"}),
            )
        }
        ("PATCH", ["v1", "incidents", id]) => {
            match world.incidents.get_mut(*id).filter(|i| i.key == key) {
                None => rootly_error(404, "Record not found", "no such incident"),
                Some(i) if i.status == "resolved" => {
                    rootly_error(409, "Conflict", "Incident is already resolved")
                }
                Some(i) => {
                    if let Some(s) = attributes["status"].as_str() {
                        i.status = s.to_string();
                    }
                    rootly_data(200, id, "incidents", json!({"status": i.status}))
                }
            }
        }
        _ => rootly_error(404, "Not found", "no such route"),
    }
}

/// Checks a Rootly call's method, path and JSON:API headers; returns its body.
fn assert_rootly_call(r: &Received, method: &str, path: &str, key: &str) -> Value {
    assert_eq!(r.method, method);
    assert_eq!(r.path, path);
    assert_eq!(
        r.header("authorization").as_deref(),
        Some(format!("Bearer {key}").as_str())
    );
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/vnd.api+json")
    );
    assert_eq!(
        r.header("accept").as_deref(),
        Some("application/vnd.api+json")
    );
    r.json()
}

// ------------------------------------------------------------------ Rootly

#[tokio::test]
async fn rootly_alerts_create_deduplicate_then_resolve_by_id() {
    let rootly = FakeRootly::start().await;
    let rt = runtime(&[ROOTLY]).await;
    let target = rootly.target("rootly-prod", KEY_A, None);
    let p = publisher(
        rt.clone(),
        vec![target.clone()],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let firing = alert("HighLatency");
    let fp = firing.alert.fingerprint();
    let mut seen = 0;

    // 1. Firing: POST /v1/alerts; the id Rootly hands out is remembered.
    let r = deliver(&p, &firing, &[&target], "rootly-prod").await;
    let id = "00000000-0000-4000-8000-000000000001";
    assert_eq!(r.status_code, Some(201));
    assert_eq!(note(&r), format!("created Rootly alert {id}"));
    let reqs = new_requests(&rootly.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    let body = assert_rootly_call(&reqs[0], "POST", "/v1/alerts", KEY_A);
    let attrs = &body["data"]["attributes"];
    assert_eq!(body["data"]["type"], "alerts");
    assert_eq!(attrs["source"], "alertmanager");
    assert_eq!(attrs["status"], "triggered");
    assert_eq!(attrs["summary"], "HighLatency is firing");
    assert_eq!(attrs["deduplication_key"], fp.as_str());
    assert_eq!(attrs["external_id"], fp.as_str());
    assert_eq!(attrs["external_url"], "http://prometheus.test/graph");
    assert_eq!(attrs["started_at"], "2026-12-01T10:00:00Z");
    assert!(attrs.get("ended_at").is_none(), "{attrs}");
    assert_eq!(
        attrs["labels"],
        json!([
            {"key": "alertname", "value": "HighLatency"},
            {"key": "instance", "value": "db-1"},
            {"key": "severity", "value": "critical"}
        ])
    );
    assert_eq!(state(&rt, "rootly-prod", &fp), map(&[("id", id)]));

    // 2. Firing again: sent again, Rootly deduplicates to the same alert.
    let r = deliver(&p, &firing, &[&target], "rootly-prod").await;
    assert_eq!(
        note(&r),
        format!("sent again to Rootly alert {id} (deduplicated by fingerprint)")
    );
    let reqs = new_requests(&rootly.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    assert_rootly_call(&reqs[0], "POST", "/v1/alerts", KEY_A);
    assert_eq!(state(&rt, "rootly-prod", &fp), map(&[("id", id)]));
    assert_eq!(rootly.world.lock().unwrap().alerts.len(), 1);

    // 3. Resolved: POST /v1/alerts/{id}/resolve; the id is forgotten.
    let r = deliver(&p, &resolved(&firing), &[&target], "rootly-prod").await;
    assert_eq!(r.status_code, Some(200));
    assert_eq!(note(&r), format!("resolved Rootly alert {id}"));
    let reqs = new_requests(&rootly.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    let body = assert_rootly_call(&reqs[0], "POST", &format!("/v1/alerts/{id}/resolve"), KEY_A);
    assert_eq!(
        body["data"]["attributes"]["resolution_message"],
        "Resolved in Alertmanager (ended at 2026-12-01T10:30:00Z)"
    );
    assert_eq!(rootly.alert(id).unwrap().status, "resolved");
    assert_eq!(state(&rt, "rootly-prod", &fp), map(&[]));

    // 4. Resolved again: nothing remembered, nothing sent, not a failure.
    let r = deliver(&p, &resolved(&firing), &[&target], "rootly-prod").await;
    assert!(note(&r).starts_with("nothing to resolve"), "{r:?}");
    assert!(r.error.is_none());
    assert!(new_requests(&rootly.mock, &mut seen).is_empty());
}

#[tokio::test]
async fn rootly_resolve_of_an_alert_gone_from_rootly_is_a_success() {
    let rootly = FakeRootly::start().await;
    let rt = runtime(&[ROOTLY]).await;
    let target = rootly.target("rootly-prod", KEY_A, None);
    let p = publisher(
        rt.clone(),
        vec![target.clone()],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let firing = alert("Flapping");
    let fp = firing.alert.fingerprint();
    let mut seen = 0;

    deliver(&p, &firing, &[&target], "rootly-prod").await;
    new_requests(&rootly.mock, &mut seen);
    let id = state(&rt, "rootly-prod", &fp)["id"].clone();

    rootly.delete_alert(&id);
    let r = deliver(&p, &resolved(&firing), &[&target], "rootly-prod").await;
    assert_eq!(r.status_code, Some(404));
    assert_eq!(
        note(&r),
        format!("Rootly alert {id} is already gone (404); forgot it")
    );
    let reqs = new_requests(&rootly.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    assert_rootly_call(&reqs[0], "POST", &format!("/v1/alerts/{id}/resolve"), KEY_A);
    assert_eq!(state(&rt, "rootly-prod", &fp), map(&[]));

    // A new firing opens a new alert with a new id.
    deliver(&p, &firing, &[&target], "rootly-prod").await;
    let new_id = state(&rt, "rootly-prod", &fp)["id"].clone();
    assert_ne!(new_id, id);
    assert_eq!(rootly.alert(&new_id).unwrap().status, "triggered");
}

#[tokio::test]
async fn rootly_incidents_open_once_then_resolve_by_patch() {
    let rootly = FakeRootly::start().await;
    let rt = runtime(&[ROOTLY]).await;
    let target = rootly.target("rootly-inc", KEY_A, Some("incidents"));
    let p = publisher(
        rt.clone(),
        vec![target.clone()],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let firing = alert("DatabaseDown");
    let fp = firing.alert.fingerprint();
    let mut seen = 0;

    // 1. Firing: POST /v1/incidents; the incident id is remembered.
    let r = deliver(&p, &firing, &[&target], "rootly-inc").await;
    let id = "11111111-0000-4000-8000-000000000001";
    assert_eq!(r.status_code, Some(201));
    assert_eq!(note(&r), format!("created Rootly incident {id}"));
    let reqs = new_requests(&rootly.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    let body = assert_rootly_call(&reqs[0], "POST", "/v1/incidents", KEY_A);
    assert_eq!(body["data"]["type"], "incidents");
    assert_eq!(
        body["data"]["attributes"]["title"],
        "DatabaseDown is firing"
    );
    assert_eq!(body["data"]["attributes"]["severity"], "critical");
    assert_eq!(state(&rt, "rootly-inc", &fp), map(&[("incident_id", id)]));

    // 2. Firing again: incidents are not deduplicated, so nothing is sent.
    let r = deliver(&p, &firing, &[&target], "rootly-inc").await;
    assert_eq!(
        note(&r),
        format!("already open as Rootly incident {id}; not opening another")
    );
    assert!(new_requests(&rootly.mock, &mut seen).is_empty());
    assert_eq!(rootly.world.lock().unwrap().incidents.len(), 1);
    assert_eq!(state(&rt, "rootly-inc", &fp), map(&[("incident_id", id)]));

    // 3. Resolved: PATCH /v1/incidents/{id} with status resolved.
    let r = deliver(&p, &resolved(&firing), &[&target], "rootly-inc").await;
    assert_eq!(note(&r), format!("resolved Rootly incident {id}"));
    let reqs = new_requests(&rootly.mock, &mut seen);
    assert_eq!(reqs.len(), 1);
    let body = assert_rootly_call(&reqs[0], "PATCH", &format!("/v1/incidents/{id}"), KEY_A);
    assert_eq!(
        body,
        json!({"data": {"type": "incidents", "attributes": {"status": "resolved"}}})
    );
    assert_eq!(rootly.incident(id).unwrap().status, "resolved");
    assert_eq!(state(&rt, "rootly-inc", &fp), map(&[]));

    // 4. It fires again, and someone resolves that incident in Rootly's UI
    //    first: the resolve answers 409, which means done.
    deliver(&p, &firing, &[&target], "rootly-inc").await;
    new_requests(&rootly.mock, &mut seen);
    let second = state(&rt, "rootly-inc", &fp)["incident_id"].clone();
    assert_ne!(second, id, "a new incident");
    rootly.resolve_incident(&second);
    let r = deliver(&p, &resolved(&firing), &[&target], "rootly-inc").await;
    assert_eq!(r.status_code, Some(409));
    assert_eq!(
        note(&r),
        format!("Rootly incident {second} was already resolved (409); forgot it")
    );
    assert_eq!(new_requests(&rootly.mock, &mut seen).len(), 1);
    assert_eq!(state(&rt, "rootly-inc", &fp), map(&[]));
}

#[tokio::test]
async fn two_rootly_targets_never_share_state() {
    let rootly = FakeRootly::start().await;
    let rt = runtime(&[ROOTLY]).await;
    // Two organisations (two keys) on the same API, and a third target in
    // incidents mode with the first key.
    let a = rootly.target("rootly-a", KEY_A, None);
    let b = rootly.target("rootly-b", KEY_B, None);
    let c = rootly.target("rootly-c", KEY_A, Some("incidents"));
    let p = publisher(
        rt.clone(),
        vec![a.clone(), b.clone(), c.clone()],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let firing = alert("SharedAlert");
    let fp = firing.alert.fingerprint();

    let r = p.publish_to_all(&firing).await.unwrap();
    assert_eq!(r.success_count, 3, "{r:?}");
    let id_a = state(&rt, "rootly-a", &fp)["id"].clone();
    let id_b = state(&rt, "rootly-b", &fp)["id"].clone();
    let id_c = state(&rt, "rootly-c", &fp)["incident_id"].clone();
    assert_ne!(id_a, id_b);
    assert_eq!(rootly.alert(&id_a).unwrap().key, KEY_A);
    assert_eq!(rootly.alert(&id_b).unwrap().key, KEY_B);
    assert_eq!(rootly.incident(&id_c).unwrap().key, KEY_A);
    assert_eq!(
        state(&rt, "rootly-a", &fp).len(),
        1,
        "no incident id in A's state"
    );
    assert_eq!(
        state(&rt, "rootly-c", &fp).len(),
        1,
        "no alert id in C's state"
    );

    // Firing again everywhere: every target keeps its own id.
    let r = p.publish_to_all(&firing).await.unwrap();
    assert_eq!(r.success_count, 3, "{r:?}");
    assert_eq!(state(&rt, "rootly-a", &fp), map(&[("id", id_a.as_str())]));
    assert_eq!(state(&rt, "rootly-b", &fp), map(&[("id", id_b.as_str())]));
    assert_eq!(
        state(&rt, "rootly-c", &fp),
        map(&[("incident_id", id_c.as_str())])
    );

    // Only A resolves: its own alert, with its own key.
    let before = rootly.mock.hits();
    let r = deliver(&p, &resolved(&firing), &[&a], "rootly-a").await;
    assert_eq!(note(&r), format!("resolved Rootly alert {id_a}"));
    let reqs = &rootly.mock.received()[before..];
    assert_eq!(reqs.len(), 1);
    assert_rootly_call(
        &reqs[0],
        "POST",
        &format!("/v1/alerts/{id_a}/resolve"),
        KEY_A,
    );
    assert_eq!(rootly.alert(&id_a).unwrap().status, "resolved");
    assert_eq!(rootly.alert(&id_b).unwrap().status, "triggered");
    assert_eq!(state(&rt, "rootly-a", &fp), map(&[]));
    assert_eq!(state(&rt, "rootly-b", &fp), map(&[("id", id_b.as_str())]));
    assert_eq!(
        state(&rt, "rootly-c", &fp),
        map(&[("incident_id", id_c.as_str())])
    );

    // Then the others resolve theirs.
    let r = p.publish_to_all(&resolved(&firing)).await.unwrap();
    assert!(
        r.get("rootly-a")
            .unwrap()
            .note
            .as_deref()
            .unwrap()
            .starts_with("nothing to resolve")
    );
    assert_eq!(
        r.get("rootly-b").unwrap().note.as_deref(),
        Some(format!("resolved Rootly alert {id_b}").as_str())
    );
    assert_eq!(
        r.get("rootly-c").unwrap().note.as_deref(),
        Some(format!("resolved Rootly incident {id_c}").as_str())
    );
    assert_eq!(rootly.incident(&id_c).unwrap().status, "resolved");
    for t in ["rootly-a", "rootly-b", "rootly-c"] {
        assert_eq!(state(&rt, t, &fp), map(&[]), "{t}");
    }
}

// ------------------------------------------- the worked example (plugins/example)

/// The plugin authoring guide's example adapter, through the real runtime:
/// the firing message's id is remembered and the resolve replies to it.
#[tokio::test]
async fn example_plugin_replies_to_its_firing_message() {
    let next = Arc::new(Mutex::new(0u32));
    let chat = MockTarget::start_with(move |r| {
        if r.method != "POST" || r.path != "/messages" {
            return Behaviour::status(404);
        }
        let mut n = lock(&next);
        *n += 1;
        Behaviour::json(201, &json!({"id": format!("msg-{n}")}))
    })
    .await;
    let rt = runtime(&["herald_plugin_example"]).await;
    let target = Target::new("team-chat", "example", chat.url("")).with_secret("token", KEY_A);
    let p = publisher(
        rt.clone(),
        vec![target.clone()],
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    );
    let firing = alert("HighLatency");
    let fp = firing.alert.fingerprint();

    let r = deliver(&p, &firing, &[&target], "team-chat").await;
    assert_eq!(note(&r), "posted message msg-1");
    assert_eq!(state(&rt, "team-chat", &fp), map(&[("id", "msg-1")]));
    let r = deliver(&p, &resolved(&firing), &[&target], "team-chat").await;
    assert!(r.success, "{r:?}");
    assert_eq!(state(&rt, "team-chat", &fp), map(&[]));

    let got = chat.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].header("authorization"),
        Some(format!("Bearer {KEY_A}"))
    );
    assert_eq!(
        got[0].json(),
        json!({
            "title": "[FIRING] HighLatency",
            "body": "HighLatency is firing\n\nSource: http://prometheus.test/graph",
            "priority": 5
        })
    );
    assert_eq!(got[1].json()["title"], "[RESOLVED] HighLatency");
    assert_eq!(got[1].json()["reply_to"], "msg-1");
}
