use super::*;

fn response(status: u16, headers: &[(&str, &str)]) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: Vec::new(),
    }
}

fn class(r: Result<(), Error>) -> Option<ErrorClass> {
    r.err().map(|e| e.class)
}

#[test]
fn statuses_follow_the_shared_rules() {
    for s in [200, 201, 202, 204] {
        assert!(classify_status(&response(s, &[]), "x").is_ok(), "{s}");
    }
    for s in [408, 425, 429, 500, 502, 503, 504, 599] {
        assert_eq!(
            class(classify_status(&response(s, &[]), "x")),
            Some(ErrorClass::Transient),
            "{s}"
        );
    }
    for s in [400, 401, 403, 404, 405, 409, 410, 413, 422, 501] {
        assert_eq!(
            class(classify_status(&response(s, &[]), "x")),
            Some(ErrorClass::Permanent),
            "{s}"
        );
    }
    assert_eq!(
        class(classify_status(&response(302, &[]), "x")),
        Some(ErrorClass::Unknown)
    );
}

#[test]
fn retry_after_seconds_and_dates() {
    let e = classify_status(&response(429, &[("Retry-After", "7")]), "slow down").unwrap_err();
    assert_eq!(e.retry_after_ms, Some(7000));
    assert_eq!(e.message, "slow down");
    // A date in the past means "now".
    let past = [(
        "retry-after".to_string(),
        "Sun, 06 Nov 1994 08:49:37 GMT".to_string(),
    )];
    assert_eq!(retry_after_ms(&past), Some(0));
    assert_eq!(
        retry_after_ms(&[("retry-after".into(), "soon".into())]),
        None
    );
}

#[test]
fn truncation_respects_limits_and_boundaries() {
    assert_eq!(truncate_chars("hello", 5), "hello");
    assert_eq!(truncate_chars("hello!", 5), "hell…");
    assert_eq!(truncate_chars("héllo wörld", 4).chars().count(), 4);
    let cut = truncate_bytes("ééééé", 8);
    assert!(cut.len() <= 8, "{cut}");
    assert_eq!(cut, "éé...");
    assert_eq!(truncate_bytes("short", 500), "short");
}

#[test]
fn redact_hides_every_secret() {
    let secrets = vec![("routing_key".to_string(), "abcdef123456".to_string())];
    assert_eq!(
        redact("invalid key abcdef123456 given", &secrets),
        "invalid key *** given"
    );
}

fn target(options: &[(&str, &str)]) -> Target {
    Target {
        name: "t".into(),
        kind: "k".into(),
        url: "https://example.com".into(),
        headers: vec![],
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        secrets: vec![],
    }
}

#[test]
fn unknown_options_are_named() {
    let t = target(&[("fromat", "x")]);
    let err = t.check_options(&["format", "signing"]).unwrap_err();
    assert!(err.contains("`options.fromat`"), "{err}");
    assert!(err.contains("format, signing"), "{err}");
    assert!(
        target(&[("format", "x")])
            .check_options(&["format"])
            .is_ok()
    );
    let err = t.require_secret("token", "needed to sign").unwrap_err();
    assert!(err.contains("`secrets.token` is missing"), "{err}");
}

#[test]
fn base_urls_are_checked() {
    assert!(check_base_url("url", "https://events.pagerduty.com").is_ok());
    assert!(check_base_url("url", "http://127.0.0.1:9000/x").is_ok());
    assert!(check_base_url("url", "ftp://x").is_err());
    assert!(check_base_url("url", "https:///path").is_err());
    assert_eq!(join_url("http://a/", "/v2/enqueue"), "http://a/v2/enqueue");
}
