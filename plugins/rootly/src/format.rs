//! Building Rootly requests: the target's settings, the JSON:API bodies for
//! alerts and incidents, and the choice of the request for a delivery given
//! what was remembered for (target, fingerprint).
//!
//! Everything here is a function of its arguments (and, for [`prepare`], of
//! the state passed in), so it is tested natively with `MemoryState`.
//!
//! Limits and choices (see also `TARGETS.md`, "Rootly"):
//!
//! - the alert `summary` / incident `title` is cut to [`SUMMARY_MAX_CHARS`]
//!   characters (ending in `…` when cut);
//! - the alert `description` / incident `summary` is cut to
//!   [`DETAILS_MAX_CHARS`] characters; the classification is appended to it
//!   (never cut off: the free text before it is shortened first);
//! - `labels` are sent sorted by key, so the body does not depend on the
//!   order labels arrive in;
//! - ids are remembered for [`ID_TTL_SECONDS`] (30 days), refreshed on every
//!   firing.

use herald_plugin_sdk::serde_json::{Map, Value, json};
use herald_plugin_sdk::{
    Action, Alert, AlertExt, Classification, EnrichedAlert, Error, HttpRequest, Severity, State,
    Target, TargetExt, check_base_url, join_url, truncate_chars,
};

/// The JSON:API media type, for both `Content-Type` and `Accept`.
pub const JSON_API: &str = "application/vnd.api+json";

/// The `source` attribute of every alert Herald creates.
pub const SOURCE: &str = "alertmanager";

/// Longest alert `summary` / incident `title`, in characters. Rootly shows it
/// as a one-line title; 1024 matches the limit PagerDuty puts on its summary,
/// so an alert reads the same in both.
pub const SUMMARY_MAX_CHARS: usize = 1024;

/// Longest alert `description` / incident `summary`, in characters
/// (classification included).
pub const DETAILS_MAX_CHARS: usize = 10_000;

/// Longest classification `reasoning` copied into the details, in characters.
pub const REASONING_MAX_CHARS: usize = 1_000;

/// How many classification recommendations are copied into the details.
pub const MAX_RECOMMENDATIONS: usize = 5;

/// Longest single recommendation copied into the details, in characters.
pub const RECOMMENDATION_MAX_CHARS: usize = 200;

/// How long a Rootly id is remembered: 30 days, refreshed on every firing.
/// An alert still open after that can no longer be resolved from Herald.
pub const ID_TTL_SECONDS: u32 = 30 * 24 * 60 * 60;

/// State key of the Rootly alert id in `alerts` mode.
pub const ALERT_ID_KEY: &str = "id";

/// State key of the Rootly incident id in `incidents` mode. A different key
/// from [`ALERT_ID_KEY`], so switching a target's mode never sends an alert id
/// to the incidents API or the other way round.
pub const INCIDENT_ID_KEY: &str = "incident_id";

/// The options a `rootly` target accepts.
pub const OPTIONS: &[&str] = &[
    "mode",
    "service_ids",
    "group_ids",
    "environment_ids",
    "alert_urgency_id",
];

/// The secrets a `rootly` target accepts.
pub const SECRETS: &[&str] = &["api_key"];

/// What Herald creates in Rootly for a firing alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `POST /v1/alerts`, resolved with `POST /v1/alerts/{id}/resolve` (the default).
    Alerts,
    /// `POST /v1/incidents`, resolved with `PATCH /v1/incidents/{id}`.
    Incidents,
}

impl Mode {
    /// The state key the Rootly id is remembered under.
    pub fn state_key(self) -> &'static str {
        match self {
            Mode::Alerts => ALERT_ID_KEY,
            Mode::Incidents => INCIDENT_ID_KEY,
        }
    }

    /// `alert` or `incident`, for notes and messages.
    pub fn noun(self) -> &'static str {
        match self {
            Mode::Alerts => "alert",
            Mode::Incidents => "incident",
        }
    }
}

/// A `rootly` target's configuration, parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings<'a> {
    /// The target's `url`, normally `https://api.rootly.com`; paths are joined to it.
    pub base: &'a str,
    /// The bearer token. Never put it in a message.
    api_key: &'a str,
    pub mode: Mode,
    /// `options.service_ids`: attached to every alert or incident.
    pub service_ids: Vec<&'a str>,
    /// `options.group_ids` (Rootly teams).
    pub group_ids: Vec<&'a str>,
    /// `options.environment_ids`.
    pub environment_ids: Vec<&'a str>,
    /// `options.alert_urgency_id`; alerts mode only (incidents have no urgency).
    pub alert_urgency_id: Option<&'a str>,
}

impl<'a> Settings<'a> {
    /// Reads and checks a target; the error names the offending field.
    pub fn from_target(target: &'a Target) -> Result<Self, String> {
        target.check_options(OPTIONS)?;
        target.check_secrets(SECRETS)?;
        check_base_url("url", &target.url)?;
        if target.url.contains(['?', '#']) {
            return Err("`url` must not have a query or fragment; Rootly targets take the API base, e.g. https://api.rootly.com".to_string());
        }
        let path = target
            .url
            .split_once("://")
            .and_then(|(_, rest)| rest.split_once('/'))
            .map_or("", |(_, path)| path.trim_end_matches('/'));
        if path == "v1" || path.ends_with("/v1") {
            return Err("`url` ends in /v1; give the API base without the version, e.g. https://api.rootly.com".to_string());
        }
        let api_key = target.require_secret(
            "api_key",
            "Rootly targets need an API key (Organization Settings > API Keys), sent as a bearer token",
        )?;
        if api_key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(
                "`secrets.api_key` contains whitespace or control characters; give the key alone"
                    .to_string(),
            );
        }
        let mode = match target.option("mode") {
            None | Some("alerts") => Mode::Alerts,
            Some("incidents") => Mode::Incidents,
            Some(other) => {
                return Err(format!(
                    "`options.mode` must be `alerts` or `incidents`, not `{other}`"
                ));
            }
        };
        let alert_urgency_id = target.option("alert_urgency_id").map(str::trim);
        if let Some(id) = alert_urgency_id {
            if mode == Mode::Incidents {
                return Err("`options.alert_urgency_id` only applies to `mode = alerts`; Rootly incidents have no urgency".to_string());
            }
            check_id("alert_urgency_id", id)?;
        }
        Ok(Settings {
            base: &target.url,
            api_key,
            mode,
            service_ids: id_list(target, "service_ids")?,
            group_ids: id_list(target, "group_ids")?,
            environment_ids: id_list(target, "environment_ids")?,
            alert_urgency_id,
        })
    }

    /// A request to `path` under the base URL, with the JSON:API and bearer
    /// headers, then the target's own headers (except those three, which the
    /// adapter owns).
    pub fn request(
        &self,
        target: &Target,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> HttpRequest {
        let mut headers = Vec::with_capacity(3 + target.headers.len());
        if body.is_some() {
            headers.push(("content-type".to_string(), JSON_API.to_string()));
        }
        headers.push(("accept".to_string(), JSON_API.to_string()));
        headers.push((
            "authorization".to_string(),
            format!("Bearer {}", self.api_key),
        ));
        headers.extend(
            target
                .headers
                .iter()
                .filter(|(k, _)| {
                    !["content-type", "accept", "authorization"]
                        .iter()
                        .any(|r| k.eq_ignore_ascii_case(r))
                })
                .cloned(),
        );
        HttpRequest {
            method: method.to_string(),
            url: join_url(self.base, path),
            headers,
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        }
    }
}

/// Parses a comma-separated list of Rootly ids; blanks between commas are
/// ignored, but a set option must name at least one id.
fn id_list<'a>(target: &'a Target, key: &str) -> Result<Vec<&'a str>, String> {
    let Some(raw) = target.option(key) else {
        return Ok(Vec::new());
    };
    let ids: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(format!(
            "`options.{key}` names no ids; give a comma-separated list of Rootly ids"
        ));
    }
    for id in &ids {
        check_id(key, id)?;
    }
    Ok(ids)
}

fn check_id(key: &str, id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err(format!("`options.{key}` is empty"));
    }
    if id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        return Err(format!(
            "`options.{key}` has an id with whitespace or quotes (`{id}`); separate ids with commas"
        ));
    }
    Ok(())
}

/// Checks a target without building anything (for `validate-target`).
pub fn validate_target(target: &Target) -> Result<(), String> {
    Settings::from_target(target).map(|_| ())
}

/// The health probe: `GET {url}/v1/users/me` with the bearer token.
///
/// It is read-only and needs nothing but a valid key, so a 2xx proves both
/// that Rootly is reachable and that the key works (a revoked key shows up as
/// 401 before an alert is lost to it). `None` when the target is misconfigured.
pub fn health_probe(target: &Target) -> Option<HttpRequest> {
    let settings = Settings::from_target(target).ok()?;
    Some(settings.request(target, "GET", "v1/users/me", None))
}

/// Chooses the first (and only) request of a delivery, or finishes at once.
///
/// - alerts mode, firing: `POST /v1/alerts`, also when an id is remembered
///   (a repeated firing). Rootly deduplicates by `deduplication_key` (the
///   fingerprint), so sending again opens nothing new but carries updated
///   annotations and classification; the remembered id is kept (and
///   replaced by the reply's id if Rootly answers with another alert).
/// - incidents mode, firing with a remembered id: skipped, `already open as
///   Rootly incident <id>`: incidents are not deduplicated, so posting again
///   would open a second incident. The id's lifetime is refreshed.
/// - resolved with a remembered id: resolve it; without one: skipped with
///   "nothing to resolve: ...", never an error.
pub fn prepare(
    alert: &EnrichedAlert,
    target: &Target,
    state: &mut impl State,
) -> Result<Action, Error> {
    let settings = Settings::from_target(target).map_err(Error::permanent)?;
    let key = settings.mode.state_key();
    let remembered = state.get(key).filter(|id| !id.is_empty());
    let action = match (settings.mode, alert.alert.is_firing(), remembered) {
        (Mode::Alerts, true, _) => Action::Send(settings.request(
            target,
            "POST",
            "v1/alerts",
            Some(&alert_body(alert, &settings)),
        )),
        (Mode::Incidents, true, Some(id)) => {
            state.set(key, &id, ID_TTL_SECONDS);
            Action::skipped(format!(
                "already open as Rootly incident {id}; not opening another"
            ))
        }
        (Mode::Incidents, true, None) => Action::Send(settings.request(
            target,
            "POST",
            "v1/incidents",
            Some(&incident_body(alert, &settings)),
        )),
        (mode, false, None) => Action::skipped(format!(
            "nothing to resolve: no Rootly {} remembered for this fingerprint",
            mode.noun()
        )),
        (Mode::Alerts, false, Some(id)) => Action::Send(settings.request(
            target,
            "POST",
            &format!("v1/alerts/{}/resolve", path_segment(&id)),
            Some(&alert_resolve_body(&alert.alert)),
        )),
        (Mode::Incidents, false, Some(id)) => Action::Send(settings.request(
            target,
            "PATCH",
            &format!("v1/incidents/{}", path_segment(&id)),
            Some(&incident_resolve_body()),
        )),
    };
    Ok(action)
}

/// The body of `POST /v1/alerts`.
pub fn alert_body(alert: &EnrichedAlert, settings: &Settings) -> Value {
    let a = &alert.alert;
    let mut attributes = Map::new();
    attributes.insert("source".into(), json!(SOURCE));
    attributes.insert("status".into(), json!("triggered"));
    attributes.insert("summary".into(), json!(summary(a)));
    attributes.insert("description".into(), json!(details(alert)));
    if !a.starts_at.is_empty() {
        attributes.insert("started_at".into(), json!(a.starts_at));
    }
    if let Some(ended) = a.ends_at.as_deref().filter(|s| !s.is_empty()) {
        attributes.insert("ended_at".into(), json!(ended));
    }
    attributes.insert("external_id".into(), json!(a.fingerprint));
    attributes.insert("deduplication_key".into(), json!(a.fingerprint));
    if let Some(url) = a.generator_url.as_deref().filter(|s| !s.is_empty()) {
        attributes.insert("external_url".into(), json!(url));
    }
    attributes.insert("labels".into(), labels(a));
    insert_ids(&mut attributes, settings);
    if let Some(id) = settings.alert_urgency_id {
        attributes.insert("alert_urgency_id".into(), json!(id));
    }
    json!({"data": {"type": "alerts", "attributes": attributes}})
}

/// The body of `POST /v1/alerts/{id}/resolve`: a resolution message saying
/// where the resolve came from (and when, if the alert says).
pub fn alert_resolve_body(alert: &Alert) -> Value {
    let message = match alert.ends_at.as_deref().filter(|s| !s.is_empty()) {
        Some(ended) => format!("Resolved in Alertmanager (ended at {ended})"),
        None => "Resolved in Alertmanager".to_string(),
    };
    json!({"data": {"type": "alerts", "attributes": {"resolution_message": message}}})
}

/// The body of `POST /v1/incidents`: `title`, `summary`, `severity` (a slug,
/// see [`severity_slug`]) and the configured service, group and environment
/// ids (Rootly incidents take the same three lists as alerts).
pub fn incident_body(alert: &EnrichedAlert, settings: &Settings) -> Value {
    let mut attributes = Map::new();
    attributes.insert("title".into(), json!(summary(&alert.alert)));
    attributes.insert("summary".into(), json!(details(alert)));
    attributes.insert("severity".into(), json!(severity_slug(alert)));
    insert_ids(&mut attributes, settings);
    json!({"data": {"type": "incidents", "attributes": attributes}})
}

/// The body of `PATCH /v1/incidents/{id}` that resolves it.
pub fn incident_resolve_body() -> Value {
    json!({"data": {"type": "incidents", "attributes": {"status": "resolved"}}})
}

fn insert_ids(attributes: &mut Map<String, Value>, settings: &Settings) {
    for (key, ids) in [
        ("service_ids", &settings.service_ids),
        ("group_ids", &settings.group_ids),
        ("environment_ids", &settings.environment_ids),
    ] {
        if !ids.is_empty() {
            attributes.insert(key.into(), json!(ids));
        }
    }
}

/// The alert's one-line summary (`summary`, `description` or `message`
/// annotation, else the alert name), cut to [`SUMMARY_MAX_CHARS`].
pub fn summary(alert: &Alert) -> String {
    truncate_chars(alert.summary(), SUMMARY_MAX_CHARS)
}

/// The labels as Rootly wants them: `[{key, value}]`, sorted by key.
pub fn labels(alert: &Alert) -> Value {
    let mut pairs: Vec<&(String, String)> = alert.labels.iter().collect();
    pairs.sort();
    Value::Array(
        pairs
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
}

/// The long text: the `description` annotation (else the summary), then the
/// `runbook_url` annotation, then the classification, separated by blank
/// lines, at most [`DETAILS_MAX_CHARS`] characters. When too long, the
/// description is cut, so the runbook and the classification always survive.
///
/// The classification reads:
///
/// ```text
/// Classification: critical (confidence 0.92)
/// Reasoning: latency SLO burn
/// Recommendations:
/// - scale out
/// - check db
/// ```
pub fn details(alert: &EnrichedAlert) -> String {
    let a = &alert.alert;
    let base = a
        .annotation("description")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| a.summary());
    let mut tail = Vec::new();
    if let Some(runbook) = a.annotation("runbook_url").filter(|s| !s.is_empty()) {
        tail.push(format!("Runbook: {}", truncate_chars(runbook, 500)));
    }
    if let Some(c) = &alert.classification {
        tail.push(classification_text(c));
    }
    if tail.is_empty() {
        return truncate_chars(base, DETAILS_MAX_CHARS);
    }
    let tail = tail.join("\n\n");
    let room = DETAILS_MAX_CHARS.saturating_sub(tail.chars().count() + 2);
    format!("{}\n\n{tail}", truncate_chars(base, room))
}

/// The classification as a few lines of text (see [`details`]).
pub fn classification_text(c: &Classification) -> String {
    let mut text = format!(
        "Classification: {} (confidence {:.2})",
        c.severity.as_str(),
        c.confidence
    );
    if !c.reasoning.trim().is_empty() {
        text.push_str("\nReasoning: ");
        text.push_str(&truncate_chars(c.reasoning.trim(), REASONING_MAX_CHARS));
    }
    let recommendations: Vec<&String> = c
        .recommendations
        .iter()
        .filter(|r| !r.trim().is_empty())
        .take(MAX_RECOMMENDATIONS)
        .collect();
    if !recommendations.is_empty() {
        text.push_str("\nRecommendations:");
        for r in recommendations {
            text.push_str("\n- ");
            text.push_str(&truncate_chars(r.trim(), RECOMMENDATION_MAX_CHARS));
        }
    }
    text
}

/// The incident severity slug, one of Rootly's default severities
/// `critical`, `high`, `medium`, `low`.
///
/// From the classification: critical→critical, warning→high, info→medium,
/// noise→low. Without one, from the `severity` label (ignoring case):
/// `critical`→critical; `high`, `error`, `warning`→high; `medium`,
/// `info`→medium; `low`, `noise`, `none`→low; anything else or no label→medium.
pub fn severity_slug(alert: &EnrichedAlert) -> &'static str {
    if let Some(c) = &alert.classification {
        return match c.severity {
            Severity::Critical => "critical",
            Severity::Warning => "high",
            Severity::Info => "medium",
            Severity::Noise => "low",
        };
    }
    let label = alert
        .alert
        .label("severity")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match label.as_str() {
        "critical" => "critical",
        "high" | "error" | "warning" => "high",
        "medium" | "info" => "medium",
        "low" | "noise" | "none" => "low",
        _ => "medium",
    }
}

/// Percent-encodes an id for use as one path segment (Rootly ids are UUIDs,
/// which pass unchanged; anything else cannot escape its segment).
pub fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
