//! Mapping Alertmanager's replies to `POST /api/v2/alerts` to outcomes and errors.
//!
//! - `200` (Alertmanager's documented answer) = delivered. Another 2xx (a
//!   proxy in front answering `202` or `204`) is also taken as accepted,
//!   with a note saying so.
//! - `400` = permanent: Alertmanager found the alert invalid (bad label
//!   names, end before start, ...); its error text is surfaced, redacted.
//! - `401`/`403` = permanent, with a hint at the target's authentication.
//! - `5xx` (but `501`) = transient, with any `Retry-After` hint.
//! - Everything else follows the shared rules of `TARGETS.md`.

use herald_plugin_sdk::serde_json::Value;
use herald_plugin_sdk::{
    Action, Error, HttpResponse, Target, classify_status, redact, truncate_bytes,
};

/// The most of Alertmanager's reply that goes into an error message, in bytes.
const MAX_DETAIL_BYTES: usize = 500;

/// Turns Alertmanager's reply into the end of the delivery (firing and
/// resolved alike: both are the same post).
pub fn handle_response(target: &Target, response: &HttpResponse) -> Result<Action, Error> {
    let status = response.status;
    match status {
        200 => Ok(Action::delivered()),
        201..=299 => Ok(Action::delivered_with_note(format!(
            "Alertmanager answered {status} instead of 200; taken as accepted"
        ))),
        400 => Err(Error::permanent(format!(
            "Alertmanager rejected the alert (400): {}",
            detail(target, response)
        ))),
        401 | 403 => Err(Error::permanent(format!(
            "Alertmanager refused the credentials ({status}): {}; check the target's \
             `secrets.bearer_token`, `secrets.basic_auth` or `headers`",
            detail(target, response)
        ))),
        _ => {
            let message = format!(
                "Alertmanager answered {status}: {}",
                detail(target, response)
            );
            classify_status(response, message).map(|()| Action::delivered())
        }
    }
}

/// What Alertmanager said about a failure, without secrets and cut to size.
///
/// Alertmanager answers errors as a JSON string (`"start time must be before
/// end time"`) or, from its API layer, as `{"code": .., "message": ..}`;
/// anything else is taken as text. Secrets are redacted before cutting, so a
/// cut can never leave part of one.
pub fn detail(target: &Target, response: &HttpResponse) -> String {
    let text = match herald_plugin_sdk::serde_json::from_slice::<Value>(&response.body) {
        Ok(Value::String(s)) => s,
        Ok(reply) => reply
            .get("message")
            .or_else(|| reply.get("error"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| reply.to_string()),
        Err(_) => String::from_utf8_lossy(&response.body).into_owned(),
    };
    let text = text.trim();
    if text.is_empty() {
        return "no details in the reply".to_string();
    }
    truncate_bytes(&redact(text, &target.secrets), MAX_DETAIL_BYTES)
}
