//! Guest-side SDK for Herald target adapters.
//!
//! Every adapter crate depends on this one. It owns:
//!
//! - the bindings to `wit/adapter.wit` (generated once here, re-exported), and
//!   the [`export_adapter!`] macro that wires an [`Adapter`] implementation up
//!   as the component's export;
//! - small helpers every adapter needs: reading a target's options, secrets and
//!   headers ([`TargetExt`]), reading an alert ([`AlertExt`]), building JSON
//!   requests, classifying HTTP statuses by the shared rules of `TARGETS.md`
//!   ([`classify_status`], [`retry_after_ms`]), cutting text to limits, and
//!   keeping secrets out of messages ([`redact`]);
//! - the [`State`] trait, so adapter logic can be unit-tested natively with
//!   [`MemoryState`] and run in the host with [`HostState`].
//!
//! Adapters do no I/O of their own: they return requests and the host sends them.

mod text;
mod time;

#[cfg(test)]
mod tests;

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
    default_bindings_module: "herald_plugin_sdk",
    pub_export_macro: true,
    export_macro_name: "export_adapter",
});

pub use exports::herald::adapter::adapter::Guest as Adapter;
pub use herald::adapter::log::Level;
pub use herald::adapter::types::{
    Action, AdapterInfo, Alert, AlertStatus, Classification, EnrichedAlert, Error, ErrorClass,
    HttpRequest, HttpResponse, Outcome, OutcomeKind, Severity, Target,
};
pub use text::{redact, truncate_bytes, truncate_chars};
pub use time::{now_rfc3339, now_unix_seconds, parse_http_date};

/// Re-exported so adapters build JSON with the same `serde_json` as the SDK.
pub use serde_json;

/// Looks a key up in a list of pairs (labels, annotations, options, secrets).
pub fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Looks a header up by name, ignoring ASCII case.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Convenience accessors on a [`Target`].
pub trait TargetExt {
    /// An adapter option, if set and not empty.
    fn option(&self, key: &str) -> Option<&str>;
    /// A secret, if set and not empty.
    fn secret(&self, key: &str) -> Option<&str>;
    /// A secret that must be present; the error names the field and says why it is needed.
    fn require_secret(&self, key: &str, why: &str) -> Result<&str, String>;
    /// Rejects options outside `known`, naming the first unknown one and listing the known ones.
    fn check_options(&self, known: &[&str]) -> Result<(), String>;
    /// Rejects secrets outside `known`.
    fn check_secrets(&self, known: &[&str]) -> Result<(), String>;
    /// A boolean option (`true`/`false`), with a default.
    fn bool_option(&self, key: &str, default: bool) -> Result<bool, String>;
}

impl TargetExt for Target {
    fn option(&self, key: &str) -> Option<&str> {
        lookup(&self.options, key).filter(|v| !v.is_empty())
    }

    fn secret(&self, key: &str) -> Option<&str> {
        lookup(&self.secrets, key).filter(|v| !v.is_empty())
    }

    fn require_secret(&self, key: &str, why: &str) -> Result<&str, String> {
        self.secret(key)
            .ok_or_else(|| format!("`secrets.{key}` is missing; {why}"))
    }

    fn check_options(&self, known: &[&str]) -> Result<(), String> {
        check_keys("options", &self.options, known)
    }

    fn check_secrets(&self, known: &[&str]) -> Result<(), String> {
        check_keys("secrets", &self.secrets, known)
    }

    fn bool_option(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.option(key) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(format!(
                "`options.{key}` must be `true` or `false`, not `{other}`"
            )),
        }
    }
}

fn check_keys(section: &str, pairs: &[(String, String)], known: &[&str]) -> Result<(), String> {
    match pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some((k, _)) if known.is_empty() => Err(format!(
            "unknown key `{section}.{k}`: this kind takes no {section}"
        )),
        Some((k, _)) => Err(format!(
            "unknown key `{section}.{k}` (known: {})",
            known.join(", ")
        )),
    }
}

/// Checks that `url` is an absolute `http` or `https` URL with a host, naming `field` when not.
pub fn check_base_url(field: &str, url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("`{field}` must start with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("`{field}` has no host"));
    }
    if url.contains(char::is_whitespace) {
        return Err(format!("`{field}` contains whitespace"));
    }
    Ok(())
}

/// Joins a base URL and a path with exactly one `/` between them.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Convenience accessors on an [`Alert`].
pub trait AlertExt {
    /// The `alertname` label, or `"alert"` when it is missing.
    fn name(&self) -> &str;
    fn label(&self, key: &str) -> Option<&str>;
    fn annotation(&self, key: &str) -> Option<&str>;
    /// `summary`, then `description`, then `message` annotation, then the alert name.
    fn summary(&self) -> &str;
    fn is_firing(&self) -> bool;
}

impl AlertExt for Alert {
    fn name(&self) -> &str {
        self.label("alertname").unwrap_or("alert")
    }

    fn label(&self, key: &str) -> Option<&str> {
        lookup(&self.labels, key)
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        lookup(&self.annotations, key)
    }

    fn summary(&self) -> &str {
        ["summary", "description", "message"]
            .iter()
            .find_map(|k| self.annotation(k).filter(|v| !v.is_empty()))
            .unwrap_or_else(|| self.name())
    }

    fn is_firing(&self) -> bool {
        matches!(self.status, AlertStatus::Firing)
    }
}

impl Severity {
    /// The lower-case name used on the wire (`critical`, `warning`, `info`, `noise`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Noise => "noise",
        }
    }
}

impl AlertStatus {
    /// `firing` or `resolved`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl Error {
    /// Retry later.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Transient, message)
    }
    /// Do not retry.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Permanent, message)
    }
    /// Retry with the normal budget.
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Unknown, message)
    }
    fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Error {
            class,
            message: message.into(),
            retry_after_ms: None,
        }
    }
    /// Attaches a retry-after hint.
    pub fn with_retry_after(mut self, ms: Option<u64>) -> Self {
        self.retry_after_ms = ms;
        self
    }
}

impl Action {
    /// Finish: the target accepted the alert.
    pub fn delivered() -> Self {
        Action::Finish(Outcome {
            kind: OutcomeKind::Delivered,
            note: None,
        })
    }
    /// Finish with a note: the target accepted the alert.
    pub fn delivered_with_note(note: impl Into<String>) -> Self {
        Action::Finish(Outcome {
            kind: OutcomeKind::Delivered,
            note: Some(note.into()),
        })
    }
    /// Finish without sending anything, saying why.
    pub fn skipped(note: impl Into<String>) -> Self {
        Action::Finish(Outcome {
            kind: OutcomeKind::Skipped,
            note: Some(note.into()),
        })
    }
}

/// Builds a request with a JSON body and `Content-Type` set to `content_type`.
pub fn json_request(
    method: &str,
    url: String,
    content_type: &str,
    extra_headers: &[(String, String)],
    body: &serde_json::Value,
) -> HttpRequest {
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    headers.extend(
        extra_headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
            .cloned(),
    );
    HttpRequest {
        method: method.to_string(),
        url,
        headers,
        body: body.to_string().into_bytes(),
    }
}

/// Classifies an HTTP status by the shared rules: `Ok(())` for 2xx, otherwise
/// an error of the right class carrying `message` and any `Retry-After` hint.
///
/// transient: 408, 425, 429 and every 5xx but 501; permanent: other 4xx and 501;
/// anything else (1xx, 3xx) is `unknown`.
pub fn classify_status(response: &HttpResponse, message: impl Into<String>) -> Result<(), Error> {
    let status = response.status;
    let message = message.into();
    let retry_after = retry_after_ms(&response.headers);
    match status {
        200..=299 => Ok(()),
        408 | 425 | 429 => Err(Error::transient(message).with_retry_after(retry_after)),
        501 => Err(Error::permanent(message)),
        500..=599 => Err(Error::transient(message).with_retry_after(retry_after)),
        400..=499 => Err(Error::permanent(message)),
        _ => Err(Error::unknown(message).with_retry_after(retry_after)),
    }
}

/// Reads `Retry-After` (delay in seconds or an HTTP date) as milliseconds from now.
pub fn retry_after_ms(headers: &[(String, String)]) -> Option<u64> {
    let value = header(headers, "retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    let at = parse_http_date(value)?;
    Some(at.saturating_sub(now_unix_seconds()).saturating_mul(1000))
}

/// A response body as text, cut to `max` bytes for use in a message.
pub fn body_snippet(response: &HttpResponse, max: usize) -> String {
    let text = String::from_utf8_lossy(&response.body);
    truncate_bytes(text.trim(), max)
}

/// The adapter's memory between calls, scoped by the host to (target, fingerprint).
pub trait State {
    fn get(&self, key: &str) -> Option<String>;
    /// `ttl_seconds` 0 = the host's maximum.
    fn set(&mut self, key: &str, value: &str, ttl_seconds: u32);
    fn remove(&mut self, key: &str);
}

/// The real state: the host's store, through the `state` import.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostState;

impl State for HostState {
    fn get(&self, key: &str) -> Option<String> {
        herald::adapter::state::get(key)
    }
    fn set(&mut self, key: &str, value: &str, ttl_seconds: u32) {
        herald::adapter::state::set(key, value, ttl_seconds)
    }
    fn remove(&mut self, key: &str) {
        herald::adapter::state::remove(key)
    }
}

/// An in-memory state for native unit tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MemoryState(pub std::collections::BTreeMap<String, String>);

impl State for MemoryState {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set(&mut self, key: &str, value: &str, _ttl_seconds: u32) {
        self.0.insert(key.to_string(), value.to_string());
    }
    fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }
}

/// Writes a line into the host's log, tagged by the host with target and kind.
/// Never pass a secret.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    herald::adapter::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}
