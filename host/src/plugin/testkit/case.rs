//! The golden case file format of `plugins/CASES.md`: one case per YAML or
//! JSON file. Shape rules that concern one part (exactly one expectation,
//! `body` or `body_text`) are checked while parsing, so their errors carry a
//! line and column; rules across parts are checked by [`Case::validate`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::model::{Alert, Classification, EnrichedAlert, ErrorClass, Target};
use crate::plugin::bindings::types as wit;

/// One golden case: a target, an alert, the requests the adapter must make
/// (with canned responses) and how the delivery must end.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Shown in the report.
    pub name: String,
    /// Pins the plugin's wall clock (signatures, `Retry-After` dates).
    #[serde(default)]
    pub now: Option<DateTime<Utc>>,
    pub target: CaseTarget,
    pub alert: Alert,
    #[serde(default)]
    pub classification: Option<Classification>,
    #[serde(default)]
    pub enrichment: Option<Value>,
    /// The adapter's state for (target, fingerprint) before the delivery.
    #[serde(default)]
    pub state_before: BTreeMap<String, String>,
    /// One per request the adapter must make, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    pub expect: Expectation,
    /// The exact state afterwards, when given (`{}` = empty).
    #[serde(default)]
    pub state_after: Option<BTreeMap<String, String>>,
}

/// The target the adapter delivers to; secrets are plain here (test values).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseTarget {
    pub name: String,
    pub kind: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
}

impl CaseTarget {
    /// The target as the daemon would hold it.
    pub fn to_target(&self) -> Target {
        let mut target = Target::new(&self.name, &self.kind, &self.url);
        target.headers = self.headers.clone();
        target.options = self.options.clone();
        target.secrets = crate::model::Secrets::new(self.secrets.clone());
        target
    }
}

/// One request the adapter must make, and the reply it gets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub expect_request: ExpectRequest,
    pub response: CannedResponse,
}

/// What a request must look like.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawExpectRequest")]
pub struct ExpectRequest {
    /// Compared exactly.
    pub method: String,
    /// Compared exactly.
    pub url: String,
    /// Each must be sent once with this value; names ignore case.
    pub headers: BTreeMap<String, String>,
    /// Must not be sent at all; names ignore case.
    pub absent_headers: Vec<String>,
    pub body: BodyExpectation,
}

/// How a request body is checked.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyExpectation {
    /// Neither `body` nor `body_text` given: the body is not checked.
    Unchecked,
    /// `body`: parsed as JSON and compared structurally, leaving out `ignore`.
    Json { value: Value, ignore: Vec<String> },
    /// `body_text`: the exact text.
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpectRequest {
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    absent_headers: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    body: Option<Value>,
    #[serde(default)]
    body_text: Option<String>,
    #[serde(default)]
    ignore: Vec<String>,
}

impl TryFrom<RawExpectRequest> for ExpectRequest {
    type Error = String;

    fn try_from(raw: RawExpectRequest) -> Result<Self, String> {
        let mut seen = BTreeMap::new();
        for name in raw.headers.keys() {
            if let Some(other) = seen.insert(name.to_ascii_lowercase(), name) {
                return Err(format!(
                    "`expect_request.headers` names `{other}` and `{name}`, the same header (names ignore case)"
                ));
            }
        }
        if let Some(name) = raw
            .absent_headers
            .iter()
            .find(|n| seen.contains_key(&n.to_ascii_lowercase()))
        {
            return Err(format!(
                "`expect_request` lists `{name}` in both `headers` and `absent_headers`"
            ));
        }
        if let Some(bad) = raw.ignore.iter().find(|p| !valid_pointer(p)) {
            return Err(format!(
                "`expect_request.ignore`: `{bad}` is not a JSON pointer (RFC 6901: \"\" or \"/a/b\", `~0` for `~`, `~1` for `/`)"
            ));
        }
        let body = match (raw.body, raw.body_text) {
            (Some(_), Some(_)) => {
                return Err("`expect_request` gives both `body` and `body_text`; give one".into());
            }
            (Some(value), None) => BodyExpectation::Json {
                value,
                ignore: raw.ignore,
            },
            (None, text) if !raw.ignore.is_empty() => {
                return Err(if text.is_some() {
                    "`expect_request.ignore` works only with a JSON `body`, not with `body_text`"
                        .into()
                } else {
                    "`expect_request.ignore` is given without a `body` to compare".into()
                });
            }
            (None, Some(text)) => BodyExpectation::Text(text),
            (None, None) => BodyExpectation::Unchecked,
        };
        Ok(Self {
            method: raw.method,
            url: raw.url,
            headers: raw.headers,
            absent_headers: raw.absent_headers,
            body,
        })
    }
}

/// The reply handed to `handle-response`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawResponse")]
pub struct CannedResponse {
    pub status: u16,
    /// Handed over with lower-case names, as the host does.
    pub headers: BTreeMap<String, String>,
    /// `body` as compact JSON, `body_text` as is, or empty.
    pub body: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponse {
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "present")]
    body: Option<Value>,
    #[serde(default)]
    body_text: Option<String>,
}

impl TryFrom<RawResponse> for CannedResponse {
    type Error = String;

    fn try_from(raw: RawResponse) -> Result<Self, String> {
        if !(100..=599).contains(&raw.status) {
            return Err(format!(
                "`response.status` {} is not an HTTP status (100..=599)",
                raw.status
            ));
        }
        let body = match (raw.body, raw.body_text) {
            (Some(_), Some(_)) => {
                return Err("`response` gives both `body` and `body_text`; give one".into());
            }
            (Some(value), None) => value.to_string().into_bytes(),
            (None, Some(text)) => text.into_bytes(),
            (None, None) => Vec::new(),
        };
        Ok(Self {
            status: raw.status,
            headers: raw
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            body,
        })
    }
}

impl CannedResponse {
    /// The response as the adapter sees it, the body cut to `max_body` as the host does.
    pub fn to_wit(&self, max_body: usize) -> wit::HttpResponse {
        wit::HttpResponse {
            status: self.status,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: self.body[..self.body.len().min(max_body)].to_vec(),
        }
    }
}

/// How the delivery must end.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawExpect")]
pub enum Expectation {
    /// `outcome` (with `note_contains`).
    Outcome {
        kind: OutcomeKind,
        note_contains: Option<String>,
    },
    /// `error`.
    Error(ExpectError),
    /// `invalid_target`: `validate-target` must reject the target with a
    /// message containing this; nothing is delivered.
    InvalidTarget(String),
}

/// `delivered` or `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    Delivered,
    Skipped,
}

impl OutcomeKind {
    /// The word used in case files.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Delivered => "delivered",
            OutcomeKind::Skipped => "skipped",
        }
    }

    /// The WIT outcome kind's name in case files.
    pub fn of(kind: wit::OutcomeKind) -> Self {
        match kind {
            wit::OutcomeKind::Delivered => OutcomeKind::Delivered,
            wit::OutcomeKind::Skipped => OutcomeKind::Skipped,
        }
    }
}

/// The error a delivery must end with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectError {
    pub class: ErrorClass,
    /// Checked only when given.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
    /// Checked only when given.
    #[serde(default)]
    pub message_contains: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    outcome: Option<OutcomeKind>,
    #[serde(default)]
    note_contains: Option<String>,
    #[serde(default)]
    error: Option<ExpectError>,
    #[serde(default)]
    invalid_target: Option<String>,
}

impl TryFrom<RawExpect> for Expectation {
    type Error = String;

    fn try_from(raw: RawExpect) -> Result<Self, String> {
        match (raw.outcome, raw.error, raw.invalid_target) {
            (Some(kind), None, None) => Ok(Expectation::Outcome {
                kind,
                note_contains: raw.note_contains,
            }),
            (None, Some(_), None) | (None, None, Some(_)) if raw.note_contains.is_some() => {
                Err("`expect.note_contains` goes with `expect.outcome` only".into())
            }
            (None, Some(error), None) => Ok(Expectation::Error(error)),
            (None, None, Some(message)) => Ok(Expectation::InvalidTarget(message)),
            _ => Err(
                "`expect` must give exactly one of `outcome`, `error` or `invalid_target`".into(),
            ),
        }
    }
}

/// `Some(value)` for any value present in the file, `null` included, so
/// that `body: null` expects a JSON `null` instead of meaning "no body".
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// RFC 6901: empty (the whole document) or `/`-separated tokens in which
/// `~` appears only as `~0` or `~1`.
pub(super) fn valid_pointer(pointer: &str) -> bool {
    if pointer.is_empty() {
        return true;
    }
    if !pointer.starts_with('/') {
        return false;
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return false;
        }
    }
    true
}

impl Case {
    /// Parses a case from YAML (JSON is YAML too, but use [`Case::from_json`]
    /// for `.json` files so errors point at the right place).
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }

    /// Parses a case from JSON.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Reads, parses (by extension: `.json` as JSON, anything else as YAML)
    /// and validates a case file. The error says which of the three failed
    /// and why (with a line and column when parsing failed), but not the
    /// file's name, which the caller holds.
    pub async fn load(path: &Path) -> Result<Self, String> {
        let text = tokio::fs::read_to_string(path)
            .await
            .map_err(|e| format!("cannot be read: {e}"))?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let case = if is_json {
            Self::from_json(&text)
        } else {
            Self::from_yaml(&text)
        }
        .map_err(|e| format!("cannot be parsed: {e}"))?;
        case.validate()
            .map_err(|e| format!("is not a valid case: {e}"))?;
        Ok(case)
    }

    /// Checks what parsing cannot: `now` is after 1970, and an
    /// `invalid_target` case makes no requests. The alert is deliberately
    /// not held to the ingress checks (`EnrichedAlert::validate`): the WIT
    /// promises adapters no more than its types, so cases may test how an
    /// adapter handles, say, an alert without `alertname`.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("`name` is empty; every case needs a name for the report".into());
        }
        if let Some(now) = self.now {
            self.clock_since_epoch(now)?;
        }
        if matches!(self.expect, Expectation::InvalidTarget(_)) && !self.steps.is_empty() {
            return Err(
                "`expect.invalid_target` cases deliver nothing, so `steps` must be empty".into(),
            );
        }
        Ok(())
    }

    /// The alert with its classification and enrichment, as `POST /api/v1/publish` takes it.
    pub fn enriched_alert(&self) -> EnrichedAlert {
        EnrichedAlert {
            alert: self.alert.clone(),
            classification: self.classification.clone(),
            enrichment: self.enrichment.clone(),
        }
    }

    /// `now` as the time since the Unix epoch, for the pinned wall clock.
    pub fn clock(&self) -> Option<Duration> {
        self.now.and_then(|now| self.clock_since_epoch(now).ok())
    }

    fn clock_since_epoch(&self, now: DateTime<Utc>) -> Result<Duration, String> {
        now.signed_duration_since(DateTime::UNIX_EPOCH)
            .to_std()
            .map_err(|_| {
                format!("`now` ({now}) is before 1970-01-01; the plugin's clock cannot show it")
            })
    }
}
