use std::collections::{BTreeMap, VecDeque};

use serde_json::json;

use super::case::valid_pointer;
use super::compare::{compare_headers, text_difference};
use super::run::{check_end, compare_request, drive, leaked};
use super::*;
use crate::model::{DeliveryError, ErrorClass};
use crate::plugin::RuntimeLimits;
use crate::plugin::bindings::types as wit;
use crate::plugin::delivery::Sandbox;

const MINIMAL: &str = r#"
name: minimal
target: { name: hook, kind: webhook, url: "https://hooks.example.test/alert" }
alert:
  status: firing
  labels: { alertname: A }
  starts_at: "2026-01-02T03:00:00Z"
steps:
  - expect_request:
      method: POST
      url: https://hooks.example.test/alert
      headers: { Content-Type: application/json }
      body: { a: 1, at: "x" }
      ignore: ["/at"]
    response: { status: 200, headers: { Retry-After: "7" }, body: { ok: true } }
expect: { outcome: delivered }
"#;

fn parse(yaml: &str) -> Result<Case, String> {
    Case::from_yaml(yaml).and_then(|c| c.validate().map(|()| c))
}

fn with(replace: &str, by: &str) -> String {
    assert!(MINIMAL.contains(replace), "{replace}");
    MINIMAL.replace(replace, by)
}

// ---- case files ----

#[test]
fn a_minimal_case_parses_with_defaults() {
    let case = parse(MINIMAL).unwrap();
    assert_eq!(case.name, "minimal");
    assert!(case.state_before.is_empty() && case.state_after.is_none() && case.now.is_none());
    let step = &case.steps[0];
    assert_eq!(
        step.expect_request.body,
        BodyExpectation::Json {
            value: json!({"a": 1, "at": "x"}),
            ignore: vec!["/at".into()]
        }
    );
    // Response header names are handed over in lower case; a JSON body as compact JSON.
    let response = step.response.to_wit(1 << 20);
    assert_eq!(
        response.headers,
        vec![("retry-after".to_string(), "7".to_string())]
    );
    assert_eq!(response.body, br#"{"ok":true}"#);
    assert_eq!(step.response.to_wit(3).body, b"{\"o");
    assert_eq!(
        case.expect,
        Expectation::Outcome {
            kind: OutcomeKind::Delivered,
            note_contains: None
        }
    );
}

#[test]
fn json_case_files_have_the_same_fields() {
    let value: serde_json::Value = serde_yaml::from_str(MINIMAL).unwrap();
    let case = Case::from_json(&value.to_string()).unwrap();
    assert_eq!(case, parse(MINIMAL).unwrap());
}

#[test]
fn an_unknown_field_is_rejected_with_its_name_and_place() {
    let err = parse(&with("      ignore:", "      ignroe:")).unwrap_err();
    assert!(err.contains("unknown field `ignroe`"), "{err}");
    assert!(err.contains("line"), "no position in: {err}");

    let err = parse(&with("name: minimal", "name: minimal\ncolour: red")).unwrap_err();
    assert!(err.contains("`colour`"), "{err}");
    let err = parse(&with(
        "expect: { outcome: delivered }",
        "expect: { outcome: delivered, note: x }",
    ))
    .unwrap_err();
    assert!(err.contains("`note`"), "{err}");
    let err = parse(&with("{ status: 200,", "{ status: 200, bdy: 1,")).unwrap_err();
    assert!(err.contains("`bdy`"), "{err}");
    // The alert reuses the model's type, which rejects unknown fields too.
    let err = parse(&with("  status: firing", "  status: firing\n  colour: red")).unwrap_err();
    assert!(err.contains("`colour`"), "{err}");
}

#[test]
fn expect_needs_exactly_one_ending() {
    for bad in [
        "expect: {}",
        "expect: { outcome: delivered, error: { class: permanent } }",
        "expect: { error: { class: permanent }, invalid_target: x }",
    ] {
        let err = parse(&with("expect: { outcome: delivered }", bad)).unwrap_err();
        assert!(err.contains("exactly one of"), "{bad}: {err}");
    }
    let err = parse(&with(
        "expect: { outcome: delivered }",
        "expect: { error: { class: permanent }, note_contains: x }",
    ))
    .unwrap_err();
    assert!(err.contains("note_contains"), "{err}");
    let err = parse(&with(
        "expect: { outcome: delivered }",
        "expect: { outcome: sent }",
    ))
    .unwrap_err();
    assert!(err.contains("sent"), "{err}");

    let case = parse(&with(
        "expect: { outcome: delivered }",
        "expect: { error: { class: transient, retry_after_ms: 7000, message_contains: slow } }",
    ))
    .unwrap();
    assert_eq!(
        case.expect,
        Expectation::Error(ExpectError {
            class: ErrorClass::Transient,
            retry_after_ms: Some(7000),
            message_contains: Some("slow".into())
        })
    );
}

#[test]
fn invalid_target_cases_make_no_requests() {
    let err = parse(&with(
        "expect: { outcome: delivered }",
        "expect: { invalid_target: url }",
    ))
    .unwrap_err();
    assert!(err.contains("steps"), "{err}");
    // The same case without its steps (they come last but for `expect`).
    let start = MINIMAL.find("steps:").unwrap();
    let yaml = format!(
        "{}expect: {{ invalid_target: \"`url`\" }}\n",
        &MINIMAL[..start]
    );
    assert_eq!(
        parse(&yaml).unwrap().expect,
        Expectation::InvalidTarget("`url`".into())
    );
}

#[test]
fn body_shapes_are_checked() {
    let err = parse(&with(
        "      body: { a: 1, at: \"x\" }",
        "      body: {}\n      body_text: x",
    ))
    .unwrap_err();
    assert!(err.contains("both `body` and `body_text`"), "{err}");
    let err = parse(&with(
        "      body: { a: 1, at: \"x\" }",
        "      body_text: x",
    ))
    .unwrap_err();
    assert!(err.contains("ignore"), "{err}");
    let err = parse(&with("[\"/at\"]", "[\"at\"]")).unwrap_err();
    assert!(err.contains("`at` is not a JSON pointer"), "{err}");
    let err = parse(&with("{ status: 200,", "{ status: 200, body_text: x,")).unwrap_err();
    assert!(err.contains("both `body` and `body_text`"), "{err}");
    let err = parse(&with(
        "Content-Type: application/json",
        "Content-Type: a, content-type: b",
    ))
    .unwrap_err();
    assert!(err.contains("the same header"), "{err}");

    // No body given: not checked. `body: null` expects JSON null.
    let case = parse(&with(
        "      body: { a: 1, at: \"x\" }\n      ignore: [\"/at\"]\n",
        "",
    ))
    .unwrap();
    assert_eq!(
        case.steps[0].expect_request.body,
        BodyExpectation::Unchecked
    );
    let case = parse(&with(
        "      body: { a: 1, at: \"x\" }\n      ignore: [\"/at\"]\n",
        "      body: null\n",
    ))
    .unwrap();
    assert_eq!(
        case.steps[0].expect_request.body,
        BodyExpectation::Json {
            value: serde_json::Value::Null,
            ignore: vec![]
        }
    );
}

#[test]
fn the_clock_is_validated_but_the_alert_is_taken_as_written() {
    // Adapters may be tested with alerts that ingress would refuse.
    let case = parse(&with("labels: { alertname: A }", "labels: { job: a }")).unwrap();
    assert_eq!(case.alert.name(), "");
    let err = parse(&with(
        "name: minimal",
        "name: minimal\nnow: \"1969-12-31T23:59:59Z\"",
    ))
    .unwrap_err();
    assert!(err.contains("`now`"), "{err}");
    let case = parse(&with(
        "name: minimal",
        "name: minimal\nnow: \"2026-01-02T03:04:05Z\"",
    ))
    .unwrap();
    assert_eq!(
        case.clock(),
        Some(std::time::Duration::from_secs(1_767_323_045))
    );
}

#[test]
fn pointers_follow_rfc_6901() {
    for ok in ["", "/", "/a/b", "/a~1b", "/~0", "/0"] {
        assert!(valid_pointer(ok), "{ok}");
    }
    for bad in ["a", "a/b", "/~", "/~2"] {
        assert!(!valid_pointer(bad), "{bad}");
    }
}

// ---- comparison ----

#[test]
fn equal_documents_have_no_mismatches() {
    let doc = json!({"a": [1, {"b": null}], "c": "d", "n": 12});
    assert!(compare_json(&doc, &doc, &[]).is_empty());
    // Numbers compare by value.
    assert!(compare_json(&json!({"n": 12}), &json!({"n": 12.0}), &[]).is_empty());
    assert!(!compare_json(&json!({"n": 12}), &json!({"n": 12.5}), &[]).is_empty());
}

#[test]
fn a_mismatch_names_its_path() {
    let expected = json!({"payload": {"severity": "critical", "n": 1}, "list": [1, 2]});
    let actual = json!({"payload": {"severity": "error", "extra": true}, "list": [1, 3, 4]});
    let lines: Vec<String> = compare_json(&expected, &actual, &[])
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        vec![
            "/list/1: expected 2, got 3",
            "/list/2: not expected, got 4",
            "/payload/extra: not expected, got true",
            "/payload/n: missing, expected 1",
            r#"/payload/severity: expected "critical", got "error""#,
        ]
    );
    let root = compare_json(&json!([1]), &json!({"a": 1}), &[]);
    assert_eq!(
        root[0].to_string(),
        r#"(the whole document): expected [1], got {"a":1}"#
    );
}

#[test]
fn pointer_tokens_are_escaped() {
    let mismatches = compare_json(&json!({"a/b": {"~c": 1}}), &json!({"a/b": {"~c": 2}}), &[]);
    assert_eq!(mismatches[0].path(), "/a~1b/~0c");
    assert!(compare_json(&json!({"a/b": 1}), &json!({"a/b": 2}), &["/a~1b".into()]).is_empty());
}

#[test]
fn ignored_pointers_are_left_out() {
    let expected = json!({"payload": {"summary": "s", "timestamp": "then"}, "alerts": [{"at": 1}]});
    let actual =
        json!({"payload": {"summary": "s", "timestamp": "now"}, "alerts": [{"at": 2}], "id": 7});
    let ignore: Vec<String> = ["/payload/timestamp", "/alerts/0/at", "/id"]
        .map(String::from)
        .to_vec();
    assert!(compare_json(&expected, &actual, &ignore).is_empty());
    // Ignoring a field the expected document leaves out entirely works too.
    let expected = json!({"payload": {"summary": "s"}, "alerts": [{"at": 1}]});
    assert!(compare_json(&expected, &actual, &ignore).is_empty());
    // Only what is ignored: everything else still counts.
    let mismatches = compare_json(&expected, &actual, &["/id".into()]);
    let paths: Vec<&str> = mismatches.iter().map(Mismatch::path).collect();
    assert_eq!(paths, vec!["/alerts/0/at", "/payload/timestamp"]);
    assert!(compare_json(&json!(1), &json!(2), &["".into()]).is_empty());
}

#[test]
fn long_strings_show_where_they_differ() {
    let expected = format!("{}A{}", "x".repeat(300), "y".repeat(50));
    let actual = format!("{}B{}", "x".repeat(300), "y".repeat(50));
    let line = text_difference(&expected, &actual);
    assert!(line.contains("first differ at character 300"), "{line}");
    assert!(line.contains("xA") && line.contains("xB"), "{line}");
    assert!(line.len() < 400, "{line}");
}

#[test]
fn headers_compare_names_without_case() {
    let expected: BTreeMap<String, String> =
        [("Content-Type", "application/json"), ("x-team", "sre")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
    let sent = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ok = sent(&[
        ("content-type", "application/json"),
        ("X-Team", "sre"),
        ("X-Other", "1"),
    ]);
    assert!(compare_headers(&expected, &["authorization".into()], &ok).is_empty());

    let lines = compare_headers(
        &expected,
        &["Authorization".into()],
        &sent(&[
            ("CONTENT-TYPE", "text/plain"),
            ("authorization", "Bearer t"),
        ]),
    );
    assert_eq!(
        lines,
        vec![
            r#"header `content-type`: expected "application/json", got "text/plain""#,
            r#"header `x-team`: missing, expected "sre""#,
            r#"header `authorization`: must not be sent, got "Bearer t""#,
        ]
    );
    // A header sent twice is a difference even when one of the values matches.
    let twice = sent(&[
        ("x-team", "sre"),
        ("X-Team", "ops"),
        ("content-type", "application/json"),
    ]);
    let lines = compare_headers(&expected, &[], &twice);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].contains("sent 2 times"), "{}", lines[0]);
}

fn request(body: &str) -> wit::HttpRequest {
    wit::HttpRequest {
        method: "POST".into(),
        url: "https://hooks.example.test/alert".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn a_request_diff_lists_paths_and_both_documents() {
    let case = parse(MINIMAL).unwrap();
    let expect = &case.steps[0].expect_request;
    assert!(compare_request(1, expect, &request(r#"{"a":1,"at":"whatever"}"#)).is_none());

    let problem = compare_request(1, expect, &request(r#"{"a":2,"at":"y"}"#)).unwrap();
    assert!(
        problem
            .what
            .starts_with("request 1 (POST https://hooks.example.test/alert)"),
        "{}",
        problem.what
    );
    let detail = problem.detail.join("\n");
    assert!(detail.contains("  /a: expected 1, got 2"), "{detail}");
    assert!(
        detail.contains("expected:\n    {\n      \"a\": 1,"),
        "{detail}"
    );
    assert!(
        detail.contains("actual:\n    {\n      \"a\": 2,"),
        "{detail}"
    );

    let problem = compare_request(2, expect, &request("not json")).unwrap();
    assert!(
        problem.detail[0].contains("does not parse as JSON"),
        "{problem:?}"
    );
    assert_eq!(problem.detail[1], "    not json");

    let mut wrong = request(r#"{"a":1}"#);
    wrong.method = "PUT".into();
    wrong.url = "https://hooks.example.test/other".into();
    let detail = compare_request(1, expect, &wrong).unwrap().detail;
    assert_eq!(detail[0], r#"method: expected "POST", got "PUT""#);
    assert!(detail[1].starts_with("url: expected "), "{}", detail[1]);
}

#[test]
fn endings_are_compared() {
    let delivered = Ok(wit::Outcome {
        kind: wit::OutcomeKind::Skipped,
        note: Some("nothing to resolve".into()),
    });
    let expect = Expectation::Outcome {
        kind: OutcomeKind::Skipped,
        note_contains: Some("nothing".into()),
    };
    assert!(check_end(&expect, &delivered).is_empty());
    let expect = Expectation::Outcome {
        kind: OutcomeKind::Delivered,
        note_contains: Some("resolved it".into()),
    };
    let problems = check_end(&expect, &delivered);
    assert_eq!(problems.len(), 2);
    assert!(
        problems[0]
            .what
            .starts_with("outcome: expected delivered, got skipped"),
        "{problems:?}"
    );

    let mut error = DeliveryError::transient("webhook answered 429: rate limited");
    error.retry_after = Some(std::time::Duration::from_secs(7));
    let expect = Expectation::Error(ExpectError {
        class: ErrorClass::Transient,
        retry_after_ms: Some(7000),
        message_contains: Some("rate limited".into()),
    });
    assert!(check_end(&expect, &Err(error.clone())).is_empty());
    let expect = Expectation::Error(ExpectError {
        class: ErrorClass::Permanent,
        retry_after_ms: Some(5000),
        message_contains: Some("gone".into()),
    });
    let problems: Vec<String> = check_end(&expect, &Err(error))
        .into_iter()
        .map(|p| p.what)
        .collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with("error class: expected permanent, got a transient error"));
    assert_eq!(problems[1], "error retry_after_ms: expected 5000, got 7000");
    assert!(problems[2].starts_with(r#"error message: expected it to contain "gone""#));
}

#[test]
fn secrets_in_messages_are_caught() {
    let secrets: BTreeMap<String, String> = [("routing_key", "abcdef0123"), ("pin", "42")]
        .map(|(k, v)| (k.into(), v.into()))
        .into();
    assert!(leaked(&secrets, "the error message", "bad key ***").is_none());
    // Too short to check (as `Secrets::redact`): "42" is everywhere.
    assert!(leaked(&secrets, "the error message", "answered 420").is_none());
    let problem = leaked(&secrets, "the error message", "bad key abcdef0123").unwrap();
    assert!(
        problem.what.contains("secret `routing_key`"),
        "{}",
        problem.what
    );
    assert!(!problem.what.contains("abcdef0123"), "{}", problem.what);
}

// ---- the delivery loop ----

/// An adapter that plays back a script and records what it was given.
#[derive(Default)]
struct Script {
    actions: VecDeque<Result<wit::Action, DeliveryError>>,
    responses: Vec<wit::HttpResponse>,
    commits: usize,
    /// Set when the script plays a sandbox failure (a trap), as a session would.
    broken: bool,
}

impl Script {
    fn new(actions: Vec<Result<wit::Action, DeliveryError>>) -> Self {
        Self {
            actions: actions.into(),
            ..Self::default()
        }
    }

    fn next(&mut self) -> Result<wit::Action, DeliveryError> {
        let next = self
            .actions
            .pop_front()
            .unwrap_or_else(|| Err(DeliveryError::permanent("plugin `test` ran out of script")));
        if matches!(&next, Err(e) if e.message.contains("trapped")) {
            self.broken = true;
        }
        next
    }
}

impl Sandbox for Script {
    async fn prepare(&mut self) -> Result<wit::Action, DeliveryError> {
        self.next()
    }
    async fn handle_response(
        &mut self,
        response: &wit::HttpResponse,
    ) -> Result<wit::Action, DeliveryError> {
        self.responses.push(response.clone());
        self.next()
    }
    fn is_broken(&self) -> bool {
        self.broken
    }
    fn commit_state(&mut self) {
        self.commits += 1;
    }
}

fn send(body: &str) -> Result<wit::Action, DeliveryError> {
    Ok(wit::Action::Send(request(body)))
}

fn finish() -> Result<wit::Action, DeliveryError> {
    Ok(wit::Action::Finish(wit::Outcome {
        kind: wit::OutcomeKind::Delivered,
        note: None,
    }))
}

const URL: &str = "https://hooks.example.test/alert";

#[tokio::test]
async fn canned_responses_are_handed_back_and_state_committed_on_finish() {
    let case = parse(MINIMAL).unwrap();
    let mut script = Script::new(vec![send(r#"{"a":1,"at":"t"}"#), finish()]);
    let delivered = drive(&mut script, URL, &case.steps, &RuntimeLimits::default()).await;
    assert!(delivered.problems.is_empty(), "{:?}", delivered.problems);
    assert_eq!(delivered.made, 1);
    assert!(matches!(delivered.result, Some(Ok(_))));
    assert_eq!(script.responses.len(), 1);
    assert_eq!(script.responses[0].status, 200);
    assert_eq!(script.commits, 1);
}

#[tokio::test]
async fn a_request_with_no_step_cuts_the_delivery_short() {
    let case = parse(MINIMAL).unwrap();
    let mut script = Script::new(vec![
        send(r#"{"a":1}"#),
        send(r#"{"again":true}"#),
        finish(),
    ]);
    let delivered = drive(&mut script, URL, &case.steps, &RuntimeLimits::default()).await;
    assert!(delivered.result.is_none());
    assert_eq!(delivered.problems.len(), 1);
    let problem = &delivered.problems[0];
    assert!(
        problem
            .what
            .starts_with("request 2 was not expected (the case has 1 step)"),
        "{}",
        problem.what
    );
    assert!(
        problem.detail.iter().any(|l| l.contains("\"again\": true")),
        "{problem:?}"
    );
    assert_eq!(script.commits, 0);
}

#[tokio::test]
async fn fewer_requests_than_steps_are_counted() {
    let case = parse(MINIMAL).unwrap();
    let mut script = Script::new(vec![finish()]);
    let delivered = drive(&mut script, URL, &case.steps, &RuntimeLimits::default()).await;
    assert_eq!(delivered.made, 0);
    assert!(matches!(delivered.result, Some(Ok(_))));
}

#[tokio::test]
async fn a_request_to_another_origin_ends_as_permanent_without_state() {
    let case = parse(MINIMAL).unwrap();
    let mut elsewhere = request("{}");
    elsewhere.url = "https://evil.example.test/steal".into();
    let mut script = Script::new(vec![Ok(wit::Action::Send(elsewhere)), finish()]);
    let delivered = drive(&mut script, URL, &case.steps, &RuntimeLimits::default()).await;
    let Some(Err(e)) = &delivered.result else {
        panic!("{:?}", delivered.result)
    };
    assert_eq!(e.class, ErrorClass::Permanent);
    assert!(e.message.contains("another origin"), "{}", e.message);
    assert_eq!((delivered.made, script.commits), (0, 0));
    assert!(script.responses.is_empty());

    let mut bad_header = request("{}");
    bad_header.headers.push(("bad header".into(), "x".into()));
    let mut script = Script::new(vec![Ok(wit::Action::Send(bad_header))]);
    let delivered = drive(&mut script, URL, &case.steps, &RuntimeLimits::default()).await;
    assert!(matches!(&delivered.result, Some(Err(e)) if e.message.contains("invalid header name")));
}

#[tokio::test]
async fn state_is_kept_after_adapter_errors_but_not_after_traps() {
    let case = parse(MINIMAL).unwrap();
    let limits = RuntimeLimits::default();
    let mut script = Script::new(vec![
        send(r#"{"a":1}"#),
        Err(DeliveryError::transient("webhook answered 503")),
    ]);
    drive(&mut script, URL, &case.steps, &limits).await;
    assert_eq!(script.commits, 1);
    let mut script = Script::new(vec![Err(DeliveryError::permanent(
        "plugin `webhook` 0.1.0 trapped in `prepare`",
    ))]);
    drive(&mut script, URL, &case.steps, &limits).await;
    assert_eq!(script.commits, 0);
}

#[tokio::test]
async fn too_many_requests_end_as_the_daemon_ends_them() {
    let limits = RuntimeLimits {
        max_requests_per_delivery: 1,
        ..RuntimeLimits::default()
    };
    let case = parse(MINIMAL).unwrap();
    let steps = vec![case.steps[0].clone(), case.steps[0].clone()];
    let mut script = Script::new(vec![send(r#"{"a":1}"#), send(r#"{"a":1}"#)]);
    let delivered = drive(&mut script, URL, &steps, &limits).await;
    assert!(
        matches!(&delivered.result, Some(Err(e)) if e.message.contains("more than 1 requests"))
    );
    assert_eq!(delivered.made, 1);
}

// ---- report ----

#[test]
fn the_report_renders_one_line_per_case_and_a_summary() {
    let report = Report {
        cases: vec![
            CaseResult {
                file: "cases/a.yaml".into(),
                name: "first".into(),
                problems: vec![],
            },
            CaseResult {
                file: "cases/b.yaml".into(),
                name: "second".into(),
                problems: vec![Problem::with("body:", vec!["/x: expected 1, got 2".into()])],
            },
        ],
    };
    assert!(!report.all_passed());
    assert_eq!(
        report.render(),
        "ok   cases/a.yaml: first\nFAIL cases/b.yaml: second\n    body:\n      /x: expected 1, got 2\n\n1 passed, 1 failed\n"
    );
}

#[tokio::test]
async fn unreadable_and_empty_case_paths_are_failures_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a case").unwrap();
    let missing = dir.path().join("missing.yaml");
    let found = case_files(&[dir.path().to_path_buf(), missing.clone()]).await;
    assert_eq!(found.len(), 2);
    let Err(empty) = &found[0] else {
        panic!("{found:?}")
    };
    assert!(
        empty.problems[0].what.contains("holds no case files"),
        "{empty:?}"
    );
    let Err(gone) = &found[1] else {
        panic!("{found:?}")
    };
    assert!(
        gone.problems[0].what.starts_with("cannot be read"),
        "{gone:?}"
    );

    std::fs::write(dir.path().join("b.yml"), "name: [").unwrap();
    std::fs::write(dir.path().join("a.json"), "{}").unwrap();
    let found = case_files(&[dir.path().to_path_buf()]).await;
    let names: Vec<String> = found
        .iter()
        .map(|f| {
            f.as_ref()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names, vec!["a.json", "b.yml"]);
    let err = Case::load(&dir.path().join("b.yml")).await.unwrap_err();
    assert!(
        err.starts_with("cannot be parsed") && err.contains("line 1"),
        "{err}"
    );
    let err = Case::load(&dir.path().join("a.json")).await.unwrap_err();
    assert!(err.contains("missing field `name`"), "{err}");
}
