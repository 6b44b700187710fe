//! A real Prometheus Alertmanager process for tests against the real peer:
//! started on a free loopback port with its own temporary config and storage,
//! waited on until `GET /-/ready` answers 200, and killed (its files removed)
//! when dropped.
//!
//! The binary comes from Debian's `prometheus-alertmanager` package
//! (`/usr/bin/prometheus-alertmanager`; CI installs it), or from
//! `$HERALD_ALERTMANAGER_BIN` when set. A missing binary is a test failure
//! with the fix in its message, never a silent pass.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Where Debian's `prometheus-alertmanager` package puts the binary.
pub const DEBIAN_BINARY: &str = "/usr/bin/prometheus-alertmanager";

/// Names another Alertmanager binary to test against (overrides [`DEBIAN_BINARY`]).
pub const BINARY_ENV: &str = "HERALD_ALERTMANAGER_BIN";

/// The smallest useful configuration: every alert is routed to a receiver
/// with no integrations, so Alertmanager stores and shows alerts but never
/// notifies anyone.
pub const NULL_RECEIVER_CONFIG: &str = "\
route:
  receiver: 'null'
receivers:
  - name: 'null'
";

/// How long Alertmanager gets to answer `/-/ready` after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts when the free port we picked was taken before Alertmanager bound it.
const PORT_ATTEMPTS: usize = 3;

/// Tells temporary directories of one test process apart.
static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A running Alertmanager, killed when dropped.
pub struct RealAlertmanager {
    child: Child,
    /// Holds the config file, the storage directory and the process's log;
    /// removed on drop.
    dir: PathBuf,
    addr: SocketAddr,
    /// As `GET /api/v2/status` reports it (e.g. `0.25.0`).
    version: String,
}

impl RealAlertmanager {
    /// The binary to run: `$HERALD_ALERTMANAGER_BIN`, else Debian's. Errors
    /// say how to install it.
    pub fn binary() -> Result<PathBuf, String> {
        let (path, from_env) = match std::env::var_os(BINARY_ENV) {
            Some(p) if !p.is_empty() => (PathBuf::from(p), true),
            _ => (PathBuf::from(DEBIAN_BINARY), false),
        };
        if path.is_file() {
            return Ok(path);
        }
        Err(if from_env {
            format!(
                "{BINARY_ENV} names `{}`, which does not exist; point it at an alertmanager \
                 binary or unset it to use Debian's {DEBIAN_BINARY}",
                path.display()
            )
        } else {
            format!(
                "{DEBIAN_BINARY} is missing: the real-peer tests need Prometheus Alertmanager. \
                 Install Debian's `prometheus-alertmanager` package \
                 (`apt-get update && apt-get install -y prometheus-alertmanager`; CI installs it), \
                 or set {BINARY_ENV} to an alertmanager binary"
            )
        })
    }

    /// Starts Alertmanager with [`NULL_RECEIVER_CONFIG`] and waits until it is ready.
    /// Panics (failing the test) with the fix when the binary is missing, and
    /// with the process's log when it does not come up.
    pub async fn start() -> Self {
        Self::start_with_config(NULL_RECEIVER_CONFIG).await
    }

    /// Like [`start`](Self::start), with the given `alertmanager.yml` text.
    pub async fn start_with_config(config: &str) -> Self {
        let binary = Self::binary().unwrap_or_else(|e| panic!("{e}"));
        let dir = temp_dir();
        std::fs::create_dir_all(dir.join("data"))
            .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        std::fs::write(dir.join("alertmanager.yml"), config)
            .unwrap_or_else(|e| panic!("writing the Alertmanager config: {e}"));
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let addr = free_port();
            let child = spawn(&binary, &dir, addr);
            match wait_ready(child, addr, &dir).await {
                Ok(child) => {
                    let mut am = Self {
                        child,
                        dir,
                        addr,
                        version: String::new(),
                    };
                    am.version = am.read_version().await;
                    return am;
                }
                Err(log) if log.contains("address already in use") => last_log = log,
                Err(log) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    panic!(
                        "Alertmanager ({}) did not become ready on {addr}; its log:\n{log}",
                        binary.display()
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!(
            "Alertmanager could not bind a free loopback port in {PORT_ATTEMPTS} attempts; \
             last log:\n{last_log}"
        );
    }

    /// `http://127.0.0.1:PORT`: the base URL an `alertmanager` target points at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address its API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Alertmanager's version, as its status API reports it (e.g. `0.25.0`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What the process wrote so far (for failure messages).
    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    /// `GET path` on its API: the status code and the body. Panics when the
    /// request cannot be made at all.
    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.addr, path)
            .await
            .unwrap_or_else(|e| panic!("GET {path} on Alertmanager: {e}; its log:\n{}", self.log()))
    }

    async fn read_version(&self) -> String {
        let (status, body) = self.get("/api/v2/status").await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match json
            .pointer("/versionInfo/version")
            .and_then(|v| v.as_str())
        {
            Some(v) if status == 200 => v.to_string(),
            _ => panic!("Alertmanager's /api/v2/status answered {status}: {body}"),
        }
    }
}

impl Drop for RealAlertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn temp_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!(
        "herald-alertmanager-{}-{}-{nanos}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::SeqCst)
    ))
}

/// A loopback port nobody listens on right now (it may be taken again before
/// Alertmanager binds it; [`RealAlertmanager::start_with_config`] retries).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("finding a free loopback port: {e}"))
}

fn spawn(binary: &Path, dir: &Path, addr: SocketAddr) -> Child {
    let log = File::create(dir.join("alertmanager.log"))
        .unwrap_or_else(|e| panic!("creating the Alertmanager log file: {e}"));
    let err = log
        .try_clone()
        .unwrap_or_else(|e| panic!("sharing the Alertmanager log file: {e}"));
    Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address={addr}"))
        // An empty address turns clustering (and its port 9094) off.
        .arg("--cluster.listen-address=")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()))
}

/// Polls `GET /-/ready` until it answers 200. On failure the process is
/// killed and its log returned.
async fn wait_ready(mut child: Child, addr: SocketAddr, dir: &Path) -> Result<Child, String> {
    let started = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("(exited with {status})\n{}", read_log(dir)));
        }
        if let Ok((200, _)) = http_get(addr, "/-/ready").await {
            return Ok(child);
        }
        if started.elapsed() > READY_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "(not ready after {READY_TIMEOUT:?})\n{}",
                read_log(dir)
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("alertmanager.log")).unwrap_or_default()
}

/// A plain HTTP/1.0 `GET` (the support crate has no HTTP client of its own):
/// the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .await
            .map_err(|e| format!("reading: {e}"))?;
        Ok::<_, String>(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "no answer within 10 s".to_string())??;
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP reply: {}",
                head.chars().take(200).collect::<String>()
            )
        })?;
    Ok((status, body.to_string()))
}
