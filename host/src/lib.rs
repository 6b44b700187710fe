//! Herald: an alert-publishing gateway. Alerts come in, and each is delivered
//! to many targets at once through sandboxed WebAssembly adapters.
//!
//! # Layout
//!
//! Dependencies point one way: `model` ← `plugin` ← `publish` ← (`main`).
//!
//! - [`model`]: alerts, targets, delivery errors and results — the data everyone shares.
//! - [`plugin`]: the wasmtime engine, loading and validating adapters, the
//!   kind → plugin registry, host imports and request checks. Depends on `model`.
//! - [`health`]: the health view the publisher consults (status, circuit breakers).
//! - [`publish`]: the parallel (and, for comparison, sequential) publisher:
//!   fan-out/fan-in, options, health view, result aggregation. Looks adapters
//!   up by kind; knows nothing of how they are loaded.
//! - [`queue`]: the intake behind asynchronous ingress. Depends on `publish`.
//! - [`config`]: `herald.toml` (typed, unknown keys rejected, validated), target
//!   files and Kubernetes Secret volumes, `${VAR}`/`file:` secrets, `check-config`.
//!   Depends on `model` and reuses the settings types of `plugin`, `publish`,
//!   `health` and `queue`; `config::plugins` validates targets with the adapters.
//! - [`api`]: HTTP ingress, admin API, `/metrics`, probes. Depends on
//!   `publish` and `queue`; reaches the daemon only through `api::Control`.
//! - [`daemon`]: `herald serve`: wires everything together, hot reload
//!   (watchers and the single loader task), shutdown.
//! - [`metrics`]: every metric name and the registry.
//! - [`demo`]: the first-run demo behind `herald demo`.
//! - [`sink`]: the capture server behind `herald sink`. Depends on nothing.
//! - `main.rs`: the CLI.

pub mod api;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod health;
pub mod metrics;
pub mod model;
pub mod plugin;
pub mod publish;
pub mod queue;
pub mod sink;
