//! Support for Herald's benches: the per-delivery plugin work as one callable
//! unit ([`PluginCall`]), a lean loopback HTTP target with a precise delay
//! ([`SlowTarget`]), percentile summaries ([`Stats`]) and the JSON files the
//! benches leave in `target/bench-results/`.
//!
//! Nothing here measures anything by itself; `plugin_call.rs` and `fanout.rs`
//! decide what to time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use herald::model::{DeliveryError, Target};
use herald::plugin::bindings::types as wit;
use herald::plugin::convert::{wit_alert, wit_target};
use herald::plugin::{CallOptions, LoadedPlugin, PluginRuntime, StateScope};

#[cfg(test)]
mod tests;

/// The compiled webhook adapter's crate name (see `herald_tests::wasm`).
pub const WEBHOOK: &str = "herald_plugin_webhook";

/// Everything one delivery's plugin work needs, prepared once: the runtime
/// with the webhook adapter loaded, a target, the alert already in WIT form
/// (the publisher converts it once per publish, not per target) and a canned
/// `200 ok` reply standing in for the network.
pub struct PluginCall {
    pub runtime: Arc<PluginRuntime>,
    pub plugin: Arc<LoadedPlugin>,
    pub target: Target,
    pub alert: wit::EnrichedAlert,
    pub response: wit::HttpResponse,
}

/// How long each phase of one [`PluginCall::timed`] took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    /// Target to WIT form, store and WASI context, pooled instantiation.
    pub instantiate: Duration,
    pub prepare: Duration,
    pub handle_response: Duration,
    /// Committing staged state and dropping the store (returns the slot to the pool).
    pub teardown: Duration,
}

impl PluginCall {
    /// Loads the compiled webhook adapter (`make plugins` builds it) into a
    /// runtime with the default limits.
    pub async fn webhook() -> Self {
        let runtime = herald_tests::runtime(&[WEBHOOK]).await;
        let plugin = runtime
            .adapter("webhook")
            .expect("the webhook plugin registers the `webhook` kind");
        let target = Target::new("bench-hook", "webhook", "http://127.0.0.1:9/hook");
        let alert = wit_alert(&herald_tests::alert("BenchAlert"));
        let response = wit::HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: b"ok".to_vec(),
        };
        Self {
            runtime,
            plugin,
            target,
            alert,
            response,
        }
    }

    /// One delivery's plugin work, exactly as `Deliverer::attempt` does it:
    /// a fresh session, `prepare`, the canned reply to `handle-response`,
    /// state committed on the outcome. Fails when the adapter does not ask
    /// for one request and then finish.
    pub async fn once(&self) -> Result<(), DeliveryError> {
        // Four clock reads (~100 ns) are noise next to a call; one code path
        // keeps what is timed and what is broken down the same.
        self.timed().await.map(drop)
    }

    /// [`once`](Self::once) with each phase timed separately.
    pub async fn timed(&self) -> Result<Phases, DeliveryError> {
        let t0 = Instant::now();
        let target = wit_target(&self.target);
        let scope = StateScope::new(&self.target.name, &self.alert.alert.fingerprint);
        let mut session = self
            .runtime
            .session(&self.plugin, scope, CallOptions::default())
            .await?;
        let t1 = Instant::now();
        let wit::Action::Send(_request) = session.prepare(&self.alert, &target).await? else {
            return Err(DeliveryError::permanent("prepare did not ask to send"));
        };
        let t2 = Instant::now();
        let wit::Action::Finish(_outcome) = session
            .handle_response(&self.alert, &target, &self.response)
            .await?
        else {
            return Err(DeliveryError::permanent("handle-response did not finish"));
        };
        let t3 = Instant::now();
        session.commit_state();
        drop(session);
        let t4 = Instant::now();
        Ok(Phases {
            instantiate: t1 - t0,
            prepare: t2 - t1,
            handle_response: t3 - t2,
            teardown: t4 - t3,
        })
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers every request with
/// `200 ok` exactly `delay` after it has read the whole request.
///
/// One OS thread per connection and a blocking sleep: the delay is as precise
/// as the kernel's timers (tens of µs), whereas a tokio sleep is rounded up to
/// the next millisecond tick, which would show up as up to 1 ms of phantom
/// "fan-out overhead"; and the target costs the runtime under test no worker time.
/// The threads live as long as the process (benches only).
///
/// It notes when it had each request and when it had written the reply, so a
/// bench can split a publish's latency into time before the slowest target
/// had its request, the target's own time, and time after its reply.
#[derive(Debug, Clone)]
pub struct SlowTarget {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<Served>>>,
}

/// When a [`SlowTarget`] had a request in full, and when it started writing the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub received: Instant,
    pub replied: Instant,
}

impl SlowTarget {
    /// Starts a target on a free loopback port.
    pub fn start(delay: Duration) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let served = Arc::new(Mutex::new(Vec::new()));
        let log = served.clone();
        std::thread::Builder::new()
            .name(format!("slow-target-{}", addr.port()))
            .spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let log = log.clone();
                    let spawned = std::thread::Builder::new()
                        .name("slow-target-conn".into())
                        .spawn(move || {
                            // A broken connection just ends its thread.
                            let _ = serve_connection(stream, delay, &log);
                        });
                    if let Err(e) = spawned {
                        eprintln!("slow target {addr}: cannot start a connection thread: {e}");
                    }
                }
            })?;
        Ok(Self { addr, served })
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Requests answered and not yet [taken](Self::take_served).
    pub fn hits(&self) -> usize {
        self.served.lock().map_or(0, |s| s.len())
    }

    /// The timings of the requests answered since the last call, oldest first.
    pub fn take_served(&self) -> Vec<Served> {
        self.served
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

/// Reads requests (headers, then a `content-length` body) and answers each
/// after `delay`, until the client closes the connection.
fn serve_connection(
    stream: TcpStream,
    delay: Duration,
    served: &Mutex<Vec<Served>>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut content_length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let (name, value) = (name.trim(), value.trim());
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, "bad content-length")
                    })?;
                } else if name.eq_ignore_ascii_case("connection")
                    && value.eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        let received = Instant::now();
        std::thread::sleep(delay);
        // Logged before the reply goes out, so that whoever has the reply
        // finds the entry already there.
        let replied = Instant::now();
        if let Ok(mut log) = served.lock() {
            log.push(Served { received, replied });
        }
        writer.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok",
        )?;
        if close {
            return Ok(());
        }
    }
}

/// Order statistics of a set of durations (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub count: usize,
    pub mean: Duration,
    pub min: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Stats {
    /// Summarises `samples` (sorts them in place). All zero when empty.
    pub fn of(samples: &mut [Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let at = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        let total: Duration = samples.iter().sum();
        Self {
            count: n,
            mean: total / n as u32,
            min: samples[0],
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples[n - 1],
        }
    }

    /// The same statistics with `base` subtracted (saturating at zero), e.g.
    /// a publish's latency above its slowest target's fixed delay.
    pub fn minus(&self, base: Duration) -> Self {
        let sub = |d: Duration| d.saturating_sub(base);
        Self {
            count: self.count,
            mean: sub(self.mean),
            min: sub(self.min),
            p50: sub(self.p50),
            p90: sub(self.p90),
            p99: sub(self.p99),
            max: sub(self.max),
        }
    }

    /// As JSON, in milliseconds.
    pub fn to_json_ms(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count,
            "mean_ms": ms(self.mean),
            "min_ms": ms(self.min),
            "p50_ms": ms(self.p50),
            "p90_ms": ms(self.p90),
            "p99_ms": ms(self.p99),
            "max_ms": ms(self.max),
        })
    }

    /// As JSON, in microseconds.
    pub fn to_json_us(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count,
            "mean_us": us(self.mean),
            "min_us": us(self.min),
            "p50_us": us(self.p50),
            "p90_us": us(self.p90),
            "p99_us": us(self.p99),
            "max_us": us(self.max),
        })
    }
}

/// A duration in milliseconds, as a float.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A duration in microseconds, as a float.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// `true` when the bench binary runs for real (`cargo bench`), `false` when
/// `cargo test --benches` runs it once as a smoke test.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The 1-, 5- and 15-minute load averages, so that numbers from a shared
/// machine carry how busy it was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Minor page faults the calling thread has taken so far (Linux; `None`
/// elsewhere): tells page-faulting apart from cache misses in a slow call.
pub fn thread_minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(7)?.parse().ok()
}

/// Logical CPUs available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// criterion's median for a bench id (`group/function[/parameter]`), when
/// criterion has written one under `target/criterion/` since `since` (a
/// filtered run leaves older estimates behind, which must not be reported).
pub fn criterion_median(id: &str, since: SystemTime) -> Option<Duration> {
    let path = herald_tests::repo_root()
        .join("target/criterion")
        .join(id)
        .join("new/estimates.json");
    let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if written < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let ns = v["median"]["point_estimate"].as_f64()?;
    Some(Duration::from_secs_f64(ns / 1e9))
}

/// Writes `value` as pretty JSON to `target/bench-results/<name>.json` and
/// returns the path.
pub fn write_results(name: &str, value: &serde_json::Value) -> std::io::Result<PathBuf> {
    let dir = herald_tests::repo_root().join("target/bench-results");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}
