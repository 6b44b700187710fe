//! The daemon's own configuration (`herald.toml`): typed sections with
//! defaults, parsed with unknown keys rejected, then validated in a separate
//! step, then completed (relative paths resolved, tokens read).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, ConfigErrors, Format, parse};
use super::secret::{Env, ProcessEnv, SecretString, resolve_token, valid_env_name};
use super::targets::{TargetSet, load_targets, valid_name};
use super::units::{bytes, duration};
use crate::health::{HealthConfig, HealthConfigError};
use crate::plugin::RuntimeLimits;
use crate::publish::ParallelPublishOptions;
use crate::queue::{QueueSettings, RetryPolicy};

/// Everything in `herald.toml`. Every section is optional and every key has
/// a default, so an empty file is a valid configuration.
///
/// After [`load`](Self::load), relative paths are resolved against the
/// config file's directory and tokens are read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    pub server: ServerConfig,
    pub plugins: PluginsConfig,
    pub targets: TargetsConfig,
    /// Default options for every publish (the synchronous API may override per request).
    pub publish: ParallelPublishOptions,
    pub admin: AdminConfig,
    pub log: LogConfig,
    /// Health probes, thresholds and circuit breakers: the health module's
    /// own settings type, so its rules live in one place.
    pub health: HealthConfig,
    /// The durable queue and its retry policy; see [`QueueConfig::settings`].
    pub queue: QueueConfig,
    /// The file this was read from; names it in every error. Not a key.
    #[serde(skip)]
    pub file: PathBuf,
}

/// `[server]`: the HTTP listener and its limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`herald serve --listen` overrides it).
    pub listen: SocketAddr,
    /// Largest request body accepted; larger bodies get 413.
    #[serde(deserialize_with = "bytes::deserialize")]
    pub max_body_bytes: usize,
    /// Longest a request may take.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight publishes before exiting.
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// Environment variable holding the token ingress endpoints require
    /// (`Authorization: Bearer …`). Unset: ingress is open.
    pub ingress_token_env: Option<String>,
    /// File holding that token instead (relative to the config file).
    pub ingress_token_file: Option<PathBuf>,
    /// The resolved ingress token. Not a key: filled in by `load`.
    #[serde(skip)]
    pub ingress_token: Option<SecretString>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9300)),
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            ingress_token_env: None,
            ingress_token_file: None,
            ingress_token: None,
        }
    }
}

/// `[plugins]`: where adapters are loaded from and the sandbox's limits.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Directory of `*.wasm` adapters (relative to the config file).
    pub dir: PathBuf,
    /// Linear memory one plugin instance may use.
    #[serde(deserialize_with = "bytes::deserialize")]
    pub memory_cap: usize,
    /// Wall-clock budget of one plugin call.
    #[serde(with = "duration")]
    pub call_timeout: Duration,
    /// Largest request body a plugin may ask the host to send.
    #[serde(deserialize_with = "bytes::deserialize")]
    pub max_request_body: usize,
    /// Largest response body handed back to a plugin (longer ones are cut).
    #[serde(deserialize_with = "bytes::deserialize")]
    pub max_response_body: usize,
    /// Plugin instances alive at once (sizes the pooling allocator).
    pub max_instances: u32,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        let limits = RuntimeLimits::default();
        Self {
            dir: PathBuf::from("plugins"),
            memory_cap: limits.memory_cap,
            call_timeout: limits.call_timeout,
            max_request_body: limits.max_request_body,
            max_response_body: limits.max_response_body,
            max_instances: limits.max_instances,
        }
    }
}

impl PluginsConfig {
    /// The runtime's limits: these settings over [`RuntimeLimits::default`].
    pub fn runtime_limits(&self) -> RuntimeLimits {
        RuntimeLimits {
            memory_cap: self.memory_cap,
            call_timeout: self.call_timeout,
            max_request_body: self.max_request_body,
            max_response_body: self.max_response_body,
            max_instances: self.max_instances,
            ..RuntimeLimits::default()
        }
    }
}

/// `[targets]`: where target files are found.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetsConfig {
    /// Directories scanned for target files (relative to the config file).
    pub dirs: Vec<PathBuf>,
    /// Per-request timeout for targets whose file sets none.
    #[serde(with = "duration")]
    pub default_timeout: Duration,
}

impl Default for TargetsConfig {
    fn default() -> Self {
        Self {
            dirs: vec![PathBuf::from("targets")],
            default_timeout: Duration::from_secs(10),
        }
    }
}

impl TargetsConfig {
    /// Reads every target file in [`dirs`](Self::dirs) from the process environment.
    pub fn load(&self) -> TargetSet {
        self.load_with_env(&ProcessEnv)
    }

    /// Like [`load`](Self::load), resolving `${VAR}` from `env`.
    pub fn load_with_env(&self, env: &dyn Env) -> TargetSet {
        load_targets(&self.dirs, self.default_timeout, env)
    }
}

/// `[admin]`: the token admin endpoints require. Never inline: only the
/// name of an environment variable or a file. Unset: admin is open (bind
/// to loopback then).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Environment variable holding the admin token.
    pub token_env: Option<String>,
    /// File holding it instead (relative to the config file).
    pub token_file: Option<PathBuf>,
    /// The resolved token. Not a key: filled in by `load`.
    #[serde(skip)]
    pub token: Option<SecretString>,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter: `info`, `debug`, `info,herald=debug`. `herald --log`
    /// (`HERALD_LOG`) and then `RUST_LOG`, when set, win over it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    #[default]
    Pretty,
}

/// `[queue]`: the durable intake queue, its bounds and its retry policy.
/// Maps onto [`QueueSettings`] with [`settings`](Self::settings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Where the queue's database lives (relative to the config file).
    pub data_dir: PathBuf,
    /// Most alerts waiting at once; beyond it ingress answers 503.
    pub max_jobs: usize,
    /// Most bytes of waiting alerts; beyond it ingress answers 503.
    #[serde(deserialize_with = "bytes::deserialize")]
    pub max_bytes: u64,
    /// Most dead-letter entries; when full, failed deliveries stay parked in
    /// the queue (which then fills and pushes back) until the DLQ is drained.
    pub max_dlq_entries: usize,
    /// Deliveries in progress at once.
    pub workers: usize,
    /// The `Retry-After` ingress sends with a 503 when the queue is full.
    #[serde(with = "duration")]
    pub full_retry_after: Duration,
    /// The retry policy of every target without its own.
    pub retry: RetryConfig,
    /// Per-target retry overrides, by target name (`[queue.targets.<name>]`);
    /// each key left out takes the value from `[queue.retry]`.
    pub targets: BTreeMap<String, TargetRetryConfig>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        let d = QueueSettings::default();
        Self {
            data_dir: d.data_dir,
            max_jobs: d.max_jobs,
            max_bytes: d.max_bytes,
            max_dlq_entries: d.max_dlq_entries,
            workers: d.workers,
            full_retry_after: d.full_retry_after,
            retry: RetryConfig::default(),
            targets: BTreeMap::new(),
        }
    }
}

impl QueueConfig {
    /// The queue's settings: these keys over [`QueueSettings::default`].
    pub fn settings(&self) -> QueueSettings {
        QueueSettings {
            data_dir: self.data_dir.clone(),
            max_jobs: self.max_jobs,
            max_bytes: self.max_bytes,
            max_dlq_entries: self.max_dlq_entries,
            workers: self.workers,
            full_retry_after: self.full_retry_after,
            retry: self.retry.policy(),
            per_target_retry: self
                .targets
                .iter()
                .map(|(name, o)| (name.clone(), self.retry_for(o)))
                .collect(),
            ..QueueSettings::default()
        }
    }

    fn retry_for(&self, o: &TargetRetryConfig) -> RetryPolicy {
        let base = &self.retry;
        RetryConfig {
            initial: o.initial.unwrap_or(base.initial),
            factor: o.factor.unwrap_or(base.factor),
            max_delay: o.max_delay.unwrap_or(base.max_delay),
            max_attempts: o.max_attempts.unwrap_or(base.max_attempts),
        }
        .policy()
    }
}

/// `[queue.retry]`: per-target retry with exponential backoff and full
/// jitter: retry `k` waits a random time up to `min(max_delay, initial × factor^(k-1))`,
/// or the target's `Retry-After` when longer (capped at `max_delay`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Ceiling of the first retry's delay.
    #[serde(with = "duration")]
    pub initial: Duration,
    /// How much the ceiling grows with each attempt (at least 1).
    pub factor: f64,
    /// Cap of any one delay (also caps `Retry-After`).
    #[serde(with = "duration")]
    pub max_delay: Duration,
    /// Attempts in all, the first included; then the dead-letter queue.
    pub max_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        let d = RetryPolicy::default();
        Self {
            initial: d.initial,
            factor: d.factor,
            max_delay: d.max_delay,
            max_attempts: d.max_attempts,
        }
    }
}

impl RetryConfig {
    /// As the queue's type.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial: self.initial,
            factor: self.factor,
            max_delay: self.max_delay,
            max_attempts: self.max_attempts,
        }
    }
}

/// `[queue.targets.<name>]`: one target's retry overrides.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetRetryConfig {
    #[serde(with = "duration::option")]
    pub initial: Option<Duration>,
    pub factor: Option<f64>,
    #[serde(with = "duration::option")]
    pub max_delay: Option<Duration>,
    pub max_attempts: Option<u32>,
}

/// Smallest plugin call timeout (one epoch tick of the runtime).
const MIN_CALL_TIMEOUT: Duration = Duration::from_millis(10);

impl DaemonConfig {
    /// Reads, parses, validates and completes the config at `path`, reading
    /// tokens from the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        Self::load_with_env(path, &ProcessEnv)
    }

    /// Like [`load`](Self::load), with `env` for `token_env` lookups.
    pub fn load_with_env(path: &Path, env: &dyn Env) -> Result<Self, ConfigErrors> {
        let mut config = Self::read(path).map_err(|e| ConfigErrors(vec![e]))?;
        let mut problems = config.validate();
        problems.extend(config.resolve_tokens(env));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Reads and parses `path`, then resolves relative paths against its
    /// directory. Does not validate.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::read(path, e))?;
        let mut config = Self::parse(path, &text)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// Parses TOML text; `file` names it in errors. Paths stay as written.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let mut config: Self = parse(file, text, Format::Toml, &[])?;
        config.file = file.to_path_buf();
        Ok(config)
    }

    /// Makes every relative path (plugin dir, target dirs, token files, data
    /// dir) relative to `base`, the config file's directory.
    pub fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.plugins.dir);
        self.targets.dirs.iter_mut().for_each(join);
        if let Some(p) = &mut self.server.ingress_token_file {
            join(p);
        }
        if let Some(p) = &mut self.admin.token_file {
            join(p);
        }
        join(&mut self.queue.data_dir);
    }

    /// Every value that is out of range or inconsistent, each naming the key.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let file = self.file.as_path();
        let mut bad =
            |key: &str, message: String| out.push(ConfigError::invalid(file, key, message));
        let positive = |d: Duration| !d.is_zero();

        // [server]
        let s = &self.server;
        if s.max_body_bytes == 0 {
            bad("server.max_body_bytes", "must be greater than zero".into());
        }
        if !positive(s.request_timeout) {
            bad("server.request_timeout", "must be greater than zero".into());
        }
        token_source(
            &mut bad,
            "server.ingress_token_env",
            s.ingress_token_env.as_deref(),
            "server.ingress_token_file",
            s.ingress_token_file.is_some(),
        );

        // [plugins]
        let p = &self.plugins;
        if p.dir.as_os_str().is_empty() {
            bad("plugins.dir", "must not be empty".into());
        }
        if p.memory_cap < (1 << 20) {
            bad(
                "plugins.memory_cap",
                format!("must be at least 1MiB, not {} bytes", p.memory_cap),
            );
        }
        if p.call_timeout < MIN_CALL_TIMEOUT {
            bad(
                "plugins.call_timeout",
                format!(
                    "must be at least 10ms, not {}",
                    humantime::format_duration(p.call_timeout)
                ),
            );
        }
        if p.max_request_body == 0 {
            bad(
                "plugins.max_request_body",
                "must be greater than zero".into(),
            );
        }
        if p.max_response_body == 0 {
            bad(
                "plugins.max_response_body",
                "must be greater than zero".into(),
            );
        }
        if p.max_instances == 0 {
            bad("plugins.max_instances", "must be at least 1".into());
        }

        // [targets]
        let t = &self.targets;
        for (i, dir) in t.dirs.iter().enumerate() {
            if dir.as_os_str().is_empty() {
                bad(&format!("targets.dirs[{i}]"), "must not be empty".into());
            }
        }
        if !positive(t.default_timeout) {
            bad(
                "targets.default_timeout",
                "must be greater than zero".into(),
            );
        }

        // [publish]: the options' own rules, with the key moved under `publish.`
        if let Err(message) = self.publish.validate() {
            let (key, rest) = split_leading_key(&message);
            let key = match key {
                Some(k) => format!("publish.{k}"),
                None => "publish".to_string(),
            };
            bad(&key, rest);
        }

        // [admin]
        token_source(
            &mut bad,
            "admin.token_env",
            self.admin.token_env.as_deref(),
            "admin.token_file",
            self.admin.token_file.is_some(),
        );

        // [log]
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            bad(
                "log.level",
                format!(
                    "`{}` is not a log filter like \"info\" or \"info,herald=debug\" ({e})",
                    self.log.level
                ),
            );
        }

        // [health]: the health module's own rules, with the key under `health.`
        if let Err(HealthConfigError::Invalid { field, reason }) = self.health.validate() {
            bad(&format!("health.{field}"), reason);
        }

        // [queue]
        let q = &self.queue;
        if q.data_dir.as_os_str().is_empty() {
            bad("queue.data_dir", "must not be empty".into());
        }
        for (key, n) in [
            ("queue.max_jobs", q.max_jobs),
            ("queue.max_dlq_entries", q.max_dlq_entries),
            ("queue.workers", q.workers),
        ] {
            if n == 0 {
                bad(key, "must be at least 1".into());
            }
        }
        if q.max_bytes == 0 {
            bad("queue.max_bytes", "must be greater than zero".into());
        }
        check_retry(&mut bad, "queue.retry", &q.retry);
        for (name, o) in &q.targets {
            if !valid_name(name) {
                bad(
                    &format!("queue.targets.{name}"),
                    "is not a valid target name".into(),
                );
            }
            let merged = RetryConfig {
                initial: o.initial.unwrap_or(q.retry.initial),
                factor: o.factor.unwrap_or(q.retry.factor),
                max_delay: o.max_delay.unwrap_or(q.retry.max_delay),
                max_attempts: o.max_attempts.unwrap_or(q.retry.max_attempts),
            };
            check_retry(&mut bad, &format!("queue.targets.{name}"), &merged);
        }
        out
    }

    /// Reads the admin and ingress tokens from their variable or file.
    /// Errors name the setting and the variable or file, never the value.
    pub fn resolve_tokens(&mut self, env: &dyn Env) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let file = self.file.clone();
        let key = |env_key: &str, file_key: &str, from_env: bool| {
            if from_env {
                env_key.to_string()
            } else {
                file_key.to_string()
            }
        };
        match resolve_token(
            self.server.ingress_token_env.as_deref(),
            self.server.ingress_token_file.as_ref(),
            env,
        ) {
            Ok(token) => self.server.ingress_token = token,
            Err(message) => out.push(ConfigError::Secret {
                file: file.clone(),
                key: key(
                    "server.ingress_token_env",
                    "server.ingress_token_file",
                    self.server.ingress_token_env.is_some(),
                ),
                message,
            }),
        }
        match resolve_token(
            self.admin.token_env.as_deref(),
            self.admin.token_file.as_ref(),
            env,
        ) {
            Ok(token) => self.admin.token = token,
            Err(message) => out.push(ConfigError::Secret {
                file,
                key: key(
                    "admin.token_env",
                    "admin.token_file",
                    self.admin.token_env.is_some(),
                ),
                message,
            }),
        }
        out
    }
}

/// The rules of a retry policy, keys under `prefix`.
fn check_retry(bad: &mut impl FnMut(&str, String), prefix: &str, r: &RetryConfig) {
    if r.initial.is_zero() {
        bad(
            &format!("{prefix}.initial"),
            "must be greater than zero".into(),
        );
    }
    if !(r.factor.is_finite() && r.factor >= 1.0) {
        bad(
            &format!("{prefix}.factor"),
            format!("must be a number of at least 1, not {}", r.factor),
        );
    }
    if r.max_delay < r.initial {
        bad(
            &format!("{prefix}.max_delay"),
            format!("must not be shorter than `{prefix}.initial`"),
        );
    }
    if r.max_attempts == 0 {
        bad(
            &format!("{prefix}.max_attempts"),
            "must be at least 1 (the first attempt counts)".into(),
        );
    }
}

/// A token comes from an environment variable or a file, not both.
fn token_source(
    bad: &mut impl FnMut(&str, String),
    env_key: &str,
    env_name: Option<&str>,
    file_key: &str,
    has_file: bool,
) {
    if let Some(name) = env_name {
        if !valid_env_name(name) {
            bad(
                env_key,
                format!(
                    "must be the name of an environment variable (letters, digits, `_`), not `{name}`; \
                     the token itself never goes in the config file"
                ),
            );
        }
        if has_file {
            bad(
                file_key,
                format!("and `{env_key}` are both set; use one of them"),
            );
        }
    }
}

/// Splits "`max_concurrent` must be …" into (`max_concurrent`, "must be …").
fn split_leading_key(message: &str) -> (Option<&str>, String) {
    if let Some(rest) = message.strip_prefix('`')
        && let Some((key, tail)) = rest.split_once('`')
    {
        return (Some(key), tail.trim_start().to_string());
    }
    (None, message.to_string())
}
