//! Building PagerDuty Events API v2 events: checking a target, the `trigger`
//! and `resolve` bodies, the field choices, and the 512 KB size limit.
//!
//! Everything here is a pure function of the alert and the target. The
//! adapter keeps no state: the `dedup_key` is derived from the fingerprint,
//! so a resolve works even when the host has forgotten everything since the
//! trigger (a restart, an expired cache).
//!
//! Field choices (see `TARGETS.md`, "PagerDuty"):
//!
//! | event field             | taken from                                                             |
//! |-------------------------|------------------------------------------------------------------------|
//! | `dedup_key`             | the fingerprint ([`dedup_key`])                                        |
//! | `payload.summary`       | "`alertname`: summary annotation", at most 1024 characters ([`summary`]) |
//! | `payload.source`        | label `instance`, `job`, the generator URL's host, `herald` ([`source`]) |
//! | `payload.severity`      | classification, else the `severity` label, else `error` ([`severity`]) |
//! | `payload.timestamp`     | the alert's starts-at, when it is RFC 3339                             |
//! | `payload.component`     | label `service`, else `job`                                            |
//! | `payload.group`         | label `namespace`                                                      |
//! | `payload.class`         | label `alertname`                                                      |
//! | `payload.custom_details`| labels, annotations, classification, enrichment ([`custom_details`])   |
//! | `links`                 | annotations `runbook_url`, `dashboard_url`, `grafana_url`, generator URL |
//! | `client`, `client_url`  | `Herald`, the generator URL                                            |

use herald_plugin_sdk::serde_json::{Map, Value, json};
use herald_plugin_sdk::{
    AlertExt, EnrichedAlert, Error, HttpRequest, Severity, Target, TargetExt, check_base_url,
    join_url, json_request, truncate_chars,
};

/// The path of the Events API v2 endpoint under the target's base URL.
pub const ENQUEUE_PATH: &str = "v2/enqueue";
/// PagerDuty's limit on a whole event, in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// PagerDuty's limit on `payload.summary`, in characters.
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// PagerDuty's limit on `dedup_key`, in characters.
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// The length of an Events API v2 integration (routing) key.
pub const ROUTING_KEY_LEN: usize = 32;
/// What `custom_details` becomes when the event is too large with it.
pub const DETAILS_DROPPED_NOTE: &str = "custom_details dropped: event exceeded 512 KB";
/// What `custom_details` becomes when even that was not enough and long fields were cut.
pub const FIELDS_CUT_NOTE: &str =
    "custom_details dropped and long fields cut: event exceeded 512 KB";
/// In the last resort, the length every free-text payload field is cut to.
const CUT_FIELD_CHARS: usize = 255;
/// In the last resort, links and `client_url` longer than this are left out.
const CUT_URL_BYTES: usize = 2048;
/// The `client` PagerDuty shows as the event's sender.
const CLIENT: &str = "Herald";

/// Checks everything about a `pagerduty` target that is knowable up front.
///
/// The target's `url` is the Events API base: `https://events.pagerduty.com`,
/// or `https://events.eu.pagerduty.com` for accounts in the EU service
/// region. The kind takes no options; its one secret is `routing_key`.
pub fn validate_target(target: &Target) -> Result<(), String> {
    check_base_url("url", &target.url)?;
    if target
        .url
        .trim_end_matches('/')
        .ends_with(&format!("/{ENQUEUE_PATH}"))
    {
        return Err(format!(
            "`url` is the Events API base (e.g. https://events.pagerduty.com), \
             without `/{ENQUEUE_PATH}`: Herald adds the path itself"
        ));
    }
    target.check_options(&[])?;
    target.check_secrets(&["routing_key"])?;
    routing_key(target)?;
    Ok(())
}

/// The target's integration key, checked: present, 32 ASCII letters and digits.
///
/// The message never contains the key itself.
pub fn routing_key(target: &Target) -> Result<&str, String> {
    let key = target.require_secret(
        "routing_key",
        "PagerDuty targets need their 32-character integration key",
    )?;
    let len = key.chars().count();
    if len != ROUTING_KEY_LEN {
        return Err(format!(
            "`secrets.routing_key` has {len} characters; a PagerDuty integration key has \
             exactly {ROUTING_KEY_LEN} (copy it from the service's Events API v2 integration)"
        ));
    }
    if !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(
            "`secrets.routing_key` must contain only letters and digits; \
             check it for stray spaces or quotes"
                .to_string(),
        );
    }
    Ok(key)
}

/// The `dedup_key` for an alert: its fingerprint.
///
/// A fingerprint longer than PagerDuty's 255-character limit (only possible
/// when a client supplies its own) is shortened deterministically, to its
/// first 200 characters, `-`, and a 64-bit FNV-1a hash of the whole in hex,
/// so trigger and resolve still agree.
pub fn dedup_key(fingerprint: &str) -> String {
    if fingerprint.chars().count() <= MAX_DEDUP_KEY_CHARS {
        return fingerprint.to_string();
    }
    let head: String = fingerprint.chars().take(200).collect();
    format!("{head}-{:016x}", fnv1a64(fingerprint.as_bytes()))
}

/// The 64-bit FNV-1a hash: tiny, stable, good enough to keep long keys apart.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The PagerDuty severity for an alert.
///
/// With a classification: critical→`critical`, warning→`warning`,
/// info→`info`, noise→`info`. Without one: the `severity` label when it is
/// one of `critical`, `error`, `warning`, `info` (ignoring case), otherwise
/// `error`.
pub fn severity(alert: &EnrichedAlert) -> &'static str {
    if let Some(c) = &alert.classification {
        return match c.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info | Severity::Noise => "info",
        };
    }
    let label = alert.alert.label("severity").unwrap_or("");
    ["critical", "error", "warning", "info"]
        .into_iter()
        .find(|s| label.eq_ignore_ascii_case(s))
        .unwrap_or("error")
}

/// `payload.source`: where the problem is.
///
/// *Choice:* the `instance` label (the scraped host:port, the most specific
/// place), then the `job` label, then the host (and port) of the generator URL
/// (the Prometheus that raised it), then `herald` so the required field is
/// never empty.
pub fn source(alert: &EnrichedAlert) -> String {
    let a = &alert.alert;
    non_empty(a.label("instance"))
        .or_else(|| non_empty(a.label("job")))
        .map(str::to_string)
        .or_else(|| a.generator_url.as_deref().and_then(url_host))
        .unwrap_or_else(|| "herald".to_string())
}

/// The authority of an absolute URL without user info (`host` or `host:port`).
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_string())
}

/// `payload.summary`: "`alertname`: summary" (just the summary when it is
/// the alert name already), cut to 1024 characters ending in `…`.
///
/// The summary is the `summary`, `description` or `message` annotation.
pub fn summary(alert: &EnrichedAlert) -> String {
    let a = &alert.alert;
    let text = a.summary();
    let full = match a.label("alertname").filter(|n| !n.is_empty()) {
        Some(name) if name != text => format!("{name}: {text}"),
        _ => text.to_string(),
    };
    truncate_chars(&full, MAX_SUMMARY_CHARS)
}

/// `payload.custom_details`: what an on-call engineer wants at hand.
///
/// `labels` and `annotations` as objects; `classification` (severity,
/// confidence, reasoning, recommendations, and metadata when any) when the
/// alert was classified; `enrichment` as JSON when it parses, as text
/// otherwise.
pub fn custom_details(alert: &EnrichedAlert) -> Value {
    let mut details = Map::new();
    details.insert("labels".into(), pairs_object(&alert.alert.labels));
    details.insert("annotations".into(), pairs_object(&alert.alert.annotations));
    if let Some(c) = &alert.classification {
        let mut class = Map::new();
        class.insert("severity".into(), json!(c.severity.as_str()));
        class.insert("confidence".into(), json!(c.confidence));
        class.insert("reasoning".into(), json!(c.reasoning));
        class.insert("recommendations".into(), json!(c.recommendations));
        if !c.metadata.is_empty() {
            class.insert("metadata".into(), pairs_object(&c.metadata));
        }
        details.insert("classification".into(), Value::Object(class));
    }
    if let Some(text) = alert.enrichment.as_deref().filter(|t| !t.trim().is_empty()) {
        let value = herald_plugin_sdk::serde_json::from_str::<Value>(text)
            .unwrap_or_else(|_| Value::String(text.to_string()));
        details.insert("enrichment".into(), value);
    }
    Value::Object(details)
}

/// Event `links`: the runbook, the dashboard(s) and the generator URL, in
/// that order, each once, skipping empty ones.
pub fn links(alert: &EnrichedAlert) -> Vec<Value> {
    let a = &alert.alert;
    let candidates = [
        (a.annotation("runbook_url"), "Runbook"),
        (a.annotation("dashboard_url"), "Dashboard"),
        (a.annotation("grafana_url"), "Grafana"),
        (a.generator_url.as_deref(), "Source"),
    ];
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (href, text) in candidates {
        let Some(href) = non_empty(href.map(str::trim)) else {
            continue;
        };
        if seen.contains(&href) {
            continue;
        }
        seen.push(href);
        out.push(json!({ "href": href, "text": text }));
    }
    out
}

/// How much a trigger event had to give up to fit in 512 KB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shrink {
    /// The event fit as it was.
    None,
    /// `custom_details` was replaced by a note.
    DetailsDropped,
    /// `custom_details` was replaced and the summary, source, component,
    /// group and class were cut to 255 characters; over-long links and
    /// `client_url` were left out.
    FieldsCut,
}

impl Shrink {
    /// A line for the log, when anything was given up.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Shrink::None => None,
            Shrink::DetailsDropped => Some(DETAILS_DROPPED_NOTE),
            Shrink::FieldsCut => Some(FIELDS_CUT_NOTE),
        }
    }
}

/// The `trigger` event for a firing alert, made to fit in [`MAX_EVENT_BYTES`].
///
/// When the whole event is too large, `custom_details` is replaced by
/// `{"note": "custom_details dropped: event exceeded 512 KB"}`. If it is
/// still too large (huge label values or URLs), the summary is cut further
/// along with the other free-text fields, and over-long links are left out.
pub fn trigger_event(alert: &EnrichedAlert, routing_key: &str) -> (Value, Shrink) {
    let a = &alert.alert;
    let mut payload = Map::new();
    payload.insert("summary".into(), json!(summary(alert)));
    payload.insert("source".into(), json!(source(alert)));
    payload.insert("severity".into(), json!(severity(alert)));
    if looks_like_rfc3339(&a.starts_at) {
        payload.insert("timestamp".into(), json!(a.starts_at));
    }
    let component = non_empty(a.label("service")).or_else(|| non_empty(a.label("job")));
    let fields = [
        ("component", component),
        ("group", non_empty(a.label("namespace"))),
        ("class", non_empty(a.label("alertname"))),
    ];
    for (key, value) in fields {
        if let Some(v) = value {
            payload.insert(key.into(), json!(v));
        }
    }
    payload.insert("custom_details".into(), custom_details(alert));

    let mut event = Map::new();
    event.insert("routing_key".into(), json!(routing_key));
    event.insert("event_action".into(), json!("trigger"));
    event.insert("dedup_key".into(), json!(dedup_key(&a.fingerprint)));
    event.insert("payload".into(), Value::Object(payload));
    let links = links(alert);
    if !links.is_empty() {
        event.insert("links".into(), Value::Array(links));
    }
    event.insert("client".into(), json!(CLIENT));
    if let Some(url) = non_empty(a.generator_url.as_deref()) {
        event.insert("client_url".into(), json!(url));
    }
    let mut event = Value::Object(event);

    if fits(&event) {
        return (event, Shrink::None);
    }
    event["payload"]["custom_details"] = json!({ "note": DETAILS_DROPPED_NOTE });
    if fits(&event) {
        return (event, Shrink::DetailsDropped);
    }
    cut_fields(&mut event);
    (event, Shrink::FieldsCut)
}

/// The last resort: bounds every field that can still be large, so the event
/// is at most a few tens of KB whatever the alert holds.
fn cut_fields(event: &mut Value) {
    event["payload"]["custom_details"] = json!({ "note": FIELDS_CUT_NOTE });
    if let Some(payload) = event["payload"].as_object_mut() {
        for key in ["summary", "source", "component", "group", "class"] {
            if let Some(Value::String(s)) = payload.get_mut(key) {
                *s = truncate_chars(s, CUT_FIELD_CHARS);
            }
        }
    }
    let Some(obj) = event.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(links)) = obj.get_mut("links") {
        links.retain(|l| l["href"].as_str().is_some_and(|h| h.len() <= CUT_URL_BYTES));
        if links.is_empty() {
            obj.remove("links");
        }
    }
    if obj
        .get("client_url")
        .and_then(Value::as_str)
        .is_some_and(|u| u.len() > CUT_URL_BYTES)
    {
        obj.remove("client_url");
    }
}

fn fits(event: &Value) -> bool {
    event.to_string().len() <= MAX_EVENT_BYTES
}

/// The `resolve` event: only the routing key, the action and the `dedup_key`.
pub fn resolve_event(alert: &EnrichedAlert, routing_key: &str) -> Value {
    json!({
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": dedup_key(&alert.alert.fingerprint),
    })
}

/// The request for an alert: `POST {url}/v2/enqueue` with the event, the
/// target's headers verbatim, and how much the event had to shrink.
///
/// A target whose routing key is missing or malformed is a `permanent`
/// error (validation should have caught it earlier).
pub fn request(alert: &EnrichedAlert, target: &Target) -> Result<(HttpRequest, Shrink), Error> {
    let key = routing_key(target).map_err(Error::permanent)?;
    let (event, shrink) = if alert.alert.is_firing() {
        trigger_event(alert, key)
    } else {
        (resolve_event(alert, key), Shrink::None)
    };
    let url = join_url(&target.url, ENQUEUE_PATH);
    let request = json_request("POST", url, "application/json", &target.headers, &event);
    Ok((request, shrink))
}

/// A JSON object from ordered pairs (a later duplicate key wins).
fn pairs_object(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.trim().is_empty())
}

/// Whether `s` has the shape of an RFC 3339 date-time that is set
/// (`YYYY-MM-DDTHH:MM:SS...`, not Alertmanager's zero time `0001-01-01...`),
/// so PagerDuty is never handed a timestamp it would reject.
pub fn looks_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && !s.starts_with("0001-")
}
