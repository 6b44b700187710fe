//! Mapping Rootly's replies to the end of a delivery (or an error), and
//! keeping the remembered id in step.
//!
//! Every delivery is one request, so the alert's status and the target's
//! mode say which request the response answers:
//!
//! - create (`POST /v1/alerts`, `POST /v1/incidents`): any 2xx whose body has
//!   `data.id` is delivered and the id is remembered for [`ID_TTL_SECONDS`];
//!   a 2xx without a usable `data.id` is a permanent "malformed reply".
//! - resolve: any 2xx is delivered and the id forgotten; `404` (the alert or
//!   incident is gone) and, for incidents, `409` (already resolved) are
//!   delivered with a note and the id forgotten. On any other answer the id is
//!   kept, so a retry can still resolve.
//! - everything else by the shared rules ([`classify_status`]): 429, 408, 425
//!   and 5xx but 501 transient with any `Retry-After`; other 4xx and 501
//!   permanent (401/403 with a hint about the key); 1xx/3xx unknown. The
//!   message carries Rootly's JSON:API errors as `title: detail`, redacted.
//!
//! [`ID_TTL_SECONDS`]: crate::format::ID_TTL_SECONDS

use herald_plugin_sdk::serde_json::{self, Value};
use herald_plugin_sdk::{
    Action, AlertExt, EnrichedAlert, Error, HttpResponse, State, Target, body_snippet,
    classify_status, header, redact, truncate_bytes,
};

use crate::format::{ID_TTL_SECONDS, Mode, Settings};

/// Longest part of a reply (JSON:API errors or raw body) quoted in a message, in bytes.
pub const DETAIL_MAX_BYTES: usize = 500;

/// Longest id accepted from a create reply (Rootly ids are 36-character UUIDs).
pub const ID_MAX_BYTES: usize = 128;

/// Classifies the response to the request [`crate::format::prepare`] made.
pub fn handle_response(
    alert: &EnrichedAlert,
    target: &Target,
    response: &HttpResponse,
    state: &mut impl State,
) -> Result<Action, Error> {
    let settings = Settings::from_target(target).map_err(Error::permanent)?;
    if alert.alert.is_firing() {
        created(settings.mode, target, response, state)
    } else {
        resolved(settings.mode, target, response, state)
    }
}

/// The answer to `POST /v1/alerts` or `POST /v1/incidents`.
fn created(
    mode: Mode,
    target: &Target,
    response: &HttpResponse,
    state: &mut impl State,
) -> Result<Action, Error> {
    let noun = mode.noun();
    let what = format!("creating an {noun}");
    check(response, target, &what)?;
    let Some(id) = reply_id(response) else {
        return Err(Error::permanent(format!(
            "Rootly answered {} to {what} but the reply has no usable `data.id` (malformed reply); \
             the {noun} may exist in Rootly, but Herald cannot resolve it",
            response.status
        )));
    };
    let key = mode.state_key();
    let previous = state.get(key).filter(|p| !p.is_empty());
    state.set(key, &id, ID_TTL_SECONDS);
    let note = match previous {
        None => format!("created Rootly {noun} {id}"),
        Some(p) if p == id => {
            format!("sent again to Rootly {noun} {id} (deduplicated by fingerprint)")
        }
        Some(p) => format!("Rootly answered with {noun} {id} (was {p}); remembering {id}"),
    };
    Ok(Action::delivered_with_note(note))
}

/// The answer to a resolve (`POST /v1/alerts/{id}/resolve` or `PATCH /v1/incidents/{id}`).
fn resolved(
    mode: Mode,
    target: &Target,
    response: &HttpResponse,
    state: &mut impl State,
) -> Result<Action, Error> {
    let noun = mode.noun();
    let key = mode.state_key();
    let id = state.get(key).unwrap_or_default();
    let note = match response.status {
        404 => format!("Rootly {noun} {id} is already gone (404); forgot it"),
        409 if mode == Mode::Incidents => {
            format!("Rootly incident {id} was already resolved (409); forgot it")
        }
        _ => {
            check(response, target, &format!("resolving {noun} {id}"))?;
            format!("resolved Rootly {noun} {id}")
        }
    };
    state.remove(key);
    Ok(Action::delivered_with_note(note))
}

/// `Ok` for a 2xx; otherwise the error of the right class, its message saying
/// what Rootly answered to `what`, with Rootly's own words, redacted.
fn check(response: &HttpResponse, target: &Target, what: &str) -> Result<(), Error> {
    if (200..=299).contains(&response.status) {
        return Ok(());
    }
    classify_status(response, failure_message(response, target, what))
}

/// `Rootly answered <status> to <what>: <title: detail>`, plus a hint for
/// 401/403 and redirects; secrets replaced by `***`.
pub fn failure_message(response: &HttpResponse, target: &Target, what: &str) -> String {
    let status = response.status;
    let mut message = format!("Rootly answered {status} to {what}");
    if let Some(detail) = error_detail(response) {
        message.push_str(": ");
        message.push_str(&detail);
    }
    match status {
        401 | 403 => message.push_str(
            " (check `secrets.api_key`: the key may be wrong, revoked or lack the permission)",
        ),
        300..=399 => {
            if let Some(location) = header(&response.headers, "location") {
                message.push_str(&format!(
                    " (redirected to {}; check the target's `url`)",
                    truncate_bytes(location, 200)
                ));
            }
        }
        _ => {}
    }
    redact(&message, &target.secrets)
}

/// Rootly's JSON:API errors as `title: detail`, joined by `; `; else the
/// start of the body; `None` for an empty body. At most [`DETAIL_MAX_BYTES`].
pub fn error_detail(response: &HttpResponse) -> Option<String> {
    let from_errors = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|v| {
            let errors = v.get("errors")?.as_array()?;
            let parts: Vec<String> = errors.iter().filter_map(jsonapi_error).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        });
    let detail = from_errors.unwrap_or_else(|| body_snippet(response, DETAIL_MAX_BYTES));
    let detail = detail.trim();
    (!detail.is_empty()).then(|| truncate_bytes(detail, DETAIL_MAX_BYTES))
}

/// One JSON:API error object as `title: detail` (or whichever of the two it has).
fn jsonapi_error(error: &Value) -> Option<String> {
    let text = |key: &str| {
        error
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match (text("title"), text("detail")) {
        (Some(t), Some(d)) if t == d => Some(t.to_string()),
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => None,
    }
}

/// `data.id` of a create reply: a non-empty string (or a number) of at most
/// [`ID_MAX_BYTES`] bytes without whitespace or control characters.
pub fn reply_id(response: &HttpResponse) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    let id = match body.get("data")?.get("id")? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let usable = !id.is_empty()
        && id.len() <= ID_MAX_BYTES
        && !id.chars().any(|c| c.is_whitespace() || c.is_control());
    usable.then_some(id)
}
