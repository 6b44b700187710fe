//! What a webhook's reply means: any 2xx is a delivery; every other status is
//! an error classed by the shared rules of `TARGETS.md` (with any
//! `Retry-After` passed up), whose message quotes the start of the reply with
//! secrets and credential-looking values taken out.

use herald_plugin_sdk::{
    Action, Error, HttpResponse, Target, classify_status, redact, truncate_bytes,
};

use crate::format::sensitive_values;

/// At most this many bytes of the reply body are quoted in an error message.
pub const SNIPPET_MAX_BYTES: usize = 256;

/// Maps the webhook's reply to the end of the delivery.
///
/// The body of a 2xx reply is not read: generic receivers answer anything
/// from `ok` to an empty `204`.
pub fn response(response: &HttpResponse, target: &Target) -> Result<Action, Error> {
    if (200..300).contains(&response.status) {
        return Ok(Action::delivered());
    }
    classify_status(response, message(response, target)).map(|()| Action::delivered())
}

/// "webhook answered 503: <start of the reply>", one line, redacted.
pub fn message(response: &HttpResponse, target: &Target) -> String {
    let status = response.status;
    let mut message = format!("webhook answered {status}");
    if (300..400).contains(&status) {
        message.push_str(" (a redirect: point the target's `url` at the final address)");
    }
    let snippet = snippet(&response.body, target);
    if snippet.is_empty() {
        message.push_str(" with an empty body");
    } else {
        message.push_str(": ");
        message.push_str(&snippet);
    }
    message
}

/// The reply body as one line of text: secrets redacted (first, so neither
/// collapsing nor cutting can leave part of one visible), whitespace runs
/// collapsed, then cut to [`SNIPPET_MAX_BYTES`] on a character boundary.
pub fn snippet(body: &[u8], target: &Target) -> String {
    let text = redact(&String::from_utf8_lossy(body), &sensitive_values(target));
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate_bytes(&one_line, SNIPPET_MAX_BYTES)
}
