//! What an `example` target is sent: its configuration checked
//! ([`Config`]), an alert turned into a message ([`message`]), and the
//! requests built from them ([`prepare`], [`health_probe`]).
//!
//! Pure functions: the only outside input is the remembered message id,
//! read through the [`State`] passed in, so native tests use `MemoryState`.

use herald_plugin_sdk::serde_json::{Value, json};
use herald_plugin_sdk::{
    Action, AlertExt, EnrichedAlert, Error, HttpRequest, Severity, State, Target, TargetExt,
    check_base_url, join_url, json_request, truncate_bytes, truncate_chars,
};

/// Options an `example` target accepts.
pub const KNOWN_OPTIONS: &[&str] = &["min_priority"];
/// Secrets an `example` target accepts.
pub const KNOWN_SECRETS: &[&str] = &["token"];

/// The chat's limit on a message title, in characters.
pub const TITLE_MAX_CHARS: usize = 250;
/// The chat's limit on a message body, in bytes.
pub const BODY_MAX_BYTES: usize = 4096;
/// Recommendations listed in the body, at most.
pub const MAX_RECOMMENDATIONS: usize = 3;

/// State key: the id of the message posted for the firing alert.
pub const KEY_ID: &str = "id";

/// A checked `example` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config<'a> {
    /// The bearer token (a secret: never put it in a message).
    pub token: &'a str,
    /// Alerts whose priority is below this are skipped (1..=5).
    pub min_priority: u8,
}

impl<'a> Config<'a> {
    /// Reads and checks a target; every error names the field.
    pub fn from_target(target: &'a Target) -> Result<Self, String> {
        check_base_url("url", &target.url)?;
        target.check_options(KNOWN_OPTIONS)?;
        target.check_secrets(KNOWN_SECRETS)?;
        let token = target.require_secret(
            "token",
            "example targets need the chat's API token, sent as a bearer token",
        )?;
        let min_priority = match target.option("min_priority") {
            None => 1,
            Some(raw) => match raw.parse::<u8>() {
                Ok(p @ 1..=5) => p,
                _ => {
                    return Err(format!(
                        "`options.min_priority` must be a whole number from 1 to 5, not `{raw}`"
                    ));
                }
            },
        };
        Ok(Config {
            token,
            min_priority,
        })
    }
}

/// The message's priority, 1 (lowest) to 5: from the classification when
/// there is one, else from the `severity` label; 3 when neither says.
/// A resolve keeps the priority of its alert, so it is skipped or sent
/// exactly when the firing was.
pub fn priority(alert: &EnrichedAlert) -> u8 {
    let severity = match &alert.classification {
        Some(c) => Some(c.severity),
        None => match alert.alert.label("severity") {
            Some("critical") => Some(Severity::Critical),
            Some("warning") => Some(Severity::Warning),
            Some("info") => Some(Severity::Info),
            Some("noise") => Some(Severity::Noise),
            _ => None,
        },
    };
    match severity {
        Some(Severity::Critical) => 5,
        Some(Severity::Warning) => 4,
        Some(Severity::Info) | None => 3,
        Some(Severity::Noise) => 2,
    }
}

/// `[FIRING] <alertname>` or `[RESOLVED] <alertname>`, at most
/// [`TITLE_MAX_CHARS`] characters.
pub fn title(alert: &EnrichedAlert) -> String {
    let status = if alert.alert.is_firing() {
        "FIRING"
    } else {
        "RESOLVED"
    };
    truncate_chars(
        &format!("[{status}] {}", alert.alert.name()),
        TITLE_MAX_CHARS,
    )
}

/// The summary, then the classification (severity, confidence, reasoning,
/// up to [`MAX_RECOMMENDATIONS`] recommendations), then the source link; at
/// most [`BODY_MAX_BYTES`] bytes.
pub fn body(alert: &EnrichedAlert) -> String {
    let mut text = alert.alert.summary().to_string();
    if let Some(c) = &alert.classification {
        text.push_str(&format!(
            "\n\nClassification: {} ({:.2})",
            c.severity.as_str(),
            c.confidence
        ));
        if !c.reasoning.is_empty() {
            text.push('\n');
            text.push_str(&c.reasoning);
        }
        for r in c.recommendations.iter().take(MAX_RECOMMENDATIONS) {
            text.push_str("\n- ");
            text.push_str(r);
        }
    }
    if let Some(url) = &alert.alert.generator_url {
        text.push_str("\n\nSource: ");
        text.push_str(url);
    }
    truncate_bytes(&text, BODY_MAX_BYTES)
}

/// The JSON message: `{title, body, priority}`, plus `reply_to` when the
/// alert is resolved and the firing message's id is remembered.
pub fn message(alert: &EnrichedAlert, reply_to: Option<&str>) -> Value {
    let mut message = json!({
        "title": title(alert),
        "body": body(alert),
        "priority": priority(alert),
    });
    if let Some(id) = reply_to {
        message["reply_to"] = json!(id);
    }
    message
}

/// The first (and only) action of a delivery: skip an alert below
/// `min_priority`, else `POST {url}/messages`.
pub fn prepare(
    alert: &EnrichedAlert,
    target: &Target,
    state: &impl State,
) -> Result<Action, Error> {
    let config = Config::from_target(target).map_err(Error::permanent)?;
    let priority = priority(alert);
    if priority < config.min_priority {
        return Ok(Action::skipped(format!(
            "priority {priority} is below the target's min_priority {}",
            config.min_priority
        )));
    }
    let reply_to = if alert.alert.is_firing() {
        None
    } else {
        state.get(KEY_ID)
    };
    let body = message(alert, reply_to.as_deref());
    Ok(Action::Send(json_request(
        "POST",
        join_url(&target.url, "messages"),
        "application/json",
        &[auth(&config)],
        &body,
    )))
}

fn auth(config: &Config) -> (String, String) {
    (
        "authorization".to_string(),
        format!("Bearer {}", config.token),
    )
}

/// The health probe: `GET {url}/health` with the token. The chat answers it
/// without posting anything, and a 401 shows a revoked token before an alert
/// is lost to it. `None` when the target is misconfigured.
pub fn health_probe(target: &Target) -> Option<HttpRequest> {
    let config = Config::from_target(target).ok()?;
    Some(HttpRequest {
        method: "GET".to_string(),
        url: join_url(&target.url, "health"),
        headers: vec![auth(&config)],
        body: Vec::new(),
    })
}
