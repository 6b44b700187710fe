//! The WebAssembly adapter runtime: one wasmtime engine, plugins loaded from
//! `.wasm` files and validated against `wit/adapter.wit`, a registry of
//! kind → plugin behind `arc-swap`, the host imports (`state`, `log`) and the
//! checks on what a plugin may ask the host to send.
//! [`testkit`] runs golden case files against an adapter and describes one
//! (`herald plugin test` / `herald plugin inspect`).
//!
//! Depends on `model` only.

pub mod bindings;
pub mod convert;
pub mod delivery;
pub mod guard;
mod host;
mod limits;
mod registry;
mod runtime;
mod session;
pub mod state;
pub mod testkit;

pub use host::{CallOptions, FixedClock};
pub use limits::RuntimeLimits;
pub use registry::PluginRegistry;
pub use runtime::{LoadedPlugin, PluginRuntime, SUPPORTED_WIT, valid_kind};
pub use session::Session;
pub use state::{MemoryStateStore, StateChange, StateScope, StateStore};

/// Why a plugin could not be loaded (or the runtime could not start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {file}: cannot be read: {message}")]
    Io { file: String, message: String },
    #[error("plugin {file} {reason}")]
    Invalid { file: String, reason: String },
    #[error("plugin runtime: {0}")]
    Config(String),
}
