//! The daemon under test: a temporary directory holding a `herald.toml`, a
//! plugin directory (copies of the compiled adapters, named `<kind>.wasm` as
//! an operator would deploy them) and a targets directory; the real
//! [`herald::daemon::Daemon`] built from it and served on `127.0.0.1:0`
//! in-process, stopped through a oneshot shutdown; an HTTP client to call it;
//! and the small helpers the black-box tests share (bounded waits, reading
//! `/metrics`, replacing files the way a deploy does).
//!
//! Only the public surface is used: the config file is parsed by
//! `DaemonConfig::load_with_env`, the daemon by `Daemon::build`/`serve`,
//! and everything else goes over HTTP.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald::config::DaemonConfig;
use herald::daemon::Daemon;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{repo_root, wasm};

/// How long the tests wait for something that should happen "soon" (a
/// background delivery, a hot reload) before failing. Generous: the issue
/// promises 1 s for reloads, and a loaded 2-core CI machine is slow.
pub const SOON: Duration = Duration::from_secs(10);

/// The compiled adapter of `kind` (`make plugins` builds it).
pub fn adapter(kind: &str) -> PathBuf {
    wasm(&format!("herald_plugin_{kind}"))
}

/// A target file in TOML: `name`, `kind`, `url`, then `extra` verbatim
/// (further keys or tables such as `[options]`).
pub fn target_toml(name: &str, kind: &str, url: &str, extra: &str) -> String {
    format!("name = \"{name}\"\nkind = \"{kind}\"\nurl = \"{url}\"\n{extra}\n")
}

/// Writes `contents` to `path` the way a deploy does: into a hidden
/// temporary file in the same directory, then renamed over `path`, so
/// readers see the old file or the new one, never half of one. Hidden
/// names (`.…`) and the `.tmp` extension are ignored by Herald's scanners.
pub fn replace_file(path: &Path, contents: impl AsRef<[u8]>) {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, contents).unwrap_or_else(|e| panic!("writing {}: {e}", tmp.display()));
    std::fs::rename(&tmp, path)
        .unwrap_or_else(|e| panic!("renaming {} to {}: {e}", tmp.display(), path.display()));
}

/// Waits until `check` returns `Some`, polling every 20 ms, and returns the
/// value; fails the test naming `what` when `within` passes first.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < within,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Builds the files of a daemon under test.
pub struct DaemonSetup {
    dir: TempDir,
    /// `herald.toml` lines by section; `[server] listen` and the plugin and
    /// target directories are always set.
    sections: BTreeMap<String, Vec<String>>,
    /// What `token_env` settings are looked up in (the test process's own
    /// environment cannot be changed safely while other tests run).
    env: BTreeMap<String, String>,
}

impl Default for DaemonSetup {
    fn default() -> Self {
        Self::new()
    }
}

impl DaemonSetup {
    /// An empty plugin directory, an empty targets directory, default settings.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("herald-daemon-")
            .tempdir()
            .unwrap_or_else(|e| panic!("creating a temporary directory: {e}"));
        for sub in ["plugins", "targets"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .unwrap_or_else(|e| panic!("creating {sub}/: {e}"));
        }
        let mut sections: BTreeMap<String, Vec<String>> = BTreeMap::new();
        sections
            .entry("server".into())
            .or_default()
            .push("listen = \"127.0.0.1:0\"".into());
        sections
            .entry("plugins".into())
            .or_default()
            .push("dir = \"plugins\"".into());
        sections
            .entry("targets".into())
            .or_default()
            .push("dirs = [\"targets\"]".into());
        Self {
            dir,
            sections,
            env: BTreeMap::new(),
        }
    }

    /// The adapter of `kind`, deployed as `plugins/<kind>.wasm`.
    pub fn adapter(self, kind: &str) -> Self {
        let from = adapter(kind);
        self.plugin_file(&from, &format!("{kind}.wasm"))
    }

    /// The compiled guest `crate_name` (e.g. `herald_test_misbehave`), deployed
    /// as `plugins/<file>`.
    pub fn guest(self, crate_name: &str, file: &str) -> Self {
        let from = wasm(crate_name);
        self.plugin_file(&from, file)
    }

    fn plugin_file(self, from: &Path, file: &str) -> Self {
        let to = self.dir.path().join("plugins").join(file);
        std::fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
        self
    }

    /// Writes `targets/<file>` with `contents`.
    pub fn target_file(self, file: &str, contents: &str) -> Self {
        let path = self.dir.path().join("targets").join(file);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self
    }

    /// Writes `targets/<name>.toml` for a target of `kind` at `url`, with `extra` appended.
    pub fn target(self, name: &str, kind: &str, url: &str, extra: &str) -> Self {
        self.target_file(
            &format!("{name}.toml"),
            &target_toml(name, kind, url, extra),
        )
    }

    /// Adds a `key = value` line to `[section]` of `herald.toml`.
    pub fn set(mut self, section: &str, line: &str) -> Self {
        self.sections
            .entry(section.into())
            .or_default()
            .push(line.into());
        self
    }

    /// Makes `name` resolve to `value` for `token_env` settings.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Writes `contents` to `file` in the daemon's directory (e.g. a token file).
    pub fn file(self, file: &str, contents: &str) -> Self {
        let path = self.dir.path().join(file);
        std::fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self
    }

    /// The `herald.toml` text.
    pub fn config_text(&self) -> String {
        let mut out = String::new();
        for (section, lines) in &self.sections {
            out.push_str(&format!("[{section}]\n"));
            for line in lines {
                out.push_str(line);
                out.push('\n');
            }
            out.push('\n');
        }
        out
    }

    /// Writes `herald.toml` and hands the directory over (for running the
    /// real binary on it). The directory is removed when the result is dropped.
    pub fn write(self) -> DaemonFiles {
        let config = self.dir.path().join("herald.toml");
        std::fs::write(&config, self.config_text())
            .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        DaemonFiles {
            dir: self.dir,
            config,
        }
    }

    /// Writes `herald.toml`, loads it as `herald serve` would, builds the
    /// daemon (first load of plugins and targets) and serves it on a free
    /// loopback port.
    pub async fn start(self) -> TestDaemon {
        let env = self.env.clone();
        let files = self.write();
        let config = DaemonConfig::load_with_env(&files.config, &env).unwrap_or_else(|e| {
            panic!(
                "the test's herald.toml is invalid:\n{e}\n---\n{}",
                std::fs::read_to_string(&files.config).unwrap_or_default()
            )
        });
        let daemon = Daemon::build(config)
            .await
            .unwrap_or_else(|e| panic!("building the daemon: {e:#}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("reading the local address: {e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.serve(listener, async move {
            let _ = stopped.await;
        }));
        let daemon = TestDaemon {
            files,
            addr,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        };
        // Once `/healthz` answers, `serve` has started the watchers too: a
        // file the test changes from now on is seen by hot reload.
        eventually("the daemon to answer /healthz", SOON, || async {
            let reply = daemon
                .client
                .get(daemon.url("/healthz"))
                .send()
                .await
                .ok()?;
            (reply.status() == 200).then_some(())
        })
        .await;
        daemon
    }
}

/// The files of a daemon under test; removed on drop.
pub struct DaemonFiles {
    dir: TempDir,
    /// `herald.toml`.
    pub config: PathBuf,
}

impl DaemonFiles {
    /// The directory holding `herald.toml`, `plugins/` and `targets/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `plugins/`.
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// `targets/`.
    pub fn targets_dir(&self) -> PathBuf {
        self.dir.path().join("targets")
    }
}

/// An answer from the daemon.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The whole body as text.
    pub body: String,
}

impl Reply {
    /// The body as JSON; fails the test, showing the body, when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "the answer ({}) is not JSON ({e}): {}",
                self.status, self.body
            )
        })
    }

    /// The `error` message of an error answer (`{"error": "..."}`).
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no `error` in the answer ({}): {}", self.status, self.body))
            .to_string()
    }
}

/// A running daemon under test. Dropping it asks it to shut down.
pub struct TestDaemon {
    /// Its `herald.toml`, plugin and target directories (tests change them to hot-reload).
    pub files: DaemonFiles,
    /// Where it listens.
    pub addr: SocketAddr,
    /// A client for calling it (or anything else).
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestDaemon {
    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a request and reads the whole answer; `bearer` adds
    /// `Authorization: Bearer …`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
        bearer: Option<&str>,
    ) -> Reply {
        let mut request = self.client.request(method.clone(), self.url(path));
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body.to_string()), None)
            .await
    }

    /// `POST path` with `body` sent as is (for malformed input).
    pub async fn post_raw(&self, path: &str, body: impl Into<String>) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body.into()), None)
            .await
    }

    /// `POST /api/v1/publish` of `request` (`{"alert": …, "targets": …}`).
    pub async fn publish(&self, request: &serde_json::Value) -> Reply {
        self.post("/api/v1/publish", request).await
    }

    /// `GET /metrics` as text (must answer 200).
    pub async fn metrics(&self) -> String {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200, "GET /metrics: {}", reply.body);
        reply.body
    }

    /// The value of the sample `name{labels}` in `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&self.metrics().await, name, labels)
    }

    /// Writes `targets/<file>` atomically (see [`replace_file`]).
    pub fn write_target(&self, file: &str, contents: &str) {
        replace_file(&self.files.targets_dir().join(file), contents);
    }

    /// Removes `targets/<file>`.
    pub fn remove_target(&self, file: &str) {
        let path = self.files.targets_dir().join(file);
        std::fs::remove_file(&path).unwrap_or_else(|e| panic!("removing {}: {e}", path.display()));
    }

    /// Stops the daemon (as SIGTERM would) and waits until it has drained.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The value of the sample `name{labels…}` in a Prometheus text exposition:
/// the sample named `name` whose labels include every pair in `labels` (in
/// any order). 0 when there is none (a counter never incremented is absent).
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if series_name != name {
                return None;
            }
            let all = labels.iter().all(|(k, v)| {
                let pair = format!("{k}=\"{v}\"");
                series_labels.starts_with(&pair) || series_labels.contains(&format!(",{pair}"))
            });
            if all { value.parse::<f64>().ok() } else { None }
        })
        .next()
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------- the real binary

/// The `herald` binary `cargo build -p herald` (or a workspace test run) leaves
/// in `target/debug`, or `$HERALD_BIN`.
pub fn herald_binary() -> PathBuf {
    let path = std::env::var_os("HERALD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/debug/herald"));
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p herald` (a workspace test run, \
         `cargo nextest run --workspace`, builds it too) or set HERALD_BIN",
        path.display()
    );
    path
}

/// The real `herald serve` as a child process, with its stderr collected.
pub struct HeraldProcess {
    child: Child,
    addr: std::net::SocketAddr,
    /// Every line it wrote to stderr.
    log: Arc<Mutex<Vec<String>>>,
}

impl HeraldProcess {
    /// Starts `herald serve --config CONFIG` and waits until it says where it listens.
    pub fn start(config: &std::path::Path) -> Self {
        let mut child = Command::new(herald_binary())
            .args(["serve", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .env_remove("HERALD_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting herald serve: {e}"));
        let stderr = child.stderr.take().expect("herald's stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("herald listening on http://") {
                    let _ = tx.send(addr.trim().to_string());
                }
                lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().expect("a socket address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "herald serve did not say where it listens; its log:\n{}",
                    log.lock().map(|l| l.join("\n")).unwrap_or_default()
                );
            }
        };
        Self { child, addr, log }
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Sends a signal by name (`HUP`, `TERM`).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill -{signal}: {e}"));
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (bounded) for the process to exit; its exit code.
    pub async fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for herald") {
                return status.code();
            }
            assert!(
                started.elapsed() < within,
                "herald did not exit within {within:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl HeraldProcess {
    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HeraldProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
