//! Native unit tests: configuration, the look and its Block Kit limits, the
//! bot-mode state machine (firing → repeat → resolved, fallbacks), every
//! error mapping of both modes, and that secrets never leak.

use std::collections::BTreeMap;

use herald_plugin_sdk::serde_json::{Value, json};
use herald_plugin_sdk::{
    Action, Alert, AlertStatus, Classification, EnrichedAlert, Error, ErrorClass, HttpRequest,
    HttpResponse, MemoryState, OutcomeKind, Severity, State, Target, header,
};

use crate::classify::{self, PENDING_TTL_SECONDS, TTL_SECONDS};
use crate::format::{self, Config};

const TOKEN: &str = "xoxb-1111-2222-abcdefSECRET";
const HOOK: &str = "https://hooks.slack.test/services/T000/B000/XXXXSECRETXXXX";

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn bot_target() -> Target {
    Target {
        name: "slack-ops".into(),
        kind: "slack".into(),
        url: "https://slack.test".into(),
        headers: vec![],
        options: pairs(&[("channel", "#alerts")]),
        secrets: pairs(&[("bot_token", TOKEN)]),
    }
}

fn hook_target() -> Target {
    Target {
        name: "slack-hook".into(),
        kind: "slack".into(),
        url: "https://hooks.slack.test".into(),
        headers: vec![],
        options: vec![],
        secrets: pairs(&[("webhook_url", HOOK)]),
    }
}

fn alert(status: AlertStatus) -> EnrichedAlert {
    EnrichedAlert {
        alert: Alert {
            fingerprint: "4f1b2c3d4e5f6a7b".into(),
            status,
            labels: pairs(&[
                ("alertname", "HighLatency"),
                ("severity", "warning"),
                ("namespace", "prod"),
            ]),
            annotations: pairs(&[("summary", "p99 over 2s"), ("description", "api <b> & co")]),
            starts_at: "2026-01-02T03:00:00Z".into(),
            ends_at: match status {
                AlertStatus::Resolved => Some("2026-01-02T03:30:00Z".into()),
                AlertStatus::Firing => None,
            },
            generator_url: Some("http://prom.test/graph?g0.expr=up&g0.tab=1".into()),
        },
        classification: None,
        enrichment: None,
    }
}

fn classified(status: AlertStatus) -> EnrichedAlert {
    let mut a = alert(status);
    a.classification = Some(Classification {
        severity: Severity::Critical,
        confidence: 0.92,
        reasoning: "latency SLO burn".into(),
        recommendations: vec![
            "scale out".into(),
            "check db".into(),
            "page the owner".into(),
            "a fourth one".into(),
        ],
        metadata: vec![],
    });
    a
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: pairs(headers),
        body: body.as_bytes().to_vec(),
    }
}

fn ok(body: Value) -> HttpResponse {
    response(200, &[], &body.to_string())
}

fn sent(action: Result<Action, Error>) -> HttpRequest {
    match action {
        Ok(Action::Send(req)) => req,
        Ok(Action::Finish(o)) => panic!("expected a request, got finish {:?}", o.note),
        Err(e) => panic!("expected a request, got error {}", e.message),
    }
}

fn finished(action: Result<Action, Error>) -> (OutcomeKind, String) {
    match action {
        Ok(Action::Finish(o)) => (o.kind, o.note.unwrap_or_default()),
        Ok(Action::Send(req)) => panic!("expected finish, got request to {}", req.url),
        Err(e) => panic!("expected finish, got error {}", e.message),
    }
}

fn failed(action: Result<Action, Error>) -> Error {
    match action {
        Err(e) => e,
        Ok(_) => panic!("expected an error"),
    }
}

fn body(req: &HttpRequest) -> Value {
    herald_plugin_sdk::serde_json::from_slice(&req.body).expect("JSON body")
}

fn state(p: &[(&str, &str)]) -> MemoryState {
    MemoryState(
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn remembered(status: &str) -> MemoryState {
    state(&[
        ("channel", "C0ALERTS"),
        ("ts", "1700000000.000100"),
        ("status", status),
    ])
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort();
    k
}

/// Records TTLs, to check what is remembered for how long.
#[derive(Default)]
struct TtlState(BTreeMap<String, (String, u32)>);

impl State for TtlState {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).map(|(v, _)| v.clone())
    }
    fn set(&mut self, key: &str, value: &str, ttl_seconds: u32) {
        self.0.insert(key.into(), (value.into(), ttl_seconds));
    }
    fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }
}

// ---------------------------------------------------------------------------
// Configuration

#[test]
fn valid_targets_and_the_default_mode() {
    assert!(matches!(
        Config::from_target(&bot_target()),
        Ok(Config::Bot(b)) if b.channel == "#alerts" && b.token == TOKEN && b.api_base == "https://slack.test"
    ));
    assert_eq!(
        Config::from_target(&hook_target()),
        Ok(Config::Webhook {
            webhook_url: HOOK.into()
        })
    );
    let mut t = bot_target();
    t.options.push(("mode".into(), "bot".into()));
    assert!(matches!(Config::from_target(&t), Ok(Config::Bot(_))));
    let mut t = hook_target();
    t.options.push(("mode".into(), "webhook".into()));
    assert!(matches!(
        Config::from_target(&t),
        Ok(Config::Webhook { .. })
    ));
}

fn config_error(t: &Target) -> String {
    let e = Config::from_target(t).expect_err("should be rejected");
    assert!(
        !e.contains(TOKEN) && !e.contains(HOOK),
        "secret leaked: {e}"
    );
    assert!(!e.contains("XXXXSECRET"), "secret leaked: {e}");
    e
}

#[test]
fn bad_targets_name_the_field() {
    let mut t = bot_target();
    t.secrets.clear();
    t.options.push(("mode".into(), "bot".into()));
    assert!(config_error(&t).contains("`secrets.bot_token` is missing"));

    let mut t = bot_target();
    t.secrets = pairs(&[("bot_token", "xoxp-user-token")]);
    assert!(config_error(&t).contains("`xoxb-`"));

    let mut t = bot_target();
    t.options.clear();
    assert!(config_error(&t).contains("`options.channel` is missing"));

    let mut t = bot_target();
    t.options = pairs(&[("channel", "my alerts")]);
    assert!(config_error(&t).contains("`options.channel`"));

    let mut t = bot_target();
    t.options.push(("chanel".into(), "x".into()));
    assert!(config_error(&t).contains("`options.chanel`"));

    let mut t = bot_target();
    t.secrets.push(("token".into(), "x".into()));
    assert!(config_error(&t).contains("`secrets.token`"));

    let mut t = bot_target();
    t.options.push(("mode".into(), "rtm".into()));
    assert!(config_error(&t).contains("`options.mode`"));

    let mut t = bot_target();
    t.url = "slack.com".into();
    assert!(config_error(&t).contains("`url`"));

    let mut t = bot_target();
    t.url = "https://slack.com/api/".into();
    assert!(config_error(&t).contains("without `/api`"));

    let mut t = bot_target();
    t.secrets.push(("webhook_url".into(), HOOK.into()));
    assert!(config_error(&t).contains("`secrets.webhook_url` is only used in webhook mode"));

    let mut t = hook_target();
    t.secrets.clear();
    assert!(config_error(&t).contains("`secrets.webhook_url` is missing"));

    let mut t = hook_target();
    t.options.push(("mode".into(), "webhook".into()));
    t.secrets.push(("bot_token".into(), TOKEN.into()));
    assert!(config_error(&t).contains("`secrets.bot_token` is only used in bot mode"));

    let mut t = hook_target();
    t.options.push(("channel".into(), "#x".into()));
    assert!(config_error(&t).contains("`options.channel` is only used in bot mode"));

    let mut t = hook_target();
    t.url = "https://hooks.slack.com".into();
    let e = config_error(&t);
    assert!(
        e.contains(
            "`secrets.webhook_url` must be on the origin of `url` (`https://hooks.slack.com`)"
        ),
        "{e}"
    );

    let mut t = hook_target();
    t.secrets = pairs(&[(
        "webhook_url",
        "https://hooks.slack.test.evil.example/services/x",
    )]);
    assert!(config_error(&t).contains("origin"));

    let mut t = hook_target();
    t.secrets = pairs(&[("webhook_url", "https://hooks.slack.test/")]);
    assert!(config_error(&t).contains("no path"));

    let mut t = hook_target();
    t.secrets = pairs(&[("webhook_url", "hooks.slack.test/services/x")]);
    assert!(config_error(&t).contains("`secrets.webhook_url` must start with"));
}

#[test]
fn webhook_origin_ignores_host_case_and_allows_a_url_with_a_path() {
    let mut t = hook_target();
    t.url = "https://HOOKS.slack.test/services".into();
    assert!(Config::from_target(&t).is_ok());
}

#[test]
fn a_misconfigured_target_fails_prepare_permanently() {
    let mut t = bot_target();
    t.options.clear();
    let e = failed(classify::prepare(
        &alert(AlertStatus::Firing),
        &t,
        &mut MemoryState::default(),
    ));
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("slack-ops") && e.message.contains("`options.channel`"));
}

// ---------------------------------------------------------------------------
// Health probe

#[test]
fn health_probe_is_auth_test_in_bot_mode_and_none_for_webhooks() {
    let p = format::health_probe(&bot_target()).expect("bot mode has a probe");
    assert_eq!(p.method, "POST");
    assert_eq!(p.url, "https://slack.test/api/auth.test");
    assert_eq!(
        header(&p.headers, "authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(p.body.is_empty());
    assert!(format::health_probe(&hook_target()).is_none());
    let mut broken = bot_target();
    broken.options.clear();
    assert!(format::health_probe(&broken).is_none());
}

// ---------------------------------------------------------------------------
// Webhook mode

#[test]
fn webhook_posts_the_look_to_the_secret_url_and_remembers_nothing() {
    let mut st = MemoryState::default();
    let a = alert(AlertStatus::Firing);
    let req = sent(classify::prepare(&a, &hook_target(), &mut st));
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, HOOK);
    assert_eq!(
        header(&req.headers, "content-type"),
        Some("application/json")
    );
    assert_eq!(header(&req.headers, "authorization"), None);
    let b = body(&req);
    assert_eq!(keys(&b), ["attachments", "blocks", "text"]);
    let look = format::look(&a);
    assert_eq!(b, format::webhook_body(&look));
    let (kind, note) = finished(classify::handle_response(
        &a,
        &hook_target(),
        &response(200, &[], "ok"),
        &mut st,
    ));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert!(!note.contains("SECRET"));
    assert!(st.0.is_empty(), "webhook mode keeps no state: {:?}", st.0);
}

#[test]
fn webhook_resolved_posts_a_new_message_even_with_state() {
    let mut st = remembered("firing");
    let req = sent(classify::prepare(
        &alert(AlertStatus::Resolved),
        &hook_target(),
        &mut st,
    ));
    assert_eq!(req.url, HOOK);
    assert_eq!(body(&req)["attachments"][0]["color"], "#2EB67D");
    assert_eq!(st, remembered("firing"));
}

fn hook_error(status: u16, headers: &[(&str, &str)], text: &str) -> Error {
    failed(classify::handle_response(
        &alert(AlertStatus::Firing),
        &hook_target(),
        &response(status, headers, text),
        &mut MemoryState::default(),
    ))
}

#[test]
fn webhook_errors_are_classified() {
    for (status, text) in [
        (400, "invalid_payload"),
        (403, "action_prohibited"),
        (403, "invalid_token"),
        (404, "channel_not_found"),
        (404, "no_service"),
        (410, "channel_is_archived"),
    ] {
        let e = hook_error(status, &[], text);
        assert_eq!(e.class, ErrorClass::Permanent, "{status} {text}");
        assert!(e.message.contains(text), "{}", e.message);
        assert!(e.message.contains(&status.to_string()), "{}", e.message);
    }
    let e = hook_error(429, &[("retry-after", "30")], "rate_limited");
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.retry_after_ms, Some(30_000));
    for status in [500, 502, 503, 504] {
        assert_eq!(
            hook_error(status, &[], "").class,
            ErrorClass::Transient,
            "{status}"
        );
    }
    assert_eq!(hook_error(501, &[], "").class, ErrorClass::Permanent);
    // A 2xx that is not `ok` cannot be made sense of: permanent.
    let e = hook_error(200, &[], "<html>login</html>");
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("instead of `ok`"));
}

#[test]
fn webhook_url_never_appears_in_errors() {
    let e = hook_error(404, &[], &format!("no such hook {HOOK}"));
    assert!(!e.message.contains(HOOK), "{}", e.message);
    assert!(e.message.contains("***"));
    let e = hook_error(200, &[], HOOK);
    assert!(!e.message.contains(HOOK), "{}", e.message);
}

// ---------------------------------------------------------------------------
// Bot mode: the chain

#[test]
fn firing_posts_and_remembers_channel_ts_and_status_for_seven_days() {
    let a = classified(AlertStatus::Firing);
    let mut st = TtlState::default();
    let req = sent(classify::prepare(&a, &bot_target(), &mut st));
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://slack.test/api/chat.postMessage");
    assert_eq!(
        header(&req.headers, "authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        header(&req.headers, "content-type"),
        Some("application/json; charset=utf-8")
    );
    let b = body(&req);
    assert_eq!(keys(&b), ["attachments", "blocks", "channel", "text"]);
    assert_eq!(b["channel"], "#alerts");
    assert_eq!(
        st.0.get("pending"),
        Some(&("post".to_string(), PENDING_TTL_SECONDS))
    );

    let reply =
        ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000000.000100", "message": {}}));
    let (kind, note) = finished(classify::handle_response(
        &a,
        &bot_target(),
        &reply,
        &mut st,
    ));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert!(
        note.contains("C0ALERTS") && note.contains("1700000000.000100"),
        "{note}"
    );
    let expected: BTreeMap<String, (String, u32)> = [
        ("channel", "C0ALERTS"),
        ("status", "firing"),
        ("ts", "1700000000.000100"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), (v.to_string(), TTL_SECONDS)))
    .collect();
    assert_eq!(st.0, expected);
    assert_eq!(TTL_SECONDS, 604_800);
}

#[test]
fn repeated_firing_updates_the_parent_without_a_thread_reply() {
    let a = classified(AlertStatus::Firing);
    let mut st = remembered("firing");
    let req = sent(classify::prepare(&a, &bot_target(), &mut st));
    assert_eq!(req.url, "https://slack.test/api/chat.update");
    let b = body(&req);
    assert_eq!(keys(&b), ["attachments", "blocks", "channel", "text", "ts"]);
    assert_eq!(
        b["channel"], "C0ALERTS",
        "updates use the channel id Slack answered with"
    );
    assert_eq!(b["ts"], "1700000000.000100");
    assert_eq!(b["attachments"][0]["color"], "#E01E5A");
    assert_eq!(st.get("pending").as_deref(), Some("update"));

    let reply =
        ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000000.000100", "text": "x"}));
    let (kind, note) = finished(classify::handle_response(
        &a,
        &bot_target(),
        &reply,
        &mut st,
    ));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert!(note.contains("no thread reply"), "{note}");
    assert_eq!(st, remembered("firing"));
}

#[test]
fn repeated_firing_without_a_status_key_counts_as_firing() {
    let a = alert(AlertStatus::Firing);
    let mut st = state(&[("channel", "C0ALERTS"), ("ts", "1700000000.000100")]);
    assert!(
        sent(classify::prepare(&a, &bot_target(), &mut st))
            .url
            .ends_with("/chat.update")
    );
    let reply = ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000000.000100"}));
    finished(classify::handle_response(
        &a,
        &bot_target(),
        &reply,
        &mut st,
    ));
    assert_eq!(st, remembered("firing"));
}

#[test]
fn resolved_updates_the_parent_then_replies_in_its_thread() {
    let a = classified(AlertStatus::Resolved);
    let t = bot_target();
    let mut st = remembered("firing");
    let update = sent(classify::prepare(&a, &t, &mut st));
    assert_eq!(update.url, "https://slack.test/api/chat.update");
    let ub = body(&update);
    assert_eq!(ub["ts"], "1700000000.000100");
    assert_eq!(ub["attachments"][0]["color"], "#2EB67D");
    assert!(
        ub["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap_or("")
            .ends_with("— RESOLVED")
    );

    let reply = ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000000.000100"}));
    let thread = sent(classify::handle_response(&a, &t, &reply, &mut st));
    assert_eq!(thread.url, "https://slack.test/api/chat.postMessage");
    assert_eq!(
        header(&thread.headers, "authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let tb = body(&thread);
    assert_eq!(
        keys(&tb),
        ["attachments", "blocks", "channel", "text", "thread_ts"]
    );
    assert_eq!(tb["channel"], "C0ALERTS");
    assert_eq!(tb["thread_ts"], "1700000000.000100");
    assert_eq!(st.get("pending").as_deref(), Some("reply"));
    assert_eq!(
        st.get("status").as_deref(),
        Some("firing"),
        "status changes only once the reply is in"
    );

    let posted = ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000050.000200"}));
    let (kind, note) = finished(classify::handle_response(&a, &t, &posted, &mut st));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert!(note.contains("replied in its thread"), "{note}");
    // The parent's ts stays; the reply's ts is not remembered.
    assert_eq!(st, remembered("resolved"));
}

#[test]
fn repeated_resolve_updates_only() {
    let a = alert(AlertStatus::Resolved);
    let mut st = remembered("resolved");
    assert!(
        sent(classify::prepare(&a, &bot_target(), &mut st))
            .url
            .ends_with("/chat.update")
    );
    let reply = ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000000.000100"}));
    let (kind, _) = finished(classify::handle_response(
        &a,
        &bot_target(),
        &reply,
        &mut st,
    ));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(st, remembered("resolved"));
}

#[test]
fn firing_again_after_resolved_starts_a_new_thread() {
    let a = alert(AlertStatus::Firing);
    let mut st = remembered("resolved");
    let req = sent(classify::prepare(&a, &bot_target(), &mut st));
    assert_eq!(req.url, "https://slack.test/api/chat.postMessage");
    let b = body(&req);
    assert_eq!(b["channel"], "#alerts");
    assert!(b.get("thread_ts").is_none());
    assert_eq!(
        st,
        state(&[("pending", "post")]),
        "the old thread is forgotten"
    );
    let reply = ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700009999.000300"}));
    finished(classify::handle_response(
        &a,
        &bot_target(),
        &reply,
        &mut st,
    ));
    assert_eq!(
        st,
        state(&[
            ("channel", "C0ALERTS"),
            ("ts", "1700009999.000300"),
            ("status", "firing")
        ])
    );
}

#[test]
fn resolved_with_nothing_remembered_posts_a_resolved_message() {
    let a = alert(AlertStatus::Resolved);
    let mut st = MemoryState::default();
    let req = sent(classify::prepare(&a, &bot_target(), &mut st));
    assert_eq!(req.url, "https://slack.test/api/chat.postMessage");
    let b = body(&req);
    assert_eq!(b["attachments"][0]["color"], "#2EB67D");
    assert!(b.get("thread_ts").is_none());
    let reply = ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000000.000100"}));
    let (kind, _) = finished(classify::handle_response(
        &a,
        &bot_target(),
        &reply,
        &mut st,
    ));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(st, remembered("resolved"));
}

#[test]
fn message_not_found_on_update_forgets_and_posts_anew() {
    let a = alert(AlertStatus::Firing);
    let t = bot_target();
    let mut st = remembered("firing");
    sent(classify::prepare(&a, &t, &mut st));
    let gone = ok(json!({"ok": false, "error": "message_not_found"}));
    let req = sent(classify::handle_response(&a, &t, &gone, &mut st));
    assert_eq!(req.url, "https://slack.test/api/chat.postMessage");
    let b = body(&req);
    assert_eq!(b["channel"], "#alerts");
    assert!(b.get("thread_ts").is_none());
    assert_eq!(st, state(&[("pending", "repost")]));
    let reply = ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000100.000900"}));
    let (kind, note) = finished(classify::handle_response(&a, &t, &reply, &mut st));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert!(note.contains("posted anew"), "{note}");
    assert_eq!(
        st,
        state(&[
            ("channel", "C0ALERTS"),
            ("ts", "1700000100.000900"),
            ("status", "firing")
        ])
    );
}

#[test]
fn message_not_found_on_resolve_posts_a_resolved_message_and_no_reply() {
    let a = alert(AlertStatus::Resolved);
    let t = bot_target();
    let mut st = remembered("firing");
    sent(classify::prepare(&a, &t, &mut st));
    let req = sent(classify::handle_response(
        &a,
        &t,
        &ok(json!({"ok": false, "error": "message_not_found"})),
        &mut st,
    ));
    assert_eq!(body(&req)["attachments"][0]["color"], "#2EB67D");
    let reply = ok(json!({"ok": true, "channel": "C0ALERTS", "ts": "1700000100.000900"}));
    finished(classify::handle_response(&a, &t, &reply, &mut st));
    assert_eq!(st.get("status").as_deref(), Some("resolved"));
}

// ---------------------------------------------------------------------------
// Bot mode: errors

/// Runs `prepare` with `st`, then answers with `resp`; the error and state.
fn bot_error(a: &EnrichedAlert, mut st: MemoryState, resp: HttpResponse) -> (Error, MemoryState) {
    let t = bot_target();
    sent(classify::prepare(a, &t, &mut st));
    let e = failed(classify::handle_response(a, &t, &resp, &mut st));
    assert!(!e.message.contains(TOKEN), "token leaked: {}", e.message);
    assert!(st.get("pending").is_none(), "pending is cleared on error");
    (e, st)
}

fn slack_error(code: &str) -> HttpResponse {
    ok(json!({"ok": false, "error": code}))
}

#[test]
fn every_slack_error_code_has_its_class() {
    let firing = alert(AlertStatus::Firing);
    for code in [
        "invalid_auth",
        "not_authed",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "invalid_blocks",
    ] {
        for st in [MemoryState::default(), remembered("firing")] {
            let (e, _) = bot_error(&firing, st, slack_error(code));
            assert_eq!(e.class, ErrorClass::Permanent, "{code}");
            assert!(e.message.contains(code), "{}", e.message);
        }
    }
    let (e, _) = bot_error(&firing, MemoryState::default(), slack_error("fatal_error"));
    assert_eq!(e.class, ErrorClass::Unknown);
    assert!(e.message.contains("fatal_error"));
    // message_not_found only means "post anew" on an update.
    let (e, _) = bot_error(
        &firing,
        MemoryState::default(),
        slack_error("message_not_found"),
    );
    assert_eq!(e.class, ErrorClass::Unknown);
    let (e, _) = bot_error(&firing, MemoryState::default(), ok(json!({"ok": false})));
    assert_eq!(e.class, ErrorClass::Unknown);
}

#[test]
fn error_hints_point_at_the_field() {
    let firing = alert(AlertStatus::Firing);
    let (e, _) = bot_error(&firing, MemoryState::default(), slack_error("invalid_auth"));
    assert!(e.message.contains("`secrets.bot_token`"), "{}", e.message);
    let (e, _) = bot_error(
        &firing,
        MemoryState::default(),
        slack_error("channel_not_found"),
    );
    assert!(
        e.message.contains("`options.channel`") && e.message.contains("#alerts"),
        "{}",
        e.message
    );
    let (e, _) = bot_error(
        &firing,
        MemoryState::default(),
        slack_error("not_in_channel"),
    );
    assert!(e.message.contains("invite"), "{}", e.message);
}

#[test]
fn ratelimited_is_transient_with_the_retry_after_hint() {
    let firing = alert(AlertStatus::Firing);
    let body = json!({"ok": false, "error": "ratelimited"}).to_string();
    let (e, _) = bot_error(
        &firing,
        MemoryState::default(),
        response(429, &[("retry-after", "12")], &body),
    );
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.retry_after_ms, Some(12_000));
    assert!(e.message.contains("HTTP 429"), "{}", e.message);
    let (e, _) = bot_error(
        &firing,
        MemoryState::default(),
        response(200, &[("retry-after", "3")], &body),
    );
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.retry_after_ms, Some(3_000));
    let (e, _) = bot_error(&firing, MemoryState::default(), slack_error("ratelimited"));
    assert_eq!((e.class, e.retry_after_ms), (ErrorClass::Transient, None));
}

#[test]
fn http_failures_follow_the_shared_rules() {
    let firing = alert(AlertStatus::Firing);
    for status in [500, 502, 503, 504] {
        let (e, _) = bot_error(
            &firing,
            MemoryState::default(),
            response(status, &[("retry-after", "5")], "upstream"),
        );
        assert_eq!(e.class, ErrorClass::Transient, "{status}");
        assert_eq!(e.retry_after_ms, Some(5_000));
    }
    for status in [400, 401, 403, 404, 410, 501] {
        let (e, _) = bot_error(
            &firing,
            MemoryState::default(),
            response(status, &[], "nope"),
        );
        assert_eq!(e.class, ErrorClass::Permanent, "{status}");
    }
}

#[test]
fn replies_that_make_no_sense_are_permanent() {
    let firing = alert(AlertStatus::Firing);
    let (e, st) = bot_error(
        &firing,
        MemoryState::default(),
        response(200, &[], "<html>proxy</html>"),
    );
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(st.0.is_empty(), "nothing remembered: {:?}", st.0);
    let (e, st) = bot_error(
        &firing,
        MemoryState::default(),
        ok(json!({"ok": true, "channel": "C1"})),
    );
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("without `channel` and `ts`"));
    assert!(st.0.is_empty());
}

#[test]
fn an_error_keeps_what_was_remembered() {
    let (e, st) = bot_error(
        &alert(AlertStatus::Resolved),
        remembered("firing"),
        slack_error("ratelimited"),
    );
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(st, remembered("firing"));
    // A failed thread reply after a good update: nothing changes, the retry redoes both.
    let a = alert(AlertStatus::Resolved);
    let t = bot_target();
    let mut st = remembered("firing");
    sent(classify::prepare(&a, &t, &mut st));
    sent(classify::handle_response(
        &a,
        &t,
        &ok(json!({"ok": true})),
        &mut st,
    ));
    let e = failed(classify::handle_response(
        &a,
        &t,
        &slack_error("ratelimited"),
        &mut st,
    ));
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(st, remembered("firing"));
}

#[test]
fn secrets_in_replies_are_redacted() {
    let firing = alert(AlertStatus::Firing);
    let echo = json!({"ok": false, "error": format!("weird_{TOKEN}"), "response_metadata": {"messages": [format!("[ERROR] token {TOKEN}")]}});
    let (e, _) = bot_error(&firing, MemoryState::default(), ok(echo));
    assert!(e.message.contains("***"), "{}", e.message);
    let (e, _) = bot_error(
        &firing,
        MemoryState::default(),
        response(500, &[], &format!("Bearer {TOKEN}")),
    );
    assert!(e.message.contains("***"));
}

#[test]
fn invalid_blocks_carries_slacks_detail() {
    let resp = ok(
        json!({"ok": false, "error": "invalid_blocks", "response_metadata": {"messages": ["[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text]"]}}),
    );
    let (e, _) = bot_error(&alert(AlertStatus::Firing), MemoryState::default(), resp);
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(
        e.message.contains("less than 151 characters"),
        "{}",
        e.message
    );
}

#[test]
fn a_response_without_a_pending_request_is_unknown() {
    let e = failed(classify::handle_response(
        &alert(AlertStatus::Firing),
        &bot_target(),
        &ok(json!({"ok": true})),
        &mut remembered("firing"),
    ));
    assert_eq!(e.class, ErrorClass::Unknown);
}

#[test]
fn operator_headers_are_sent_but_never_override_the_token() {
    let mut t = bot_target();
    t.headers = pairs(&[("X-Trace", "abc"), ("Authorization", "Bearer other")]);
    let req = sent(classify::prepare(
        &alert(AlertStatus::Firing),
        &t,
        &mut MemoryState::default(),
    ));
    assert_eq!(header(&req.headers, "x-trace"), Some("abc"));
    let auths: Vec<_> = req
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .collect();
    assert_eq!(auths.len(), 1);
    assert_eq!(auths[0].1, format!("Bearer {TOKEN}"));
}

// ---------------------------------------------------------------------------
// The look

#[test]
fn the_look_of_a_classified_firing_alert() {
    let look = format::look(&classified(AlertStatus::Firing));
    assert_eq!(look.text, "HighLatency — FIRING: p99 over 2s");
    assert_eq!(
        look.blocks[0],
        json!({"type": "header", "text": {"type": "plain_text", "text": ":rotating_light: HighLatency — FIRING", "emoji": true}})
    );
    assert_eq!(
        look.blocks[1]["text"]["text"],
        "*p99 over 2s*\napi &lt;b&gt; &amp; co"
    );
    assert_eq!(look.attachments.len(), 1);
    let att = &look.attachments[0];
    assert_eq!(att["color"], "#E01E5A");
    let fields: Vec<&str> = att["blocks"][0]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        fields,
        [
            "*Severity*\ncritical",
            "*Namespace*\nprod",
            "*Started*\n2026-01-02T03:00:00Z",
            "*Classification*\ncritical (92% confidence)",
            "*Recommendations*\n1. scale out\n2. check db\n3. page the owner",
        ]
    );
    assert_eq!(
        att["blocks"][1]["text"]["text"],
        "*Reasoning*\nlatency SLO burn"
    );
    assert_eq!(
        att["blocks"][2],
        json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": "Fingerprint `4f1b2c3d4e5f6a7b`"},
            {"type": "mrkdwn", "text": "<http://prom.test/graph?g0.expr=up&amp;g0.tab=1|Source>"}
        ]})
    );
}

#[test]
fn the_look_of_an_unclassified_resolved_alert() {
    let look = format::look(&alert(AlertStatus::Resolved));
    assert_eq!(
        look.blocks[0]["text"]["text"],
        ":white_check_mark: HighLatency — RESOLVED"
    );
    let att = &look.attachments[0];
    assert_eq!(att["color"], "#2EB67D");
    let fields = att["blocks"][0]["fields"].as_array().expect("fields");
    assert_eq!(fields[0]["text"], "*Severity*\nwarning");
    assert_eq!(fields[3]["text"], "*Ended*\n2026-01-02T03:30:00Z");
    assert_eq!(fields.len(), 4);
    // No classification: no reasoning section, straight to the context.
    assert_eq!(att["blocks"].as_array().map(Vec::len), Some(2));
    assert_eq!(att["blocks"][1]["type"], "context");
}

#[test]
fn severity_comes_from_classification_then_label_then_warning() {
    let mut a = alert(AlertStatus::Firing);
    a.alert.labels = pairs(&[("alertname", "X"), ("severity", "Critical")]);
    assert_eq!(format::severity(&a), Severity::Critical);
    assert_eq!(format::color(&a), "#E01E5A");
    assert!(
        format::look(&a).blocks[0]["text"]["text"]
            .as_str()
            .unwrap_or("")
            .starts_with(":rotating_light:")
    );
    a.alert.labels = pairs(&[("alertname", "X"), ("severity", "info")]);
    assert_eq!(format::color(&a), "#36C5F0");
    a.alert.labels = pairs(&[("alertname", "X"), ("severity", "page")]);
    assert_eq!(format::severity(&a), Severity::Warning);
    assert_eq!(format::color(&a), "#ECB22E");
    a.alert.labels = pairs(&[("alertname", "X")]);
    assert_eq!(format::severity(&a), Severity::Warning);
    let mut c = classified(AlertStatus::Firing);
    c.alert.labels = pairs(&[("alertname", "X"), ("severity", "info")]);
    assert_eq!(format::severity(&c), Severity::Critical);
    if let Some(cl) = c.classification.as_mut() {
        cl.severity = Severity::Noise;
    }
    assert_eq!(format::color(&c), "#36C5F0");
}

#[test]
fn odd_generator_urls_and_missing_annotations() {
    let mut a = alert(AlertStatus::Firing);
    a.alert.annotations.clear();
    a.alert.generator_url = Some("http://prom/x?a=<b>|c d".into());
    let look = format::look(&a);
    assert_eq!(look.text, "HighLatency — FIRING");
    let ctx = &look.attachments[0]["blocks"][1]["elements"][1]["text"];
    assert_eq!(ctx, "<http://prom/x?a=%3Cb%3E%7Cc%20d|Source>");
    a.alert.generator_url = Some("javascript:alert(1)".into());
    let look = format::look(&a);
    assert_eq!(
        look.attachments[0]["blocks"][1]["elements"][1]["text"],
        "Source: javascript:alert(1)"
    );
    a.alert.generator_url = None;
    let look = format::look(&a);
    assert_eq!(
        look.attachments[0]["blocks"][1]["elements"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

// ---------------------------------------------------------------------------
// Block Kit limits on a huge alert

/// Checks one Block Kit block list against Slack's limits, returning every violation.
fn block_kit_violations(blocks: &Value, path: &str, out: &mut Vec<String>) {
    let Some(blocks) = blocks.as_array() else {
        out.push(format!("{path}: blocks is not an array"));
        return;
    };
    if blocks.len() > format::MAX_BLOCKS {
        out.push(format!("{path}: {} blocks", blocks.len()));
    }
    for (i, b) in blocks.iter().enumerate() {
        let p = format!("{path}/{i}");
        let text_len = |v: &Value| v.as_str().map(format::units).unwrap_or(usize::MAX);
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text" {
                    out.push(format!("{p}: header text is not plain_text"));
                }
                let n = text_len(&b["text"]["text"]);
                let chars = b["text"]["text"]
                    .as_str()
                    .map(|s| s.chars().count())
                    .unwrap_or(0);
                if n > 150 || chars > 150 || n == 0 {
                    out.push(format!("{p}: header text is {n} long"));
                }
            }
            Some("section") => {
                if b.get("text").is_none() && b.get("fields").is_none() {
                    out.push(format!("{p}: section without text or fields"));
                }
                if let Some(t) = b.get("text") {
                    let n = text_len(&t["text"]);
                    if n > 3000 || n == 0 {
                        out.push(format!("{p}: section text is {n} long"));
                    }
                    if t["type"] != "mrkdwn" && t["type"] != "plain_text" {
                        out.push(format!("{p}: section text type"));
                    }
                }
                if let Some(f) = b.get("fields") {
                    let fields = f.as_array().map(Vec::as_slice).unwrap_or(&[]);
                    if fields.is_empty() || fields.len() > 10 {
                        out.push(format!("{p}: {} fields", fields.len()));
                    }
                    for (j, f) in fields.iter().enumerate() {
                        let n = text_len(&f["text"]);
                        if n > 2000 || n == 0 {
                            out.push(format!("{p}/fields/{j}: {n} long"));
                        }
                    }
                }
            }
            Some("context") => {
                if b.get("text").is_some() {
                    out.push(format!("{p}: context has text"));
                }
                let elements = b["elements"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if elements.is_empty() || elements.len() > 10 {
                    out.push(format!("{p}: {} context elements", elements.len()));
                }
                for (j, e) in elements.iter().enumerate() {
                    let n = text_len(&e["text"]);
                    if n > 3000 || n == 0 {
                        out.push(format!("{p}/elements/{j}: {n} long"));
                    }
                }
            }
            other => out.push(format!("{p}: unexpected block type {other:?}")),
        }
    }
}

fn message_violations(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let text = body["text"].as_str().unwrap_or("");
    if text.is_empty() || format::units(text) > format::TEXT_MAX {
        out.push(format!("text is {} long", format::units(text)));
    }
    block_kit_violations(&body["blocks"], "/blocks", &mut out);
    let atts = body["attachments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if atts.len() != 1 {
        out.push(format!("{} attachments", atts.len()));
    }
    for (i, a) in atts.iter().enumerate() {
        let color = a["color"].as_str().unwrap_or("");
        if !(color.len() == 7 && color.starts_with('#')) {
            out.push(format!("/attachments/{i}: color {color:?}"));
        }
        block_kit_violations(&a["blocks"], &format!("/attachments/{i}/blocks"), &mut out);
    }
    out
}

fn huge(status: AlertStatus) -> EnrichedAlert {
    let long = |c: &str, n: usize| c.repeat(n);
    let mut labels = vec![
        (
            "alertname".to_string(),
            format!("{}😀", long("VeryLongAlertName", 40)),
        ),
        ("namespace".to_string(), long("ns-<&>", 2000)),
        ("severity".to_string(), "critical".to_string()),
    ];
    for i in 0..100 {
        labels.push((format!("label_{i}"), long("v&<>", 500)));
    }
    EnrichedAlert {
        alert: Alert {
            fingerprint: long("f`", 500),
            status,
            labels,
            annotations: vec![
                ("summary".into(), long("summary & <more> ", 2000)),
                ("description".into(), long("𝔡escription\n", 5000)),
            ],
            starts_at: long("2026", 100),
            ends_at: Some(long("2027", 100)),
            generator_url: Some(format!(
                "https://prom.test/graph?{}",
                long("g0.expr=a&b", 1000)
            )),
        },
        classification: Some(Classification {
            severity: Severity::Critical,
            confidence: f64::NAN,
            reasoning: long("because & <reasons> ", 5000),
            recommendations: (0..100)
                .map(|i| format!("rec {i} {}", long("x&", 3000)))
                .collect(),
            metadata: vec![],
        }),
        enrichment: None,
    }
}

#[test]
fn a_huge_alert_stays_within_every_block_kit_limit() {
    for status in [AlertStatus::Firing, AlertStatus::Resolved] {
        for classification in [true, false] {
            let mut a = huge(status);
            if !classification {
                a.classification = None;
            }
            let look = format::look(&a);
            for body in [
                format::webhook_body(&look),
                format::post_body("C1", &look, Some("1.2")),
                format::update_body("C1", "1.2", &look),
            ] {
                let v = message_violations(&body);
                assert!(
                    v.is_empty(),
                    "{status:?} classification={classification}: {v:#?}"
                );
                // The whole message stays far below Slack's 40k-character message cap.
                assert!(
                    body.to_string().len() < 40_000,
                    "{}",
                    body.to_string().len()
                );
            }
            let header = look.blocks[0]["text"]["text"].as_str().unwrap_or("");
            let status_word = if status == AlertStatus::Firing {
                "FIRING"
            } else {
                "RESOLVED"
            };
            assert!(header.ends_with(&format!("… — {status_word}")), "{header}");
            if classification {
                let field = |title: &str| {
                    look.attachments[0]["blocks"][0]["fields"]
                        .as_array()
                        .and_then(|f| {
                            f.iter()
                                .find_map(|f| f["text"].as_str().filter(|t| t.starts_with(title)))
                        })
                        .unwrap_or("")
                        .to_string()
                };
                let recs = field("*Recommendations*");
                assert_eq!(
                    recs.lines()
                        .filter(|l| l.starts_with(char::is_numeric))
                        .count(),
                    3,
                    "{recs}"
                );
                assert!(!recs.contains("4. "));
                assert_eq!(
                    field("*Classification*"),
                    "*Classification*\ncritical (unknown confidence)"
                );
            }
            // Escapes are never cut in half.
            let all = body_text(&format::webhook_body(&look));
            for (i, _) in all.match_indices('&') {
                let rest = &all[i..];
                assert!(
                    rest.starts_with("&amp;")
                        || rest.starts_with("&lt;")
                        || rest.starts_with("&gt;"),
                    "broken escape near {:?}",
                    &rest[..rest.len().min(12)]
                );
            }
            // The generator URL was too long to link, and says so.
            assert!(all.contains("Source URL too long to link"));
        }
    }
}

/// Every mrkdwn text of a message, joined.
fn body_text(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut out = String::new();
            if m.get("type").and_then(Value::as_str) == Some("mrkdwn")
                && let Some(t) = m.get("text").and_then(Value::as_str)
            {
                out.push_str(t);
                out.push('\n');
            }
            for (k, v) in m {
                if k == "text" && v.is_string() {
                    continue;
                }
                out.push_str(&body_text(v));
            }
            out
        }
        Value::Array(a) => a.iter().map(body_text).collect(),
        _ => String::new(),
    }
}

#[test]
fn the_validator_catches_violations() {
    // The limit checker itself must be able to fail.
    let bad = json!({
        "text": "",
        "blocks": [
            {"type": "header", "text": {"type": "mrkdwn", "text": "x".repeat(151)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}},
            {"type": "section", "fields": (0..11).map(|_| json!({"type": "mrkdwn", "text": "f"})).collect::<Vec<_>>()},
            {"type": "context", "text": "no"},
        ],
        "attachments": [{"color": "red", "blocks": (0..51).map(|_| json!({"type": "divider"})).collect::<Vec<_>>()}],
    });
    let v = message_violations(&bad);
    for needle in [
        "text is 0",
        "header text is not plain_text",
        "header text is 151",
        "section text is 3001",
        "11 fields",
        "context has text",
        "51 blocks",
        "color",
    ] {
        assert!(
            v.iter().any(|m| m.contains(needle)),
            "missing {needle}: {v:#?}"
        );
    }
}

// ---------------------------------------------------------------------------
// The golden cases, run natively against the same logic (the host's
// `herald plugin test` runs them against the compiled component).

fn str_map(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn case_target(v: &Value) -> Target {
    Target {
        name: v["name"].as_str().unwrap_or_default().into(),
        kind: v["kind"].as_str().unwrap_or_default().into(),
        url: v["url"].as_str().unwrap_or_default().into(),
        headers: str_map(&v["headers"]),
        options: str_map(&v["options"]),
        secrets: str_map(&v["secrets"]),
    }
}

fn case_alert(case: &Value) -> EnrichedAlert {
    let a = &case["alert"];
    let opt = |k: &str| a[k].as_str().map(str::to_string);
    let classification = case.get("classification").map(|c| Classification {
        severity: match c["severity"].as_str() {
            Some("critical") => Severity::Critical,
            Some("warning") => Severity::Warning,
            Some("info") => Severity::Info,
            Some("noise") => Severity::Noise,
            other => panic!("bad severity {other:?}"),
        },
        confidence: c["confidence"].as_f64().unwrap_or_default(),
        reasoning: c["reasoning"].as_str().unwrap_or_default().into(),
        recommendations: c["recommendations"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        metadata: str_map(&c["metadata"]),
    });
    EnrichedAlert {
        alert: Alert {
            fingerprint: opt("fingerprint").expect("cases here pin the fingerprint"),
            status: match a["status"].as_str() {
                Some("firing") => AlertStatus::Firing,
                Some("resolved") => AlertStatus::Resolved,
                other => panic!("bad status {other:?}"),
            },
            labels: str_map(&a["labels"]),
            annotations: str_map(&a["annotations"]),
            starts_at: opt("starts_at").unwrap_or_default(),
            ends_at: opt("ends_at"),
            generator_url: opt("generator_url"),
        },
        classification,
        enrichment: case.get("enrichment").map(Value::to_string),
    }
}

fn case_response(r: &Value) -> HttpResponse {
    let body = match (r.get("body"), r.get("body_text")) {
        (Some(b), None) => b.to_string().into_bytes(),
        (None, Some(t)) => t.as_str().unwrap_or_default().as_bytes().to_vec(),
        (None, None) => Vec::new(),
        _ => panic!("response has both body and body_text"),
    };
    HttpResponse {
        status: r["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .expect("status"),
        headers: str_map(&r["headers"])
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body,
    }
}

fn strip(mut v: Value, pointers: &[&str]) -> Value {
    for p in pointers {
        let (parent, last) = p.rsplit_once('/').expect("pointer");
        match v.pointer_mut(parent) {
            Some(Value::Object(m)) => {
                m.remove(last);
            }
            Some(Value::Array(a)) => {
                if let Ok(i) = last.parse::<usize>()
                    && i < a.len()
                {
                    a.remove(i);
                }
            }
            _ => {}
        }
    }
    v
}

fn origin_of(url: &str) -> String {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!(
        "{}://{}",
        url.split("://").next().unwrap_or(""),
        host.to_ascii_lowercase()
    )
}

fn check_request(file: &str, step: usize, expect: &Value, req: &HttpRequest, target: &Target) {
    let at = format!("{file} step {step}");
    assert_eq!(
        origin_of(&req.url),
        origin_of(&target.url),
        "{at}: request leaves the target's origin"
    );
    assert_eq!(
        Some(req.method.as_str()),
        expect["method"].as_str(),
        "{at}: method"
    );
    assert_eq!(Some(req.url.as_str()), expect["url"].as_str(), "{at}: url");
    for (name, value) in str_map(&expect["headers"]) {
        assert_eq!(
            header(&req.headers, &name),
            Some(value.as_str()),
            "{at}: header {name}"
        );
    }
    for name in expect["absent_headers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let name = name.as_str().unwrap_or_default();
        assert_eq!(
            header(&req.headers, name),
            None,
            "{at}: header {name} must be absent"
        );
    }
    if let Some(text) = expect.get("body_text") {
        assert_eq!(
            Some(String::from_utf8_lossy(&req.body).as_ref()),
            text.as_str(),
            "{at}: body_text"
        );
    }
    if let Some(want) = expect.get("body") {
        let ignore: Vec<&str> = expect["ignore"]
            .as_array()
            .map(|i| i.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let got = strip(body(req), &ignore);
        assert_eq!(got, strip(want.clone(), &ignore), "{at}: body");
        let violations = message_violations(&body(req));
        assert!(
            violations.is_empty(),
            "{at}: Block Kit limits: {violations:#?}"
        );
    }
}

fn run_case(file: &str, text: &str) {
    let case: Value = serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(case["name"].is_string(), "{file}: name is required");
    let target = case_target(&case["target"]);
    assert!(
        Config::from_target(&target).is_ok(),
        "{file}: the target must validate"
    );
    let alert = case_alert(&case);
    let mut st = MemoryState(str_map(&case["state_before"]).into_iter().collect());
    let mut action = classify::prepare(&alert, &target, &mut st);
    let steps = case["steps"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for (i, step) in steps.iter().enumerate() {
        let req = match action {
            Ok(Action::Send(req)) => req,
            _ => panic!(
                "{file}: the plugin made {i} requests, the case expects {}",
                steps.len()
            ),
        };
        check_request(file, i, &step["expect_request"], &req, &target);
        action =
            classify::handle_response(&alert, &target, &case_response(&step["response"]), &mut st);
    }
    let secrets: Vec<String> = target.secrets.iter().map(|(_, v)| v.clone()).collect();
    let expect = &case["expect"];
    match (action, expect.get("outcome"), expect.get("error")) {
        (Ok(Action::Finish(o)), Some(kind), None) => {
            let want = match kind.as_str() {
                Some("delivered") => OutcomeKind::Delivered,
                Some("skipped") => OutcomeKind::Skipped,
                other => panic!("{file}: bad outcome {other:?}"),
            };
            assert_eq!(o.kind, want, "{file}: outcome");
            let note = o.note.unwrap_or_default();
            if let Some(part) = expect["note_contains"].as_str() {
                assert!(note.contains(part), "{file}: note {note:?} lacks {part:?}");
            }
            assert!(
                secrets.iter().all(|s| !note.contains(s.as_str())),
                "{file}: secret in note"
            );
        }
        (Err(e), None, Some(want)) => {
            let class = match e.class {
                ErrorClass::Transient => "transient",
                ErrorClass::Permanent => "permanent",
                ErrorClass::Unknown => "unknown",
            };
            assert_eq!(
                Some(class),
                want["class"].as_str(),
                "{file}: error class ({})",
                e.message
            );
            if let Some(ms) = want.get("retry_after_ms") {
                assert_eq!(e.retry_after_ms, ms.as_u64(), "{file}: retry_after_ms");
            }
            if let Some(part) = want["message_contains"].as_str() {
                assert!(
                    e.message.contains(part),
                    "{file}: message {:?} lacks {part:?}",
                    e.message
                );
            }
            assert!(
                secrets.iter().all(|s| !e.message.contains(s.as_str())),
                "{file}: secret in error"
            );
        }
        (Ok(Action::Send(req)), _, _) => {
            panic!(
                "{file}: the plugin asks for more requests than the {} steps (next: {})",
                steps.len(),
                req.url
            )
        }
        (got, _, _) => panic!(
            "{file}: ended with {:?}, expected {expect}",
            got.map(|_| "finish").map_err(|e| e.message)
        ),
    }
    if let Some(after) = case.get("state_after") {
        let want: BTreeMap<String, String> = str_map(after).into_iter().collect();
        assert_eq!(st.0, want, "{file}: state_after");
    }
}

#[test]
fn golden_cases_hold_natively() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/cases");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("cases/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{} cases", files.len());
    for path in files {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(&path).expect("readable case");
        run_case(&file, &text);
    }
}
