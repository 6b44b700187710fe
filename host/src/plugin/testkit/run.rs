//! One case through the real runtime, with the case's canned responses in
//! place of the network.
//!
//! The delivery loop is the daemon's own ([`crate::plugin::delivery`]): the
//! same checks, request limit and state rules; only the transport differs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::model::DeliveryError;
use crate::plugin::bindings::types as wit;
use crate::plugin::convert::{wit_alert, wit_target};
use crate::plugin::delivery::{self, CheckedRequest, Sandbox, SessionSandbox, Transport};
use crate::plugin::{
    CallOptions, FixedClock, LoadedPlugin, MemoryStateStore, PluginRuntime, RuntimeLimits,
    StateChange, StateScope,
};

use super::case::{BodyExpectation, Case, ExpectRequest, Expectation, OutcomeKind, Step};
use super::compare::{compare_headers, compare_json, pretty, pretty_body, quote, text_difference};
use super::report::Problem;

/// A loaded adapter and a runtime with the daemon's default limits, ready to
/// run cases one after another.
pub struct CaseRunner {
    runtime: PluginRuntime,
    plugin: Arc<LoadedPlugin>,
}

impl std::fmt::Debug for CaseRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseRunner")
            .field("plugin", &self.plugin)
            .finish_non_exhaustive()
    }
}

impl CaseRunner {
    /// Starts a runtime (in-memory state) and loads the adapter, which must
    /// pass the same checks as in the daemon.
    pub async fn new(plugin: &Path) -> anyhow::Result<Self> {
        let runtime =
            PluginRuntime::new(RuntimeLimits::default(), Arc::new(MemoryStateStore::new()))
                .context("the plugin runtime could not start")?;
        let plugin = Arc::new(runtime.load(plugin).await?);
        Ok(Self { runtime, plugin })
    }

    /// The adapter under test.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    /// Runs one case; the problems found, none when it passed.
    pub async fn run(&self, case: &Case) -> Vec<Problem> {
        let target = case.target.to_target();
        let wit_target = wit_target(&target);
        let alert = wit_alert(&case.enriched_alert());
        let scope = StateScope::new(&target.name, &alert.alert.fingerprint);
        self.reset_state(&scope, &case.state_before);
        let call = CallOptions {
            clock: case.clock().map(FixedClock),
            secrets: case.target.secrets.values().cloned().collect(),
        };
        let mut problems = Vec::new();

        let verdict = match self
            .runtime
            .session(&self.plugin, scope.clone(), call.clone())
            .await
        {
            Ok(mut session) => session.validate_target(&wit_target).await,
            Err(e) => Err(e),
        };
        match (&case.expect, verdict) {
            (_, Err(e)) => {
                problems.push(Problem::new(format!(
                    "validate-target failed: {}",
                    e.message
                )));
                return problems;
            }
            (Expectation::InvalidTarget(want), Ok(Err(message))) => {
                if !message.contains(want.as_str()) {
                    problems.push(Problem::new(format!(
                        "validate-target's message: expected it to contain {}, got {}",
                        quote(want),
                        quote(&message)
                    )));
                }
                problems.extend(leaked(
                    &case.target.secrets,
                    "validate-target's message",
                    &message,
                ));
                problems.extend(self.check_state(&scope, case.state_after.as_ref()));
                return problems;
            }
            (Expectation::InvalidTarget(want), Ok(Ok(()))) => {
                problems.push(Problem::new(format!(
                    "validate-target accepted the target; expected it to reject it with a message containing {}",
                    quote(want)
                )));
                return problems;
            }
            (_, Ok(Err(message))) => {
                problems.push(Problem::new(format!(
                    "validate-target rejected the target: {}",
                    quote(&message)
                )));
                return problems;
            }
            (_, Ok(Ok(()))) => {}
        }

        let limits = self.runtime.limits();
        let delivered = match self
            .runtime
            .session(&self.plugin, scope.clone(), call)
            .await
        {
            Ok(session) => {
                let mut live = SessionSandbox {
                    session,
                    alert: &alert,
                    target: &wit_target,
                };
                drive(&mut live, &target.url, &case.steps, limits).await
            }
            Err(e) => Delivered {
                result: Some(Err(e)),
                made: 0,
                problems: Vec::new(),
            },
        };
        problems.extend(delivered.problems);
        // Cut short by a request the case has no step for: how it would have
        // ended is unknown, so there is nothing more to compare.
        let Some(result) = delivered.result else {
            return problems;
        };
        if delivered.made < case.steps.len() {
            problems.push(too_few(delivered.made, &case.steps));
        }
        problems.extend(check_end(&case.expect, &result));
        match &result {
            Ok(outcome) => {
                if let Some(note) = &outcome.note {
                    problems.extend(leaked(&case.target.secrets, "the outcome's note", note));
                }
            }
            Err(e) => problems.extend(leaked(
                &case.target.secrets,
                "the error message",
                &e.message,
            )),
        }
        problems.extend(self.check_state(&scope, case.state_after.as_ref()));
        problems
    }

    /// Replaces whatever an earlier case left in `scope` with `entries`.
    fn reset_state(&self, scope: &StateScope, entries: &BTreeMap<String, String>) {
        let store = self.runtime.state();
        let clear = store
            .entries(scope)
            .into_iter()
            .map(|(key, _)| StateChange::Remove { key });
        let seed = entries.iter().map(|(key, value)| StateChange::Set {
            key: key.clone(),
            value: value.clone(),
            ttl: Duration::ZERO,
        });
        let changes: Vec<StateChange> = clear.chain(seed).collect();
        store.apply(scope, &changes);
    }

    fn check_state(
        &self,
        scope: &StateScope,
        expected: Option<&BTreeMap<String, String>>,
    ) -> Option<Problem> {
        let expected = expected?;
        let actual: BTreeMap<String, String> =
            self.runtime.state().entries(scope).into_iter().collect();
        let (expected, actual) = (to_json(expected), to_json(&actual));
        let mismatches = compare_json(&expected, &actual, &[]);
        if mismatches.is_empty() {
            return None;
        }
        let mut detail: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
        detail.push(format!("expected: {expected}"));
        detail.push(format!("actual:   {actual}"));
        Some(Problem::with("state_after differs:", detail))
    }
}

fn to_json(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// How a delivery under test went.
#[derive(Debug)]
pub(super) struct Delivered {
    /// How it ended; `None` when it was cut short by a request the case has no step for.
    pub result: Option<Result<wit::Outcome, DeliveryError>>,
    /// Requests made (checked and compared with a step).
    pub made: usize,
    /// Requests that differ from their steps, or one with no step.
    pub problems: Vec<Problem>,
}

/// The case's transport: compares each request with the next step and
/// answers with that step's canned response.
struct Steps<'a> {
    steps: &'a [Step],
    made: usize,
    max_body: usize,
    problems: Vec<Problem>,
}

impl Transport for Steps<'_> {
    async fn send(
        &mut self,
        request: CheckedRequest<'_>,
    ) -> Result<Option<wit::HttpResponse>, DeliveryError> {
        let Some(step) = self.steps.get(self.made) else {
            self.problems.push(unexpected_request(
                self.made + 1,
                self.steps.len(),
                request.raw,
            ));
            return Ok(None);
        };
        self.made += 1;
        self.problems.extend(compare_request(
            self.made,
            &step.expect_request,
            request.raw,
        ));
        Ok(Some(step.response.to_wit(self.max_body)))
    }
}

/// Runs the daemon's delivery loop ([`crate::plugin::delivery::drive`]),
/// answering each request with its step's response.
pub(super) async fn drive(
    sandbox: &mut impl Sandbox,
    target_url: &str,
    steps: &[Step],
    limits: &RuntimeLimits,
) -> Delivered {
    let mut transport = Steps {
        steps,
        made: 0,
        max_body: limits.max_response_body,
        problems: Vec::new(),
    };
    let delivery = delivery::drive(sandbox, &mut transport, target_url, limits).await;
    Delivered {
        result: delivery.result,
        made: transport.made,
        problems: transport.problems,
    }
}

/// Every way request `n` differs from what its step expects, as one problem.
pub(super) fn compare_request(
    n: usize,
    expect: &ExpectRequest,
    request: &wit::HttpRequest,
) -> Option<Problem> {
    let mut lines = Vec::new();
    if request.method != expect.method {
        lines.push(format!(
            "method: expected {}, got {}",
            quote(&expect.method),
            quote(&request.method)
        ));
    }
    if request.url != expect.url {
        lines.push(format!(
            "url: {}",
            text_difference(&expect.url, &request.url)
        ));
    }
    lines.extend(compare_headers(
        &expect.headers,
        &expect.absent_headers,
        &request.headers,
    ));
    match &expect.body {
        BodyExpectation::Unchecked => {}
        BodyExpectation::Text(text) => match std::str::from_utf8(&request.body) {
            Ok(actual) if actual == text => {}
            Ok(actual) => lines.push(format!("body_text: {}", text_difference(text, actual))),
            Err(_) => lines.push(format!(
                "body_text: expected {}, got {} bytes that are not UTF-8",
                quote(text),
                request.body.len()
            )),
        },
        BodyExpectation::Json { value, ignore } => {
            match serde_json::from_slice::<Value>(&request.body) {
                Ok(actual) => {
                    let mismatches = compare_json(value, &actual, ignore);
                    if !mismatches.is_empty() {
                        lines.push("body:".into());
                        lines.extend(mismatches.iter().map(|m| format!("  {m}")));
                        lines.push("  expected:".into());
                        lines.extend(pretty(value).into_iter().map(|l| format!("    {l}")));
                        lines.push("  actual:".into());
                        lines.extend(pretty(&actual).into_iter().map(|l| format!("    {l}")));
                    }
                }
                Err(e) => {
                    lines.push(format!(
                        "body: expected JSON, got a body that does not parse as JSON ({e}):"
                    ));
                    lines.extend(
                        pretty_body(&request.body)
                            .into_iter()
                            .map(|l| format!("    {l}")),
                    );
                }
            }
        }
    }
    if lines.is_empty() {
        return None;
    }
    Some(Problem::with(
        format!(
            "request {n} ({} {}) differs from step {n}:",
            request.method, request.url
        ),
        lines,
    ))
}

fn unexpected_request(n: usize, steps: usize, request: &wit::HttpRequest) -> Problem {
    let mut detail = vec![format!("{} {}", request.method, request.url)];
    detail.extend(request.headers.iter().map(|(k, v)| format!("{k}: {v}")));
    detail.extend(pretty_body(&request.body));
    let plural = if steps == 1 { "" } else { "s" };
    Problem::with(
        format!(
            "request {n} was not expected (the case has {steps} step{plural}); the plugin asked for:"
        ),
        detail,
    )
}

fn too_few(made: usize, steps: &[Step]) -> Problem {
    let detail = steps
        .iter()
        .enumerate()
        .skip(made)
        .map(|(i, s)| {
            format!(
                "step {}: {} {}",
                i + 1,
                s.expect_request.method,
                s.expect_request.url
            )
        })
        .collect();
    Problem::with(
        format!(
            "the case expects {} requests, the plugin made {made}; never asked for:",
            steps.len()
        ),
        detail,
    )
}

/// How the delivery ended, in a case file's words.
fn describe(result: &Result<wit::Outcome, DeliveryError>) -> String {
    match result {
        Ok(outcome) => {
            let kind = OutcomeKind::of(outcome.kind).as_str();
            match &outcome.note {
                Some(note) => format!("{kind} (note: {})", quote(note)),
                None => kind.to_string(),
            }
        }
        Err(e) => {
            let retry = e
                .retry_after
                .map(|d| format!(", retry_after_ms {}", d.as_millis()))
                .unwrap_or_default();
            format!("a {} error{retry}: {}", e.class.as_str(), quote(&e.message))
        }
    }
}

/// Compares how the delivery ended with the case's `expect`.
pub(super) fn check_end(
    expect: &Expectation,
    result: &Result<wit::Outcome, DeliveryError>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    match (expect, result) {
        (Expectation::Outcome { kind, note_contains }, Ok(outcome)) => {
            let got = OutcomeKind::of(outcome.kind);
            if got != *kind {
                problems.push(Problem::new(format!(
                    "outcome: expected {}, got {}",
                    kind.as_str(),
                    describe(result)
                )));
            }
            if let Some(want) = note_contains {
                match &outcome.note {
                    Some(note) if note.contains(want.as_str()) => {}
                    Some(note) => problems.push(Problem::new(format!(
                        "note: expected it to contain {}, got {}",
                        quote(want),
                        quote(note)
                    ))),
                    None => problems.push(Problem::new(format!(
                        "note: expected it to contain {}, got no note",
                        quote(want)
                    ))),
                }
            }
        }
        (Expectation::Outcome { kind, .. }, Err(_)) => problems.push(Problem::new(format!(
            "outcome: expected {}, got {}",
            kind.as_str(),
            describe(result)
        ))),
        (Expectation::Error(want), Ok(_)) => problems.push(Problem::new(format!(
            "outcome: expected a {} error, got {}",
            want.class.as_str(),
            describe(result)
        ))),
        (Expectation::Error(want), Err(e)) => {
            if e.class != want.class {
                problems.push(Problem::new(format!(
                    "error class: expected {}, got {}",
                    want.class.as_str(),
                    describe(result)
                )));
            }
            if let Some(ms) = want.retry_after_ms {
                let got = e.retry_after.map(|d| d.as_millis());
                if got != Some(u128::from(ms)) {
                    problems.push(Problem::new(format!(
                        "error retry_after_ms: expected {ms}, got {}",
                        got.map(|g| g.to_string()).unwrap_or_else(|| "none".into())
                    )));
                }
            }
            if let Some(want) = &want.message_contains
                && !e.message.contains(want.as_str())
            {
                problems.push(Problem::new(format!(
                    "error message: expected it to contain {}, got {}",
                    quote(want),
                    quote(&e.message)
                )));
            }
        }
        // Settled before any delivery (see `CaseRunner::run`).
        (Expectation::InvalidTarget(want), _) => problems.push(Problem::new(format!(
            "expected validate-target to reject the target (message containing {}), but the delivery ran and ended {}",
            quote(want),
            describe(result)
        ))),
    }
    problems
}

/// A problem when `text` holds the value of any of the target's secrets
/// (values under 4 bytes are not checked, as `Secrets::redact` does not).
pub(super) fn leaked(
    secrets: &BTreeMap<String, String>,
    what: &str,
    text: &str,
) -> Option<Problem> {
    let names: Vec<String> = secrets
        .iter()
        .filter(|(_, value)| value.len() >= 4 && text.contains(value.as_str()))
        .map(|(name, _)| format!("`{name}`"))
        .collect();
    if names.is_empty() {
        return None;
    }
    let plural = if names.len() == 1 { "" } else { "s" };
    Some(Problem::new(format!(
        "{what} contains the value of secret{plural} {}; adapters must never echo secrets",
        names.join(", ")
    )))
}
