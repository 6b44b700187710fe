//! Native unit tests: the message, the request, the remembered id, every
//! reply mapping, and target validation.

use herald_plugin_sdk::serde_json::{Value, json};
use herald_plugin_sdk::{
    Action, Alert, AlertStatus, Classification, EnrichedAlert, Error, ErrorClass, HttpRequest,
    HttpResponse, MemoryState, OutcomeKind, Severity, State, Target, header,
};

use crate::classify::{self, ID_TTL_SECONDS};
use crate::format::{self, BODY_MAX_BYTES, Config, TITLE_MAX_CHARS};

const TOKEN: &str = "chat-token-0123456789";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn target() -> Target {
    Target {
        name: "team-chat".into(),
        kind: "example".into(),
        url: "https://chat.example.test".into(),
        headers: vec![],
        options: vec![],
        secrets: pairs(&[("token", TOKEN)]),
    }
}

fn with_options(options: &[(&str, &str)]) -> Target {
    Target {
        options: pairs(options),
        ..target()
    }
}

fn firing() -> EnrichedAlert {
    EnrichedAlert {
        alert: Alert {
            fingerprint: "4f1b2c3d4e5f6a7b".into(),
            status: AlertStatus::Firing,
            labels: pairs(&[("alertname", "HighLatency"), ("severity", "warning")]),
            annotations: pairs(&[("summary", "p99 over 2s")]),
            starts_at: "2026-01-02T03:00:00Z".into(),
            ends_at: None,
            generator_url: Some("http://prom.test/graph?g0".into()),
        },
        classification: None,
        enrichment: None,
    }
}

fn resolved() -> EnrichedAlert {
    let mut a = firing();
    a.alert.status = AlertStatus::Resolved;
    a.alert.ends_at = Some("2026-01-02T03:30:00Z".into());
    a
}

fn classified(severity: Severity) -> EnrichedAlert {
    EnrichedAlert {
        classification: Some(Classification {
            severity,
            confidence: 0.917,
            reasoning: "latency SLO burn".into(),
            recommendations: vec![
                "scale out".into(),
                "check db".into(),
                "page owner".into(),
                "fourth".into(),
            ],
            metadata: vec![],
        }),
        ..firing()
    }
}

fn send(action: Action) -> HttpRequest {
    match action {
        Action::Send(r) => r,
        Action::Finish(o) => panic!("expected a request, got {o:?}"),
    }
}

fn json_body(r: &HttpRequest) -> Value {
    herald_plugin_sdk::serde_json::from_slice(&r.body).expect("JSON body")
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: pairs(headers),
        body: body.as_bytes().to_vec(),
    }
}

fn finished(result: Result<Action, Error>) -> (OutcomeKind, Option<String>) {
    match result.expect("an outcome") {
        Action::Finish(o) => (o.kind, o.note),
        Action::Send(r) => panic!("expected the end, got a request to {}", r.url),
    }
}

// ------------------------------------------------------------------ requests

#[test]
fn a_firing_alert_is_one_post_to_messages() {
    let request = send(format::prepare(&firing(), &target(), &MemoryState::default()).unwrap());
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "https://chat.example.test/messages");
    assert_eq!(
        header(&request.headers, "content-type"),
        Some("application/json")
    );
    assert_eq!(
        header(&request.headers, "authorization"),
        Some("Bearer chat-token-0123456789")
    );
    assert_eq!(
        json_body(&request),
        json!({
            "title": "[FIRING] HighLatency",
            "body": "p99 over 2s\n\nSource: http://prom.test/graph?g0",
            "priority": 4
        })
    );
}

#[test]
fn the_classification_goes_into_the_body_and_sets_the_priority() {
    let request = send(
        format::prepare(
            &classified(Severity::Critical),
            &target(),
            &MemoryState::default(),
        )
        .unwrap(),
    );
    assert_eq!(
        json_body(&request),
        json!({
            "title": "[FIRING] HighLatency",
            "body": "p99 over 2s\n\nClassification: critical (0.92)\nlatency SLO burn\n- scale out\n- check db\n- page owner\n\nSource: http://prom.test/graph?g0",
            "priority": 5
        })
    );
}

#[test]
fn priority_follows_the_classification_then_the_severity_label() {
    for (severity, expected) in [
        (Severity::Critical, 5),
        (Severity::Warning, 4),
        (Severity::Info, 3),
        (Severity::Noise, 2),
    ] {
        assert_eq!(format::priority(&classified(severity)), expected);
    }
    for (label, expected) in [
        ("critical", 5),
        ("warning", 4),
        ("info", 3),
        ("noise", 2),
        ("page", 3),
    ] {
        let mut a = firing();
        a.alert.labels = pairs(&[("alertname", "X"), ("severity", label)]);
        assert_eq!(format::priority(&a), expected, "{label}");
    }
    let mut a = firing();
    a.alert.labels = pairs(&[("alertname", "X")]);
    assert_eq!(format::priority(&a), 3);
}

#[test]
fn title_and_body_are_cut_to_the_chats_limits() {
    let mut a = firing();
    a.alert.labels = pairs(&[("alertname", &"N".repeat(400))]);
    a.alert.annotations = pairs(&[("summary", &"é".repeat(5000))]);
    let body = format::message(&a, None);
    let title = body["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), TITLE_MAX_CHARS);
    assert!(title.starts_with("[FIRING] NNN") && title.ends_with('…'));
    let text = body["body"].as_str().unwrap();
    assert!(text.len() <= BODY_MAX_BYTES, "{}", text.len());
    assert!(
        text.len() > BODY_MAX_BYTES - 8,
        "cut too much: {}",
        text.len()
    );
    assert!(text.ends_with("..."));
}

#[test]
fn a_resolve_replies_to_the_remembered_message() {
    let mut state = MemoryState::default();
    state.set("id", "msg-42", 0);
    let request = send(format::prepare(&resolved(), &target(), &state).unwrap());
    let body = json_body(&request);
    assert_eq!(body["title"], "[RESOLVED] HighLatency");
    assert_eq!(body["reply_to"], "msg-42");
    assert_eq!(body["priority"], 4, "a resolve keeps its alert's priority");
}

#[test]
fn a_resolve_with_nothing_remembered_is_a_plain_message() {
    let request = send(format::prepare(&resolved(), &target(), &MemoryState::default()).unwrap());
    let body = json_body(&request);
    assert_eq!(body["title"], "[RESOLVED] HighLatency");
    assert!(body.get("reply_to").is_none(), "{body}");
}

#[test]
fn a_firing_alert_never_replies_even_with_an_id_remembered() {
    let mut state = MemoryState::default();
    state.set("id", "msg-42", 0);
    let body = json_body(&send(
        format::prepare(&firing(), &target(), &state).unwrap(),
    ));
    assert!(body.get("reply_to").is_none(), "{body}");
}

#[test]
fn alerts_below_min_priority_are_skipped_without_a_request() {
    let t = with_options(&[("min_priority", "4")]);
    let (kind, note) = finished(format::prepare(
        &classified(Severity::Info),
        &t,
        &MemoryState::default(),
    ));
    assert_eq!(kind, OutcomeKind::Skipped);
    assert_eq!(
        note.as_deref(),
        Some("priority 3 is below the target's min_priority 4")
    );
    // At the threshold it is sent.
    send(format::prepare(&firing(), &t, &MemoryState::default()).unwrap());
}

// ------------------------------------------------------------------ replies

#[test]
fn a_2xx_to_a_firing_remembers_the_message_id() {
    let mut state = MemoryState::default();
    let (kind, note) = finished(classify::handle_response(
        &firing(),
        &target(),
        &response(201, &[], r#"{"id":"msg-42"}"#),
        &mut state,
    ));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(note.as_deref(), Some("posted message msg-42"));
    assert_eq!(state.get("id").as_deref(), Some("msg-42"));
    assert_eq!(ID_TTL_SECONDS, 604_800);
}

#[test]
fn a_2xx_without_an_id_is_delivered_with_a_note() {
    for body in ["", "ok", r#"{"id":""}"#, r#"{"id":7}"#] {
        let mut state = MemoryState::default();
        let (kind, note) = finished(classify::handle_response(
            &firing(),
            &target(),
            &response(200, &[], body),
            &mut state,
        ));
        assert_eq!(kind, OutcomeKind::Delivered, "{body}");
        assert!(note.unwrap().contains("no message id"), "{body}");
        assert_eq!(state, MemoryState::default(), "{body}");
    }
}

#[test]
fn a_2xx_to_a_resolve_forgets_the_id() {
    let mut state = MemoryState::default();
    state.set("id", "msg-42", 0);
    let (kind, note) = finished(classify::handle_response(
        &resolved(),
        &target(),
        &response(200, &[], r#"{"id":"msg-43"}"#),
        &mut state,
    ));
    assert_eq!((kind, note), (OutcomeKind::Delivered, None));
    assert_eq!(state, MemoryState::default());
}

fn error_of(status: u16, headers: &[(&str, &str)], body: &str) -> Error {
    let mut state = MemoryState::default();
    state.set("id", "msg-42", 0);
    let error = classify::handle_response(
        &resolved(),
        &target(),
        &response(status, headers, body),
        &mut state,
    )
    .expect_err("an error");
    assert_eq!(
        state.get("id").as_deref(),
        Some("msg-42"),
        "an error keeps the state"
    );
    error
}

#[test]
fn statuses_are_classed_by_the_shared_rules() {
    for status in [408, 425, 429, 500, 502, 503, 504, 599] {
        assert_eq!(
            error_of(status, &[], "").class,
            ErrorClass::Transient,
            "{status}"
        );
    }
    for status in [400, 401, 403, 404, 409, 410, 413, 422, 501] {
        assert_eq!(
            error_of(status, &[], "").class,
            ErrorClass::Permanent,
            "{status}"
        );
    }
    for status in [101, 301, 302, 304] {
        assert_eq!(
            error_of(status, &[], "").class,
            ErrorClass::Unknown,
            "{status}"
        );
    }
}

#[test]
fn retry_after_is_passed_up() {
    let e = error_of(429, &[("retry-after", "7")], "slow down");
    assert_eq!(e.retry_after_ms, Some(7000));
    assert_eq!(e.message, "the chat answered 429: slow down");
    assert_eq!(error_of(503, &[], "").retry_after_ms, None);
}

#[test]
fn error_messages_quote_the_reply_without_the_token() {
    let e = error_of(
        400,
        &[],
        &format!(r#"{{"error":"title too long","token":"{TOKEN}"}}"#),
    );
    assert_eq!(
        e.message,
        r#"the chat answered 400: {"error":"title too long","token":"***"}"#
    );
    let long = error_of(400, &[], &"x".repeat(1000));
    assert!(long.message.len() <= "the chat answered 400: ".len() + 200);
}

// ---------------------------------------------------------------- validation

#[test]
fn a_target_with_a_token_is_valid() {
    assert_eq!(
        Config::from_target(&target()),
        Ok(Config {
            token: TOKEN,
            min_priority: 1
        })
    );
    assert_eq!(
        Config::from_target(&with_options(&[("min_priority", "5")])).map(|c| c.min_priority),
        Ok(5)
    );
}

#[test]
fn bad_targets_are_refused_naming_the_field() {
    let no_token = Target {
        secrets: vec![],
        ..target()
    };
    let err = Config::from_target(&no_token).unwrap_err();
    assert!(err.starts_with("`secrets.token` is missing"), "{err}");

    let err = Config::from_target(&with_options(&[("priority", "3")])).unwrap_err();
    assert_eq!(err, "unknown key `options.priority` (known: min_priority)");

    for bad in ["0", "6", "high", "-1", ""] {
        let t = with_options(&[("min_priority", bad)]);
        let err = Config::from_target(&t);
        if bad.is_empty() {
            // An empty option counts as unset.
            assert_eq!(err.map(|c| c.min_priority), Ok(1));
            continue;
        }
        let err = err.unwrap_err();
        assert!(
            err.starts_with("`options.min_priority` must be"),
            "{bad}: {err}"
        );
    }

    let bad_url = Target {
        url: "chat.example.test".into(),
        ..target()
    };
    assert!(Config::from_target(&bad_url).unwrap_err().contains("`url`"));

    let err = format::prepare(&firing(), &no_token, &MemoryState::default()).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
}

#[test]
fn the_health_probe_gets_health_with_the_token() {
    let probe = format::health_probe(&target()).expect("a probe");
    assert_eq!(probe.method, "GET");
    assert_eq!(probe.url, "https://chat.example.test/health");
    assert_eq!(
        header(&probe.headers, "authorization"),
        Some("Bearer chat-token-0123456789")
    );
    assert!(probe.body.is_empty());
    let no_token = Target {
        secrets: vec![],
        ..target()
    };
    assert!(format::health_probe(&no_token).is_none());
}

// ------------------------------------------------------------ the guide

/// Every code block in `plugins/README.md` preceded by
/// `<!-- excerpt: PATH -->` must appear verbatim in `plugins/PATH`, so the
/// authoring guide cannot drift from the code it walks through.
#[test]
fn the_guides_excerpts_match_the_files() {
    let plugins = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("plugins/");
    let guide = std::fs::read_to_string(plugins.join("README.md")).expect("plugins/README.md");
    let mut checked = 0;
    let mut lines = guide.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line
            .trim()
            .strip_prefix("<!-- excerpt: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "the excerpt marker for {path} must be followed by a code fence, not {fence:?}"
        );
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let excerpt = block.join("\n");
        let file = std::fs::read_to_string(plugins.join(path))
            .unwrap_or_else(|e| panic!("plugins/{path} (named in README.md): {e}"));
        assert!(
            file.contains(&excerpt),
            "README.md's excerpt of {path} is not in the file any more; update the guide:\n{excerpt}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} excerpts found in README.md");
}
