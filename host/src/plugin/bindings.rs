//! Host-side bindings generated from `wit/adapter.wit`.
//!
//! Imports (`state`, `log`) are synchronous and may trap (a plugin that abuses
//! them is stopped); exports are called asynchronously so that epoch deadlines
//! can yield to the executor instead of blocking a worker thread.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    imports: { default: trappable },
    exports: { default: async },
});

pub use exports::herald::adapter::adapter as guest;
pub use herald::adapter::types;
