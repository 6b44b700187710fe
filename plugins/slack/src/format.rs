//! Everything Slack receives: the target's configuration read into a
//! [`Config`], the Block Kit look of an alert ([`Look`]), and the requests
//! built from them (incoming webhook, `chat.postMessage`, `chat.update`,
//! `auth.test`).
//!
//! Pure functions: nothing here reads state or decides which request comes
//! next (that is `classify`'s job).
//!
//! Every text is kept within Slack's Block Kit limits, counted in UTF-16
//! code units (never fewer than characters, so the cut is safe whichever
//! way Slack counts): a `header` is `plain_text` of at most 150, a
//! `section`'s text at most 3000, a field at most 2000, at most 10 fields,
//! a `context` carries `elements`, at most 50 blocks, and the fallback
//! `text` is always set.

use herald_plugin_sdk::serde_json::{Map, Value, json};
use herald_plugin_sdk::{
    AlertExt, EnrichedAlert, HttpRequest, Severity, Target, TargetExt, check_base_url, join_url,
    json_request,
};

/// Options a `slack` target may set.
pub const KNOWN_OPTIONS: &[&str] = &["mode", "channel"];
/// Secrets a `slack` target may set.
pub const KNOWN_SECRETS: &[&str] = &["bot_token", "webhook_url"];

/// Slack's limit on a `header` block's `plain_text`.
pub const HEADER_MAX: usize = 150;
/// Slack's limit on a `section` block's `text`.
pub const SECTION_TEXT_MAX: usize = 3000;
/// Slack's limit on one `section` field's text.
pub const FIELD_TEXT_MAX: usize = 2000;
/// Slack's limit on the number of `section` fields.
pub const MAX_FIELDS: usize = 10;
/// Slack's limit on the number of blocks in a message (and in an attachment).
pub const MAX_BLOCKS: usize = 50;
/// Our cap on the fallback `text` (Slack truncates at 40,000 and advises
/// keeping it short: it is what notifications show).
pub const TEXT_MAX: usize = 3000;
/// Our cap on one `context` element's text (Slack allows 3000 per text object).
pub const CONTEXT_TEXT_MAX: usize = 2000;
/// Recommendations shown, at most.
pub const MAX_RECOMMENDATIONS: usize = 3;

/// Bar colours of the look, by severity, and for resolved alerts.
pub const COLOR_CRITICAL: &str = "#E01E5A";
/// Warning (also the default when nothing says otherwise).
pub const COLOR_WARNING: &str = "#ECB22E";
/// Info and noise.
pub const COLOR_INFO: &str = "#36C5F0";
/// Any resolved alert.
pub const COLOR_RESOLVED: &str = "#2EB67D";

/// How a target reaches Slack, read from its options and secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Config {
    /// An incoming webhook: one fixed channel, no threading, no state.
    Webhook {
        /// The secret webhook URL (`https://hooks.slack.com/services/...`);
        /// on the origin of the target's `url`, never put into a message.
        webhook_url: String,
    },
    /// The Web API with a bot token: threads, updates, state.
    Bot(Bot),
}

/// A bot-mode target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bot {
    /// The API base, the target's `url` (`https://slack.com`).
    pub api_base: String,
    /// The `xoxb-` bot token (secret).
    pub token: String,
    /// Where new messages go: a channel id (`C0123...`) or a name (`#alerts`).
    /// Updates and replies use the channel id Slack answered with instead.
    pub channel: String,
}

impl Config {
    /// Reads and checks a target: every error names the field and says what to do.
    ///
    /// `options.mode` is `webhook` or `bot`; by default `bot` when
    /// `secrets.bot_token` is set, else `webhook`.
    pub fn from_target(target: &Target) -> Result<Config, String> {
        target.check_options(KNOWN_OPTIONS)?;
        target.check_secrets(KNOWN_SECRETS)?;
        check_base_url("url", &target.url)?;
        let bot = match target.option("mode") {
            Some("bot") => true,
            Some("webhook") => false,
            Some(other) => {
                return Err(format!(
                    "`options.mode` must be `webhook` or `bot`, not `{other}`"
                ));
            }
            None => target.secret("bot_token").is_some(),
        };
        if bot {
            Self::bot(target)
        } else {
            Self::webhook(target)
        }
    }

    fn bot(target: &Target) -> Result<Config, String> {
        let token = target.require_secret(
            "bot_token",
            "Slack bot-mode targets need a bot token (`xoxb-...`) with the `chat:write` scope",
        )?;
        if !token.starts_with("xoxb-") {
            return Err(
                "`secrets.bot_token` must be a bot token starting with `xoxb-` (user and app tokens do not work here)"
                    .to_string(),
            );
        }
        if target.secret("webhook_url").is_some() {
            return Err("`secrets.webhook_url` is only used in webhook mode; remove it, or set `options.mode = \"webhook\"` and drop `secrets.bot_token`".to_string());
        }
        let channel = target.option("channel").ok_or_else(|| {
            "`options.channel` is missing; Slack bot-mode targets need the channel to post to (an id like `C0123ABCD` or a name like `#alerts`)".to_string()
        })?;
        if channel.contains(char::is_whitespace) {
            return Err(format!(
                "`options.channel` must be a channel id or name without spaces, not `{channel}`"
            ));
        }
        let path = url_path(&target.url).trim_end_matches('/');
        if path.ends_with("/api") {
            return Err(format!(
                "`url` must be the API base without `/api` (e.g. `https://slack.com`), not `{}`",
                target.url
            ));
        }
        Ok(Config::Bot(Bot {
            api_base: target.url.clone(),
            token: token.to_string(),
            channel: channel.to_string(),
        }))
    }

    fn webhook(target: &Target) -> Result<Config, String> {
        let url = target.require_secret(
            "webhook_url",
            "Slack webhook-mode targets need the incoming-webhook URL (`https://hooks.slack.com/services/...`); for bot mode set `secrets.bot_token`",
        )?;
        if target.secret("bot_token").is_some() {
            return Err("`secrets.bot_token` is only used in bot mode; remove it or set `options.mode = \"bot\"`".to_string());
        }
        if target.option("channel").is_some() {
            return Err("`options.channel` is only used in bot mode: an incoming webhook always posts to the channel it was created for".to_string());
        }
        // The messages below never quote the webhook URL: it is the secret.
        check_base_url("secrets.webhook_url", url)?;
        let base = origin(&target.url);
        if !origin(url).eq_ignore_ascii_case(base) {
            return Err(format!(
                "`secrets.webhook_url` must be on the origin of `url` (`{base}`): requests only go to the target's own origin"
            ));
        }
        if url_path(url).trim_matches('/').is_empty() {
            return Err(
                "`secrets.webhook_url` has no path; it should look like `https://hooks.slack.com/services/T.../B.../...`"
                    .to_string(),
            );
        }
        Ok(Config::Webhook {
            webhook_url: url.to_string(),
        })
    }
}

/// `scheme://host[:port]` of a URL (everything before the path).
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    &url[..end]
}

/// The part of a URL after its origin (may be empty).
fn url_path(url: &str) -> &str {
    &url[origin(url).len()..]
}

// ---------------------------------------------------------------------------
// The look

/// One alert as a Slack message: the fallback `text`, the top-level
/// `blocks` (header and summary) and one coloured attachment (fields,
/// reasoning, context).
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// The notification fallback (mrkdwn, escaped); never empty.
    pub text: String,
    /// Header and summary.
    pub blocks: Vec<Value>,
    /// One attachment: `{color, blocks}`, the colour bar carrying the details.
    pub attachments: Vec<Value>,
}

/// The severity shown: the classification's, else the `severity` label when
/// it is `critical`, `warning`, `info` or `noise` (any case), else warning.
pub fn severity(alert: &EnrichedAlert) -> Severity {
    if let Some(c) = &alert.classification {
        return c.severity;
    }
    match alert
        .alert
        .label("severity")
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("critical") => Severity::Critical,
        Some("info") => Severity::Info,
        Some("noise") => Severity::Noise,
        _ => Severity::Warning,
    }
}

/// The attachment colour: green when resolved, else by severity.
pub fn color(alert: &EnrichedAlert) -> &'static str {
    if !alert.alert.is_firing() {
        return COLOR_RESOLVED;
    }
    match severity(alert) {
        Severity::Critical => COLOR_CRITICAL,
        Severity::Warning => COLOR_WARNING,
        Severity::Info | Severity::Noise => COLOR_INFO,
    }
}

fn emoji(alert: &EnrichedAlert) -> &'static str {
    if !alert.alert.is_firing() {
        return ":white_check_mark:";
    }
    match severity(alert) {
        Severity::Critical => ":rotating_light:",
        Severity::Warning => ":warning:",
        Severity::Info | Severity::Noise => ":information_source:",
    }
}

fn status_word(alert: &EnrichedAlert) -> &'static str {
    if alert.alert.is_firing() {
        "FIRING"
    } else {
        "RESOLVED"
    }
}

/// Builds the look of an alert, within every Block Kit limit whatever the
/// alert holds.
pub fn look(alert: &EnrichedAlert) -> Look {
    let a = &alert.alert;
    let status = status_word(alert);
    let name = a.name();

    // Header: "<emoji> <name> — FIRING", the name cut so the status survives.
    let prefix = format!("{} ", emoji(alert));
    let suffix = format!(" — {status}");
    let budget = HEADER_MAX - units(&prefix) - units(&suffix);
    let header = format!("{prefix}{}{suffix}", cut(&one_line(name), budget));

    // Summary (bold) and description, when it says more.
    let summary = a.summary();
    let mut summary_text = format!("*{}*", escape_cut(&one_line(summary), 1000));
    if let Some(desc) = a
        .annotation("description")
        .filter(|d| !d.is_empty() && *d != summary)
    {
        summary_text.push('\n');
        let left = SECTION_TEXT_MAX - units(&summary_text);
        summary_text.push_str(&escape_cut(desc, left));
    }

    let text = if summary == name {
        escape_cut(&format!("{name} — {status}"), TEXT_MAX)
    } else {
        escape_cut(&format!("{name} — {status}: {summary}"), TEXT_MAX)
    };

    let blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": summary_text}}),
    ];

    let mut details = vec![json!({"type": "section", "fields": fields(alert)})];
    if let Some(c) = &alert.classification
        && !c.reasoning.trim().is_empty()
    {
        let head = "*Reasoning*\n";
        let body = escape_cut(c.reasoning.trim(), SECTION_TEXT_MAX - units(head));
        details.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("{head}{body}")}}),
        );
    }
    details.push(json!({"type": "context", "elements": context(alert)}));
    details.truncate(MAX_BLOCKS);

    Look {
        text,
        blocks,
        attachments: vec![json!({"color": color(alert), "blocks": details})],
    }
}

fn field(title: &str, value: String) -> Value {
    let head = format!("*{title}*\n");
    let body = cut(&value, FIELD_TEXT_MAX - units(&head));
    json!({"type": "mrkdwn", "text": format!("{head}{body}")})
}

/// Severity, namespace, started (and ended), classification, recommendations:
/// at most six, well under Slack's ten.
fn fields(alert: &EnrichedAlert) -> Vec<Value> {
    let a = &alert.alert;
    let mut out = vec![field("Severity", severity(alert).as_str().to_string())];
    if let Some(ns) = a.label("namespace").filter(|n| !n.is_empty()) {
        out.push(field("Namespace", escape_cut(&one_line(ns), 200)));
    }
    out.push(field("Started", escape_cut(&a.starts_at, 64)));
    if !a.is_firing()
        && let Some(end) = a.ends_at.as_deref().filter(|e| !e.is_empty())
    {
        out.push(field("Ended", escape_cut(end, 64)));
    }
    if let Some(c) = &alert.classification {
        out.push(field(
            "Classification",
            format!(
                "{} ({} confidence)",
                c.severity.as_str(),
                percent(c.confidence)
            ),
        ));
        let recs: Vec<String> = c
            .recommendations
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
            .take(MAX_RECOMMENDATIONS)
            .enumerate()
            .map(|(i, r)| format!("{}. {}", i + 1, escape_cut(&one_line(r), 500)))
            .collect();
        if !recs.is_empty() {
            out.push(field("Recommendations", recs.join("\n")));
        }
    }
    out.truncate(MAX_FIELDS);
    out
}

fn percent(confidence: f64) -> String {
    if confidence.is_finite() {
        format!("{}%", (confidence.clamp(0.0, 1.0) * 100.0).round() as u32)
    } else {
        "unknown".to_string()
    }
}

/// "Fingerprint `…`" and, for an http(s) generator URL that fits, a link to it.
fn context(alert: &EnrichedAlert) -> Vec<Value> {
    let a = &alert.alert;
    let fp = escape_cut(&one_line(&a.fingerprint), 128).replace('`', "'");
    let mut out = vec![json!({"type": "mrkdwn", "text": format!("Fingerprint `{fp}`")})];
    if let Some(url) = a
        .generator_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        let text = if url.starts_with("https://") || url.starts_with("http://") {
            let link = format!("<{}|Source>", link_target(url));
            if units(&link) <= CONTEXT_TEXT_MAX {
                link
            } else {
                "Source URL too long to link".to_string()
            }
        } else {
            format!("Source: {}", escape_cut(url, CONTEXT_TEXT_MAX - 8))
        };
        out.push(json!({"type": "mrkdwn", "text": text}));
    }
    out
}

/// A URL made safe inside `<url|label>`: `&` escaped as Slack asks, and the
/// characters that would end the link percent-encoded.
fn link_target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for ch in url.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '|' => out.push_str("%7C"),
            c if c.is_whitespace() => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}

/// Length as Slack may count it: UTF-16 code units (never fewer than chars).
pub fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// At most `max` UTF-16 units; when cut, it ends in `…`.
fn cut(s: &str, max: usize) -> String {
    if units(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        if used + ch.len_utf16() + 1 > max {
            break;
        }
        used += ch.len_utf16();
        out.push(ch);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// Escapes `&`, `<` and `>` for mrkdwn and cuts to at most `max` UTF-16
/// units without splitting an escape; when cut, it ends in `…`.
fn escape_cut(s: &str, max: usize) -> String {
    let escaped: Vec<(char, &str)> = s
        .chars()
        .map(|c| match c {
            '&' => (c, "&amp;"),
            '<' => (c, "&lt;"),
            '>' => (c, "&gt;"),
            _ => (c, ""),
        })
        .collect();
    let piece_units = |(c, esc): &(char, &str)| {
        if esc.is_empty() {
            c.len_utf16()
        } else {
            esc.len()
        }
    };
    let total: usize = escaped.iter().map(piece_units).sum();
    let mut out = String::new();
    let mut used = 0;
    for piece in &escaped {
        let n = piece_units(piece);
        if total > max && used + n + 1 > max {
            out.push('…');
            return out;
        }
        used += n;
        match piece {
            (c, "") => out.push(*c),
            (_, esc) => out.push_str(esc),
        }
    }
    out
}

/// Newlines and tabs as spaces (for headers, names, single-line fields).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

// ---------------------------------------------------------------------------
// Bodies and requests

fn message(look: &Look) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("text".into(), Value::String(look.text.clone()));
    m.insert("blocks".into(), Value::Array(look.blocks.clone()));
    m.insert("attachments".into(), Value::Array(look.attachments.clone()));
    m
}

/// The incoming-webhook body: `{text, blocks, attachments}`.
pub fn webhook_body(look: &Look) -> Value {
    Value::Object(message(look))
}

/// The `chat.postMessage` body: `{channel, text, blocks, attachments, thread_ts?}`.
pub fn post_body(channel: &str, look: &Look, thread_ts: Option<&str>) -> Value {
    let mut m = message(look);
    m.insert("channel".into(), Value::String(channel.to_string()));
    if let Some(ts) = thread_ts {
        m.insert("thread_ts".into(), Value::String(ts.to_string()));
    }
    Value::Object(m)
}

/// The `chat.update` body: `{channel, ts, text, blocks, attachments}`.
pub fn update_body(channel: &str, ts: &str, look: &Look) -> Value {
    let mut m = message(look);
    m.insert("channel".into(), Value::String(channel.to_string()));
    m.insert("ts".into(), Value::String(ts.to_string()));
    Value::Object(m)
}

/// The operator's headers, minus those the adapter sets itself.
fn operator_headers(target: &Target) -> Vec<(String, String)> {
    target
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
        .cloned()
        .collect()
}

/// `POST` of a message to the secret webhook URL.
pub fn webhook_request(webhook_url: &str, target: &Target, look: &Look) -> HttpRequest {
    json_request(
        "POST",
        webhook_url.to_string(),
        "application/json",
        &target.headers,
        &webhook_body(look),
    )
}

/// `POST {base}/api/{method}` with the bearer token and a JSON body.
pub fn api_request(bot: &Bot, target: &Target, method: &str, body: &Value) -> HttpRequest {
    let mut headers = vec![("authorization".to_string(), format!("Bearer {}", bot.token))];
    headers.extend(operator_headers(target));
    json_request(
        "POST",
        join_url(&bot.api_base, &format!("api/{method}")),
        "application/json; charset=utf-8",
        &headers,
        body,
    )
}

/// The health probe: bot mode asks `auth.test` with the token, which checks
/// reachability and the token without posting anything. Webhook mode has no
/// safe probe (every `POST` to an incoming webhook posts a message, and a
/// `GET` says nothing about it), so it gets `None`; so does a target whose
/// configuration is invalid.
///
/// Note that `auth.test` answers HTTP 200 even for a bad token
/// (`{"ok":false,"error":"invalid_auth"}`), so the probe proves reachability;
/// a bad token shows up as a permanent delivery error.
pub fn health_probe(target: &Target) -> Option<HttpRequest> {
    match Config::from_target(target).ok()? {
        Config::Webhook { .. } => None,
        Config::Bot(bot) => {
            let mut headers = vec![("authorization".to_string(), format!("Bearer {}", bot.token))];
            headers.extend(
                operator_headers(target)
                    .into_iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type")),
            );
            headers.push((
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ));
            Some(HttpRequest {
                method: "POST".to_string(),
                url: join_url(&bot.api_base, "api/auth.test"),
                headers,
                body: Vec::new(),
            })
        }
    }
}
