//! The active probe monitor: a background task that checks every enabled
//! target on its own interval, a bounded number at a time, and records each
//! outcome in the [`HealthRegistry`].
//!
//! A probe is the request the adapter's `health-probe` builds, sent by a
//! [`Prober`] (the publisher's deliverer implements it: `health` sits below
//! `publish` and cannot send requests itself); where the adapter has no probe
//! for a target, a TCP connect to the target url's host and port. A probe
//! never sends an alert.
//!
//! The target list is read from the [`TargetSource`] on every round, so added,
//! changed and removed targets are picked up within a second. The probes run
//! in a `JoinSet` owned by the monitor's future: stopping the monitor (its
//! shutdown future resolving, or its [`MonitorHandle`] dropped) cancels them.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::registry::{HealthRegistry, ProbeMethod, ProbeOutcome};
use crate::model::{Target, TargetSource};

/// How often the monitor re-reads the target list when no probe is due sooner.
const RESCAN: Duration = Duration::from_secs(1);

/// What sending an adapter's probe request gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeReply {
    /// The probe request was answered with a 2xx.
    Healthy,
    /// The probe request failed: a transport error or a non-2xx answer.
    Unhealthy {
        /// The HTTP status, when there was an answer.
        status: Option<u16>,
        /// What went wrong, without secrets.
        message: String,
    },
    /// The adapter has no probe for this target (or could not build one):
    /// the monitor falls back to a TCP connect.
    NoProbe,
}

/// Sends a target's health probe: runs the adapter's `health-probe` and sends
/// the request it returns (checked like any delivery request).
pub trait Prober: Send + Sync + 'static {
    /// Probes `target` once. The monitor bounds it with the probe timeout.
    fn probe<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, ProbeReply>;
}

/// A prober for targets whose adapters have no probe: always [`ProbeReply::NoProbe`],
/// so every target gets the TCP check.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpOnly;

impl Prober for TcpOnly {
    fn probe<'a>(&'a self, _target: &'a Target) -> BoxFuture<'a, ProbeReply> {
        Box::pin(async { ProbeReply::NoProbe })
    }
}

/// The probe monitor. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct HealthMonitor {
    registry: Arc<HealthRegistry>,
    targets: Arc<dyn TargetSource>,
    prober: Arc<dyn Prober>,
}

/// A running monitor. Dropping it stops the monitor and its probes.
#[derive(Debug)]
pub struct MonitorHandle {
    task: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl MonitorHandle {
    /// Stops the monitor and waits until it (and every probe) has ended.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for MonitorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HealthMonitor {
    /// A monitor that probes the targets of `targets` and records into `registry`.
    pub fn new(
        registry: Arc<HealthRegistry>,
        targets: Arc<dyn TargetSource>,
        prober: Arc<dyn Prober>,
    ) -> Self {
        Self {
            registry,
            targets,
            prober,
        }
    }

    /// The registry the monitor records into.
    pub fn registry(&self) -> &Arc<HealthRegistry> {
        &self.registry
    }

    /// Runs [`run`](Self::run) on the current tokio runtime until the handle
    /// is stopped or dropped.
    pub fn spawn(self) -> MonitorHandle {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.await;
        }));
        MonitorHandle {
            task,
            stop: Some(stop),
        }
    }

    /// Probes `target` once now, records the outcome and returns it.
    pub async fn check(&self, target: &Target) -> ProbeOutcome {
        let timeout = self.registry.config().probe_settings(&target.name).timeout;
        let outcome = probe(&*self.prober, target, timeout).await;
        self.registry.record_probe(target, &outcome);
        outcome
    }

    /// Probes every enabled target on its interval until `shutdown` resolves.
    /// Targets removed from the source are forgotten by the registry.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let config = self.registry.config().clone();
        let limit = config.max_concurrent_probes;
        let mut due: HashMap<String, Instant> = HashMap::new();
        // Probes in flight, by task (a task that panics is still known by its id).
        let mut running: HashMap<tokio::task::Id, (String, Instant)> = HashMap::new();
        let mut probes: JoinSet<()> = JoinSet::new();
        tokio::pin!(shutdown);
        tracing::info!(
            interval_ms = config.interval.as_millis() as u64,
            timeout_ms = config.timeout.as_millis() as u64,
            max_concurrent = limit,
            "health monitor started"
        );
        loop {
            let now = Instant::now();
            let targets = self.targets.targets();
            let known: HashSet<&str> = targets.iter().map(|t| t.name.as_str()).collect();
            self.registry.retain(|name| known.contains(name));
            let probed: Vec<&Target> = targets
                .iter()
                .filter(|t| t.enabled && config.probe_settings(&t.name).enabled)
                .collect();
            due.retain(|name, _| probed.iter().any(|t| &t.name == name));
            for target in &probed {
                self.registry.track(target);
                let when = *due.entry(target.name.clone()).or_insert(now);
                let busy = running.values().any(|(name, _)| name == &target.name);
                if when <= now && running.len() < limit && !busy {
                    let (monitor, target) = (self.clone(), (*target).clone());
                    let name = target.name.clone();
                    let task = probes.spawn(async move {
                        monitor.check(&target).await;
                    });
                    running.insert(task.id(), (name, Instant::now()));
                }
            }
            self.registry.refresh_gauges();

            let next = due
                .iter()
                .filter(|(name, _)| !running.values().any(|(n, _)| n == *name))
                .map(|(_, when)| *when)
                .min()
                .map_or(now + RESCAN, |w| w.clamp(now, now + RESCAN));
            // A probe due now but held back by the bound waits for a slot, not for the clock.
            let wait_for_slot = next <= now && !probes.is_empty();
            tokio::select! {
                _ = &mut shutdown => break,
                Some(done) = probes.join_next_with_id(), if !probes.is_empty() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => {
                            tracing::error!("a health probe task failed: {e}");
                            e.id()
                        }
                    };
                    if let Some((name, started)) = running.remove(&id) {
                        let interval = config.probe_settings(&name).interval;
                        if let Some(when) = due.get_mut(&name) {
                            *when = started + interval;
                        }
                    }
                }
                _ = tokio::time::sleep_until(next), if !wait_for_slot => {}
            }
        }
        probes.shutdown().await;
        tracing::info!("health monitor stopped");
    }
}

/// Runs one probe under `timeout`: the adapter's request, else a TCP connect.
async fn probe(prober: &dyn Prober, target: &Target, timeout: Duration) -> ProbeOutcome {
    let started = Instant::now();
    let deadline = started + timeout;
    let timed_out = || format!("health probe timed out after {} ms", timeout.as_millis());
    let (method, result) = match tokio::time::timeout_at(deadline, prober.probe(target)).await {
        Ok(ProbeReply::Healthy) => (ProbeMethod::Adapter, Ok(())),
        Ok(ProbeReply::Unhealthy { message, .. }) => (ProbeMethod::Adapter, Err(message)),
        Err(_) => (ProbeMethod::Adapter, Err(timed_out())),
        Ok(ProbeReply::NoProbe) => {
            let result = match tokio::time::timeout_at(deadline, tcp_connect(&target.url)).await {
                Ok(r) => r,
                Err(_) => Err(timed_out()),
            };
            (ProbeMethod::Tcp, result)
        }
    };
    ProbeOutcome {
        method,
        success: result.is_ok(),
        latency: started.elapsed(),
        error: result.err(),
    }
}

/// Opens (and closes) a TCP connection to the url's host and port. The
/// message names host and port, never the path (it may hold a token).
pub async fn tcp_connect(url: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(url).map_err(|e| format!("the target's `url` is not a valid URL: {e}"))?;
    let port = parsed.port_or_known_default().ok_or_else(|| {
        format!(
            "the target's `url` has no port and its scheme `{}` has no default",
            parsed.scheme()
        )
    })?;
    let connected = match parsed.host() {
        Some(url::Host::Domain(host)) => tokio::net::TcpStream::connect((host, port)).await,
        Some(url::Host::Ipv4(ip)) => tokio::net::TcpStream::connect((ip, port)).await,
        Some(url::Host::Ipv6(ip)) => tokio::net::TcpStream::connect((ip, port)).await,
        None => return Err("the target's `url` has no host".into()),
    };
    let host = parsed.host_str().unwrap_or_default();
    connected
        .map(drop)
        .map_err(|e| format!("TCP connect to {host}:{port} failed: {e}"))
}
