//! One delivery's sandbox: a fresh store and instance, and the calls into it.
//!
//! Every call is armed with the wall-clock deadline that the epoch callback
//! enforces (yielding to the executor at every tick, interrupting past the
//! deadline). A trap, a timeout or hitting the memory cap becomes a
//! `permanent` [`DeliveryError`] for this delivery only; the instance is then
//! dead and the session should be dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;

use super::bindings::Plugin;
use super::bindings::types::{
    Action, AdapterInfo, EnrichedAlert, HttpRequest, HttpResponse, Target,
};
use super::convert::guest_error;
use super::host::HostData;
use super::limits::RuntimeLimits;
use super::runtime::LoadedPlugin;
use super::state::StateChange;
use crate::metrics::metrics;
use crate::model::DeliveryError;

/// Extra time the executor-level timeout allows beyond the epoch deadline,
/// which normally fires first.
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// A live instance of a plugin for one delivery (or one probe, or one `info`).
pub struct Session {
    store: Store<HostData>,
    instance: Plugin,
    plugin: Arc<LoadedPlugin>,
    limits: Arc<RuntimeLimits>,
    /// Set when a call trapped, timed out or hit the memory cap: the instance
    /// is dead and its staged state must not be applied.
    broken: bool,
    /// Held for the session's life: one pool slot.
    _permit: OwnedSemaphorePermit,
}

macro_rules! guest_call {
    ($self:ident, $function:literal, $method:ident ( $($arg:expr),* )) => {{
        $self.arm();
        let started = Instant::now();
        let guest = $self.instance.herald_adapter_adapter();
        let fut = guest.$method(&mut $self.store, $($arg),*);
        let outcome = with_timeout($self.limits.call_timeout + TIMEOUT_GRACE, fut).await;
        $self.settle($function, started, outcome)
    }};
}

async fn with_timeout<R>(
    limit: Duration,
    fut: impl Future<Output = wasmtime::Result<R>>,
) -> Option<wasmtime::Result<R>> {
    tokio::time::timeout(limit, fut).await.ok()
}

impl Session {
    pub(crate) async fn start(
        mut store: Store<HostData>,
        plugin: Arc<LoadedPlugin>,
        limits: Arc<RuntimeLimits>,
        permit: OwnedSemaphorePermit,
    ) -> Result<Self, DeliveryError> {
        store.data_mut().deadline = Instant::now() + limits.call_timeout;
        let started = Instant::now();
        let instantiated = with_timeout(
            limits.call_timeout + TIMEOUT_GRACE,
            plugin.pre.instantiate_async(&mut store),
        )
        .await;
        match instantiated {
            Some(Ok(instance)) => Ok(Self {
                store,
                instance,
                plugin,
                limits,
                broken: false,
                _permit: permit,
            }),
            other => {
                let error = sandbox_error(
                    &plugin,
                    &limits,
                    store.data(),
                    "instantiate",
                    other.map(|r| r.map(|_| ())),
                );
                record(&plugin, "instantiate", "trap", started);
                plugin.count_call(true);
                Err(error)
            }
        }
    }

    /// The plugin this session runs.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    fn arm(&mut self) {
        let data = self.store.data_mut();
        data.deadline = Instant::now() + self.limits.call_timeout;
        data.timed_out = false;
        self.store.set_epoch_deadline(1);
    }

    /// Turns the raw result of a guest call into ours, recording metrics.
    fn settle<R>(
        &mut self,
        function: &'static str,
        started: Instant,
        outcome: Option<wasmtime::Result<R>>,
    ) -> Result<R, DeliveryError> {
        match outcome {
            Some(Ok(value)) => {
                record(&self.plugin, function, "ok", started);
                self.plugin.count_call(false);
                Ok(value)
            }
            other => {
                let data = self.store.data();
                let label = if data.timed_out || other.is_none() {
                    "timeout"
                } else if data.limiter.exceeded {
                    "memory"
                } else {
                    "trap"
                };
                record(&self.plugin, function, label, started);
                self.plugin.count_call(true);
                self.broken = true;
                Err(sandbox_error(
                    &self.plugin,
                    &self.limits,
                    data,
                    function,
                    other,
                ))
            }
        }
    }

    /// `info`: kinds, version, description.
    pub async fn info(&mut self) -> Result<AdapterInfo, DeliveryError> {
        guest_call!(self, "info", call_info())
    }

    /// `validate-target`: `Ok(Err(message))` when the adapter rejects the target.
    pub async fn validate_target(
        &mut self,
        target: &Target,
    ) -> Result<Result<(), String>, DeliveryError> {
        guest_call!(self, "validate_target", call_validate_target(target))
    }

    /// `prepare`: the first action for this delivery.
    pub async fn prepare(
        &mut self,
        alert: &EnrichedAlert,
        target: &Target,
    ) -> Result<Action, DeliveryError> {
        let result = guest_call!(self, "prepare", call_prepare(alert, target))?;
        result.map_err(guest_error)
    }

    /// `handle-response`: finish, or the next request.
    pub async fn handle_response(
        &mut self,
        alert: &EnrichedAlert,
        target: &Target,
        response: &HttpResponse,
    ) -> Result<Action, DeliveryError> {
        let result = guest_call!(
            self,
            "handle_response",
            call_handle_response(alert, target, response)
        )?;
        result.map_err(guest_error)
    }

    /// `health-probe`: the request that checks the target, if the kind has one.
    pub async fn health_probe(
        &mut self,
        target: &Target,
    ) -> Result<Option<HttpRequest>, DeliveryError> {
        guest_call!(self, "health_probe", call_health_probe(target))
    }

    /// Whether a call failed in the sandbox (trap, timeout, memory cap).
    /// Errors the adapter returned itself do not break a session.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The state writes staged so far.
    pub fn staged_state(&self) -> &[StateChange] {
        &self.store.data().staged
    }

    /// Applies the staged state writes: call when the delivery ended in an
    /// outcome or a classified error. Does nothing after a sandbox failure.
    pub fn commit_state(&mut self) {
        if self.broken {
            return;
        }
        let data = self.store.data_mut();
        let staged = std::mem::take(&mut data.staged);
        data.state.apply(&data.scope, &staged);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.store.data().flush_stdio();
    }
}

fn record(plugin: &LoadedPlugin, function: &'static str, result: &'static str, started: Instant) {
    let m = metrics();
    let kind = &*plugin.kind_tag;
    m.plugin_invocations
        .with_label_values(&[kind, function, result])
        .inc();
    m.plugin_invocation_duration
        .with_label_values(&[kind, function])
        .observe(started.elapsed().as_secs_f64());
}

fn sandbox_error<R>(
    plugin: &LoadedPlugin,
    limits: &RuntimeLimits,
    data: &HostData,
    function: &str,
    outcome: Option<wasmtime::Result<R>>,
) -> DeliveryError {
    let who = format!("plugin `{}` {}", plugin.kind_tag, plugin.version_tag);
    let message = if data.timed_out || outcome.is_none() {
        format!(
            "{who} ran past its {} ms deadline in `{function}` and was stopped",
            limits.call_timeout.as_millis()
        )
    } else if data.limiter.exceeded {
        format!(
            "{who} exceeded its memory cap of {} MiB in `{function}` and was stopped",
            limits.memory_cap >> 20
        )
    } else {
        let cause = match outcome {
            Some(Err(e)) => format!("{e:#}"),
            _ => "unknown failure".to_string(),
        };
        // Keep the first line: wasm backtraces are long and belong in debug logs.
        let first = cause
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>();
        tracing::debug!(plugin = %plugin.kind_tag, function, "plugin trap detail: {cause}");
        format!("{who} trapped in `{function}`: {first}")
    };
    tracing::warn!(plugin = %plugin.kind_tag, version = %plugin.version_tag, function, "{message}");
    DeliveryError::permanent(message)
}
