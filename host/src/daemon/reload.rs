//! Hot reload: one `notify` watcher per directory sends events to a single
//! debounced loader task, which (re)loads plugins and targets. `SIGHUP` and
//! `POST /api/v1/reload` go through the same task, so loads never run in
//! parallel.
//!
//! A plugin file that fails to load and a target file that fails to parse or
//! validate are rejected with a log line naming the file and the reason and a
//! metric; the previous version stays live.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use crate::config::{ConfigError, ProcessEnv, TargetStore, TargetsConfig, validate_with_plugins};
use crate::metrics::metrics;
use crate::plugin::PluginRuntime;

/// How long the loader waits for more events after the first one.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// What to reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Plugins,
    Targets,
    All,
}

struct Request {
    scope: Scope,
    reply: Option<oneshot::Sender<ReloadReport>>,
}

/// What one reload did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadReport {
    /// Plugin files loaded or replaced, with their kinds.
    pub plugins_loaded: Vec<String>,
    /// Kinds unloaded because their file went away.
    pub kinds_unloaded: Vec<String>,
    /// Plugin files rejected, with the reason (the previous version stays live).
    pub plugins_rejected: Vec<String>,
    /// Targets in effect after the reload.
    pub targets: usize,
    /// Problems with target files (a target whose file broke keeps its previous version).
    pub target_problems: Vec<String>,
}

/// Loads plugins and targets; the only writer of the registry and the target store.
pub struct Reloader {
    runtime: Arc<PluginRuntime>,
    plugin_dir: PathBuf,
    targets_config: TargetsConfig,
    store: Arc<TargetStore>,
    /// Issues per target name, from the last target load (file and adapter checks).
    issues: ArcSwap<HashMap<String, Vec<String>>>,
    /// Set once the first load of plugins and targets has finished.
    loaded: AtomicBool,
    requests: mpsc::UnboundedSender<Request>,
    receiver: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Request>>>,
}

impl Reloader {
    /// A reloader for `plugin_dir` and the target directories; nothing is loaded yet.
    pub fn new(
        runtime: Arc<PluginRuntime>,
        plugin_dir: PathBuf,
        targets_config: TargetsConfig,
        store: Arc<TargetStore>,
    ) -> Arc<Self> {
        let (requests, receiver) = mpsc::unbounded_channel();
        Arc::new(Self {
            runtime,
            plugin_dir,
            targets_config,
            store,
            issues: ArcSwap::default(),
            loaded: AtomicBool::new(false),
            requests,
            receiver: std::sync::Mutex::new(Some(receiver)),
        })
    }

    /// Problems known about a target.
    pub fn issues(&self, target: &str) -> Vec<String> {
        self.issues.load().get(target).cloned().unwrap_or_default()
    }

    /// Whether the first load finished, and at least one plugin is loaded.
    pub fn ready(&self) -> Result<(), String> {
        if !self.loaded.load(Ordering::Acquire) {
            return Err("plugins and targets are still loading".into());
        }
        if self.runtime.registry().snapshot().is_empty() {
            return Err(format!(
                "no plugin is loaded from {}",
                self.plugin_dir.display()
            ));
        }
        Ok(())
    }

    /// Asks the loader task to reload everything and waits for the report.
    /// Before [`start`](Self::start), loads directly (nothing else can be loading then).
    pub async fn reload(&self) -> ReloadReport {
        let started = self.receiver.lock().map(|r| r.is_none()).unwrap_or(true);
        if !started {
            return self.run(Scope::All).await;
        }
        let (tx, rx) = oneshot::channel();
        let request = Request {
            scope: Scope::All,
            reply: Some(tx),
        };
        if self.requests.send(request).is_err() {
            return ReloadReport::default();
        }
        rx.await.unwrap_or_default()
    }

    /// The first load, before serving, through the loader task (start it first).
    pub async fn initial_load(&self) -> ReloadReport {
        let report = self.reload().await;
        self.loaded.store(true, Ordering::Release);
        report
    }

    /// Starts the watchers and the loader task; both stop when the returned
    /// guard is dropped.
    pub fn start(self: &Arc<Self>) -> ReloadGuard {
        let mut watchers = Vec::new();
        let dirs = std::iter::once((self.plugin_dir.clone(), Scope::Plugins)).chain(
            self.targets_config
                .dirs
                .iter()
                .map(|d| (d.clone(), Scope::Targets)),
        );
        for (dir, scope) in dirs {
            let requests = self.requests.clone();
            let handler = move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && !matches!(event.kind, notify::EventKind::Access(_))
                {
                    let _ = requests.send(Request { scope, reply: None });
                }
            };
            match notify::recommended_watcher(handler).and_then(|mut w| {
                w.watch(&dir, RecursiveMode::Recursive)?;
                Ok(w)
            }) {
                Ok(w) => watchers.push(w),
                Err(e) => tracing::warn!(
                    dir = %dir.display(),
                    "cannot watch this directory ({e}); changes there need SIGHUP or POST /api/v1/reload"
                ),
            }
        }
        let receiver = self.receiver.lock().ok().and_then(|mut r| r.take());
        let task = receiver.map(|receiver| {
            let this = self.clone();
            tokio::spawn(async move { this.loader(receiver).await })
        });
        ReloadGuard {
            _watchers: watchers,
            task,
        }
    }

    /// The single loader: waits for a request, gathers whatever else arrives
    /// within [`DEBOUNCE`], and runs one load for all of them.
    async fn loader(self: Arc<Self>, mut receiver: mpsc::UnboundedReceiver<Request>) {
        while let Some(first) = receiver.recv().await {
            let mut scopes = vec![first.scope];
            let mut replies: Vec<_> = first.reply.into_iter().collect();
            if replies.is_empty() {
                tokio::time::sleep(DEBOUNCE).await;
            }
            while let Ok(more) = receiver.try_recv() {
                scopes.push(more.scope);
                replies.extend(more.reply);
            }
            let scope = if scopes.contains(&Scope::All)
                || (scopes.contains(&Scope::Plugins) && scopes.contains(&Scope::Targets))
            {
                Scope::All
            } else {
                scopes[0]
            };
            let report = self.run(scope).await;
            for reply in replies {
                let _ = reply.send(report.clone());
            }
        }
    }

    async fn run(&self, scope: Scope) -> ReloadReport {
        let mut report = ReloadReport::default();
        if matches!(scope, Scope::Plugins | Scope::All) {
            self.reload_plugins(&mut report).await;
        }
        // Targets are re-validated after plugin changes too: a new kind may
        // make a target routable, a removed one may make it not.
        self.reload_targets(&mut report).await;
        report
    }

    async fn reload_plugins(&self, report: &mut ReloadReport) {
        let files = match wasm_files(&self.plugin_dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(dir = %self.plugin_dir.display(), "cannot read the plugin directory: {e}");
                report
                    .plugins_rejected
                    .push(format!("{}: {e}", self.plugin_dir.display()));
                return;
            }
        };
        let loaded: BTreeMap<PathBuf, String> = self
            .runtime
            .registry()
            .snapshot()
            .values()
            .map(|p| (p.path.clone(), p.sha256.clone()))
            .collect();
        for path in &files {
            let Ok(bytes) = tokio::fs::read(path).await else {
                continue;
            };
            let sha = hex::encode(Sha256::digest(&bytes));
            if loaded.get(path) == Some(&sha) {
                continue;
            }
            let previous_kinds = self.kinds_of(path);
            match self.runtime.load_bytes(path, &bytes).await {
                Ok(plugin) => {
                    let plugin = Arc::new(plugin);
                    for kind in &plugin.kinds {
                        metrics()
                            .plugin_reloads
                            .with_label_values(&[kind, "ok"])
                            .inc();
                    }
                    tracing::info!(
                        file = %path.display(), kinds = %plugin.kinds.join(","), version = %plugin.version,
                        "plugin loaded"
                    );
                    report.plugins_loaded.push(format!(
                        "{} ({} {})",
                        path.display(),
                        plugin.kinds.join(","),
                        plugin.version
                    ));
                    self.runtime.registry().insert(plugin);
                }
                Err(e) => {
                    let kind = previous_kinds
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "unknown".into());
                    metrics()
                        .plugin_reloads
                        .with_label_values(&[&kind, "rejected"])
                        .inc();
                    let kept = if previous_kinds.is_empty() {
                        String::new()
                    } else {
                        "; the previous version stays live".to_string()
                    };
                    tracing::error!("{e}{kept}");
                    report.plugins_rejected.push(format!("{e}{kept}"));
                }
            }
        }
        for path in loaded.keys().filter(|p| !files.contains(p)) {
            let kinds = self.runtime.registry().remove_path(path);
            for kind in &kinds {
                metrics()
                    .plugin_reloads
                    .with_label_values(&[kind, "unloaded"])
                    .inc();
            }
            tracing::info!(file = %path.display(), kinds = %kinds.join(","), "plugin file removed; kinds unloaded");
            report.kinds_unloaded.extend(kinds);
        }
    }

    fn kinds_of(&self, path: &Path) -> Vec<String> {
        self.runtime
            .registry()
            .snapshot()
            .iter()
            .filter(|(_, p)| p.path == path)
            .map(|(k, _)| k.clone())
            .collect()
    }

    async fn reload_targets(&self, report: &mut ReloadReport) {
        let config = self.targets_config.clone();
        let loaded = tokio::task::spawn_blocking(move || config.load_with_env(&ProcessEnv)).await;
        let Ok(mut set) = loaded else {
            tracing::error!("loading targets panicked; keeping the current targets");
            return;
        };
        let previous = self.store.snapshot();
        set.keep_previous(&previous);
        let adapter_problems = validate_with_plugins(&set, &self.runtime).await;
        set.push_problems(adapter_problems);
        let mut issues: HashMap<String, Vec<String>> = HashMap::new();
        for problem in set.problems() {
            let text = problem.to_string();
            tracing::warn!("{text}");
            report.target_problems.push(text.clone());
            if let Some(name) = problem_target(problem) {
                issues.entry(name).or_default().push(text);
            }
        }
        let result = if set.problems().is_empty() {
            "ok"
        } else {
            "problems"
        };
        metrics().target_reloads.with_label_values(&[result]).inc();
        report.targets = set.targets().len();
        self.issues.store(Arc::new(issues));
        self.store.replace(set);
    }
}

/// The target a problem is about, when it is about one.
fn problem_target(problem: &ConfigError) -> Option<String> {
    match problem {
        ConfigError::NotRoutable { target, .. } | ConfigError::AdapterRejected { target, .. } => {
            Some(target.clone())
        }
        _ => None,
    }
}

fn wasm_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Keeps the watchers and the loader task alive.
pub struct ReloadGuard {
    _watchers: Vec<notify::RecommendedWatcher>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for ReloadGuard {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
