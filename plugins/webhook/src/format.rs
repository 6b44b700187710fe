//! What a webhook target is sent: the target's configuration checked, the
//! JSON body in either shape (Herald's own or Alertmanager's v4 payload), the
//! optional HMAC signature, and the health probe.
//!
//! Everything here is a pure function of the alert, the target and — for
//! signing — the current Unix time, which the caller passes in.
//!
//! Bodies are typed structs rather than `serde_json::json!` values so their
//! field order is fixed by the declarations below (labels and annotations are
//! sorted maps) whatever features `serde_json` is built with: a signed body
//! must be byte-for-byte reproducible.

use std::collections::BTreeMap;

use herald_plugin_sdk::serde_json::{self, Value};
use herald_plugin_sdk::{
    AlertExt, Classification, EnrichedAlert, HttpRequest, Target, TargetExt, check_base_url, lookup,
};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// Options a webhook target accepts.
pub const KNOWN_OPTIONS: &[&str] = &["format", "external_url", "health_path"];
/// Secrets a webhook target accepts.
pub const KNOWN_SECRETS: &[&str] = &["signing_secret"];

/// Header carrying the Unix time (seconds) the signature was made at.
pub const TIMESTAMP_HEADER: &str = "x-herald-timestamp";
/// Header carrying `sha256=<hex HMAC-SHA256 of "timestamp.body">`.
pub const SIGNATURE_HEADER: &str = "x-herald-signature";

/// `endsAt` in Alertmanager's payload when no end is known (Go's zero time).
pub const AM_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Header names the adapter owns. The operator may not set them: framing and
/// routing belong to the host, `Content-Type` is always JSON, and
/// `X-Herald-*` must only ever come from Herald's own signing so a receiver
/// can trust them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
];

/// Which JSON shape the target receives (`options.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Herald's own body (`version: "1"`), the default.
    Herald,
    /// Alertmanager's webhook payload, version 4, one alert per body.
    Alertmanager,
}

impl Format {
    /// Reads `options.format`; absent means [`Format::Herald`].
    pub fn of(target: &Target) -> Result<Self, String> {
        match target.option("format") {
            None | Some("herald") => Ok(Format::Herald),
            Some("alertmanager") => Ok(Format::Alertmanager),
            Some(other) => Err(format!(
                "`options.format` must be `herald` or `alertmanager`, not `{other}`"
            )),
        }
    }
}

/// Checks everything about a webhook target that can be known before sending.
pub fn validate(target: &Target) -> Result<(), String> {
    check_base_url("url", &target.url)?;
    target.check_options(KNOWN_OPTIONS)?;
    target.check_secrets(KNOWN_SECRETS)?;
    let format = Format::of(target)?;
    if let Some(external) = target.option("external_url") {
        if format != Format::Alertmanager {
            return Err(
                "`options.external_url` only applies with `format = \"alertmanager\"` \
                 (it fills the payload's `externalURL`); remove it or set the format"
                    .to_string(),
            );
        }
        check_base_url("options.external_url", external)?;
    }
    if let Some(path) = target.option("health_path") {
        check_health_path(path)?;
    }
    if lookup(&target.secrets, "signing_secret").is_some_and(str::is_empty) {
        return Err(
            "`secrets.signing_secret` is empty; set it to the key receivers verify \
                    `X-Herald-Signature` with, or remove it to send unsigned"
                .to_string(),
        );
    }
    for (name, value) in &target.headers {
        check_header(name, value)?;
    }
    Ok(())
}

fn check_health_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.starts_with("//") {
        return Err(format!(
            "`options.health_path` must be a path on the target's own origin starting with \
             one `/` (e.g. `/healthz`), not `{path}`"
        ));
    }
    if path.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#') {
        return Err(
            "`options.health_path` contains whitespace, a control character or a `#`".to_string(),
        );
    }
    Ok(())
}

/// RFC 9110 `tchar`: the characters allowed in a header name.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() || !name.chars().all(is_tchar) {
        return Err(format!(
            "`headers.{name}` is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(format!(
            "`headers.{name}` cannot be set on a webhook target: Herald sets it itself"
        ));
    }
    if lower.starts_with("x-herald-") {
        return Err(format!(
            "`headers.{name}` cannot be set: `X-Herald-*` headers are reserved for Herald's \
             signing (set `secrets.signing_secret` instead)"
        ));
    }
    // Only the value's shape is named, never the value: it may be a token.
    if value.chars().any(|c| c != '\t' && c.is_control()) {
        return Err(format!(
            "`headers.{name}` has a control character (such as a line break) in its value"
        ));
    }
    Ok(())
}

/// The operator's headers that go on every request, verbatim and in order,
/// minus any the adapter owns (see [`validate`], which rejects them up front).
fn operator_headers(target: &Target) -> impl Iterator<Item = &(String, String)> {
    target.headers.iter().filter(|(name, _)| {
        let lower = name.to_ascii_lowercase();
        !RESERVED_HEADERS.contains(&lower.as_str()) && !lower.starts_with("x-herald-")
    })
}

/// The delivery request: `POST {url}` with the body for the target's format,
/// `Content-Type: application/json`, the target's headers, and the signature
/// headers when `secrets.signing_secret` is set (`now` is the signing time).
pub fn request(alert: &EnrichedAlert, target: &Target, now: u64) -> Result<HttpRequest, String> {
    let body = body(alert, target)?;
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    headers.extend(operator_headers(target).cloned());
    if let Some(secret) = target.secret("signing_secret") {
        headers.extend(signature_headers(secret, now, &body));
    }
    Ok(HttpRequest {
        method: "POST".to_string(),
        url: target.url.clone(),
        headers,
        body,
    })
}

/// The serialized body for the target's format.
pub fn body(alert: &EnrichedAlert, target: &Target) -> Result<Vec<u8>, String> {
    let bytes = match Format::of(target)? {
        Format::Herald => serde_json::to_vec(&HeraldBody::new(alert)),
        Format::Alertmanager => serde_json::to_vec(&AlertmanagerBody::new(alert, target)),
    };
    bytes.map_err(|e| format!("could not serialize the webhook body: {e}"))
}

/// `X-Herald-Timestamp` and `X-Herald-Signature` for `body` signed at `now`.
pub fn signature_headers(secret: &str, now: u64, body: &[u8]) -> [(String, String); 2] {
    [
        (TIMESTAMP_HEADER.to_string(), now.to_string()),
        (SIGNATURE_HEADER.to_string(), signature(secret, now, body)),
    ]
}

/// `sha256=<lower-case hex HMAC-SHA256 of "<timestamp>.<body>">` keyed with `secret`.
///
/// The timestamp is part of the signed text so a receiver that rejects old
/// timestamps also rejects replays of an old body with a fresh timestamp.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    // HMAC takes keys of any length (long ones are hashed), so keying never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 2 * digest.len());
    out.push_str("sha256=");
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The health probe: `GET {origin}{options.health_path}` with the target's
/// headers (a health endpoint may sit behind the same auth), signed over an
/// empty body when signing is on — or `None` when no `health_path` is set.
///
/// There is no default probe on purpose. A webhook URL is an endpoint that
/// takes `POST`s; a `GET` of it answers 404 or 405 on most receivers (and the
/// contract has no `HEAD`), which would mark a healthy receiver unhealthy and,
/// under a health-check strategy, skip real deliveries to it. A `POST` would
/// deliver something. So without an operator-named health endpoint the host
/// judges a webhook's health from its real deliveries only.
pub fn health_probe(target: &Target, now: u64) -> Option<HttpRequest> {
    let path = target.option("health_path")?;
    let mut headers: Vec<(String, String)> = operator_headers(target).cloned().collect();
    if let Some(secret) = target.secret("signing_secret") {
        headers.extend(signature_headers(secret, now, b""));
    }
    Some(HttpRequest {
        method: "GET".to_string(),
        url: format!("{}{path}", origin(&target.url)),
        headers,
        body: Vec::new(),
    })
}

/// `scheme://authority` of a URL (no trailing slash, no path, query or fragment).
pub fn origin(url: &str) -> &str {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    &url[..end]
}

/// Herald's own body (`version: "1"`). Optional fields are left out, not `null`.
#[derive(Debug, Serialize)]
pub struct HeraldBody<'a> {
    /// The schema version of this body; bumped only on breaking changes.
    version: &'static str,
    alert_name: &'a str,
    fingerprint: &'a str,
    status: &'static str,
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
    starts_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ends_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    generator_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    classification: Option<ClassificationBody<'a>>,
    /// The enrichment JSON as a value, not as a string holding JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    enrichment: Option<Value>,
}

impl<'a> HeraldBody<'a> {
    /// The body for one enriched alert.
    pub fn new(enriched: &'a EnrichedAlert) -> Self {
        let alert = &enriched.alert;
        HeraldBody {
            version: "1",
            alert_name: alert.name(),
            fingerprint: &alert.fingerprint,
            status: alert.status.as_str(),
            labels: map(&alert.labels),
            annotations: map(&alert.annotations),
            starts_at: &alert.starts_at,
            ends_at: alert.ends_at.as_deref(),
            generator_url: alert.generator_url.as_deref(),
            classification: enriched
                .classification
                .as_ref()
                .map(ClassificationBody::new),
            enrichment: enriched.enrichment.as_deref().and_then(enrichment),
        }
    }
}

/// The classifier's verdict as an object.
#[derive(Debug, Serialize)]
struct ClassificationBody<'a> {
    severity: &'static str,
    confidence: f64,
    reasoning: &'a str,
    recommendations: &'a [String],
    metadata: BTreeMap<&'a str, &'a str>,
}

impl<'a> ClassificationBody<'a> {
    fn new(c: &'a Classification) -> Self {
        ClassificationBody {
            severity: c.severity.as_str(),
            confidence: c.confidence,
            reasoning: &c.reasoning,
            recommendations: &c.recommendations,
            metadata: map(&c.metadata),
        }
    }
}

/// The enrichment text as JSON: the parsed value (an object, per the
/// contract); blank text is left out; text that is not JSON at all is sent as
/// a JSON string rather than dropped, so the receiver still sees it.
pub fn enrichment(text: &str) -> Option<Value> {
    if text.trim().is_empty() {
        return None;
    }
    Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())))
}

/// Alertmanager's webhook payload, version 4, for a single alert — the same
/// fields in the same order as Alertmanager's own `notify/webhook` sends.
///
/// Choices where Alertmanager has no single alert to go on: `groupLabels` is
/// empty, `commonLabels`/`commonAnnotations` are the alert's own, `receiver`
/// is the target's name, and `groupKey` is `{}:{fingerprint="<fp>"}` (the
/// root route and the one alert the "group" holds), so it is stable per alert
/// and distinct between alerts, as receivers that deduplicate on it expect.
/// Classification and enrichment have no place in this shape and are not sent.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerBody<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: [AlertmanagerAlert<'a>; 1],
    group_labels: BTreeMap<&'a str, &'a str>,
    common_labels: BTreeMap<&'a str, &'a str>,
    common_annotations: BTreeMap<&'a str, &'a str>,
    /// `options.external_url`, or empty: Herald is not an Alertmanager with a UI.
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: String,
    truncated_alerts: u32,
}

/// One entry of `alerts` in Alertmanager's payload.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertmanagerAlert<'a> {
    status: &'static str,
    labels: BTreeMap<&'a str, &'a str>,
    annotations: BTreeMap<&'a str, &'a str>,
    starts_at: &'a str,
    /// [`AM_ZERO_TIME`] when no end is known, as Alertmanager sends it.
    ends_at: &'a str,
    /// Empty when unknown, as Alertmanager sends it.
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: &'a str,
}

impl<'a> AlertmanagerBody<'a> {
    /// The payload for one alert delivered to `target`.
    pub fn new(enriched: &'a EnrichedAlert, target: &'a Target) -> Self {
        let alert = &enriched.alert;
        let status = alert.status.as_str();
        AlertmanagerBody {
            receiver: &target.name,
            status,
            alerts: [AlertmanagerAlert {
                status,
                labels: map(&alert.labels),
                annotations: map(&alert.annotations),
                starts_at: &alert.starts_at,
                ends_at: alert.ends_at.as_deref().unwrap_or(AM_ZERO_TIME),
                generator_url: alert.generator_url.as_deref().unwrap_or(""),
                fingerprint: &alert.fingerprint,
            }],
            group_labels: BTreeMap::new(),
            common_labels: map(&alert.labels),
            common_annotations: map(&alert.annotations),
            external_url: target.option("external_url").unwrap_or(""),
            version: "4",
            group_key: group_key(&alert.fingerprint),
            truncated_alerts: 0,
        }
    }
}

/// `groupKey` for a one-alert payload (see [`AlertmanagerBody`]).
pub fn group_key(fingerprint: &str) -> String {
    let escaped = fingerprint.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{{}}:{{fingerprint=\"{escaped}\"}}")
}

/// Pairs as a sorted map; a repeated key keeps its last value.
fn map(pairs: &[(String, String)]) -> BTreeMap<&str, &str> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Whether an operator header is likely to carry a credential, by its name.
pub fn is_sensitive_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "auth",
        "token",
        "key",
        "secret",
        "cookie",
        "password",
        "signature",
        "session",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// Everything that must not leak into a message: the secrets, plus the values
/// of operator headers that look like credentials (the whole value and, for
/// `Scheme credentials`, the credentials alone), plus long query-string values
/// of the URL (webhook URLs sometimes carry a token there).
pub fn sensitive_values(target: &Target) -> Vec<(String, String)> {
    let mut out = target.secrets.clone();
    for (name, value) in &target.headers {
        if is_sensitive_header(name) {
            out.push((name.clone(), value.clone()));
            if let Some((_, credentials)) = value.trim().split_once(' ') {
                out.push((name.clone(), credentials.trim().to_string()));
            }
        }
    }
    if let Some((_, query)) = target.url.split('#').next().and_then(|u| u.split_once('?')) {
        for pair in query.split('&') {
            let value = pair.split_once('=').map_or(pair, |(_, v)| v);
            if value.len() >= 8 {
                out.push(("url".to_string(), value.to_string()));
            }
        }
    }
    // Longest first, so a value containing another is hidden whole.
    out.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    out
}
