//! Target discovery: one file per target (TOML, YAML or JSON by extension)
//! or a Kubernetes Secret volume (a directory whose `config` file holds the
//! target as JSON), secrets resolved, every target validated. One bad file
//! never stops the others from loading; its problems are listed instead.
//!
//! The result is a [`TargetSet`]; a [`TargetStore`] holds the current set
//! behind `arc-swap` for the publisher and swaps it atomically on reload.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Deserialize;

use super::error::{ConfigError, Format, parse};
use super::secret::{self, Env};
use super::units::duration;
use crate::model::{Secrets, Target, TargetSource};

/// The file name a Kubernetes Secret key becomes when the Secret is mounted
/// as a volume: the target's JSON lives under the key `config`.
pub const K8S_CONFIG_FILE: &str = "config";

/// Longest target name (a DNS label, so names fit in Kubernetes and metrics).
pub const MAX_NAME_LEN: usize = 63;

/// A target file as written. Unknown keys are rejected.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    name: String,
    kind: String,
    url: String,
    #[serde(default = "enabled_default")]
    enabled: bool,
    #[serde(default, with = "duration::option")]
    timeout: Option<Duration>,
    /// Values may hold `${VAR}` (e.g. `Bearer ${TOKEN}`), resolved at load.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
    /// Literal, `${VAR}` anywhere in the value, or `file:PATH` as the whole value.
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

fn enabled_default() -> bool {
    true
}

/// The targets found in the configured directories, and what was wrong with
/// the files that did not make it.
#[derive(Debug, Clone, Default)]
pub struct TargetSet {
    /// The valid targets, sorted by name; shared with the publisher as is.
    targets: Arc<Vec<Target>>,
    /// The file each target came from, by name.
    files: HashMap<String, PathBuf>,
    problems: Vec<ConfigError>,
}

impl TargetSet {
    /// A set of targets that did not come from files (tests, embedding).
    pub fn from_targets(targets: Vec<Target>) -> Self {
        let files = targets
            .iter()
            .map(|t| (t.name.clone(), PathBuf::from(format!("({})", t.name))))
            .collect();
        Self {
            targets: Arc::new(targets),
            files,
            problems: Vec::new(),
        }
    }

    /// The valid targets (enabled or not), sorted by name.
    pub fn targets(&self) -> &Arc<Vec<Target>> {
        &self.targets
    }

    /// A target by name.
    pub fn get(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The file a target was read from.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.files.get(name).map(PathBuf::as_path)
    }

    /// Every valid target with its file.
    pub fn entries(&self) -> impl Iterator<Item = (&Target, &Path)> {
        self.targets.iter().map(|t| {
            let file = self
                .files
                .get(&t.name)
                .map_or(Path::new(""), PathBuf::as_path);
            (t, file)
        })
    }

    /// What was wrong with the files that were skipped (or partly used).
    pub fn problems(&self) -> &[ConfigError] {
        &self.problems
    }

    /// Adds problems found later (e.g. by the adapters' validation).
    pub fn push_problems(&mut self, problems: impl IntoIterator<Item = ConfigError>) {
        self.problems.extend(problems);
    }
}

/// The current target set, swapped atomically on reload. Reading it is one
/// atomic load and an `Arc` clone, so the publisher can call it per publish;
/// a publish keeps the snapshot it started with.
#[derive(Debug)]
pub struct TargetStore {
    current: ArcSwap<TargetSet>,
}

impl TargetStore {
    /// A store holding `set`.
    pub fn new(set: TargetSet) -> Self {
        Self {
            current: ArcSwap::from_pointee(set),
        }
    }

    /// The current set (with files and problems).
    pub fn snapshot(&self) -> Arc<TargetSet> {
        self.current.load_full()
    }

    /// Replaces the set; publishes that already started keep the old one.
    /// Returns the previous set.
    pub fn replace(&self, set: TargetSet) -> Arc<TargetSet> {
        self.current.swap(Arc::new(set))
    }
}

impl Default for TargetStore {
    fn default() -> Self {
        Self::new(TargetSet::default())
    }
}

impl TargetSource for TargetStore {
    fn targets(&self) -> Arc<Vec<Target>> {
        self.current.load().targets.clone()
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 characters.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME_LEN
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Scans `dirs` in order and loads every target file found:
///
/// - `*.toml`, `*.yaml`/`*.yml`, `*.json`: one target each;
/// - a file named `config` (no extension), or a subdirectory holding one:
///   a Kubernetes Secret volume; `config` holds the target as JSON, and its
///   `..data` symlinks are followed; other subdirectories are ignored (they
///   may hold files that `file:` secrets read);
/// - names starting with `.` are ignored (editor swap files, Kubernetes'
///   `..data` and timestamped directories), as are files with other extensions.
///
/// Files are read in name order; when two use the same target name, the
/// first keeps it and the other is reported. Relative `file:` secrets are
/// read from the directory of the file that names them; `${VAR}` in secret
/// and header values comes from `env`.
pub fn load_targets(dirs: &[PathBuf], default_timeout: Duration, env: &dyn Env) -> TargetSet {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in dirs {
        match scan_dir(dir, &mut problems) {
            Ok(found) => files.extend(found),
            Err(e) => problems.push(e),
        }
    }

    let mut targets: Vec<Target> = Vec::new();
    let mut origin: HashMap<String, PathBuf> = HashMap::new();
    for (file, format) in files {
        match load_target_file(&file, format, default_timeout, env) {
            Ok(target) => {
                if let Some(first) = origin.get(&target.name) {
                    problems.push(ConfigError::DuplicateName {
                        file,
                        name: target.name,
                        first: first.clone(),
                    });
                } else {
                    origin.insert(target.name.clone(), file);
                    targets.push(target);
                }
            }
            Err(mut errors) => problems.append(&mut errors),
        }
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));
    TargetSet {
        targets: Arc::new(targets),
        files: origin,
        problems,
    }
}

/// The target files directly in `dir`, sorted by path, with their format.
fn scan_dir(
    dir: &Path,
    problems: &mut Vec<ConfigError>,
) -> Result<Vec<(PathBuf, Format)>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ConfigError::read(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| !hidden(p))
        .collect();
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        // Follows symlinks, as Kubernetes volumes are made of them.
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                problems.push(ConfigError::read(&path, e));
                continue;
            }
        };
        if meta.is_dir() {
            // A Kubernetes Secret volume; any other directory (say, one
            // holding files that `file:` secrets read) is not a target.
            let config = path.join(K8S_CONFIG_FILE);
            if config.is_file() {
                found.push((config, Format::Json));
            }
        } else if path.file_name().is_some_and(|n| n == K8S_CONFIG_FILE) {
            found.push((path, Format::Json));
        } else if let Some(format) = Format::from_path(&path) {
            found.push((path, format));
        }
    }
    Ok(found)
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'))
}

/// Reads, parses, validates one target file and resolves its secrets.
/// Returns every problem found in it (the file then contributes no target).
pub fn load_target_file(
    file: &Path,
    format: Format,
    default_timeout: Duration,
    env: &dyn Env,
) -> Result<Target, Vec<ConfigError>> {
    let text = std::fs::read_to_string(file).map_err(|e| vec![ConfigError::read(file, e)])?;
    let raw: TargetFile =
        parse(file, &text, format, &["secrets", "headers"]).map_err(|e| vec![e])?;
    let mut problems = validate(file, &raw);
    let base = file.parent().unwrap_or(Path::new(""));
    let mut secrets = BTreeMap::new();
    for (key, value) in &raw.secrets {
        match secret::resolve(value, base, env) {
            Ok(v) => {
                secrets.insert(key.clone(), v);
            }
            Err(message) => problems.push(ConfigError::Secret {
                file: file.to_path_buf(),
                key: format!("secrets.{key}"),
                message,
            }),
        }
    }
    let mut headers = BTreeMap::new();
    for (name, value) in &raw.headers {
        match secret::interpolate(value, env) {
            Ok(v) => {
                headers.insert(name.clone(), v);
            }
            Err(message) => problems.push(ConfigError::Secret {
                file: file.to_path_buf(),
                key: format!("headers.{name}"),
                message,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Target {
        name: raw.name,
        kind: raw.kind,
        url: raw.url,
        enabled: raw.enabled,
        headers,
        options: raw.options,
        secrets: Secrets::new(secrets),
        timeout: raw.timeout.unwrap_or(default_timeout),
    })
}

/// The checks that need no adapter: name, kind, url, timeout, key names.
fn validate(file: &Path, t: &TargetFile) -> Vec<ConfigError> {
    let mut out = Vec::new();
    let mut bad = |key: &str, message: String| out.push(ConfigError::invalid(file, key, message));
    if !valid_name(&t.name) {
        bad(
            "name",
            format!(
                "must be lower-case letters, digits and `-`, start and end with a letter or digit, \
                 and be at most {MAX_NAME_LEN} characters (like `pd-prod`), not `{}`",
                t.name.chars().take(80).collect::<String>()
            ),
        );
    }
    if !valid_name(&t.kind) {
        bad(
            "kind",
            format!(
                "must be an adapter kind like `webhook` or `pagerduty` (lower-case letters, digits and `-`), not `{}`",
                t.kind.chars().take(80).collect::<String>()
            ),
        );
    }
    if let Err(message) = check_url(&t.url) {
        bad("url", message);
    }
    if t.timeout.is_some_and(|d| d.is_zero()) {
        bad(
            "timeout",
            "must be greater than zero (leave it out to use `targets.default_timeout`)".into(),
        );
    }
    for name in t.headers.keys() {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            bad(
                &format!("headers.{name}"),
                "is not a valid HTTP header name".into(),
            );
        }
    }
    for (table, keys) in [("options", t.options.keys()), ("secrets", t.secrets.keys())] {
        for key in keys {
            if key.is_empty() {
                bad(table, "has an empty key".into());
            }
        }
    }
    out
}

/// `http` or `https`, with a host, without credentials.
fn check_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| {
        format!("must be an http(s) URL with a host, like `https://events.pagerduty.com` ({e})")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must use http or https, not `{}`", url.scheme()));
    }
    // The URL parser reads `https:///x` as host `x`; nobody means that.
    let after_scheme = raw.split_once("://").map_or("", |(_, rest)| rest);
    if url.host_str().is_none_or(str::is_empty) || after_scheme.starts_with('/') {
        return Err("must have a host, like `https://events.pagerduty.com`".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "must not carry credentials (`user:password@`): the url is shown by the admin API; \
             put credentials in `secrets`"
                .into(),
        );
    }
    Ok(())
}

impl TargetSet {
    /// For hot reload: a target whose file now has a problem keeps the
    /// version `previous` had from that same file, so a bad edit never takes
    /// a working target away. (A name that now comes from another file, or a
    /// file that was deleted, is not kept.)
    pub fn keep_previous(&mut self, previous: &TargetSet) {
        let broken: Vec<&Path> = self.problems.iter().map(ConfigError::file).collect();
        let mut kept = Vec::new();
        for (target, file) in previous.entries() {
            if self.get(&target.name).is_none() && broken.contains(&file) && file.exists() {
                kept.push((target.clone(), file.to_path_buf()));
            }
        }
        if kept.is_empty() {
            return;
        }
        let mut targets: Vec<Target> = self.targets.as_ref().clone();
        for (target, file) in kept {
            tracing::warn!(
                target = %target.name, file = %file.display(),
                "the file has a problem; keeping the previous version of this target"
            );
            self.files.insert(target.name.clone(), file);
            targets.push(target);
        }
        targets.sort_by(|a, b| a.name.cmp(&b.name));
        self.targets = Arc::new(targets);
    }
}
