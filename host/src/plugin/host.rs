//! What a plugin instance may touch: its scoped state, the log, and a deny-all WASI.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::bindings::herald::adapter::{log, state, types};
use super::limits::RuntimeLimits;
use super::state::{StateChange, StateScope, StateStore};

/// Bytes of stdout/stderr kept per call (beyond that, writes fail in the guest).
const STDIO_CAPACITY: usize = 16 << 10;

/// Everything one call's store owns. A fresh one per delivery.
pub(crate) struct HostData {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    /// When the current export call must end; checked at every epoch tick.
    pub(crate) deadline: Instant,
    /// Set when the epoch callback stopped a call for running past `deadline`.
    pub(crate) timed_out: bool,
    /// Tags every log line and error with who is running.
    pub(crate) kind: Arc<str>,
    pub(crate) version: Arc<str>,
    pub(crate) scope: StateScope,
    pub(crate) state: Arc<dyn StateStore>,
    /// Writes staged during the delivery, applied when it ends well.
    pub(crate) staged: Vec<StateChange>,
    log_lines: u32,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    limits: Arc<RuntimeLimits>,
    /// The target's secret values, scrubbed from everything the plugin logs.
    secrets: Vec<String>,
}

/// Per-call settings beyond the target and alert.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Pins the guest's wall clock (golden tests).
    pub clock: Option<FixedClock>,
    /// Secret values to scrub from the plugin's log lines.
    pub secrets: Vec<String>,
}

/// A fixed wall clock, for golden tests that pin `now`.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Duration);

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

impl HostData {
    pub(crate) fn new(
        kind: Arc<str>,
        version: Arc<str>,
        scope: StateScope,
        state: Arc<dyn StateStore>,
        limits: Arc<RuntimeLimits>,
        call: CallOptions,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
        let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
        // Deny-all: no preopened directories, no environment, no arguments,
        // no network (the builder allows none unless asked), stdin empty.
        let mut builder = WasiCtx::builder();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(clock) = call.clock {
            builder.wall_clock(clock);
        }
        Self {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_cap: limits.memory_cap,
                exceeded: false,
            },
            deadline: Instant::now(),
            timed_out: false,
            kind,
            version,
            scope,
            state,
            staged: Vec::new(),
            log_lines: 0,
            stdout,
            stderr,
            limits,
            secrets: call.secrets,
        }
    }

    /// Sends what the guest wrote to stdout/stderr into the log, a line at a time.
    pub(crate) fn flush_stdio(&self) {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            if bytes.is_empty() {
                continue;
            }
            for line in String::from_utf8_lossy(&bytes).lines().take(64) {
                tracing::info!(
                    plugin = %self.kind, version = %self.version, target = %self.scope.target,
                    stream, "{}", self.redact(line)
                );
            }
        }
    }

    fn redact(&self, line: &str) -> String {
        // Plugins get the secrets; whatever they print must not leak them.
        let mut line: String = line.chars().take(self.limits.max_log_line).collect();
        for secret in self.secrets.iter().filter(|s| s.len() >= 4) {
            line = line.replace(secret.as_str(), "***");
        }
        line
    }

    fn stage(&mut self, change: StateChange) -> Result<()> {
        if self.staged.len() >= self.limits.max_state_writes {
            wasmtime::bail!(
                "plugin wrote state more than {} times in one delivery",
                self.limits.max_state_writes
            );
        }
        self.staged.push(change);
        Ok(())
    }

    fn check_key(&self, key: &str) -> Result<()> {
        if key.is_empty() || key.len() > self.limits.max_state_key {
            wasmtime::bail!(
                "plugin used a state key of {} bytes (allowed: 1..={})",
                key.len(),
                self.limits.max_state_key
            );
        }
        Ok(())
    }
}

impl WasiView for HostData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostData {}

impl state::Host for HostData {
    fn get(&mut self, key: String) -> Result<Option<String>> {
        self.check_key(&key)?;
        // Read your own staged writes first.
        for change in self.staged.iter().rev() {
            match change {
                StateChange::Set { key: k, value, .. } if *k == key => {
                    return Ok(Some(value.clone()));
                }
                StateChange::Remove { key: k } if *k == key => return Ok(None),
                _ => {}
            }
        }
        Ok(self.state.get(&self.scope, &key))
    }

    fn set(&mut self, key: String, value: String, ttl_seconds: u32) -> Result<()> {
        self.check_key(&key)?;
        if value.len() > self.limits.max_state_value {
            wasmtime::bail!(
                "plugin stored a state value of {} bytes (limit {})",
                value.len(),
                self.limits.max_state_value
            );
        }
        self.stage(StateChange::Set {
            key,
            value,
            ttl: Duration::from_secs(u64::from(ttl_seconds)),
        })
    }

    fn remove(&mut self, key: String) -> Result<()> {
        self.check_key(&key)?;
        self.stage(StateChange::Remove { key })
    }
}

impl log::Host for HostData {
    fn log(&mut self, level: log::Level, message: String) -> Result<()> {
        self.log_lines += 1;
        if self.log_lines > self.limits.max_log_lines {
            return Ok(());
        }
        let message = self.redact(&message);
        let (kind, version, target) = (&*self.kind, &*self.version, &self.scope.target);
        match level {
            log::Level::Trace => tracing::trace!(plugin = kind, version, target, "{message}"),
            log::Level::Debug => tracing::debug!(plugin = kind, version, target, "{message}"),
            log::Level::Info => tracing::info!(plugin = kind, version, target, "{message}"),
            log::Level::Warn => tracing::warn!(plugin = kind, version, target, "{message}"),
            log::Level::Error => tracing::error!(plugin = kind, version, target, "{message}"),
        }
        Ok(())
    }
}

/// Caps linear memory per instance and remembers when a plugin hit the cap.
pub(crate) struct Limiter {
    memory_cap: usize,
    pub(crate) exceeded: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        if desired > self.memory_cap {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> Result<bool> {
        Ok(desired <= 100_000)
    }
}
