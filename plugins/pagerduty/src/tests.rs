//! Native unit tests: event bodies, field choices, limits and every reply mapping.

use crate::classify::handle_response;
use crate::format::{self, MAX_EVENT_BYTES, Shrink};
use herald_plugin_sdk::serde_json::{Value, json};
use herald_plugin_sdk::{
    Action, Alert, AlertStatus, Classification, EnrichedAlert, Error, ErrorClass, HttpRequest,
    HttpResponse, OutcomeKind, Severity, Target,
};

const KEY: &str = "R0abcdef0123456789ABCDEF01234567";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn target_with(url: &str, secrets: &[(&str, &str)]) -> Target {
    Target {
        name: "pd-prod".into(),
        kind: "pagerduty".into(),
        url: url.into(),
        headers: vec![],
        options: vec![],
        secrets: pairs(secrets),
    }
}

fn target() -> Target {
    target_with("https://events.pagerduty.test", &[("routing_key", KEY)])
}

fn alert(
    status: AlertStatus,
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
) -> EnrichedAlert {
    EnrichedAlert {
        alert: Alert {
            fingerprint: "4f1b2c3d4e5f6a7b".into(),
            status,
            labels: pairs(labels),
            annotations: pairs(annotations),
            starts_at: "2026-01-02T03:00:00Z".into(),
            ends_at: None,
            generator_url: None,
        },
        classification: None,
        enrichment: None,
    }
}

fn firing() -> EnrichedAlert {
    alert(
        AlertStatus::Firing,
        &[
            ("alertname", "HighLatency"),
            ("severity", "warning"),
            ("instance", "api-1:9090"),
        ],
        &[("summary", "p99 over 2s")],
    )
}

fn classification(severity: Severity) -> Classification {
    Classification {
        severity,
        confidence: 0.92,
        reasoning: "latency SLO burn".into(),
        recommendations: vec!["scale out".into(), "check db".into()],
        metadata: vec![],
    }
}

fn send(action: Action) -> HttpRequest {
    match action {
        Action::Send(r) => r,
        Action::Finish(o) => panic!("expected a request, got {o:?}"),
    }
}

fn body(request: &HttpRequest) -> Value {
    herald_plugin_sdk::serde_json::from_slice(&request.body).expect("JSON body")
}

fn trigger(a: &EnrichedAlert) -> Value {
    format::trigger_event(a, KEY).0
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: pairs(headers),
        body: body.as_bytes().to_vec(),
    }
}

fn error(r: Result<Action, Error>) -> Error {
    match r {
        Err(e) => e,
        Ok(a) => panic!("expected an error, got {a:?}"),
    }
}

fn note(r: Result<Action, Error>) -> (OutcomeKind, Option<String>) {
    match r {
        Ok(Action::Finish(o)) => (o.kind, o.note),
        other => panic!("expected a finish, got {other:?}"),
    }
}

// ---- validate-target ----

#[test]
fn a_good_target_validates() {
    assert_eq!(format::validate_target(&target()), Ok(()));
    let eu = target_with("https://events.eu.pagerduty.com/", &[("routing_key", KEY)]);
    assert_eq!(format::validate_target(&eu), Ok(()));
}

#[test]
fn a_missing_routing_key_is_named() {
    let err =
        format::validate_target(&target_with("https://events.pagerduty.test", &[])).unwrap_err();
    assert!(err.contains("`secrets.routing_key` is missing"), "{err}");
    assert!(err.contains("32-character integration key"), "{err}");
}

#[test]
fn a_malformed_routing_key_is_rejected_without_echoing_it() {
    let short = "abc123abc123";
    let err = format::validate_target(&target_with(
        "https://events.pagerduty.test",
        &[("routing_key", short)],
    ))
    .unwrap_err();
    assert!(
        err.contains("`secrets.routing_key` has 12 characters"),
        "{err}"
    );
    assert!(!err.contains(short), "{err}");

    let spaced = "R0abcdef0123456789ABCDEF0123456 ";
    assert_eq!(spaced.len(), 32);
    let err = format::validate_target(&target_with(
        "https://events.pagerduty.test",
        &[("routing_key", spaced)],
    ))
    .unwrap_err();
    assert!(err.contains("only letters and digits"), "{err}");
    assert!(!err.contains(spaced.trim()), "{err}");
}

#[test]
fn unknown_options_and_secrets_and_bad_urls_are_rejected() {
    let mut t = target();
    t.options = pairs(&[("region", "eu")]);
    let err = format::validate_target(&t).unwrap_err();
    assert!(err.contains("`options.region`"), "{err}");

    let mut t = target();
    t.secrets.push(("token".into(), "x".into()));
    let err = format::validate_target(&t).unwrap_err();
    assert!(err.contains("`secrets.token`"), "{err}");

    let err = format::validate_target(&target_with(
        "events.pagerduty.com",
        &[("routing_key", KEY)],
    ))
    .unwrap_err();
    assert!(err.contains("`url`"), "{err}");

    let err = format::validate_target(&target_with(
        "https://events.pagerduty.com/v2/enqueue",
        &[("routing_key", KEY)],
    ))
    .unwrap_err();
    assert!(err.contains("without `/v2/enqueue`"), "{err}");
}

// ---- prepare: requests and bodies ----

#[test]
fn firing_with_classification_builds_the_full_trigger() {
    let mut a = alert(
        AlertStatus::Firing,
        &[
            ("alertname", "HighLatency"),
            ("severity", "warning"),
            ("instance", "api-1:9090"),
            ("job", "api"),
            ("service", "checkout"),
            ("namespace", "prod"),
        ],
        &[
            ("summary", "p99 over 2s"),
            ("runbook_url", "https://runbooks.test/latency"),
            ("grafana_url", "https://grafana.test/d/1"),
        ],
    );
    a.alert.generator_url = Some("http://prom.test:9090/graph?g0".into());
    a.classification = Some(Classification {
        metadata: pairs(&[("model", "m1")]),
        ..classification(Severity::Critical)
    });
    a.enrichment = Some(r#"{"owner":"team-a"}"#.into());

    let (request, shrink) = format::request(&a, &target()).unwrap();
    assert_eq!(shrink, Shrink::None);
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "https://events.pagerduty.test/v2/enqueue");
    assert_eq!(
        request.headers,
        pairs(&[("content-type", "application/json")])
    );
    assert_eq!(
        body(&request),
        json!({
            "routing_key": KEY,
            "event_action": "trigger",
            "dedup_key": "4f1b2c3d4e5f6a7b",
            "payload": {
                "summary": "HighLatency: p99 over 2s",
                "source": "api-1:9090",
                "severity": "critical",
                "timestamp": "2026-01-02T03:00:00Z",
                "component": "checkout",
                "group": "prod",
                "class": "HighLatency",
                "custom_details": {
                    "labels": {
                        "alertname": "HighLatency", "severity": "warning",
                        "instance": "api-1:9090", "job": "api",
                        "service": "checkout", "namespace": "prod"
                    },
                    "annotations": {
                        "summary": "p99 over 2s",
                        "runbook_url": "https://runbooks.test/latency",
                        "grafana_url": "https://grafana.test/d/1"
                    },
                    "classification": {
                        "severity": "critical",
                        "confidence": 0.92,
                        "reasoning": "latency SLO burn",
                        "recommendations": ["scale out", "check db"],
                        "metadata": {"model": "m1"}
                    },
                    "enrichment": {"owner": "team-a"}
                }
            },
            "links": [
                {"href": "https://runbooks.test/latency", "text": "Runbook"},
                {"href": "https://grafana.test/d/1", "text": "Grafana"},
                {"href": "http://prom.test:9090/graph?g0", "text": "Source"}
            ],
            "client": "Herald",
            "client_url": "http://prom.test:9090/graph?g0"
        })
    );
}

#[test]
fn firing_without_classification_has_no_classification_details() {
    let event = trigger(&firing());
    assert_eq!(event["payload"]["severity"], "warning");
    let details = event["payload"]["custom_details"].as_object().unwrap();
    let keys: Vec<&str> = details.keys().map(String::as_str).collect();
    assert_eq!(keys, ["annotations", "labels"]);
    assert!(event.get("links").is_none());
    assert!(event.get("client_url").is_none());
    assert_eq!(event["client"], "Herald");
    // No service/job/namespace labels: no component/group.
    assert!(event["payload"].get("component").is_none());
    assert!(event["payload"].get("group").is_none());
}

#[test]
fn resolved_sends_only_key_action_and_dedup_key() {
    let mut a = firing();
    a.alert.status = AlertStatus::Resolved;
    a.alert.ends_at = Some("2026-01-02T03:30:00Z".into());
    a.classification = Some(classification(Severity::Critical));
    let (request, shrink) = format::request(&a, &target()).unwrap();
    assert_eq!(shrink, Shrink::None);
    assert_eq!(request.url, "https://events.pagerduty.test/v2/enqueue");
    assert_eq!(
        body(&request),
        json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "4f1b2c3d4e5f6a7b"})
    );
}

#[test]
fn the_targets_headers_go_out_verbatim_and_a_trailing_slash_is_harmless() {
    let mut t = target_with("https://events.eu.pagerduty.test/", &[("routing_key", KEY)]);
    t.headers = pairs(&[("X-Proxy-Tenant", "ops"), ("Content-Type", "text/plain")]);
    let (request, _) = format::request(&firing(), &t).unwrap();
    assert_eq!(request.url, "https://events.eu.pagerduty.test/v2/enqueue");
    assert_eq!(
        request.headers,
        pairs(&[
            ("content-type", "application/json"),
            ("X-Proxy-Tenant", "ops")
        ])
    );
}

#[test]
fn prepare_without_a_usable_key_is_permanent_and_quiet() {
    let err = format::request(
        &firing(),
        &target_with("https://events.pagerduty.test", &[]),
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(
        err.message.contains("`secrets.routing_key` is missing"),
        "{}",
        err.message
    );

    let bad = "not-a-key-not-a-key-not-a-key-32";
    let err = format::request(
        &firing(),
        &target_with("https://events.pagerduty.test", &[("routing_key", bad)]),
    )
    .map(|_| ())
    .unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(!err.message.contains(bad));
}

// ---- field choices ----

#[test]
fn classification_severity_maps_as_targets_md_says() {
    for (given, expected) in [
        (Severity::Critical, "critical"),
        (Severity::Warning, "warning"),
        (Severity::Info, "info"),
        (Severity::Noise, "info"),
    ] {
        let mut a = firing();
        a.classification = Some(classification(given));
        assert_eq!(format::severity(&a), expected, "{given:?}");
    }
}

#[test]
fn without_classification_the_severity_label_is_used_when_valid() {
    for (label, expected) in [
        (Some("critical"), "critical"),
        (Some("error"), "error"),
        (Some("Warning"), "warning"),
        (Some("info"), "info"),
        (Some("page"), "error"),
        (Some(""), "error"),
        (None, "error"),
    ] {
        let mut labels = vec![("alertname", "X")];
        if let Some(l) = label {
            labels.push(("severity", l));
        }
        let a = alert(AlertStatus::Firing, &labels, &[]);
        assert_eq!(format::severity(&a), expected, "{label:?}");
    }
}

#[test]
fn source_prefers_instance_then_job_then_generator_host() {
    let mut a = alert(
        AlertStatus::Firing,
        &[("instance", "db-1:5432"), ("job", "pg")],
        &[],
    );
    assert_eq!(format::source(&a), "db-1:5432");
    a.alert.labels = pairs(&[("job", "pg"), ("instance", "")]);
    assert_eq!(format::source(&a), "pg");
    a.alert.labels = vec![];
    a.alert.generator_url = Some("https://user:pw@prom.test:9090/graph?g0.expr=up".into());
    assert_eq!(format::source(&a), "prom.test:9090");
    a.alert.generator_url = None;
    assert_eq!(format::source(&a), "herald");
}

#[test]
fn summary_is_prefixed_with_the_alert_name_and_cut_to_1024_characters() {
    assert_eq!(format::summary(&firing()), "HighLatency: p99 over 2s");
    let bare = alert(AlertStatus::Firing, &[("alertname", "Watchdog")], &[]);
    assert_eq!(format::summary(&bare), "Watchdog");
    let described = alert(
        AlertStatus::Firing,
        &[("alertname", "X")],
        &[("description", "disk full")],
    );
    assert_eq!(format::summary(&described), "X: disk full");

    let long = "é".repeat(3000);
    let a = alert(
        AlertStatus::Firing,
        &[("alertname", "X")],
        &[("summary", &long)],
    );
    let s = format::summary(&a);
    assert_eq!(s.chars().count(), 1024);
    assert!(s.starts_with("X: éé"));
    assert!(s.ends_with('…'));
    let exact = "a".repeat(1021);
    let a = alert(
        AlertStatus::Firing,
        &[("alertname", "X")],
        &[("summary", &exact)],
    );
    assert_eq!(format::summary(&a), format!("X: {exact}"));
}

#[test]
fn timestamp_is_left_out_when_starts_at_is_not_a_real_time() {
    for bad in [
        "",
        "yesterday",
        "0001-01-01T00:00:00Z",
        "2026-01-02 03:00:00",
    ] {
        let mut a = firing();
        a.alert.starts_at = bad.into();
        assert!(trigger(&a)["payload"].get("timestamp").is_none(), "{bad}");
    }
    let mut a = firing();
    a.alert.starts_at = "2026-01-02T03:00:00.123+02:00".into();
    assert_eq!(
        trigger(&a)["payload"]["timestamp"],
        "2026-01-02T03:00:00.123+02:00"
    );
}

#[test]
fn component_falls_back_to_job_and_class_needs_alertname() {
    let a = alert(AlertStatus::Firing, &[("job", "node")], &[]);
    let event = trigger(&a);
    assert_eq!(event["payload"]["component"], "node");
    assert!(event["payload"].get("class").is_none());
    assert_eq!(event["payload"]["summary"], "alert");
}

#[test]
fn links_are_ordered_deduplicated_and_skip_empty_values() {
    let mut a = alert(
        AlertStatus::Firing,
        &[("alertname", "X")],
        &[
            ("dashboard_url", "https://dash.test/1"),
            ("grafana_url", "https://dash.test/1"),
            ("runbook_url", " "),
        ],
    );
    a.alert.generator_url = Some("http://prom.test/g".into());
    assert_eq!(
        format::links(&a),
        vec![
            json!({"href": "https://dash.test/1", "text": "Dashboard"}),
            json!({"href": "http://prom.test/g", "text": "Source"}),
        ]
    );
}

#[test]
fn enrichment_that_is_not_json_is_kept_as_text() {
    let mut a = firing();
    a.enrichment = Some("owner=team-a".into());
    assert_eq!(format::custom_details(&a)["enrichment"], "owner=team-a");
    a.enrichment = Some("  ".into());
    assert!(format::custom_details(&a).get("enrichment").is_none());
}

#[test]
fn long_fingerprints_are_shortened_deterministically() {
    assert_eq!(format::dedup_key("abc"), "abc");
    let exact = "f".repeat(255);
    assert_eq!(format::dedup_key(&exact), exact);
    let long = "f".repeat(300);
    let other = format!("{}g", "f".repeat(299));
    let key = format::dedup_key(&long);
    assert!(key.chars().count() <= 255, "{}", key.len());
    assert_eq!(key.len(), 200 + 1 + 16);
    assert!(key.starts_with(&"f".repeat(200)));
    assert_eq!(key, format::dedup_key(&long));
    assert_ne!(key, format::dedup_key(&other));
}

// ---- the 512 KB limit ----

#[test]
fn an_event_over_512_kb_drops_custom_details_and_says_so() {
    let big = "x".repeat(MAX_EVENT_BYTES);
    let a = alert(
        AlertStatus::Firing,
        &[("alertname", "Big"), ("instance", "h:1")],
        &[("summary", "too much"), ("description", &big)],
    );
    let (request, shrink) = format::request(&a, &target()).unwrap();
    assert_eq!(shrink, Shrink::DetailsDropped);
    assert!(request.body.len() <= MAX_EVENT_BYTES);
    let event = body(&request);
    assert_eq!(
        event["payload"]["custom_details"],
        json!({"note": "custom_details dropped: event exceeded 512 KB"})
    );
    assert_eq!(event["payload"]["summary"], "Big: too much");
    assert_eq!(event["payload"]["source"], "h:1");
    assert_eq!(
        shrink.note(),
        Some("custom_details dropped: event exceeded 512 KB")
    );
}

#[test]
fn an_event_just_under_512_kb_is_sent_whole() {
    let a = alert(
        AlertStatus::Firing,
        &[("alertname", "Big")],
        &[("summary", "s")],
    );
    let base = trigger(&a).to_string().len();
    // One more annotation `"d":"xxx..."` adds 7 bytes of JSON besides its value.
    let filler = "x".repeat(MAX_EVENT_BYTES - base - 7);
    let a = alert(
        AlertStatus::Firing,
        &[("alertname", "Big")],
        &[("summary", "s"), ("d", &filler)],
    );
    let (event, shrink) = format::trigger_event(&a, KEY);
    assert_eq!(event.to_string().len(), MAX_EVENT_BYTES);
    assert_eq!(shrink, Shrink::None);

    let one_more = format!("{filler}x");
    let a = alert(
        AlertStatus::Firing,
        &[("alertname", "Big")],
        &[("summary", "s"), ("d", &one_more)],
    );
    assert_eq!(format::trigger_event(&a, KEY).1, Shrink::DetailsDropped);
}

#[test]
fn when_dropping_details_is_not_enough_long_fields_are_cut() {
    let huge = "h".repeat(MAX_EVENT_BYTES);
    let huge_url = format!("https://runbooks.test/{huge}");
    let mut a = alert(
        AlertStatus::Firing,
        &[
            ("alertname", "Huge"),
            ("instance", &huge),
            ("namespace", &huge),
        ],
        &[("summary", &"s".repeat(2000)), ("runbook_url", &huge_url)],
    );
    a.alert.generator_url = Some("http://prom.test/g".into());
    let (request, shrink) = format::request(&a, &target()).unwrap();
    assert_eq!(shrink, Shrink::FieldsCut);
    assert!(request.body.len() <= 8 * 1024, "{}", request.body.len());
    let event = body(&request);
    let payload = &event["payload"];
    assert_eq!(
        payload["custom_details"],
        json!({"note": "custom_details dropped and long fields cut: event exceeded 512 KB"})
    );
    assert_eq!(payload["summary"].as_str().unwrap().chars().count(), 255);
    assert_eq!(payload["source"].as_str().unwrap().chars().count(), 255);
    assert_eq!(payload["group"].as_str().unwrap().chars().count(), 255);
    assert_eq!(payload["class"], "Huge");
    assert_eq!(
        event["links"],
        json!([{"href": "http://prom.test/g", "text": "Source"}])
    );
    assert_eq!(event["client_url"], "http://prom.test/g");
    assert_eq!(event["dedup_key"], "4f1b2c3d4e5f6a7b");
}

// ---- handle-response ----

#[test]
fn a_202_with_pagerdutys_json_is_delivered() {
    let reply =
        r#"{"status":"success","message":"Event processed","dedup_key":"4f1b2c3d4e5f6a7b"}"#;
    let (kind, n) = note(handle_response(&target(), &response(202, &[], reply)));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(n, None);
}

#[test]
fn odd_2xx_replies_are_delivered_with_a_note() {
    let (kind, n) = note(handle_response(&target(), &response(202, &[], "queued")));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert!(n.unwrap().contains("without its usual JSON reply"));
    let (kind, n) = note(handle_response(&target(), &response(200, &[], "{}")));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(
        n.as_deref(),
        Some("PagerDuty answered 200 instead of 202; taken as accepted")
    );
}

#[test]
fn a_400_is_permanent_and_surfaces_message_and_errors_without_the_key() {
    let reply = json!({
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["'payload.summary' is missing or blank", format!("bad key {KEY}")]
    })
    .to_string();
    let e = error(handle_response(&target(), &response(400, &[], &reply)));
    assert_eq!(e.class, ErrorClass::Permanent);
    assert_eq!(e.retry_after_ms, None);
    assert_eq!(
        e.message,
        "PagerDuty rejected the event as invalid (400): Event object is invalid: \
         'payload.summary' is missing or blank, bad key ***"
    );
}

#[test]
fn a_secret_near_the_cut_is_redacted_before_cutting() {
    let reply = format!("{}{KEY}", "x".repeat(480));
    let e = error(handle_response(&target(), &response(400, &[], &reply)));
    assert!(e.message.len() < 600, "{}", e.message.len());
    assert!(!e.message.contains(&KEY[..8]), "{}", e.message);
}

#[test]
fn a_429_is_transient_with_its_retry_after() {
    let e = error(handle_response(
        &target(),
        &response(429, &[("retry-after", "7")], ""),
    ));
    assert_eq!(e.class, ErrorClass::Transient);
    assert_eq!(e.retry_after_ms, Some(7000));
    assert!(e.message.contains("rate limit"), "{}", e.message);
    assert!(
        e.message.contains("no details in the reply"),
        "{}",
        e.message
    );
}

#[test]
fn server_errors_are_transient_and_keep_retry_after() {
    for status in [500, 502, 503, 504] {
        let e = error(handle_response(
            &target(),
            &response(status, &[("Retry-After", "30")], "upstream down"),
        ));
        assert_eq!(e.class, ErrorClass::Transient, "{status}");
        assert_eq!(e.retry_after_ms, Some(30_000), "{status}");
        assert_eq!(
            e.message,
            format!("PagerDuty answered {status}: upstream down")
        );
    }
    let e = error(handle_response(&target(), &response(408, &[], "")));
    assert_eq!(e.class, ErrorClass::Transient);
}

#[test]
fn other_statuses_follow_the_shared_rules() {
    for status in [401, 403, 404, 413, 422, 501] {
        let e = error(handle_response(
            &target(),
            &response(status, &[], r#"{"message":"nope"}"#),
        ));
        assert_eq!(e.class, ErrorClass::Permanent, "{status}");
        assert_eq!(e.message, format!("PagerDuty answered {status}: nope"));
    }
    let e = error(handle_response(
        &target(),
        &response(302, &[("location", "https://elsewhere.test")], ""),
    ));
    assert_eq!(e.class, ErrorClass::Unknown);
}

// ---- the WIT glue ----

#[test]
fn the_glue_sends_the_event_and_has_no_probe() {
    use herald_plugin_sdk::Adapter;
    let info = <crate::Plugin as Adapter>::info();
    assert_eq!(info.kinds, ["pagerduty"]);
    let request = send(<crate::Plugin as Adapter>::prepare(firing(), target()).unwrap());
    assert_eq!(body(&request)["event_action"], "trigger");
    assert!(<crate::Plugin as Adapter>::health_probe(target()).is_none());
    let e = error(<crate::Plugin as Adapter>::handle_response(
        firing(),
        target(),
        response(503, &[], ""),
    ));
    assert_eq!(e.class, ErrorClass::Transient);
}
