//! Native unit tests: bodies, annotations and their limits, authentication,
//! the probe, and every reply mapping.

use crate::classify::handle_response;
use crate::format;
use herald_plugin_sdk::serde_json::{Value, json};
use herald_plugin_sdk::{
    Action, Alert, AlertStatus, Classification, EnrichedAlert, Error, ErrorClass, HttpRequest,
    HttpResponse, OutcomeKind, Severity, Target,
};

const NOW: &str = "2026-01-02T04:00:00Z";
const TOKEN: &str = "am-token-0123456789";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn target_with(secrets: &[(&str, &str)]) -> Target {
    Target {
        name: "am-central".into(),
        kind: "alertmanager".into(),
        url: "http://alertmanager.test:9093".into(),
        headers: vec![],
        options: vec![],
        secrets: pairs(secrets),
    }
}

fn target() -> Target {
    target_with(&[])
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
        &[("alertname", "HighLatency"), ("severity", "critical")],
        &[("summary", "p99 over 2s")],
    )
}

fn resolved() -> EnrichedAlert {
    let mut a = firing();
    a.alert.status = AlertStatus::Resolved;
    a
}

fn classification() -> Classification {
    Classification {
        severity: Severity::Critical,
        confidence: 0.92,
        reasoning: "latency SLO burn".into(),
        recommendations: vec!["scale out".into(), "check db".into()],
        metadata: pairs(&[("model", "m1")]),
    }
}

fn body(request: &HttpRequest) -> Value {
    herald_plugin_sdk::serde_json::from_slice(&request.body).expect("JSON body")
}

fn posted(a: &EnrichedAlert) -> Value {
    format::postable_alert(a, NOW).expect("a postable alert")
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

fn finish(r: Result<Action, Error>) -> (OutcomeKind, Option<String>) {
    match r {
        Ok(Action::Finish(o)) => (o.kind, o.note),
        other => panic!("expected a finish, got {other:?}"),
    }
}

// ---- validate-target ----

#[test]
fn good_targets_validate() {
    assert_eq!(format::validate_target(&target()), Ok(()));
    assert_eq!(
        format::validate_target(&target_with(&[("bearer_token", TOKEN)])),
        Ok(())
    );
    assert_eq!(
        format::validate_target(&target_with(&[("basic_auth", "herald:pw:with:colons")])),
        Ok(())
    );
    let mut t = target();
    t.url = "https://am.test/alertmanager/".into();
    t.headers = pairs(&[("Authorization", "Bearer from-headers")]);
    assert_eq!(format::validate_target(&t), Ok(()));
}

#[test]
fn bad_targets_are_rejected_naming_the_field_and_hiding_the_secret() {
    let cases: Vec<(Target, &str)> = vec![
        (
            target_with(&[("bearer_token", TOKEN), ("basic_auth", "u:p")]),
            "both set",
        ),
        (
            target_with(&[("basic_auth", "justapassword")]),
            "`secrets.basic_auth` must be `user:password`",
        ),
        (
            target_with(&[("basic_auth", ":hunter2")]),
            "`secrets.basic_auth` must be `user:password`",
        ),
        (
            target_with(&[("bearer_token", "am-token-0123456789\n")]),
            "`secrets.bearer_token` contains a control character",
        ),
        (
            target_with(&[("bearer_token", "am-token 0123456789")]),
            "`secrets.bearer_token` contains whitespace",
        ),
        (target_with(&[("token", TOKEN)]), "`secrets.token`"),
    ];
    for (t, expected) in cases {
        let err = format::validate_target(&t).unwrap_err();
        assert!(err.contains(expected), "{err}");
        for (_, secret) in &t.secrets {
            assert!(!err.contains(secret.trim()), "{err}");
        }
    }

    let mut t = target();
    t.options = pairs(&[("format", "v1")]);
    assert!(
        format::validate_target(&t)
            .unwrap_err()
            .contains("`options.format`")
    );

    let mut t = target_with(&[("bearer_token", TOKEN)]);
    t.headers = pairs(&[("authorization", "Bearer other")]);
    assert!(
        format::validate_target(&t)
            .unwrap_err()
            .contains("`headers.Authorization`")
    );

    let mut t = target();
    t.url = "http://alertmanager.test:9093/api/v2/alerts".into();
    assert!(
        format::validate_target(&t)
            .unwrap_err()
            .contains("without `/api/v2/alerts`")
    );
    t.url = "alertmanager.test:9093".into();
    assert!(format::validate_target(&t).unwrap_err().contains("`url`"));
}

// ---- prepare: requests and bodies ----

#[test]
fn firing_with_classification_posts_one_alert_with_llm_annotations() {
    let mut a = firing();
    a.alert
        .annotations
        .push(("runbook_url".into(), "https://runbooks.test/x".into()));
    a.alert.generator_url = Some("http://prom.test:9090/graph?g0".into());
    a.alert.ends_at = Some("2026-01-02T03:05:00Z".into());
    a.classification = Some(classification());
    a.enrichment = Some(r#"{"owner":"team-a"}"#.into());

    let mut t = target();
    t.headers = pairs(&[("X-Scope-OrgID", "tenant-1")]);
    let request = format::request(&a, &t, NOW).unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "http://alertmanager.test:9093/api/v2/alerts");
    assert_eq!(
        request.headers,
        pairs(&[
            ("content-type", "application/json"),
            ("X-Scope-OrgID", "tenant-1")
        ])
    );
    assert_eq!(
        body(&request),
        json!([{
            "labels": {"alertname": "HighLatency", "severity": "critical"},
            "annotations": {
                "summary": "p99 over 2s",
                "runbook_url": "https://runbooks.test/x",
                "llm_severity": "critical",
                "llm_confidence": "0.92",
                "llm_reasoning": "latency SLO burn",
                "llm_recommendations": "scale out; check db"
            },
            "startsAt": "2026-01-02T03:00:00Z",
            "generatorURL": "http://prom.test:9090/graph?g0"
        }])
    );
}

#[test]
fn firing_without_classification_sends_the_annotations_unchanged() {
    let request = format::request(&firing(), &target(), NOW).unwrap();
    assert_eq!(
        body(&request),
        json!([{
            "labels": {"alertname": "HighLatency", "severity": "critical"},
            "annotations": {"summary": "p99 over 2s"},
            "startsAt": "2026-01-02T03:00:00Z"
        }])
    );
}

#[test]
fn resolved_carries_its_end_time_or_now() {
    let mut a = resolved();
    a.alert.ends_at = Some("2026-01-02T03:30:00Z".into());
    assert_eq!(posted(&a)["endsAt"], "2026-01-02T03:30:00Z");
    a.alert.ends_at = None;
    assert_eq!(posted(&a)["endsAt"], NOW);
    a.alert.ends_at = Some("0001-01-01T00:00:00Z".into());
    assert_eq!(posted(&a)["endsAt"], NOW);
    a.alert.ends_at = Some(String::new());
    assert_eq!(posted(&a)["endsAt"], NOW);
    // Firing never carries endsAt, and an unset start is left to Alertmanager.
    let mut f = firing();
    f.alert.starts_at = "0001-01-01T00:00:00Z".into();
    let p = posted(&f);
    assert!(p.get("endsAt").is_none());
    assert!(p.get("startsAt").is_none());
}

#[test]
fn an_alert_without_alertname_is_permanent_with_a_clear_message() {
    for labels in [
        vec![],
        vec![("severity", "critical")],
        vec![("alertname", " ")],
    ] {
        let a = alert(AlertStatus::Firing, &labels, &[]);
        let e = format::request(&a, &target(), NOW).unwrap_err();
        assert_eq!(e.class, ErrorClass::Permanent, "{labels:?}");
        assert!(e.message.contains("no `alertname` label"), "{}", e.message);
        assert!(e.message.contains("4f1b2c3d4e5f6a7b"), "{}", e.message);
    }
}

#[test]
fn secrets_become_the_authorization_header() {
    let request =
        format::request(&firing(), &target_with(&[("bearer_token", TOKEN)]), NOW).unwrap();
    assert_eq!(
        herald_plugin_sdk::header(&request.headers, "authorization"),
        Some("Bearer am-token-0123456789")
    );
    let request = format::request(
        &firing(),
        &target_with(&[("basic_auth", "Aladdin:open sesame")]),
        NOW,
    )
    .unwrap();
    assert_eq!(
        herald_plugin_sdk::header(&request.headers, "authorization"),
        Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    );
    // Without secrets, the target's own Authorization header goes out verbatim.
    let mut t = target();
    t.headers = pairs(&[("Authorization", "Bearer from-headers")]);
    let request = format::request(&firing(), &t, NOW).unwrap();
    assert_eq!(
        request.headers[1],
        (
            "Authorization".to_string(),
            "Bearer from-headers".to_string()
        )
    );
    // A secret replaces it rather than sending two.
    t.secrets = pairs(&[("bearer_token", TOKEN)]);
    let request = format::request(&firing(), &t, NOW).unwrap();
    let auths: Vec<_> = request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .collect();
    assert_eq!(auths.len(), 1);
    assert_eq!(auths[0].1, "Bearer am-token-0123456789");
}

#[test]
fn a_broken_secret_at_prepare_is_permanent_and_quiet() {
    let e = format::request(
        &firing(),
        &target_with(&[("basic_auth", "nocolonsecret")]),
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(!e.message.contains("nocolonsecret"), "{}", e.message);
}

#[test]
fn base64_matches_rfc_4648() {
    for (input, expected) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(format::base64(input.as_bytes()), expected, "{input}");
    }
    assert_eq!(format::base64(&[0xff, 0xfe, 0x00]), "//4A");
    assert_eq!(format::base64("ü:€".as_bytes()), "w7w64oKs");
}

// ---- annotations and their limits ----

#[test]
fn confidence_has_two_decimals_and_stays_in_range() {
    for (given, expected) in [
        (0.92, Some("0.92")),
        (0.9, Some("0.90")),
        (1.0, Some("1.00")),
        (0.0, Some("0.00")),
        (0.996, Some("1.00")),
        (1.7, Some("1.00")),
        (-0.2, Some("0.00")),
        (f64::NAN, None),
    ] {
        let mut a = firing();
        a.classification = Some(Classification {
            confidence: given,
            ..classification()
        });
        let ann = format::annotations(&a);
        assert_eq!(
            ann.get("llm_confidence").and_then(Value::as_str),
            expected,
            "{given}"
        );
    }
}

#[test]
fn every_classification_severity_is_named() {
    for (s, name) in [
        (Severity::Critical, "critical"),
        (Severity::Warning, "warning"),
        (Severity::Info, "info"),
        (Severity::Noise, "noise"),
    ] {
        let mut a = firing();
        a.classification = Some(Classification {
            severity: s,
            ..classification()
        });
        assert_eq!(format::annotations(&a)["llm_severity"], name);
    }
}

#[test]
fn reasoning_is_cut_to_500_bytes_on_a_char_boundary() {
    let mut a = firing();
    // 499 ASCII bytes then multi-byte characters: the cut must not split one.
    let reasoning = format!("{}{}", "r".repeat(495), "€".repeat(10));
    a.classification = Some(Classification {
        reasoning: reasoning.clone(),
        ..classification()
    });
    let cut = format::annotations(&a)["llm_reasoning"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cut.len() <= 500, "{}", cut.len());
    assert!(cut.ends_with("..."), "{cut}");
    assert_eq!(cut, format!("{}...", "r".repeat(495)));

    let exact = "é".repeat(250); // exactly 500 bytes: kept whole
    a.classification = Some(Classification {
        reasoning: exact.clone(),
        ..classification()
    });
    assert_eq!(format::annotations(&a)["llm_reasoning"], exact.as_str());
}

#[test]
fn only_the_first_three_recommendations_are_joined() {
    let mut a = firing();
    a.classification = Some(Classification {
        recommendations: vec![
            "one".into(),
            " ".into(),
            "two".into(),
            "three".into(),
            "four".into(),
        ],
        ..classification()
    });
    assert_eq!(
        format::annotations(&a)["llm_recommendations"],
        "one; two; three"
    );
}

#[test]
fn empty_reasoning_and_recommendations_are_left_out_and_classification_wins() {
    let mut a = alert(
        AlertStatus::Firing,
        &[("alertname", "X")],
        &[
            ("llm_severity", "stale"),
            ("llm_reasoning", "stale reasoning"),
        ],
    );
    a.classification = Some(Classification {
        severity: Severity::Info,
        reasoning: "  ".into(),
        recommendations: vec![],
        ..classification()
    });
    let ann = format::annotations(&a);
    assert_eq!(ann["llm_severity"], "info");
    assert_eq!(ann["llm_reasoning"], "stale reasoning");
    assert!(ann.get("llm_recommendations").is_none());
}

// ---- the health probe ----

#[test]
fn the_probe_is_a_get_of_healthy_with_auth() {
    let mut t = target_with(&[("basic_auth", "Aladdin:open sesame")]);
    t.url = "https://am.test/prefix/".into();
    t.headers = pairs(&[("X-Scope-OrgID", "tenant-1")]);
    let probe = format::health_probe(&t);
    assert_eq!(probe.method, "GET");
    assert_eq!(probe.url, "https://am.test/prefix/-/healthy");
    assert!(probe.body.is_empty());
    assert_eq!(
        probe.headers,
        pairs(&[
            ("X-Scope-OrgID", "tenant-1"),
            ("authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        ])
    );
    let plain = format::health_probe(&target());
    assert!(plain.headers.is_empty());
}

// ---- handle-response ----

#[test]
fn a_200_is_delivered_and_other_2xx_carry_a_note() {
    let (kind, note) = finish(handle_response(&target(), &response(200, &[], "")));
    assert_eq!(kind, OutcomeKind::Delivered);
    assert_eq!(note, None);
    for status in [202, 204] {
        let (kind, note) = finish(handle_response(&target(), &response(status, &[], "")));
        assert_eq!(kind, OutcomeKind::Delivered);
        assert_eq!(
            note,
            Some(format!(
                "Alertmanager answered {status} instead of 200; taken as accepted"
            ))
        );
    }
}

#[test]
fn a_400_is_permanent_with_alertmanagers_text() {
    for (reply, text) in [
        (
            r#""start time must be before end time""#,
            "start time must be before end time",
        ),
        (
            r#"{"code":400,"message":"labels: invalid label set"}"#,
            "labels: invalid label set",
        ),
        ("bad request\n", "bad request"),
        ("", "no details in the reply"),
    ] {
        let e = error(handle_response(&target(), &response(400, &[], reply)));
        assert_eq!(e.class, ErrorClass::Permanent);
        assert_eq!(e.retry_after_ms, None);
        assert_eq!(
            e.message,
            format!("Alertmanager rejected the alert (400): {text}")
        );
    }
}

#[test]
fn replies_are_redacted_before_they_are_cut() {
    let t = target_with(&[("bearer_token", TOKEN)]);
    let e = error(handle_response(
        &t,
        &response(400, &[], &format!("token {TOKEN} is odd")),
    ));
    assert_eq!(
        e.message,
        "Alertmanager rejected the alert (400): token *** is odd"
    );
    let long = format!("{}{TOKEN}", "x".repeat(490));
    let e = error(handle_response(&t, &response(502, &[], &long)));
    assert!(!e.message.contains(&TOKEN[..6]), "{}", e.message);
    assert!(e.message.len() < 600);
}

#[test]
fn refused_credentials_are_permanent_with_a_hint() {
    for status in [401, 403] {
        let e = error(handle_response(
            &target(),
            &response(status, &[], "Unauthorized"),
        ));
        assert_eq!(e.class, ErrorClass::Permanent);
        assert!(
            e.message.contains(&format!("({status}): Unauthorized")),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("`secrets.bearer_token`"),
            "{}",
            e.message
        );
    }
}

#[test]
fn server_errors_and_429_are_transient_with_retry_after() {
    for status in [429, 500, 502, 503, 504] {
        let e = error(handle_response(
            &target(),
            &response(status, &[("retry-after", "9")], "busy"),
        ));
        assert_eq!(e.class, ErrorClass::Transient, "{status}");
        assert_eq!(e.retry_after_ms, Some(9000), "{status}");
        assert_eq!(e.message, format!("Alertmanager answered {status}: busy"));
    }
}

#[test]
fn other_statuses_follow_the_shared_rules() {
    for status in [404, 405, 413, 422, 501] {
        let e = error(handle_response(&target(), &response(status, &[], "")));
        assert_eq!(e.class, ErrorClass::Permanent, "{status}");
    }
    let e = error(handle_response(&target(), &response(307, &[], "")));
    assert_eq!(e.class, ErrorClass::Unknown);
    assert_eq!(
        e.message,
        "Alertmanager answered 307: no details in the reply"
    );
}

// ---- the WIT glue ----

#[test]
fn the_glue_posts_and_probes() {
    use herald_plugin_sdk::Adapter;
    assert_eq!(<crate::Plugin as Adapter>::info().kinds, ["alertmanager"]);
    let request = match <crate::Plugin as Adapter>::prepare(resolved(), target()) {
        Ok(Action::Send(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    };
    let ends_at = body(&request)[0]["endsAt"].as_str().unwrap().to_string();
    assert!(
        ends_at.len() == 20 && ends_at.ends_with('Z') && ends_at.starts_with("20"),
        "{ends_at}"
    );
    let probe = <crate::Plugin as Adapter>::health_probe(target()).unwrap();
    assert_eq!(probe.url, "http://alertmanager.test:9093/-/healthy");
    let (kind, _) = finish(<crate::Plugin as Adapter>::handle_response(
        firing(),
        target(),
        response(200, &[], ""),
    ));
    assert_eq!(kind, OutcomeKind::Delivered);
}
