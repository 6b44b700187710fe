//! Mapping PagerDuty's replies to the Events API v2 to outcomes and errors.
//!
//! - `202` (PagerDuty's documented answer, JSON `{status, message,
//!   dedup_key}`) = delivered. Another 2xx is also taken as accepted, with a
//!   note saying so: the event was enqueued, and retrying it would only
//!   duplicate it. A 2xx whose body is not the documented JSON is still
//!   delivered, with a note: nothing in the reply is needed afterwards.
//! - `400` = permanent: the event is invalid; PagerDuty's `message` and
//!   `errors` are surfaced, with secrets redacted.
//! - `429` = transient (PagerDuty takes about 120 events per minute per
//!   integration key), `5xx` = transient, both with any `Retry-After` hint.
//! - Everything else follows the shared rules of `TARGETS.md`.

use herald_plugin_sdk::serde_json::Value;
use herald_plugin_sdk::{
    Action, Error, HttpResponse, Target, classify_status, redact, retry_after_ms, truncate_bytes,
};

/// The most of PagerDuty's reply that goes into an error message, in bytes.
const MAX_DETAIL_BYTES: usize = 500;

/// Turns PagerDuty's reply to an enqueue into the end of the delivery.
///
/// The same mapping serves `trigger` and `resolve`: PagerDuty answers both
/// alike, and a resolve for an incident that is already gone is still `202`.
pub fn handle_response(target: &Target, response: &HttpResponse) -> Result<Action, Error> {
    let status = response.status;
    match status {
        200..=299 => Ok(accepted(response)),
        400 => Err(Error::permanent(format!(
            "PagerDuty rejected the event as invalid (400): {}",
            detail(target, response)
        ))),
        429 => Err(Error::transient(format!(
            "PagerDuty rate limit reached (429; about 120 events per minute per \
             integration key): {}",
            detail(target, response)
        ))
        .with_retry_after(retry_after_ms(&response.headers))),
        _ => {
            let message = format!("PagerDuty answered {status}: {}", detail(target, response));
            classify_status(response, message).map(|()| Action::delivered())
        }
    }
}

/// A 2xx: delivered, with a note when the reply was not the documented one.
fn accepted(response: &HttpResponse) -> Action {
    let reply = herald_plugin_sdk::serde_json::from_slice::<Value>(&response.body).ok();
    let understood = reply
        .as_ref()
        .and_then(|r| r.get("status"))
        .and_then(Value::as_str)
        .is_some();
    match (response.status, understood) {
        (202, true) => Action::delivered(),
        (202, false) => Action::delivered_with_note(
            "PagerDuty answered 202 without its usual JSON reply; taken as accepted",
        ),
        (status, _) => Action::delivered_with_note(format!(
            "PagerDuty answered {status} instead of 202; taken as accepted"
        )),
    }
}

/// What PagerDuty said about a failure, without secrets and cut to size:
/// `message: error, error` from its JSON reply, else the body's text.
///
/// Secrets are redacted before cutting, so a cut can never leave part of one.
pub fn detail(target: &Target, response: &HttpResponse) -> String {
    let text = herald_plugin_sdk::serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|reply| from_json(&reply))
        .unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().to_string());
    if text.is_empty() {
        return "no details in the reply".to_string();
    }
    truncate_bytes(&redact(&text, &target.secrets), MAX_DETAIL_BYTES)
}

/// `message` and `errors` from PagerDuty's JSON error reply, when it has them.
fn from_json(reply: &Value) -> Option<String> {
    let message = reply.get("message").and_then(Value::as_str).unwrap_or("");
    let errors: Vec<String> = match reply.get("errors") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    match (message.is_empty(), errors.is_empty()) {
        (true, true) => None,
        (false, true) => Some(message.to_string()),
        (true, false) => Some(errors.join(", ")),
        (false, false) => Some(format!("{message}: {}", errors.join(", "))),
    }
}
