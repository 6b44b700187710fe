//! Native unit tests: bodies in both formats, signing against an independent
//! HMAC oracle (Python's `hmac`), every reply mapping, redaction, validation
//! and the health probe.

use herald_plugin_sdk::serde_json::{self, Value, json};
use herald_plugin_sdk::{
    Action, Alert, AlertStatus, Classification, EnrichedAlert, ErrorClass, HttpResponse,
    OutcomeKind, Severity, Target, header,
};

use crate::classify::{self, SNIPPET_MAX_BYTES};
use crate::format::{self, Format};

/// 2026-01-02T03:04:05Z, the `now:` of the signed golden cases.
const NOW: u64 = 1_767_323_045;
const SIGNING_SECRET: &str = "s3cr3t-signing-key";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert() -> EnrichedAlert {
    EnrichedAlert {
        alert: Alert {
            fingerprint: "4f1b2c3d4e5f6a7b".into(),
            status: AlertStatus::Firing,
            // Deliberately unsorted: the body sorts them.
            labels: pairs(&[
                ("severity", "critical"),
                ("alertname", "HighLatency"),
                ("namespace", "prod"),
            ]),
            annotations: pairs(&[("summary", "p99 over 2s")]),
            starts_at: "2026-01-02T03:00:00Z".into(),
            ends_at: None,
            generator_url: Some("http://prom/graph?g0".into()),
        },
        classification: None,
        enrichment: None,
    }
}

fn resolved() -> EnrichedAlert {
    let mut a = alert();
    a.alert.status = AlertStatus::Resolved;
    a.alert.ends_at = Some("2026-01-02T03:30:00Z".into());
    a
}

fn classified() -> EnrichedAlert {
    let mut a = alert();
    a.classification = Some(Classification {
        severity: Severity::Critical,
        confidence: 0.92,
        reasoning: "latency SLO burn".into(),
        recommendations: vec!["scale out".into(), "check db".into()],
        metadata: pairs(&[("model", "m1")]),
    });
    a.enrichment = Some(r#"{"runbook":"https://runbooks.test/latency","owners":["sre"]}"#.into());
    a
}

fn target() -> Target {
    Target {
        name: "ops-hook".into(),
        kind: "webhook".into(),
        url: "https://hooks.example.test/alert".into(),
        headers: pairs(&[("Authorization", "Bearer tok-abcdef123456")]),
        options: vec![],
        secrets: vec![],
    }
}

fn with_options(options: &[(&str, &str)]) -> Target {
    Target {
        options: pairs(options),
        ..target()
    }
}

fn with_secret(secret: &str) -> Target {
    Target {
        secrets: pairs(&[("signing_secret", secret)]),
        ..target()
    }
}

fn body_json(alert: &EnrichedAlert, target: &Target) -> Value {
    let bytes = format::body(alert, target).expect("body");
    serde_json::from_slice(&bytes).expect("body is JSON")
}

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: pairs(headers),
        body: body.as_bytes().to_vec(),
    }
}

fn error_of(status: u16, headers: &[(&str, &str)], body: &str) -> herald_plugin_sdk::Error {
    match classify::response(&response(status, headers, body), &target()) {
        Ok(_) => panic!("{status} should be an error"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------- bodies

#[test]
fn herald_body_for_a_firing_alert_has_exactly_the_documented_fields() {
    assert_eq!(
        body_json(&alert(), &target()),
        json!({
            "version": "1",
            "alert_name": "HighLatency",
            "fingerprint": "4f1b2c3d4e5f6a7b",
            "status": "firing",
            "labels": {"alertname": "HighLatency", "severity": "critical", "namespace": "prod"},
            "annotations": {"summary": "p99 over 2s"},
            "starts_at": "2026-01-02T03:00:00Z",
            "generator_url": "http://prom/graph?g0",
        })
    );
}

#[test]
fn herald_body_bytes_are_stable_and_sorted() {
    // The exact bytes matter: they are what gets signed.
    let text = String::from_utf8(format::body(&alert(), &target()).expect("body")).expect("utf-8");
    assert_eq!(
        text,
        r#"{"version":"1","alert_name":"HighLatency","fingerprint":"4f1b2c3d4e5f6a7b","status":"firing","labels":{"alertname":"HighLatency","namespace":"prod","severity":"critical"},"annotations":{"summary":"p99 over 2s"},"starts_at":"2026-01-02T03:00:00Z","generator_url":"http://prom/graph?g0"}"#
    );
}

#[test]
fn herald_body_for_a_resolved_alert_carries_its_end() {
    let body = body_json(&resolved(), &target());
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["ends_at"], "2026-01-02T03:30:00Z");
}

#[test]
fn herald_body_leaves_out_unknown_optional_fields_instead_of_null() {
    let mut a = alert();
    a.alert.generator_url = None;
    a.alert.labels.retain(|(k, _)| k != "alertname");
    let body = body_json(&a, &target());
    let object = body.as_object().expect("object");
    for absent in ["ends_at", "generator_url", "classification", "enrichment"] {
        assert!(!object.contains_key(absent), "{absent} in {body}");
    }
    // No alertname label: the SDK's fallback name.
    assert_eq!(body["alert_name"], "alert");
}

#[test]
fn herald_body_carries_classification_as_an_object_and_enrichment_as_json() {
    let body = body_json(&classified(), &target());
    assert_eq!(
        body["classification"],
        json!({
            "severity": "critical",
            "confidence": 0.92,
            "reasoning": "latency SLO burn",
            "recommendations": ["scale out", "check db"],
            "metadata": {"model": "m1"},
        })
    );
    assert_eq!(
        body["enrichment"],
        json!({"runbook": "https://runbooks.test/latency", "owners": ["sre"]})
    );
}

#[test]
fn enrichment_that_is_not_json_is_sent_as_text_and_blank_is_left_out() {
    assert_eq!(format::enrichment("not json {"), Some(json!("not json {")));
    assert_eq!(format::enrichment("  "), None);
    assert_eq!(format::enrichment("[1,2]"), Some(json!([1, 2])));
    let mut a = alert();
    a.enrichment = Some(String::new());
    assert!(body_json(&a, &target()).get("enrichment").is_none());
}

#[test]
fn repeated_labels_keep_the_last_value() {
    let mut a = alert();
    a.alert.labels.push(("severity".into(), "warning".into()));
    assert_eq!(body_json(&a, &target())["labels"]["severity"], "warning");
}

#[test]
fn alertmanager_body_is_a_v4_payload_for_one_alert() {
    let t = with_options(&[
        ("format", "alertmanager"),
        ("external_url", "https://herald.test"),
    ]);
    assert_eq!(
        body_json(&classified(), &t),
        json!({
            "receiver": "ops-hook",
            "status": "firing",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "HighLatency", "severity": "critical", "namespace": "prod"},
                "annotations": {"summary": "p99 over 2s"},
                "startsAt": "2026-01-02T03:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prom/graph?g0",
                "fingerprint": "4f1b2c3d4e5f6a7b",
            }],
            "groupLabels": {},
            "commonLabels": {"alertname": "HighLatency", "severity": "critical", "namespace": "prod"},
            "commonAnnotations": {"summary": "p99 over 2s"},
            "externalURL": "https://herald.test",
            "version": "4",
            "groupKey": "{}:{fingerprint=\"4f1b2c3d4e5f6a7b\"}",
            "truncatedAlerts": 0,
        })
    );
}

#[test]
fn alertmanager_body_keeps_alertmanagers_field_order() {
    let t = with_options(&[("format", "alertmanager")]);
    let text = String::from_utf8(format::body(&alert(), &t).expect("body")).expect("utf-8");
    let order = [
        "\"receiver\"",
        "\"status\"",
        "\"alerts\"",
        "\"groupLabels\"",
        "\"commonLabels\"",
        "\"commonAnnotations\"",
        "\"externalURL\"",
        "\"version\"",
        "\"groupKey\"",
        "\"truncatedAlerts\"",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| {
            text.find(k)
                .unwrap_or_else(|| panic!("{k} missing in {text}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn alertmanager_body_for_a_resolved_alert_without_generator_or_external_url() {
    let t = with_options(&[("format", "alertmanager")]);
    let mut a = resolved();
    a.alert.generator_url = None;
    let body = body_json(&a, &t);
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["alerts"][0]["status"], "resolved");
    assert_eq!(body["alerts"][0]["endsAt"], "2026-01-02T03:30:00Z");
    assert_eq!(body["alerts"][0]["generatorURL"], "");
    assert_eq!(body["externalURL"], "");
    assert_eq!(body["alerts"].as_array().map(Vec::len), Some(1));
}

#[test]
fn group_keys_differ_per_alert_and_escape_quotes() {
    assert_ne!(format::group_key("a"), format::group_key("b"));
    assert_eq!(format::group_key("a\"b"), "{}:{fingerprint=\"a\\\"b\"}");
}

#[test]
fn format_option_is_parsed() {
    assert_eq!(Format::of(&target()), Ok(Format::Herald));
    assert_eq!(
        Format::of(&with_options(&[("format", "herald")])),
        Ok(Format::Herald)
    );
    assert_eq!(
        Format::of(&with_options(&[("format", "alertmanager")])),
        Ok(Format::Alertmanager)
    );
    let err = Format::of(&with_options(&[("format", "am")])).unwrap_err();
    assert!(
        err.contains("`options.format`") && err.contains("`am`"),
        "{err}"
    );
}

// ---------------------------------------------------------------- request

#[test]
fn request_posts_json_to_the_url_with_the_operator_headers_verbatim() {
    let t = Target {
        headers: pairs(&[
            ("Authorization", "Bearer tok-abcdef123456"),
            ("X-Team", "sre"),
        ]),
        ..target()
    };
    let req = format::request(&alert(), &t, NOW).expect("request");
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://hooks.example.test/alert");
    assert_eq!(
        req.headers,
        pairs(&[
            ("content-type", "application/json"),
            ("Authorization", "Bearer tok-abcdef123456"),
            ("X-Team", "sre"),
        ])
    );
    assert_eq!(req.body, format::body(&alert(), &t).expect("body"));
}

#[test]
fn request_drops_headers_the_adapter_owns_even_when_not_validated() {
    let t = Target {
        headers: pairs(&[
            ("Content-Type", "text/plain"),
            ("X-Herald-Signature", "sha256=forged"),
            ("X-Ok", "1"),
        ]),
        ..target()
    };
    let req = format::request(&alert(), &t, NOW).expect("request");
    assert_eq!(
        req.headers,
        pairs(&[("content-type", "application/json"), ("X-Ok", "1")])
    );
}

#[test]
fn unsigned_requests_have_no_signature_headers() {
    let req = format::request(&alert(), &target(), NOW).expect("request");
    assert!(header(&req.headers, "x-herald-signature").is_none());
    assert!(header(&req.headers, "x-herald-timestamp").is_none());
}

#[test]
fn signed_request_matches_an_independent_hmac() {
    // Expected value from Python: hmac.new(key, b"1767323045." + body, sha256).hexdigest()
    let req = format::request(&alert(), &with_secret(SIGNING_SECRET), NOW).expect("request");
    assert_eq!(
        header(&req.headers, "x-herald-timestamp"),
        Some("1767323045")
    );
    assert_eq!(
        header(&req.headers, "x-herald-signature"),
        Some("sha256=8da563959a7a47f925780fe7557fc56579ee0b18df8787d0c6e20c38fd30985d")
    );
    // The secret itself never travels.
    assert!(
        req.headers.iter().all(|(_, v)| !v.contains(SIGNING_SECRET)),
        "{:?}",
        req.headers
    );
}

#[test]
fn signature_covers_timestamp_body_and_key() {
    let base = format::signature("k1", 100, b"{}");
    assert_ne!(base, format::signature("k1", 101, b"{}"));
    assert_ne!(base, format::signature("k1", 100, b"{ }"));
    assert_ne!(base, format::signature("k2", 100, b"{}"));
    assert!(
        base.starts_with("sha256=") && base.len() == 7 + 64,
        "{base}"
    );
    assert!(
        base[7..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
}

#[test]
fn signed_alertmanager_body_matches_an_independent_hmac() {
    // Same alert and target as cases/signed-alertmanager-resolved.yaml.
    let mut a = resolved();
    a.alert.fingerprint = "9a8b7c6d5e4f3a2b".into();
    a.alert.labels = pairs(&[("alertname", "DiskFull"), ("severity", "warning")]);
    a.alert.annotations = pairs(&[("description", "disk / at 95%")]);
    a.alert.starts_at = "2026-01-02T01:00:00Z".into();
    a.alert.ends_at = Some("2026-01-02T02:00:00Z".into());
    a.alert.generator_url = None;
    let t = Target {
        name: "am-relay".into(),
        url: "https://relay.example.test/api/alertmanager".into(),
        headers: vec![],
        options: pairs(&[("format", "alertmanager")]),
        secrets: pairs(&[("signing_secret", SIGNING_SECRET)]),
        ..target()
    };
    let req = format::request(&a, &t, NOW).expect("request");
    assert_eq!(
        String::from_utf8(req.body).expect("utf-8"),
        r#"{"receiver":"am-relay","status":"resolved","alerts":[{"status":"resolved","labels":{"alertname":"DiskFull","severity":"warning"},"annotations":{"description":"disk / at 95%"},"startsAt":"2026-01-02T01:00:00Z","endsAt":"2026-01-02T02:00:00Z","generatorURL":"","fingerprint":"9a8b7c6d5e4f3a2b"}],"groupLabels":{},"commonLabels":{"alertname":"DiskFull","severity":"warning"},"commonAnnotations":{"description":"disk / at 95%"},"externalURL":"","version":"4","groupKey":"{}:{fingerprint=\"9a8b7c6d5e4f3a2b\"}","truncatedAlerts":0}"#
    );
    assert_eq!(
        header(&req.headers, "x-herald-signature"),
        Some("sha256=a1de1af03c52c7f6e40fccad5039d11e92de32c02ecd29ecb409a7f0be2db3b2")
    );
}

// ---------------------------------------------------------------- replies

#[test]
fn any_2xx_is_delivered_whatever_the_body() {
    for (status, body) in [
        (200, "ok"),
        (201, "{}"),
        (202, ""),
        (204, ""),
        (299, "<html>"),
    ] {
        match classify::response(&response(status, &[], body), &target()) {
            Ok(Action::Finish(outcome)) => assert_eq!(outcome.kind, OutcomeKind::Delivered),
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn statuses_map_to_the_shared_error_classes() {
    for status in [408, 425, 429, 500, 502, 503, 504, 507, 599] {
        assert_eq!(
            error_of(status, &[], "x").class,
            ErrorClass::Transient,
            "{status}"
        );
    }
    for status in [400, 401, 403, 404, 405, 409, 410, 413, 422, 451, 501] {
        assert_eq!(
            error_of(status, &[], "x").class,
            ErrorClass::Permanent,
            "{status}"
        );
    }
    for status in [100, 301, 302, 304, 307, 308] {
        assert_eq!(
            error_of(status, &[], "x").class,
            ErrorClass::Unknown,
            "{status}"
        );
    }
}

#[test]
fn retry_after_is_passed_up_in_milliseconds() {
    assert_eq!(
        error_of(429, &[("retry-after", "7")], "").retry_after_ms,
        Some(7000)
    );
    assert_eq!(
        error_of(503, &[("Retry-After", "120")], "").retry_after_ms,
        Some(120_000)
    );
    // An HTTP date already past means "now".
    let past = error_of(503, &[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")], "");
    assert_eq!(past.retry_after_ms, Some(0));
    assert_eq!(error_of(503, &[], "").retry_after_ms, None);
    assert_eq!(
        error_of(400, &[("retry-after", "7")], "").retry_after_ms,
        None
    );
}

#[test]
fn error_messages_quote_the_reply_on_one_line() {
    let e = error_of(503, &[], "upstream\n  overloaded\r\n\tplease retry\n");
    assert_eq!(
        e.message,
        "webhook answered 503: upstream overloaded please retry"
    );
    assert_eq!(
        error_of(500, &[], "  \n ").message,
        "webhook answered 500 with an empty body"
    );
    let redirect = error_of(301, &[("location", "https://elsewhere.test/")], "moved");
    assert!(
        redirect
            .message
            .starts_with("webhook answered 301 (a redirect"),
        "{}",
        redirect.message
    );
    assert!(
        redirect.message.ends_with(": moved"),
        "{}",
        redirect.message
    );
}

#[test]
fn error_snippets_are_cut_to_the_limit_on_a_character_boundary() {
    let long = "é".repeat(1000);
    let e = error_of(400, &[], &long);
    let snippet = e
        .message
        .strip_prefix("webhook answered 400: ")
        .expect("prefix");
    assert!(snippet.len() <= SNIPPET_MAX_BYTES, "{}", snippet.len());
    assert!(snippet.ends_with("..."), "{snippet}");
    assert!(
        snippet.len() > SNIPPET_MAX_BYTES - 8,
        "cut too much: {}",
        snippet.len()
    );
    let short = error_of(400, &[], "bad field `labels`");
    assert_eq!(short.message, "webhook answered 400: bad field `labels`");
}

#[test]
fn replies_echoing_credentials_are_redacted() {
    let t = Target {
        url: "https://hooks.example.test/alert?token=url-token-9876543&v=1".into(),
        headers: pairs(&[
            ("Authorization", "Bearer tok-abcdef123456"),
            ("X-Api-Key", "key-0011223344"),
            ("X-Team", "platform-sre"),
        ]),
        secrets: pairs(&[("signing_secret", SIGNING_SECRET)]),
        ..target()
    };
    let reply = format!(
        "bad auth: Bearer tok-abcdef123456 / tok-abcdef123456 / key-0011223344 / \
         url-token-9876543 / {SIGNING_SECRET} for platform-sre"
    );
    let e = classify::response(&response(401, &[], &reply), &t).unwrap_err();
    for leaked in [
        "tok-abcdef123456",
        "key-0011223344",
        "url-token-9876543",
        SIGNING_SECRET,
    ] {
        assert!(!e.message.contains(leaked), "{leaked} in {}", e.message);
    }
    // Headers that are not credentials are left alone.
    assert!(e.message.contains("for platform-sre"), "{}", e.message);
    assert!(
        e.message.starts_with("webhook answered 401: bad auth: ***"),
        "{}",
        e.message
    );
}

#[test]
fn a_secret_at_the_cut_is_redacted_not_half_shown() {
    let t = with_secret(SIGNING_SECRET);
    let reply = format!("{}{SIGNING_SECRET}", "a".repeat(SNIPPET_MAX_BYTES - 10));
    let snippet = classify::snippet(reply.as_bytes(), &t);
    assert!(!snippet.contains("s3cr3t"), "{snippet}");
}

// ---------------------------------------------------------------- validation

#[test]
fn a_plain_target_and_a_full_one_are_valid() {
    assert_eq!(format::validate(&target()), Ok(()));
    let full = Target {
        url: "http://127.0.0.1:9/hooks/alert".into(),
        headers: pairs(&[("X-Api-Key", "k"), ("X_Weird.Name~1", "a\tb")]),
        options: pairs(&[
            ("format", "alertmanager"),
            ("external_url", "https://herald.test"),
            ("health_path", "/healthz?deep=1"),
        ]),
        secrets: pairs(&[("signing_secret", SIGNING_SECRET)]),
        ..target()
    };
    assert_eq!(format::validate(&full), Ok(()));
}

fn invalid(t: Target) -> String {
    format::validate(&t).expect_err("should be invalid")
}

#[test]
fn bad_urls_are_rejected() {
    for url in [
        "ftp://hooks.test/x",
        "hooks.test/x",
        "https:///x",
        "https://a b/",
    ] {
        let err = invalid(Target {
            url: url.into(),
            ..target()
        });
        assert!(err.contains("`url`"), "{url}: {err}");
    }
}

#[test]
fn unknown_options_and_secrets_are_named() {
    let err = invalid(with_options(&[("fromat", "alertmanager")]));
    assert!(
        err.contains("`options.fromat`") && err.contains("format"),
        "{err}"
    );
    let err = invalid(Target {
        secrets: pairs(&[("token", "x")]),
        ..target()
    });
    assert!(
        err.contains("`secrets.token`") && err.contains("signing_secret"),
        "{err}"
    );
}

#[test]
fn bad_option_values_are_rejected() {
    let err = invalid(with_options(&[("format", "slack")]));
    assert!(err.contains("`options.format`"), "{err}");
    let err = invalid(with_options(&[("external_url", "https://herald.test")]));
    assert!(err.contains("`options.external_url` only applies"), "{err}");
    let err = invalid(with_options(&[
        ("format", "alertmanager"),
        ("external_url", "herald"),
    ]));
    assert!(err.contains("`options.external_url`"), "{err}");
    for path in ["healthz", "//evil.test/x", "https://other.test/h"] {
        let err = invalid(with_options(&[("health_path", path)]));
        assert!(
            err.contains("`options.health_path` must be a path"),
            "{path}: {err}"
        );
    }
    let err = invalid(with_options(&[("health_path", "/a b")]));
    assert!(err.contains("`options.health_path`"), "{err}");
}

#[test]
fn an_empty_signing_secret_is_rejected() {
    let err = invalid(with_secret(""));
    assert!(err.contains("`secrets.signing_secret` is empty"), "{err}");
}

#[test]
fn bad_header_names_and_values_are_rejected_without_echoing_values() {
    for name in ["", "X Team", "X-Team:", "Ünïcode", "a\nb"] {
        let err = invalid(Target {
            headers: pairs(&[(name, "v")]),
            ..target()
        });
        assert!(
            err.contains("is not a valid header name"),
            "{name:?}: {err}"
        );
    }
    for name in [
        "Content-Type",
        "content-length",
        "Host",
        "Transfer-Encoding",
        "Connection",
    ] {
        let err = invalid(Target {
            headers: pairs(&[(name, "v")]),
            ..target()
        });
        assert!(err.contains("Herald sets it itself"), "{name}: {err}");
    }
    let err = invalid(Target {
        headers: pairs(&[("X-Herald-Signature", "v")]),
        ..target()
    });
    assert!(err.contains("reserved for Herald's signing"), "{err}");
    let err = invalid(Target {
        headers: pairs(&[("Authorization", "Bearer tok-1\r\nX-Evil: 1")]),
        ..target()
    });
    assert!(
        err.contains("`headers.Authorization` has a control character"),
        "{err}"
    );
    assert!(!err.contains("tok-1"), "{err}");
}

// ---------------------------------------------------------------- health probe

#[test]
fn no_health_probe_without_a_health_path() {
    assert!(format::health_probe(&target(), NOW).is_none());
    assert!(format::health_probe(&with_secret(SIGNING_SECRET), NOW).is_none());
}

#[test]
fn health_probe_gets_the_health_path_on_the_targets_origin() {
    let t = Target {
        url: "http://127.0.0.1:9/hooks/alert?x=1".into(),
        options: pairs(&[("health_path", "/healthz")]),
        ..target()
    };
    let probe = format::health_probe(&t, NOW).expect("probe");
    assert_eq!(probe.method, "GET");
    assert_eq!(probe.url, "http://127.0.0.1:9/healthz");
    assert!(probe.body.is_empty());
    assert_eq!(
        probe.headers,
        pairs(&[("Authorization", "Bearer tok-abcdef123456")])
    );
}

#[test]
fn health_probe_is_signed_over_an_empty_body_when_signing_is_on() {
    let t = Target {
        options: pairs(&[("health_path", "/ping")]),
        secrets: pairs(&[("signing_secret", SIGNING_SECRET)]),
        ..target()
    };
    let probe = format::health_probe(&t, NOW).expect("probe");
    assert_eq!(probe.url, "https://hooks.example.test/ping");
    // Python: hmac.new(key, b"1767323045.", sha256).hexdigest()
    assert_eq!(
        header(&probe.headers, "x-herald-signature"),
        Some("sha256=a48e4cae57eb76300ed15e632aff2d5cac8e7d5dac3c06ee1a23eb4e0fd46b76")
    );
    assert_eq!(
        header(&probe.headers, "x-herald-timestamp"),
        Some("1767323045")
    );
}

#[test]
fn origins_are_cut_before_path_query_and_fragment() {
    assert_eq!(format::origin("https://a.test"), "https://a.test");
    assert_eq!(
        format::origin("https://a.test:8443/x/y"),
        "https://a.test:8443"
    );
    assert_eq!(format::origin("http://a.test?q=1"), "http://a.test");
    assert_eq!(format::origin("http://a.test#f"), "http://a.test");
}
