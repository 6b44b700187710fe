//! `herald check-config`: load everything the daemon would load — its
//! config, the plugins, every target — run every check, and report every
//! problem with its file and key, without starting anything.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::daemon::DaemonConfig;
use super::error::ConfigError;
use super::plugins::validate_with_plugins;
use super::secret::{Env, ProcessEnv};
use crate::plugin::{LoadError, MemoryStateStore, PluginRuntime};

/// A plugin that loaded, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSummary {
    pub kinds: Vec<String>,
    pub version: String,
    pub file: PathBuf,
}

/// A target that loaded, for the summary (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSummary {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub file: PathBuf,
}

/// What `check-config` found. [`is_ok`](Self::is_ok) decides the exit code.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// The daemon config file checked.
    pub config_file: PathBuf,
    pub plugins: Vec<PluginSummary>,
    pub targets: Vec<TargetSummary>,
    /// Every problem, in the order found: daemon config, plugins, targets, adapters.
    pub problems: Vec<ConfigError>,
    /// Why the adapters' own checks did not run, if they did not.
    pub adapter_checks_skipped: Option<String>,
}

impl CheckReport {
    /// No problems at all.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line per problem, then a one-line summary. Never contains a secret value.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for problem in &self.problems {
            let _ = writeln!(out, "{problem}");
        }
        let count = match self.problems.len() {
            0 => "no problems".to_string(),
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        };
        let mut kinds: Vec<&str> = self
            .plugins
            .iter()
            .flat_map(|p| p.kinds.iter().map(String::as_str))
            .collect();
        kinds.sort_unstable();
        let enabled = self.targets.iter().filter(|t| t.enabled).count();
        let _ = write!(
            out,
            "{}: {count}; {} plugin{} loaded (kinds: {}), {} target{} loaded ({enabled} enabled)",
            self.config_file.display(),
            self.plugins.len(),
            plural(self.plugins.len()),
            if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(", ")
            },
            self.targets.len(),
            plural(self.targets.len()),
        );
        if let Some(why) = &self.adapter_checks_skipped {
            let _ = write!(out, "; adapter checks skipped: {why}");
        }
        out.push('\n');
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Checks the config at `path`, reading `${VAR}` and tokens from the process environment.
pub async fn check_config(path: &Path) -> CheckReport {
    check_config_with_env(path, &ProcessEnv).await
}

/// Like [`check_config`], with `env` for environment lookups.
pub async fn check_config_with_env(path: &Path, env: &dyn Env) -> CheckReport {
    let mut report = CheckReport {
        config_file: path.to_path_buf(),
        ..CheckReport::default()
    };
    let mut config = match DaemonConfig::read(path) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(e);
            report.adapter_checks_skipped = Some("the daemon config could not be read".into());
            return report;
        }
    };
    report.problems.extend(config.validate());
    report.problems.extend(config.resolve_tokens(env));

    let runtime = load_plugins(&config, &mut report).await;

    let set = config.targets.load_with_env(env);
    report.problems.extend(set.problems().iter().cloned());
    report.targets = set
        .entries()
        .map(|(t, file)| TargetSummary {
            name: t.name.clone(),
            kind: t.kind.clone(),
            enabled: t.enabled,
            file: file.to_path_buf(),
        })
        .collect();

    if let Some(runtime) = runtime {
        report
            .problems
            .extend(validate_with_plugins(&set, &runtime).await);
    }
    report
}

/// Builds a runtime with the configured limits and loads the plugin
/// directory, recording each plugin or problem. `None` when there is no
/// usable runtime (the adapter checks are then skipped, with the reason).
async fn load_plugins(config: &DaemonConfig, report: &mut CheckReport) -> Option<PluginRuntime> {
    let file = config.file.as_path();
    let dir = &config.plugins.dir;
    let runtime = match PluginRuntime::new(
        config.plugins.runtime_limits(),
        Arc::new(MemoryStateStore::new()),
    ) {
        Ok(r) => r,
        Err(e) => {
            report
                .problems
                .push(ConfigError::invalid(file, "plugins", e.to_string()));
            report.adapter_checks_skipped = Some("the plugin runtime could not start".into());
            return None;
        }
    };
    let results = match runtime.load_dir(dir).await {
        Ok(r) => r,
        Err(e) => {
            report.problems.push(ConfigError::Read {
                file: dir.clone(),
                message: format!(
                    "{} (this is `plugins.dir`; `make plugins` builds the adapters into target/plugins)",
                    load_error_message(&e)
                ),
            });
            report.adapter_checks_skipped = Some("the plugin directory could not be read".into());
            return None;
        }
    };
    for result in results {
        match result {
            Ok(plugin) => report.plugins.push(PluginSummary {
                kinds: plugin.kinds.clone(),
                version: plugin.version.clone(),
                file: plugin.path.clone(),
            }),
            Err(e) => report.problems.push(ConfigError::Plugin {
                file: match &e {
                    LoadError::Io { file, .. } | LoadError::Invalid { file, .. } => {
                        PathBuf::from(file)
                    }
                    LoadError::Config(_) => dir.clone(),
                },
                message: e.to_string(),
            }),
        }
    }
    Some(runtime)
}

fn load_error_message(e: &LoadError) -> String {
    match e {
        LoadError::Io { message, .. } => message.clone(),
        other => other.to_string(),
    }
}
