//! A configured destination for alerts.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// Secret values (routing keys, tokens, secret URLs). `Debug` shows only the
/// keys, and `Serialize` is deliberately not implemented, so a secret cannot
/// reach a log line or an API response by accident.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secrets(BTreeMap<String, String>);

impl Secrets {
    /// Wraps resolved secret values.
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self(values)
    }
    /// The secret values, for handing to the adapter only.
    pub fn expose(&self) -> &BTreeMap<String, String> {
        &self.0
    }
    /// The names of the secrets (safe to show).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
    /// Replaces every secret value found in `text` with `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for value in self.0.values().filter(|v| v.len() >= 4) {
            out = out.replace(value.as_str(), "***");
        }
        out
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.keys().map(|k| format!("{k}=***")))
            .finish()
    }
}

/// A destination: which adapter kind delivers to it, where, and with what settings.
///
/// `Debug` shows header names only (values often carry tokens) and secret
/// names only; `Serialize` is deliberately not implemented (the admin API
/// has its own view without values).
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// Unique, `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 characters.
    pub name: String,
    /// The adapter kind (e.g. `webhook`), looked up in the plugin registry.
    pub kind: String,
    /// Base URL; adapters may only send to this URL's origin.
    pub url: String,
    /// `false` keeps the target configured but never delivered to.
    pub enabled: bool,
    /// Sent verbatim by adapters that honour them (the webhook adapter does).
    pub headers: BTreeMap<String, String>,
    /// Adapter-specific options.
    pub options: BTreeMap<String, String>,
    /// Never serialized, never shown.
    pub secrets: Secrets,
    /// Per-target delivery timeout for each HTTP request.
    pub timeout: std::time::Duration,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .field(
                "headers",
                &self
                    .headers
                    .keys()
                    .map(|k| format!("{k}: ***"))
                    .collect::<Vec<_>>(),
            )
            .field("options", &self.options)
            .field("secrets", &self.secrets)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Target {
    /// A target with defaults for everything but name, kind and url.
    pub fn new(name: impl Into<String>, kind: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            url: url.into(),
            enabled: true,
            headers: BTreeMap::new(),
            options: BTreeMap::new(),
            secrets: Secrets::default(),
            timeout: std::time::Duration::from_secs(10),
        }
    }

    /// Sets an option (builder style).
    pub fn with_option(mut self, key: &str, value: &str) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }

    /// Sets a header (builder style).
    pub fn with_header(mut self, key: &str, value: &str) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// Sets a secret (builder style).
    pub fn with_secret(mut self, key: &str, value: &str) -> Self {
        self.secrets.0.insert(key.into(), value.into());
        self
    }
}

/// Where the publisher gets "all targets" from (the config's current target set).
pub trait TargetSource: Send + Sync + 'static {
    /// Every configured target, enabled or not, as of now.
    fn targets(&self) -> std::sync::Arc<Vec<Target>>;
}

/// A fixed list of targets.
#[derive(Debug, Clone, Default)]
pub struct StaticTargets(pub std::sync::Arc<Vec<Target>>);

impl StaticTargets {
    /// Wraps a list.
    pub fn new(targets: Vec<Target>) -> Self {
        Self(std::sync::Arc::new(targets))
    }
}

impl TargetSource for StaticTargets {
    fn targets(&self) -> std::sync::Arc<Vec<Target>> {
        self.0.clone()
    }
}
