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
//! - [`metrics`]: every metric name and the registry.
//! - [`demo`]: the first-run demo behind `herald demo`.
//! - `main.rs`: the CLI.

pub mod demo;
pub mod health;
pub mod metrics;
pub mod model;
pub mod plugin;
pub mod publish;
