//! Alerts as they arrive, plus what a classifier said about them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether the alert is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    /// `firing` or `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// One alert, in the shape of `POST /api/v1/publish`'s `alert` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Alertmanager's fingerprint of the label set; computed from `labels` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub status: AlertStatus,
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub starts_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

impl Alert {
    /// The alert's identity: the given fingerprint, or Alertmanager's hash of the labels.
    pub fn fingerprint(&self) -> String {
        match &self.fingerprint {
            Some(f) if !f.is_empty() => f.clone(),
            _ => alertmanager_fingerprint(&self.labels),
        }
    }

    /// The `alertname` label, or `""`.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Checks what no target could ever accept: no labels, no `alertname`, an end before the start.
    pub fn validate(&self) -> Result<(), String> {
        if self.labels.is_empty() {
            return Err("`alert.labels` is empty; an alert needs at least `alertname`".into());
        }
        if self.name().is_empty() {
            return Err("`alert.labels.alertname` is missing or empty".into());
        }
        if let Some(end) = self.ends_at
            && end < self.starts_at
        {
            return Err("`alert.ends_at` is before `alert.starts_at`".into());
        }
        Ok(())
    }
}

/// Computes Alertmanager's fingerprint of a label set: FNV-1a 64 over the
/// sorted names and values, each followed by the separator byte `0xff`,
/// printed as 16 lower-case hex digits.
pub fn alertmanager_fingerprint(labels: &BTreeMap<String, String>) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    // BTreeMap iterates in sorted order, as Alertmanager sorts label names.
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[0xff]);
        add(value.as_bytes());
        add(&[0xff]);
    }
    format!("{hash:016x}")
}

/// How bad a classifier thinks the alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
    Noise,
}

/// What an upstream classifier (an LLM, a rule engine) said about an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    pub severity: Severity,
    /// 0.0 ..= 1.0.
    pub confidence: f64,
    #[serde(default)]
    pub reasoning: String,
    #[serde(default)]
    pub recommendations: Vec<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// An alert with what is known about it: the unit every publish delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichedAlert {
    pub alert: Alert,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Free-form enrichment; must be a JSON object when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment: Option<serde_json::Value>,
}

impl EnrichedAlert {
    /// An alert with nothing added.
    pub fn plain(alert: Alert) -> Self {
        Self {
            alert,
            classification: None,
            enrichment: None,
        }
    }

    /// Validates the alert, the classification's confidence and the enrichment's shape.
    pub fn validate(&self) -> Result<(), String> {
        self.alert.validate()?;
        if let Some(c) = &self.classification
            && !(0.0..=1.0).contains(&c.confidence)
        {
            return Err(format!(
                "`classification.confidence` must be between 0 and 1, not {}",
                c.confidence
            ));
        }
        match &self.enrichment {
            None | Some(serde_json::Value::Object(_)) => Ok(()),
            Some(_) => Err("`enrichment` must be a JSON object".into()),
        }
    }
}
