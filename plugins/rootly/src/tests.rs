//! Native unit tests: settings, bodies, limits, the state machine around the
//! remembered id, and every error mapping.

use herald_plugin_sdk::serde_json::{self, Value, json};
use herald_plugin_sdk::{
    Action, Alert, AlertStatus, Classification, EnrichedAlert, ErrorClass, HttpRequest,
    HttpResponse, MemoryState, OutcomeKind, Severity, State, Target,
};

use crate::classify::{self, DETAIL_MAX_BYTES};
use crate::format::{self, DETAILS_MAX_CHARS, ID_TTL_SECONDS, SUMMARY_MAX_CHARS};

const KEY: &str = "rk_live_0123456789abcdef";
const ID: &str = "10453674-6686-4bcf-b5c9-4d4105bff486";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn target(options: &[(&str, &str)]) -> Target {
    Target {
        name: "rootly-prod".into(),
        kind: "rootly".into(),
        url: "https://api.rootly.test".into(),
        headers: vec![],
        options: pairs(options),
        secrets: pairs(&[("api_key", KEY)]),
    }
}

fn incidents() -> Target {
    target(&[("mode", "incidents")])
}

fn alert(status: AlertStatus) -> EnrichedAlert {
    EnrichedAlert {
        alert: Alert {
            fingerprint: "4f1b2c3d4e5f6a7b".into(),
            status,
            labels: pairs(&[
                ("severity", "critical"),
                ("alertname", "HighLatency"),
                ("namespace", "prod"),
            ]),
            annotations: pairs(&[
                ("summary", "p99 over 2s"),
                ("description", "p99 latency of checkout is 2.4s"),
            ]),
            starts_at: "2026-01-02T03:00:00Z".into(),
            ends_at: None,
            generator_url: Some("http://prom/graph?g0".into()),
        },
        classification: None,
        enrichment: None,
    }
}

fn firing() -> EnrichedAlert {
    alert(AlertStatus::Firing)
}

fn resolved() -> EnrichedAlert {
    let mut a = alert(AlertStatus::Resolved);
    a.alert.ends_at = Some("2026-01-02T03:30:00Z".into());
    a
}

fn classified() -> EnrichedAlert {
    let mut a = firing();
    a.classification = Some(Classification {
        severity: Severity::Warning,
        confidence: 0.923,
        reasoning: "latency SLO burn".into(),
        recommendations: vec!["scale out".into(), "check db".into()],
        metadata: vec![],
    });
    a
}

fn state_with(key: &str, id: &str) -> MemoryState {
    let mut s = MemoryState::default();
    s.set(key, id, 0);
    s
}

fn response(status: u16, body: &str, headers: &[(&str, &str)]) -> HttpResponse {
    HttpResponse {
        status,
        headers: pairs(headers),
        body: body.as_bytes().to_vec(),
    }
}

fn created(id: &str) -> HttpResponse {
    response(
        201,
        &json!({"data": {"id": id, "type": "alerts"}}).to_string(),
        &[],
    )
}

fn sent(action: Action) -> HttpRequest {
    match action {
        Action::Send(req) => req,
        Action::Finish(o) => panic!("expected a request, got {o:?}"),
    }
}

fn finished(action: Action) -> (OutcomeKind, String) {
    match action {
        Action::Finish(o) => (o.kind, o.note.unwrap_or_default()),
        Action::Send(r) => panic!("expected the end, got a request to {}", r.url),
    }
}

fn body(req: &HttpRequest) -> Value {
    serde_json::from_slice(&req.body).expect("JSON body")
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    herald_plugin_sdk::header(&req.headers, name)
}

// ---------------------------------------------------------------- settings

#[test]
fn a_plain_target_is_valid_and_defaults_to_alerts() {
    let t = target(&[]);
    assert_eq!(format::validate_target(&t), Ok(()));
    let s = format::Settings::from_target(&t).unwrap();
    assert_eq!(s.mode, format::Mode::Alerts);
    assert!(s.service_ids.is_empty() && s.alert_urgency_id.is_none());
}

#[test]
fn validation_names_the_field() {
    let mut t = target(&[]);
    t.secrets.clear();
    let err = format::validate_target(&t).unwrap_err();
    assert!(err.starts_with("`secrets.api_key` is missing"), "{err}");

    let err = format::validate_target(&target(&[("mode", "pages")])).unwrap_err();
    assert_eq!(
        err,
        "`options.mode` must be `alerts` or `incidents`, not `pages`"
    );

    let err = format::validate_target(&target(&[("servce_ids", "a")])).unwrap_err();
    assert!(err.starts_with("unknown key `options.servce_ids`"), "{err}");

    let mut t = target(&[]);
    t.secrets.push(("token".into(), "x".into()));
    let err = format::validate_target(&t).unwrap_err();
    assert!(err.starts_with("unknown key `secrets.token`"), "{err}");

    let err = format::validate_target(&target(&[("service_ids", " , ,")])).unwrap_err();
    assert!(
        err.starts_with("`options.service_ids` names no ids"),
        "{err}"
    );

    let err = format::validate_target(&target(&[("group_ids", "a b")])).unwrap_err();
    assert!(
        err.starts_with("`options.group_ids` has an id with whitespace"),
        "{err}"
    );

    let err = format::validate_target(&target(&[
        ("mode", "incidents"),
        ("alert_urgency_id", "u1"),
    ]))
    .unwrap_err();
    assert!(
        err.starts_with("`options.alert_urgency_id` only applies"),
        "{err}"
    );
}

#[test]
fn validation_checks_the_url() {
    for (url, want) in [
        (
            "api.rootly.com",
            "`url` must start with http:// or https://",
        ),
        ("https://", "`url` has no host"),
        ("https://api.rootly.com/v1", "`url` ends in /v1"),
        ("https://api.rootly.com/v1/", "`url` ends in /v1"),
        ("https://api.rootly.com/?x=1", "`url` must not have a query"),
    ] {
        let mut t = target(&[]);
        t.url = url.into();
        let err = format::validate_target(&t).unwrap_err();
        assert!(err.starts_with(want), "{url}: {err}");
    }
    let mut t = target(&[]);
    t.url = "https://proxy.test/rootly-v1".into();
    assert_eq!(format::validate_target(&t), Ok(()));
}

#[test]
fn a_key_with_whitespace_is_rejected_without_echoing_it() {
    let mut t = target(&[]);
    t.secrets = pairs(&[("api_key", "Bearer abcdefgh")]);
    let err = format::validate_target(&t).unwrap_err();
    assert!(
        err.contains("`secrets.api_key` contains whitespace"),
        "{err}"
    );
    assert!(!err.contains("abcdefgh"));
}

#[test]
fn id_lists_are_trimmed_and_blanks_dropped() {
    let t = target(&[
        ("service_ids", " s1, s2,,"),
        ("group_ids", "g1"),
        ("environment_ids", "e1 ,e2"),
        ("alert_urgency_id", " u1 "),
    ]);
    let s = format::Settings::from_target(&t).unwrap();
    assert_eq!(s.service_ids, ["s1", "s2"]);
    assert_eq!(s.group_ids, ["g1"]);
    assert_eq!(s.environment_ids, ["e1", "e2"]);
    assert_eq!(s.alert_urgency_id, Some("u1"));
}

// ---------------------------------------------------------------- requests

#[test]
fn firing_posts_the_full_alert_body() {
    let t = target(&[]);
    let req = sent(format::prepare(&firing(), &t, &mut MemoryState::default()).unwrap());
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://api.rootly.test/v1/alerts");
    assert_eq!(
        body(&req),
        json!({"data": {"type": "alerts", "attributes": {
            "source": "alertmanager",
            "status": "triggered",
            "summary": "p99 over 2s",
            "description": "p99 latency of checkout is 2.4s",
            "started_at": "2026-01-02T03:00:00Z",
            "external_id": "4f1b2c3d4e5f6a7b",
            "deduplication_key": "4f1b2c3d4e5f6a7b",
            "external_url": "http://prom/graph?g0",
            "labels": [
                {"key": "alertname", "value": "HighLatency"},
                {"key": "namespace", "value": "prod"},
                {"key": "severity", "value": "critical"},
            ],
        }}})
    );
}

#[test]
fn every_request_carries_json_api_and_bearer_headers() {
    let mut t = target(&[]);
    t.headers = pairs(&[
        ("X-Team", "sre"),
        ("Authorization", "Basic nope"),
        ("Content-Type", "text/plain"),
    ]);
    let req = sent(format::prepare(&firing(), &t, &mut MemoryState::default()).unwrap());
    assert_eq!(
        req.headers,
        pairs(&[
            ("content-type", "application/vnd.api+json"),
            ("accept", "application/vnd.api+json"),
            ("authorization", &format!("Bearer {KEY}")),
            ("X-Team", "sre"),
        ])
    );
}

#[test]
fn optional_ids_and_end_time_are_sent_when_set() {
    let t = target(&[
        ("service_ids", "s1,s2"),
        ("group_ids", "g1"),
        ("environment_ids", "e1"),
        ("alert_urgency_id", "u1"),
    ]);
    let mut a = firing();
    a.alert.ends_at = Some("2026-01-02T04:00:00Z".into());
    a.alert.generator_url = None;
    let b = body(&sent(
        format::prepare(&a, &t, &mut MemoryState::default()).unwrap(),
    ));
    let attrs = &b["data"]["attributes"];
    assert_eq!(attrs["service_ids"], json!(["s1", "s2"]));
    assert_eq!(attrs["group_ids"], json!(["g1"]));
    assert_eq!(attrs["environment_ids"], json!(["e1"]));
    assert_eq!(attrs["alert_urgency_id"], json!("u1"));
    assert_eq!(attrs["ended_at"], json!("2026-01-02T04:00:00Z"));
    assert!(attrs.get("external_url").is_none());
}

#[test]
fn summary_is_cut_to_its_limit_on_characters() {
    let mut a = firing();
    a.alert.annotations = pairs(&[("summary", &"é".repeat(SUMMARY_MAX_CHARS + 50))]);
    let s = format::summary(&a.alert);
    assert_eq!(s.chars().count(), SUMMARY_MAX_CHARS);
    assert!(s.ends_with("é…"));

    a.alert.annotations = pairs(&[("summary", &"x".repeat(SUMMARY_MAX_CHARS))]);
    assert_eq!(format::summary(&a.alert), "x".repeat(SUMMARY_MAX_CHARS));
}

#[test]
fn summary_falls_back_to_the_alert_name() {
    let mut a = firing();
    a.alert.annotations.clear();
    assert_eq!(format::summary(&a.alert), "HighLatency");
    assert_eq!(format::details(&a), "HighLatency");
}

#[test]
fn classification_goes_into_the_description() {
    let d = format::details(&classified());
    assert_eq!(
        d,
        "p99 latency of checkout is 2.4s\n\n\
         Classification: warning (confidence 0.92)\n\
         Reasoning: latency SLO burn\n\
         Recommendations:\n- scale out\n- check db"
    );
}

#[test]
fn runbook_comes_before_the_classification() {
    let mut a = classified();
    a.alert
        .annotations
        .push(("runbook_url".into(), "https://runbooks.test/latency".into()));
    let d = format::details(&a);
    assert!(
        d.starts_with(
            "p99 latency of checkout is 2.4s\n\nRunbook: https://runbooks.test/latency\n\nClassification: warning"
        ),
        "{d}"
    );
}

#[test]
fn a_long_description_is_cut_but_the_classification_survives() {
    let mut a = classified();
    a.alert.annotations = pairs(&[("description", &"d".repeat(DETAILS_MAX_CHARS * 2))]);
    let d = format::details(&a);
    assert_eq!(d.chars().count(), DETAILS_MAX_CHARS);
    assert!(d.ends_with("- check db"), "{}", &d[d.len() - 100..]);
    assert!(d.contains("d…\n\nClassification: warning"));

    let mut plain = firing();
    plain.alert.annotations = pairs(&[("description", &"d".repeat(DETAILS_MAX_CHARS + 1))]);
    assert_eq!(format::details(&plain).chars().count(), DETAILS_MAX_CHARS);
}

#[test]
fn classification_text_is_bounded() {
    let c = Classification {
        severity: Severity::Critical,
        confidence: 1.0,
        reasoning: "r".repeat(5000),
        recommendations: (0..9)
            .map(|i| format!("step {i} {}", "x".repeat(300)))
            .collect(),
        metadata: vec![],
    };
    let text = format::classification_text(&c);
    assert!(text.starts_with("Classification: critical (confidence 1.00)\nReasoning: rrr"));
    assert_eq!(
        text.matches("\n- step").count(),
        format::MAX_RECOMMENDATIONS
    );
    let reasoning = text.lines().nth(1).unwrap();
    assert_eq!(
        reasoning.chars().count(),
        "Reasoning: ".len() + format::REASONING_MAX_CHARS
    );
    assert!(text.lines().skip(3).all(|l| l.chars().count() <= 202));
}

#[test]
fn repeated_firing_posts_again_and_keeps_the_id() {
    let t = target(&[]);
    let mut state = state_with("id", ID);
    let req = sent(format::prepare(&firing(), &t, &mut state).unwrap());
    assert_eq!(req.url, "https://api.rootly.test/v1/alerts");
    assert_eq!(state.get("id").as_deref(), Some(ID));
    let (kind, note) =
        finished(classify::handle_response(&firing(), &t, &created(ID), &mut state).unwrap());
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(
        note,
        format!("sent again to Rootly alert {ID} (deduplicated by fingerprint)")
    );
    assert_eq!(state.get("id").as_deref(), Some(ID));
}

#[test]
fn a_new_id_on_repeated_firing_replaces_the_old_one() {
    let t = target(&[]);
    let mut state = state_with("id", "old-id");
    let (_, note) =
        finished(classify::handle_response(&firing(), &t, &created(ID), &mut state).unwrap());
    assert_eq!(
        note,
        format!("Rootly answered with alert {ID} (was old-id); remembering {ID}")
    );
    assert_eq!(state.get("id").as_deref(), Some(ID));
}

#[test]
fn resolved_with_an_id_resolves_it() {
    let t = target(&[]);
    let mut state = state_with("id", ID);
    let req = sent(format::prepare(&resolved(), &t, &mut state).unwrap());
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.url,
        format!("https://api.rootly.test/v1/alerts/{ID}/resolve")
    );
    assert_eq!(
        body(&req),
        json!({"data": {"type": "alerts", "attributes": {
            "resolution_message": "Resolved in Alertmanager (ended at 2026-01-02T03:30:00Z)"
        }}})
    );
    let (kind, note) = finished(
        classify::handle_response(&resolved(), &t, &response(200, "{}", &[]), &mut state).unwrap(),
    );
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(note, format!("resolved Rootly alert {ID}"));
    assert_eq!(state, MemoryState::default());
}

#[test]
fn resolve_without_end_time_still_says_where_it_came_from() {
    let mut a = resolved();
    a.alert.ends_at = None;
    assert_eq!(
        format::alert_resolve_body(&a.alert)["data"]["attributes"]["resolution_message"],
        "Resolved in Alertmanager"
    );
}

#[test]
fn resolved_without_an_id_is_skipped() {
    for (t, noun) in [(target(&[]), "alert"), (incidents(), "incident")] {
        let mut state = MemoryState::default();
        let (kind, note) = finished(format::prepare(&resolved(), &t, &mut state).unwrap());
        assert_eq!(kind, OutcomeKind::Skipped);
        assert_eq!(
            note,
            format!("nothing to resolve: no Rootly {noun} remembered for this fingerprint")
        );
    }
}

#[test]
fn remembered_ids_are_escaped_in_paths() {
    assert_eq!(format::path_segment(ID), ID);
    assert_eq!(format::path_segment("a/../b?c d"), "a%2F..%2Fb%3Fc%20d");
    let mut state = state_with("id", "x/y");
    let req = sent(format::prepare(&resolved(), &target(&[]), &mut state).unwrap());
    assert_eq!(req.url, "https://api.rootly.test/v1/alerts/x%2Fy/resolve");
}

#[test]
fn a_base_url_with_a_path_is_joined_once() {
    let mut t = target(&[]);
    t.url = "https://proxy.test/rootly/".into();
    let req = sent(format::prepare(&firing(), &t, &mut MemoryState::default()).unwrap());
    assert_eq!(req.url, "https://proxy.test/rootly/v1/alerts");
}

#[test]
fn an_invalid_target_fails_prepare_permanently() {
    let mut t = target(&[]);
    t.secrets.clear();
    let err = format::prepare(&firing(), &t, &mut MemoryState::default()).unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert!(err.message.starts_with("`secrets.api_key` is missing"));
}

#[test]
fn health_probe_reads_the_current_user() {
    let req = format::health_probe(&target(&[])).unwrap();
    assert_eq!(req.method, "GET");
    assert_eq!(req.url, "https://api.rootly.test/v1/users/me");
    assert!(req.body.is_empty());
    assert_eq!(
        header(&req, "authorization"),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(header(&req, "accept"), Some("application/vnd.api+json"));
    assert_eq!(header(&req, "content-type"), None);

    let mut t = target(&[]);
    t.secrets.clear();
    assert!(format::health_probe(&t).is_none());
}

// ---------------------------------------------------------------- incidents

#[test]
fn incidents_firing_posts_an_incident() {
    let t = target(&[("mode", "incidents"), ("service_ids", "s1")]);
    let req = sent(format::prepare(&classified(), &t, &mut MemoryState::default()).unwrap());
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://api.rootly.test/v1/incidents");
    assert_eq!(
        body(&req),
        json!({"data": {"type": "incidents", "attributes": {
            "title": "p99 over 2s",
            "summary": format::details(&classified()),
            "severity": "high",
            "service_ids": ["s1"],
        }}})
    );
}

#[test]
fn incident_ids_are_remembered_under_their_own_key() {
    let t = incidents();
    let mut state = MemoryState::default();
    let reply = response(
        201,
        &json!({"data": {"id": "inc-1", "type": "incidents"}}).to_string(),
        &[],
    );
    let (kind, note) =
        finished(classify::handle_response(&firing(), &t, &reply, &mut state).unwrap());
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(note, "created Rootly incident inc-1");
    assert_eq!(state, state_with("incident_id", "inc-1"));
}

#[test]
fn incidents_repeated_firing_is_skipped() {
    let mut state = state_with("incident_id", "inc-1");
    let (kind, note) = finished(format::prepare(&firing(), &incidents(), &mut state).unwrap());
    assert_eq!(kind, OutcomeKind::Skipped);
    assert_eq!(
        note,
        "already open as Rootly incident inc-1; not opening another"
    );
    assert_eq!(state, state_with("incident_id", "inc-1"));
}

#[test]
fn an_alert_id_is_not_used_by_incidents_mode() {
    let mut state = state_with("id", ID);
    let (kind, _) = finished(format::prepare(&resolved(), &incidents(), &mut state).unwrap());
    assert_eq!(kind, OutcomeKind::Skipped);
}

#[test]
fn incidents_resolve_patches_the_status() {
    let t = incidents();
    let mut state = state_with("incident_id", "inc-1");
    let req = sent(format::prepare(&resolved(), &t, &mut state).unwrap());
    assert_eq!(req.method, "PATCH");
    assert_eq!(req.url, "https://api.rootly.test/v1/incidents/inc-1");
    assert_eq!(
        body(&req),
        json!({"data": {"type": "incidents", "attributes": {"status": "resolved"}}})
    );
    let (kind, note) = finished(
        classify::handle_response(&resolved(), &t, &response(200, "{}", &[]), &mut state).unwrap(),
    );
    assert_eq!(
        (kind, note.as_str()),
        (OutcomeKind::Delivered, "resolved Rootly incident inc-1")
    );
    assert_eq!(state, MemoryState::default());
}

#[test]
fn incidents_resolve_409_and_404_count_as_done() {
    for (status, want) in [
        (
            409,
            "Rootly incident inc-1 was already resolved (409); forgot it",
        ),
        (
            404,
            "Rootly incident inc-1 is already gone (404); forgot it",
        ),
    ] {
        let mut state = state_with("incident_id", "inc-1");
        let (kind, note) = finished(
            classify::handle_response(
                &resolved(),
                &incidents(),
                &response(status, "", &[]),
                &mut state,
            )
            .unwrap(),
        );
        assert_eq!(kind, OutcomeKind::Delivered);
        assert_eq!(note, want);
        assert_eq!(state, MemoryState::default());
    }
}

#[test]
fn severity_slugs() {
    let mut a = firing();
    for (sev, want) in [
        (Severity::Critical, "critical"),
        (Severity::Warning, "high"),
        (Severity::Info, "medium"),
        (Severity::Noise, "low"),
    ] {
        a.classification = Some(Classification {
            severity: sev,
            confidence: 0.5,
            reasoning: String::new(),
            recommendations: vec![],
            metadata: vec![],
        });
        assert_eq!(format::severity_slug(&a), want, "{sev:?}");
    }
    a.classification = None;
    for (label, want) in [
        ("critical", "critical"),
        ("CRITICAL", "critical"),
        ("error", "high"),
        ("warning", "high"),
        ("high", "high"),
        ("info", "medium"),
        ("medium", "medium"),
        ("low", "low"),
        ("none", "low"),
        ("page", "medium"),
    ] {
        a.alert.labels = pairs(&[("severity", label)]);
        assert_eq!(format::severity_slug(&a), want, "{label}");
    }
    a.alert.labels.clear();
    assert_eq!(format::severity_slug(&a), "medium");
}

// ---------------------------------------------------------------- replies

#[test]
fn created_remembers_the_id() {
    let mut state = MemoryState::default();
    let (kind, note) = finished(
        classify::handle_response(&firing(), &target(&[]), &created(ID), &mut state).unwrap(),
    );
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(note, format!("created Rootly alert {ID}"));
    assert_eq!(state, state_with("id", ID));
}

#[test]
fn ids_live_thirty_days() {
    assert_eq!(ID_TTL_SECONDS, 2_592_000);
}

#[test]
fn a_2xx_without_a_usable_id_is_a_malformed_reply() {
    for reply in [
        "",
        "not json",
        "{}",
        r#"{"data": {}}"#,
        r#"{"data": {"id": ""}}"#,
        r#"{"data": {"id": null}}"#,
        r#"{"data": {"id": "a b"}}"#,
        r#"{"data": [{"id": "x"}]}"#,
    ] {
        let mut state = MemoryState::default();
        let err = classify::handle_response(
            &firing(),
            &target(&[]),
            &response(201, reply, &[]),
            &mut state,
        )
        .unwrap_err();
        assert_eq!(err.class, ErrorClass::Permanent, "{reply}");
        assert!(err.message.contains("malformed reply"), "{}", err.message);
        assert!(
            err.message
                .starts_with("Rootly answered 201 to creating an alert")
        );
        assert_eq!(state, MemoryState::default());
    }
    let long = format!(r#"{{"data": {{"id": "{}"}}}}"#, "a".repeat(200));
    assert_eq!(classify::reply_id(&response(201, &long, &[])), None);
}

#[test]
fn numeric_ids_are_accepted() {
    assert_eq!(
        classify::reply_id(&response(200, r#"{"data": {"id": 42}}"#, &[])).as_deref(),
        Some("42")
    );
}

#[test]
fn resolve_404_forgets_the_alert() {
    let mut state = state_with("id", ID);
    let (kind, note) = finished(
        classify::handle_response(
            &resolved(),
            &target(&[]),
            &response(404, r#"{"errors":[{"title":"Not found"}]}"#, &[]),
            &mut state,
        )
        .unwrap(),
    );
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(
        note,
        format!("Rootly alert {ID} is already gone (404); forgot it")
    );
    assert_eq!(state, MemoryState::default());
}

#[test]
fn failed_resolves_keep_the_id_for_a_retry() {
    for (status, class) in [
        (503, ErrorClass::Transient),
        (409, ErrorClass::Permanent),
        (401, ErrorClass::Permanent),
    ] {
        let mut state = state_with("id", ID);
        let err = classify::handle_response(
            &resolved(),
            &target(&[]),
            &response(status, "", &[]),
            &mut state,
        )
        .unwrap_err();
        assert_eq!(err.class, class, "{status}");
        assert!(
            err.message
                .starts_with(&format!("Rootly answered {status} to resolving alert {ID}")),
            "{}",
            err.message
        );
        assert_eq!(state, state_with("id", ID));
    }
}

#[test]
fn json_api_errors_surface_as_title_and_detail() {
    let reply = json!({"errors": [
        {"title": "Validation failed", "detail": "summary can't be blank", "status": "422"},
        {"title": "Invalid service", "detail": "Invalid service", "status": "422"},
        {"status": "422"},
    ]})
    .to_string();
    let err = classify::handle_response(
        &firing(),
        &target(&[]),
        &response(422, &reply, &[]),
        &mut MemoryState::default(),
    )
    .unwrap_err();
    assert_eq!(err.class, ErrorClass::Permanent);
    assert_eq!(
        err.message,
        "Rootly answered 422 to creating an alert: Validation failed: summary can't be blank; Invalid service"
    );
    assert_eq!(err.retry_after_ms, None);
}

#[test]
fn other_bodies_are_quoted_briefly() {
    let long = "<html>".to_string() + &"x".repeat(2000);
    let detail = classify::error_detail(&response(502, &long, &[])).unwrap();
    assert!(detail.len() <= DETAIL_MAX_BYTES && detail.starts_with("<html>xx"));
    assert_eq!(classify::error_detail(&response(502, "  ", &[])), None);
    assert_eq!(
        classify::error_detail(&response(400, r#"{"errors": []}"#, &[])).as_deref(),
        Some(r#"{"errors": []}"#)
    );
}

#[test]
fn status_classes_follow_the_shared_rules() {
    let cases = [
        (400, ErrorClass::Permanent),
        (403, ErrorClass::Permanent),
        (404, ErrorClass::Permanent),
        (408, ErrorClass::Transient),
        (409, ErrorClass::Permanent),
        (413, ErrorClass::Permanent),
        (422, ErrorClass::Permanent),
        (425, ErrorClass::Transient),
        (429, ErrorClass::Transient),
        (500, ErrorClass::Transient),
        (501, ErrorClass::Permanent),
        (502, ErrorClass::Transient),
        (503, ErrorClass::Transient),
        (504, ErrorClass::Transient),
        (301, ErrorClass::Unknown),
        (304, ErrorClass::Unknown),
        (100, ErrorClass::Unknown),
    ];
    for (status, class) in cases {
        let err = classify::handle_response(
            &firing(),
            &target(&[]),
            &response(status, "", &[]),
            &mut MemoryState::default(),
        )
        .unwrap_err();
        assert_eq!(err.class, class, "{status}");
    }
}

#[test]
fn unauthorized_points_at_the_key() {
    for status in [401, 403] {
        let err = classify::handle_response(
            &firing(),
            &target(&[]),
            &response(status, r#"{"errors":[{"title":"Unauthorized"}]}"#, &[]),
            &mut MemoryState::default(),
        )
        .unwrap_err();
        assert_eq!(err.class, ErrorClass::Permanent);
        assert_eq!(
            err.message,
            format!(
                "Rootly answered {status} to creating an alert: Unauthorized \
                 (check `secrets.api_key`: the key may be wrong, revoked or lack the permission)"
            )
        );
    }
}

#[test]
fn retry_after_is_passed_up() {
    for status in [429, 503] {
        let err = classify::handle_response(
            &firing(),
            &target(&[]),
            &response(status, "", &[("retry-after", "30")]),
            &mut MemoryState::default(),
        )
        .unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient);
        assert_eq!(err.retry_after_ms, Some(30_000), "{status}");
    }
}

#[test]
fn a_redirect_is_unknown_and_names_the_location() {
    let err = classify::handle_response(
        &firing(),
        &target(&[]),
        &response(302, "", &[("location", "https://login.rootly.test/")]),
        &mut MemoryState::default(),
    )
    .unwrap_err();
    assert_eq!(err.class, ErrorClass::Unknown);
    assert_eq!(
        err.message,
        "Rootly answered 302 to creating an alert (redirected to https://login.rootly.test/; check the target's `url`)"
    );
}

#[test]
fn secrets_echoed_by_rootly_are_redacted() {
    let reply = json!({"errors": [{"title": "Invalid token", "detail": format!("token {KEY} is unknown")}]})
        .to_string();
    let err = classify::handle_response(
        &firing(),
        &target(&[]),
        &response(401, &reply, &[]),
        &mut MemoryState::default(),
    )
    .unwrap_err();
    assert!(!err.message.contains(KEY), "{}", err.message);
    assert!(err.message.contains("Invalid token: token *** is unknown"));
}

// ---------------------------------------------------------------- golden cases

/// Replays every `cases/*.yaml` natively (with `MemoryState`), applying the
/// rules of `plugins/CASES.md`, so the golden files are known to match the
/// code before the host's `herald plugin test` runs them in the component.
#[test]
fn golden_cases_pass_natively() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("cases/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} cases", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).expect("case file");
            serde_yaml::from_str(&text)
                .map_err(|e| format!("not YAML: {e}"))
                .and_then(|case| replay(&case))
                .err()
                .map(|e| format!("{}: {e}", path.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn yaml_json(v: &serde_yaml::Value) -> Value {
    serde_json::to_value(v).expect("YAML as JSON")
}

fn string_map(v: Option<&serde_yaml::Value>) -> Vec<(String, String)> {
    let Some(serde_yaml::Value::Mapping(m)) = v else {
        return vec![];
    };
    m.iter()
        .map(|(k, v)| {
            let s = |v: &serde_yaml::Value| match v {
                serde_yaml::Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other)
                    .expect("scalar")
                    .trim()
                    .to_string(),
            };
            (s(k), s(v))
        })
        .collect()
}

fn str_at<'a>(v: &'a serde_yaml::Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(serde_yaml::Value::as_str)
}

fn replay(case: &serde_yaml::Value) -> Result<(), String> {
    str_at(case, "name").ok_or("no name")?;
    let t = &case["target"];
    let target = Target {
        name: str_at(t, "name").ok_or("target.name")?.into(),
        kind: str_at(t, "kind").ok_or("target.kind")?.into(),
        url: str_at(t, "url").ok_or("target.url")?.into(),
        headers: string_map(t.get("headers")),
        options: string_map(t.get("options")),
        secrets: string_map(t.get("secrets")),
    };
    let a = &case["alert"];
    let status = match str_at(a, "status") {
        Some("firing") => AlertStatus::Firing,
        Some("resolved") => AlertStatus::Resolved,
        other => return Err(format!("alert.status {other:?}")),
    };
    let classification = case.get("classification").map(|c| Classification {
        severity: match str_at(c, "severity") {
            Some("critical") => Severity::Critical,
            Some("warning") => Severity::Warning,
            Some("info") => Severity::Info,
            _ => Severity::Noise,
        },
        confidence: c["confidence"].as_f64().unwrap_or_default(),
        reasoning: str_at(c, "reasoning").unwrap_or_default().into(),
        recommendations: c
            .get("recommendations")
            .and_then(|r| r.as_sequence())
            .map(|r| {
                r.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        metadata: string_map(c.get("metadata")),
    });
    let alert = EnrichedAlert {
        alert: Alert {
            fingerprint: str_at(a, "fingerprint").ok_or("alert.fingerprint")?.into(),
            status,
            labels: string_map(a.get("labels")),
            annotations: string_map(a.get("annotations")),
            starts_at: str_at(a, "starts_at").unwrap_or_default().into(),
            ends_at: str_at(a, "ends_at").map(String::from),
            generator_url: str_at(a, "generator_url").map(String::from),
        },
        classification,
        enrichment: case.get("enrichment").map(|e| yaml_json(e).to_string()),
    };
    let mut state = MemoryState(string_map(case.get("state_before")).into_iter().collect());
    let empty = vec![];
    let steps = case
        .get("steps")
        .and_then(|s| s.as_sequence())
        .unwrap_or(&empty);
    let origin = |url: &str| {
        let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
        format!(
            "{scheme}://{}",
            rest.split(['/', '?', '#']).next().unwrap_or("")
        )
    };

    let mut result = format::prepare(&alert, &target, &mut state);
    let mut made = 0;
    while let Ok(Action::Send(req)) = &result {
        let Some(step) = steps.get(made) else {
            return Err(format!(
                "request {} to {} not in the steps",
                made + 1,
                req.url
            ));
        };
        made += 1;
        if origin(&req.url) != origin(&target.url) {
            return Err(format!("request to another origin: {}", req.url));
        }
        check_request(req, &step["expect_request"]).map_err(|e| format!("step {made}: {e}"))?;
        let r = &step["response"];
        let response = HttpResponse {
            status: r["status"].as_u64().ok_or("response.status")? as u16,
            headers: string_map(r.get("headers"))
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body: match (r.get("body"), str_at(r, "body_text")) {
                (Some(b), _) => yaml_json(b).to_string().into_bytes(),
                (None, Some(text)) => text.as_bytes().to_vec(),
                (None, None) => vec![],
            },
        };
        result = classify::handle_response(&alert, &target, &response, &mut state);
    }
    if made != steps.len() {
        return Err(format!("{made} requests made, {} steps", steps.len()));
    }

    let expect = &case["expect"];
    let secrets = &target.secrets;
    let leaks = |text: &str| {
        secrets
            .iter()
            .any(|(_, s)| !s.is_empty() && text.contains(s))
    };
    match (&result, expect.get("error")) {
        (Ok(Action::Finish(outcome)), None) => {
            let kind = match outcome.kind {
                OutcomeKind::Delivered => "delivered",
                OutcomeKind::Skipped => "skipped",
            };
            let note = outcome.note.clone().unwrap_or_default();
            if Some(kind) != str_at(expect, "outcome") {
                return Err(format!("outcome {kind} ({note})"));
            }
            if let Some(want) = str_at(expect, "note_contains")
                && !note.contains(want)
            {
                return Err(format!("note {note:?} lacks {want:?}"));
            }
            if leaks(&note) {
                return Err("a secret in the note".into());
            }
        }
        (Err(err), Some(want)) => {
            let class = match err.class {
                ErrorClass::Transient => "transient",
                ErrorClass::Permanent => "permanent",
                ErrorClass::Unknown => "unknown",
            };
            if Some(class) != str_at(want, "class") {
                return Err(format!("error class {class}: {}", err.message));
            }
            if let Some(ms) = want.get("retry_after_ms")
                && err.retry_after_ms != ms.as_u64()
            {
                return Err(format!("retry_after_ms {:?}", err.retry_after_ms));
            }
            if let Some(text) = str_at(want, "message_contains")
                && !err.message.contains(text)
            {
                return Err(format!("message {:?} lacks {text:?}", err.message));
            }
            if leaks(&err.message) {
                return Err("a secret in the message".into());
            }
        }
        (got, _) => return Err(format!("ended with {got:?}")),
    }
    if let Some(after) = case.get("state_after") {
        let want = MemoryState(string_map(Some(after)).into_iter().collect());
        if state != want {
            return Err(format!("state after {:?}, want {:?}", state.0, want.0));
        }
    }
    Ok(())
}

fn check_request(req: &HttpRequest, want: &serde_yaml::Value) -> Result<(), String> {
    if str_at(want, "method") != Some(req.method.as_str()) {
        return Err(format!("method {}", req.method));
    }
    if str_at(want, "url") != Some(req.url.as_str()) {
        return Err(format!("url {}", req.url));
    }
    for (name, value) in string_map(want.get("headers")) {
        if header(req, &name) != Some(value.as_str()) {
            return Err(format!("header {name}: {:?}", header(req, &name)));
        }
    }
    if let Some(absent) = want.get("absent_headers").and_then(|a| a.as_sequence()) {
        for name in absent.iter().filter_map(|n| n.as_str()) {
            if header(req, name).is_some() {
                return Err(format!("header {name} must be absent"));
            }
        }
    }
    let ignore: Vec<&str> = want
        .get("ignore")
        .and_then(|i| i.as_sequence())
        .map(|i| i.iter().filter_map(|p| p.as_str()).collect())
        .unwrap_or_default();
    match (want.get("body"), str_at(want, "body_text")) {
        (Some(b), _) => {
            let mut got: Value = serde_json::from_slice(&req.body).map_err(|e| e.to_string())?;
            let mut want = yaml_json(b);
            for pointer in &ignore {
                for v in [&mut got, &mut want] {
                    if let Some(slot) = v.pointer_mut(pointer) {
                        *slot = Value::Null;
                    }
                }
            }
            if got != want {
                return Err(format!(
                    "body\n got: {}\nwant: {}",
                    serde_json::to_string_pretty(&got).unwrap_or_default(),
                    serde_json::to_string_pretty(&want).unwrap_or_default()
                ));
            }
        }
        (None, Some(text)) if text.as_bytes() != req.body.as_slice() => {
            return Err(format!("body text {}", String::from_utf8_lossy(&req.body)));
        }
        _ => {}
    }
    Ok(())
}
