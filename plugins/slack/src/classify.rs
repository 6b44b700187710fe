//! The delivery as a chain of actions: which request comes first (from what
//! is remembered for (target, fingerprint)), and what each response means
//! (finish, fail with a class, or send the next request).
//!
//! Webhook mode is one request and remembers nothing. Bot mode remembers, in
//! the host's state (scoped to target and fingerprint):
//!
//! | key       | value                                         | TTL          |
//! |-----------|-----------------------------------------------|--------------|
//! | `channel` | the channel id Slack answered the post with   | 7 days       |
//! | `ts`      | the parent message's `ts`                     | 7 days       |
//! | `status`  | the last status posted (`firing`/`resolved`)  | 7 days       |
//! | `pending` | the request in flight: `post`, `repost`, `update`, `reply` | 5 minutes, removed when the delivery ends |
//!
//! Every successful delivery writes the three long-lived keys again, so the
//! 7 days count from the last notification (an alert firing for weeks keeps
//! its thread as long as Alertmanager repeats it).
//!
//! Bot-mode flow:
//!
//! - firing, nothing remembered: `chat.postMessage`; remember it.
//! - firing, a firing message remembered: `chat.update` it (no thread
//!   reply: the status did not change).
//! - firing, a *resolved* message remembered: the alert came back, so it
//!   starts a **new** message (a new thread) that the channel sees; an
//!   update of an old message far up the channel would go unnoticed.
//! - resolved, a firing message remembered: `chat.update` it to the
//!   resolved look, then reply in its thread (the status changed).
//! - resolved, a resolved message remembered (Alertmanager repeating the
//!   resolve): `chat.update` only, no second reply.
//! - resolved, nothing remembered: `chat.postMessage` in the resolved look.
//! - `message_not_found` on `chat.update` (the parent was deleted): forget
//!   it and `chat.postMessage` anew.
//!
//! State is kept after a resolve (until its TTL) so that repeated resolves
//! do not post duplicates. New messages go to `options.channel`; updates and
//! thread replies go to the remembered channel id. A thread reply carries the
//! same look as the parent (text, blocks, attachments) plus `thread_ts`. An
//! error changes nothing but `pending`, so a retry starts the same way.

use herald_plugin_sdk::serde_json::Value;
use herald_plugin_sdk::{
    Action, AlertExt, EnrichedAlert, Error, HttpResponse, Level, State, Target, body_snippet,
    classify_status, log, redact, retry_after_ms,
};

use crate::format::{self, Bot, Config, Look};

/// How long a posted message is remembered: 7 days from the last delivery.
pub const TTL_SECONDS: u32 = 7 * 24 * 3600;
/// How long the `pending` marker lives if a delivery is cut short.
pub const PENDING_TTL_SECONDS: u32 = 300;

/// State key: the channel id Slack answered the post with (`chat.update`
/// needs the id, while `options.channel` may be a name like `#alerts`).
pub const KEY_CHANNEL: &str = "channel";
/// The parent message's `ts`.
pub const KEY_TS: &str = "ts";
/// The last status posted to the message or its thread.
pub const KEY_STATUS: &str = "status";
/// Which request the next response answers.
pub const KEY_PENDING: &str = "pending";

/// The request a response answers (kept in state under `pending`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A new parent message.
    Post,
    /// A new parent message after `message_not_found` on update.
    Repost,
    /// `chat.update` of the parent.
    Update,
    /// A thread reply after the update.
    Reply,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Post => "post",
            Step::Repost => "repost",
            Step::Update => "update",
            Step::Reply => "reply",
        }
    }

    fn parse(s: &str) -> Option<Step> {
        [Step::Post, Step::Repost, Step::Update, Step::Reply]
            .into_iter()
            .find(|step| step.as_str() == s)
    }

    /// The Web API method the step calls.
    fn method(self) -> &'static str {
        match self {
            Step::Update => "chat.update",
            Step::Post | Step::Repost | Step::Reply => "chat.postMessage",
        }
    }
}

fn config(target: &Target) -> Result<Config, Error> {
    Config::from_target(target).map_err(|m| {
        Error::permanent(format!(
            "target `{}` is misconfigured: {}",
            target.name,
            redact(&m, &target.secrets)
        ))
    })
}

/// The first action of a delivery.
pub fn prepare(
    alert: &EnrichedAlert,
    target: &Target,
    state: &mut impl State,
) -> Result<Action, Error> {
    let look = format::look(alert);
    let bot = match config(target)? {
        Config::Webhook { webhook_url } => {
            return Ok(Action::Send(format::webhook_request(
                &webhook_url,
                target,
                &look,
            )));
        }
        Config::Bot(bot) => bot,
    };
    let status = alert.alert.status.as_str();
    let remembered = match (state.get(KEY_CHANNEL), state.get(KEY_TS)) {
        (Some(channel), Some(ts)) if !channel.is_empty() && !ts.is_empty() => Some((channel, ts)),
        _ => None,
    };
    let last_status = state
        .get(KEY_STATUS)
        .unwrap_or_else(|| "firing".to_string());
    match remembered {
        Some((channel, ts)) if !(alert.alert.is_firing() && last_status == "resolved") => {
            set_pending(state, Step::Update);
            let body = format::update_body(&channel, &ts, &look);
            Ok(Action::Send(format::api_request(
                &bot,
                target,
                "chat.update",
                &body,
            )))
        }
        _ => {
            forget(state);
            log(
                Level::Debug,
                &format!("posting a new Slack message ({status})"),
            );
            Ok(post(&bot, target, &look, None, Step::Post, state))
        }
    }
}

fn set_pending(state: &mut impl State, step: Step) {
    state.set(KEY_PENDING, step.as_str(), PENDING_TTL_SECONDS);
}

fn forget(state: &mut impl State) {
    state.remove(KEY_CHANNEL);
    state.remove(KEY_TS);
    state.remove(KEY_STATUS);
}

fn remember(state: &mut impl State, channel: &str, ts: &str, status: &str) {
    state.set(KEY_CHANNEL, channel, TTL_SECONDS);
    state.set(KEY_TS, ts, TTL_SECONDS);
    state.set(KEY_STATUS, status, TTL_SECONDS);
}

fn post(
    bot: &Bot,
    target: &Target,
    look: &Look,
    thread: Option<(&str, &str)>,
    step: Step,
    state: &mut impl State,
) -> Action {
    set_pending(state, step);
    let (channel, thread_ts) = match thread {
        Some((channel, ts)) => (channel, Some(ts)),
        None => (bot.channel.as_str(), None),
    };
    let body = format::post_body(channel, look, thread_ts);
    Action::Send(format::api_request(bot, target, "chat.postMessage", &body))
}

/// The action after a response: finish, fail, or the next request.
pub fn handle_response(
    alert: &EnrichedAlert,
    target: &Target,
    response: &HttpResponse,
    state: &mut impl State,
) -> Result<Action, Error> {
    let bot = match config(target)? {
        Config::Webhook { .. } => return webhook_outcome(response, target),
        Config::Bot(bot) => bot,
    };
    let pending = state.get(KEY_PENDING);
    state.remove(KEY_PENDING);
    let step = pending.as_deref().and_then(Step::parse).ok_or_else(|| {
        Error::unknown("Slack answered, but no request was pending for this alert (state lost?)")
    })?;
    let status = alert.alert.status.as_str();
    let reply = match read_reply(step.method(), response, target)? {
        Ok(reply) => reply,
        Err(failure) if failure.code == "message_not_found" && step == Step::Update => {
            log(
                Level::Info,
                "the remembered Slack message is gone (message_not_found); posting anew",
            );
            forget(state);
            let look = format::look(alert);
            return Ok(post(&bot, target, &look, None, Step::Repost, state));
        }
        Err(failure) => return Err(api_error(step.method(), failure, &bot, response, target)),
    };
    match step {
        Step::Post | Step::Repost => {
            let field = |k: &str| {
                reply
                    .get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            let (Some(channel), Some(ts)) = (field("channel"), field("ts")) else {
                return Err(Error::permanent(format!(
                    "Slack chat.postMessage answered ok without `channel` and `ts`: {}",
                    redact(&body_snippet(response, 300), &target.secrets)
                )));
            };
            remember(state, channel, ts, status);
            Ok(Action::delivered_with_note(if step == Step::Repost {
                format!("the remembered message was gone; posted anew to {channel} (ts {ts})")
            } else {
                format!("posted to {channel} (ts {ts})")
            }))
        }
        Step::Update => {
            let (channel, ts) = (
                state.get(KEY_CHANNEL).unwrap_or_default(),
                state.get(KEY_TS).unwrap_or_default(),
            );
            let last = state
                .get(KEY_STATUS)
                .unwrap_or_else(|| "firing".to_string());
            if last != status {
                let look = format::look(alert);
                return Ok(post(
                    &bot,
                    target,
                    &look,
                    Some((&channel, &ts)),
                    Step::Reply,
                    state,
                ));
            }
            remember(state, &channel, &ts, status);
            Ok(Action::delivered_with_note(format!(
                "updated the message in {channel} (ts {ts}); still {status}, no thread reply"
            )))
        }
        Step::Reply => {
            let (channel, ts) = (
                state.get(KEY_CHANNEL).unwrap_or_default(),
                state.get(KEY_TS).unwrap_or_default(),
            );
            remember(state, &channel, &ts, status);
            Ok(Action::delivered_with_note(format!(
                "updated the message in {channel} (ts {ts}) and replied in its thread: {status}"
            )))
        }
    }
}

/// An `ok:false` reply.
#[derive(Debug)]
struct Failure {
    /// Slack's error code (`channel_not_found`, ...), already redacted.
    code: String,
    /// What `response_metadata.messages` adds (invalid blocks), redacted.
    detail: Option<String>,
}

/// The reply's JSON when `ok` is true, its error when false; HTTP failures
/// and unreadable replies become errors at once.
fn read_reply(
    method: &str,
    response: &HttpResponse,
    target: &Target,
) -> Result<Result<Value, Failure>, Error> {
    let snippet = || redact(&body_snippet(response, 300), &target.secrets);
    if !(200..300).contains(&response.status) {
        let what = if response.status == 429 {
            "Slack is rate limiting"
        } else {
            "Slack answered"
        };
        return Err(status_error(
            response,
            format!(
                "{what} {method} with HTTP {}: {}",
                response.status,
                snippet()
            ),
        ));
    }
    let json: Option<Value> = herald_plugin_sdk::serde_json::from_slice(&response.body).ok();
    let Some(ok) = json
        .as_ref()
        .and_then(|j| j.get("ok"))
        .and_then(Value::as_bool)
    else {
        return Err(Error::permanent(format!(
            "Slack {method} answered HTTP {} with something that is not a Web API reply: {}",
            response.status,
            snippet()
        )));
    };
    let json = json.unwrap_or_default();
    if ok {
        return Ok(Ok(json));
    }
    let code = json
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error");
    let detail = json
        .pointer("/response_metadata/messages")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|d| !d.is_empty())
        .map(|d| redact(&herald_plugin_sdk::truncate_bytes(&d, 300), &target.secrets));
    Ok(Err(Failure {
        code: redact(
            &herald_plugin_sdk::truncate_bytes(code, 100),
            &target.secrets,
        ),
        detail,
    }))
}

/// Maps an `ok:false` error code to an error of the right class.
fn api_error(
    method: &str,
    failure: Failure,
    bot: &Bot,
    response: &HttpResponse,
    target: &Target,
) -> Error {
    let code = failure.code.as_str();
    let detail = failure
        .detail
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    let base = format!("Slack {method} failed: `{code}`{detail}");
    let channel = redact(&bot.channel, &target.secrets);
    match code {
        "ratelimited" => Error::transient(format!(
            "{base}; Slack allows about one message per second per channel"
        ))
        .with_retry_after(retry_after_ms(&response.headers)),
        "invalid_auth" | "not_authed" => Error::permanent(format!(
            "{base}; Slack rejected the bot token, check `secrets.bot_token`"
        )),
        "channel_not_found" => Error::permanent(format!(
            "{base}; the bot cannot see channel `{channel}`: check `options.channel` (private channels need the bot invited)"
        )),
        "not_in_channel" => Error::permanent(format!(
            "{base}; invite the bot to `{channel}` (/invite @bot)"
        )),
        "is_archived" => Error::permanent(format!("{base}; the channel is archived")),
        "msg_too_long" | "invalid_blocks" => Error::permanent(format!(
            "{base}; Slack refused the message's layout (a bug in the slack adapter: please report it)"
        )),
        _ => Error::unknown(base),
    }
}

/// The incoming-webhook reply: `200 ok` is delivered; errors are plain text
/// with a non-2xx status, classed by the shared rules (400, 403, 404, 410
/// permanent; 429 and 5xx transient, with `Retry-After`).
fn webhook_outcome(response: &HttpResponse, target: &Target) -> Result<Action, Error> {
    let body = redact(&body_snippet(response, 200), &target.secrets);
    if (200..300).contains(&response.status) {
        if body == "ok" {
            return Ok(Action::delivered_with_note(
                "posted through the incoming webhook",
            ));
        }
        return Err(Error::permanent(format!(
            "the Slack webhook answered HTTP {} with `{body}` instead of `ok`",
            response.status
        )));
    }
    let hint = match body.as_str() {
        "invalid_payload" => {
            "; Slack refused the message's layout (a bug in the slack adapter: please report it)"
        }
        "channel_not_found" | "channel_is_archived" => {
            "; the webhook's channel is gone or archived: create a new webhook"
        }
        "no_service" | "invalid_token" | "no_team" | "team_disabled" => {
            "; the webhook is no longer valid: check `secrets.webhook_url`"
        }
        "action_prohibited" => "; an admin restricted posting to the webhook's channel",
        _ => "",
    };
    Err(status_error(
        response,
        format!(
            "the Slack webhook answered HTTP {}: {}{hint}",
            response.status,
            if body.is_empty() { "(no body)" } else { &body }
        ),
    ))
}

/// The error for a non-2xx status, classed by the shared rules (with any
/// `Retry-After` hint).
fn status_error(response: &HttpResponse, message: String) -> Error {
    match classify_status(response, message.clone()) {
        Err(error) => error,
        // Only reached for a 2xx, which callers handle before.
        Ok(()) => Error::unknown(message),
    }
}
