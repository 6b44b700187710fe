//! Building Alertmanager API v2 requests: checking a target, the alert body
//! with the classification in its annotations, authentication, and the
//! health probe.
//!
//! Everything here is a pure function; the wall clock comes in as an
//! argument (`now`), so the body for a resolved alert without an end time is
//! testable.
//!
//! The body is `POST {url}/api/v2/alerts` with a JSON array of one
//! `{labels, annotations, startsAt, endsAt?, generatorURL?}`:
//!
//! - firing: `endsAt` is left out, so Alertmanager resolves the alert by
//!   itself after its `resolve_timeout` unless it is sent again;
//! - resolved: `endsAt` is the alert's ends-at, or `now` when it has none,
//!   which resolves it at once;
//! - a classification goes into the annotations `llm_severity`,
//!   `llm_confidence`, `llm_reasoning` and `llm_recommendations`
//!   ([`annotations`]). Enrichment is not sent: Alertmanager annotations are
//!   flat strings, and the receiving Alertmanager's own templates decide what
//!   its receivers see.

use herald_plugin_sdk::serde_json::{Map, Value, json};
use herald_plugin_sdk::{
    AlertExt, EnrichedAlert, Error, HttpRequest, Target, TargetExt, check_base_url, join_url,
    json_request, truncate_bytes,
};

/// The path of Alertmanager's alert-posting endpoint under the target's URL.
pub const ALERTS_PATH: &str = "api/v2/alerts";
/// The path of Alertmanager's health endpoint under the target's URL.
pub const HEALTH_PATH: &str = "-/healthy";
/// The most of the classifier's reasoning that goes into `llm_reasoning`, in bytes.
pub const MAX_REASONING_BYTES: usize = 500;
/// How many recommendations go into `llm_recommendations`.
pub const MAX_RECOMMENDATIONS: usize = 3;

/// Checks everything about an `alertmanager` target that is knowable up front.
///
/// The `url` is the Alertmanager's base (with its route prefix, if it runs
/// under one), e.g. `http://alertmanager:9093`. The kind takes no options.
/// Its secrets are both optional and exclusive: `bearer_token` (sent as
/// `Authorization: Bearer ...`) or `basic_auth` as `user:password`.
pub fn validate_target(target: &Target) -> Result<(), String> {
    check_base_url("url", &target.url)?;
    if target
        .url
        .trim_end_matches('/')
        .ends_with(&format!("/{ALERTS_PATH}"))
    {
        return Err(format!(
            "`url` is the Alertmanager base (e.g. http://alertmanager:9093), without \
             `/{ALERTS_PATH}`: Herald adds the path itself"
        ));
    }
    target.check_options(&[])?;
    target.check_secrets(&["bearer_token", "basic_auth"])?;
    let auth = authorization(target)?;
    if auth.is_some() && herald_plugin_sdk::header(&target.headers, "authorization").is_some() {
        return Err(
            "`headers.Authorization` is set and so is `secrets.bearer_token` or \
             `secrets.basic_auth`; keep only one of them"
                .to_string(),
        );
    }
    Ok(())
}

/// The `Authorization` header value from the target's secrets, if any.
///
/// Errors name the field and never contain the secret.
pub fn authorization(target: &Target) -> Result<Option<String>, String> {
    let bearer = target.secret("bearer_token");
    let basic = target.secret("basic_auth");
    for (field, value) in [("bearer_token", bearer), ("basic_auth", basic)] {
        if value.is_some_and(|v| v.chars().any(char::is_control)) {
            return Err(format!(
                "`secrets.{field}` contains a control character (a stray newline?)"
            ));
        }
    }
    match (bearer, basic) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(
            "`secrets.bearer_token` and `secrets.basic_auth` are both set; \
             an Alertmanager target uses at most one of them"
                .to_string(),
        ),
        (Some(token), None) => {
            if token.contains(char::is_whitespace) {
                return Err("`secrets.bearer_token` contains whitespace".to_string());
            }
            Ok(Some(format!("Bearer {token}")))
        }
        (None, Some(pair)) => match pair.split_once(':') {
            Some((user, _)) if !user.is_empty() => {
                Ok(Some(format!("Basic {}", base64(pair.as_bytes()))))
            }
            _ => Err(
                "`secrets.basic_auth` must be `user:password` (a user name, a colon, \
                 then the password)"
                    .to_string(),
            ),
        },
    }
}

/// Headers for every request: the target's own, verbatim, then
/// `Authorization` from the secrets when configured (which then replaces
/// any `Authorization` among the target's headers).
fn headers(target: &Target, auth: Option<String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = target
        .headers
        .iter()
        .filter(|(k, _)| auth.is_none() || !k.eq_ignore_ascii_case("authorization"))
        .cloned()
        .collect();
    if let Some(value) = auth {
        out.push(("authorization".to_string(), value));
    }
    out
}

/// The annotations to send: the alert's own, plus, with a classification,
///
/// - `llm_severity`: `critical`, `warning`, `info` or `noise`;
/// - `llm_confidence`: two decimals, e.g. `0.92` (clamped to 0..=1; left
///   out when not a number);
/// - `llm_reasoning`: at most 500 bytes, cut on a character boundary and
///   ending in `...` (left out when empty);
/// - `llm_recommendations`: the first three joined by `; ` (left out when
///   there are none).
///
/// The classification's values replace same-named annotations of the alert.
pub fn annotations(alert: &EnrichedAlert) -> Map<String, Value> {
    let mut out: Map<String, Value> = alert
        .alert
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let Some(c) = &alert.classification else {
        return out;
    };
    out.insert("llm_severity".into(), json!(c.severity.as_str()));
    if c.confidence.is_finite() {
        out.insert(
            "llm_confidence".into(),
            json!(format!("{:.2}", c.confidence.clamp(0.0, 1.0))),
        );
    }
    if !c.reasoning.trim().is_empty() {
        out.insert(
            "llm_reasoning".into(),
            json!(truncate_bytes(&c.reasoning, MAX_REASONING_BYTES)),
        );
    }
    let recommendations: Vec<&str> = c
        .recommendations
        .iter()
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .take(MAX_RECOMMENDATIONS)
        .collect();
    if !recommendations.is_empty() {
        out.insert(
            "llm_recommendations".into(),
            json!(recommendations.join("; ")),
        );
    }
    out
}

/// The posted alert, as the one element of the body's array.
///
/// An alert without a non-empty `alertname` label is a `permanent` error:
/// Alertmanager needs it, and sending it again would not help.
pub fn postable_alert(alert: &EnrichedAlert, now: &str) -> Result<Value, Error> {
    let a = &alert.alert;
    if a.label("alertname").is_none_or(|n| n.trim().is_empty()) {
        return Err(Error::permanent(format!(
            "alert {} has no `alertname` label; an Alertmanager target only takes alerts \
             with one (fix the alert's source or its relabelling)",
            a.fingerprint
        )));
    }
    let labels: Map<String, Value> = a
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut posted = Map::new();
    posted.insert("labels".into(), Value::Object(labels));
    posted.insert("annotations".into(), Value::Object(annotations(alert)));
    if is_set(&a.starts_at) {
        posted.insert("startsAt".into(), json!(a.starts_at));
    }
    if !a.is_firing() {
        let ends_at = a.ends_at.as_deref().filter(|e| is_set(e)).unwrap_or(now);
        posted.insert("endsAt".into(), json!(ends_at));
    }
    if let Some(url) = a.generator_url.as_deref().filter(|u| !u.trim().is_empty()) {
        posted.insert("generatorURL".into(), json!(url));
    }
    Ok(Value::Object(posted))
}

/// The request for an alert: `POST {url}/api/v2/alerts` with a one-element array.
///
/// `now` (RFC 3339) is the end time of a resolved alert that has none.
pub fn request(alert: &EnrichedAlert, target: &Target, now: &str) -> Result<HttpRequest, Error> {
    let auth = authorization(target).map_err(Error::permanent)?;
    let body = Value::Array(vec![postable_alert(alert, now)?]);
    Ok(json_request(
        "POST",
        join_url(&target.url, ALERTS_PATH),
        "application/json",
        &headers(target, auth),
        &body,
    ))
}

/// The health probe: `GET {url}/-/healthy`, Alertmanager's own liveness
/// endpoint, which has no side effects; with the target's headers and the
/// configured authentication, since a proxy in front may demand it. A target
/// whose authentication is misconfigured is probed without it.
pub fn health_probe(target: &Target) -> HttpRequest {
    let auth = authorization(target).ok().flatten();
    HttpRequest {
        method: "GET".to_string(),
        url: join_url(&target.url, HEALTH_PATH),
        headers: headers(target, auth),
        body: Vec::new(),
    }
}

/// Whether a timestamp is set: not empty and not Go's zero time
/// (`0001-01-01T00:00:00Z`, which Alertmanager uses for "unset").
fn is_set(ts: &str) -> bool {
    let ts = ts.trim();
    !ts.is_empty() && !ts.starts_with("0001-01-01")
}

/// Standard base64 (RFC 4648, with padding): all `Basic` authentication needs.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
