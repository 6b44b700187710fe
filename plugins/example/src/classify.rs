//! What the chat's reply means, and the remembered message id kept in step.
//!
//! - 2xx: delivered. For a firing alert, the reply's `id` is remembered for
//!   [`ID_TTL_SECONDS`] so the resolve can reply to it; for a resolved alert,
//!   the id is forgotten.
//! - anything else: an error classed by the shared rules ([`classify_status`]:
//!   408, 425, 429 and 5xx but 501 transient with any `Retry-After`; other
//!   4xx and 501 permanent; 1xx and 3xx unknown), its message quoting the
//!   start of the reply with secrets redacted. The state is left as it was,
//!   so a retry starts the same way.

use herald_plugin_sdk::serde_json::{self, Value};
use herald_plugin_sdk::{
    Action, AlertExt, EnrichedAlert, Error, HttpResponse, State, Target, body_snippet,
    classify_status, redact,
};

use crate::format::KEY_ID;

/// How long a posted message's id is remembered: 7 days.
pub const ID_TTL_SECONDS: u32 = 7 * 24 * 3600;

/// At most this many bytes of a reply are quoted in an error message.
pub const SNIPPET_MAX_BYTES: usize = 200;

/// Maps the reply to the end of the delivery.
pub fn handle_response(
    alert: &EnrichedAlert,
    target: &Target,
    response: &HttpResponse,
    state: &mut impl State,
) -> Result<Action, Error> {
    if !(200..300).contains(&response.status) {
        let reply = redact(&body_snippet(response, SNIPPET_MAX_BYTES), &target.secrets);
        let message = format!("the chat answered {}: {reply}", response.status);
        return classify_status(response, message).map(|()| Action::delivered());
    }
    if !alert.alert.is_firing() {
        state.remove(KEY_ID);
        return Ok(Action::delivered());
    }
    match message_id(response) {
        Some(id) => {
            state.set(KEY_ID, &id, ID_TTL_SECONDS);
            Ok(Action::delivered_with_note(format!("posted message {id}")))
        }
        None => Ok(Action::delivered_with_note(
            "posted, but the reply carried no message id: the resolve will not be a reply",
        )),
    }
}

/// The `id` of a reply `{"id": "..."}`, when it is a short string.
pub fn message_id(response: &HttpResponse) -> Option<String> {
    let reply: Value = serde_json::from_slice(&response.body).ok()?;
    let id = reply.get("id")?.as_str()?;
    (!id.is_empty() && id.len() <= 128).then(|| id.to_string())
}
