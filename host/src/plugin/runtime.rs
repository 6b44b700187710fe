//! The one wasmtime engine, loading `.wasm` files into ready-to-instantiate
//! plugins, and opening a sandboxed session per delivery.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    UpdateDeadline,
};

use super::LoadError;
use super::bindings::{Plugin, PluginPre};
use super::host::{CallOptions, HostData};
use super::limits::RuntimeLimits;
use super::registry::PluginRegistry;
use super::session::Session;
use super::state::{StateScope, StateStore};

/// WIT versions of `herald:adapter` this host can load.
pub const SUPPORTED_WIT: &[&str] = &["0.1.0"];

/// Import namespaces a plugin may use; anything else is refused at load time.
const ALLOWED_IMPORTS: &[&str] = &[
    "herald:adapter/",
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
];

/// A compiled, validated adapter, ready to be instantiated per delivery.
pub struct LoadedPlugin {
    /// The kinds `info` declared.
    pub kinds: Vec<String>,
    /// The adapter's own version (from `info`).
    pub version: String,
    pub description: String,
    /// The `herald:adapter` version it exports.
    pub wit_version: String,
    /// Where it was loaded from.
    pub path: PathBuf,
    /// Hex sha256 of the file.
    pub sha256: String,
    pub size: u64,
    pub loaded_at: SystemTime,
    /// Component-level import and export names, for `plugin inspect` and the admin API.
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// Calls made and calls that trapped or timed out.
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub(crate) pre: PluginPre<HostData>,
    /// Shared with `HostData` to tag logs without copying.
    pub(crate) kind_tag: Arc<str>,
    pub(crate) version_tag: Arc<str>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("kinds", &self.kinds)
            .field("version", &self.version)
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// The plugin runtime: engine, linker, limits, registry and the adapters' state.
pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<HostData>,
    limits: Arc<RuntimeLimits>,
    /// Bounds live instances to the pool's size, so a burst waits instead of failing.
    permits: Arc<Semaphore>,
    registry: PluginRegistry,
    state: Arc<dyn StateStore>,
    /// Compiled components by file hash, so reloading identical bytes is free.
    compiled: Mutex<HashMap<String, Component>>,
}

impl std::fmt::Debug for PluginRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRuntime")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl PluginRuntime {
    /// Builds the engine (component model, async, epoch interruption, pooling
    /// allocator) and starts the epoch ticker, which holds only a weak
    /// reference to the engine and stops when the engine is dropped.
    pub fn new(limits: RuntimeLimits, state: Arc<dyn StateStore>) -> Result<Self, LoadError> {
        limits.validate().map_err(LoadError::Config)?;
        let engine = build_engine(&limits).map_err(|e| LoadError::Config(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| {
                Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |d| d)
            })
            .map_err(|e| LoadError::Config(format!("linking host functions: {e:#}")))?;
        start_epoch_ticker(&engine, limits.epoch_tick);
        Ok(Self {
            permits: Arc::new(Semaphore::new(limits.max_instances as usize)),
            engine,
            linker,
            limits: Arc::new(limits),
            registry: PluginRegistry::default(),
            state,
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &RuntimeLimits {
        &self.limits
    }

    /// The kind → plugin registry.
    pub fn registry(&self) -> &PluginRegistry {
        &self.registry
    }

    /// The adapters' state store.
    pub fn state(&self) -> &Arc<dyn StateStore> {
        &self.state
    }

    /// The adapter for a kind, as of now. The caller keeps this `Arc` for the
    /// whole delivery, so a swap mid-delivery does not affect it.
    pub fn adapter(&self, kind: &str) -> Option<Arc<LoadedPlugin>> {
        self.registry.get(kind)
    }

    /// Loads a plugin file and registers its kinds (replacing older versions).
    pub async fn load_and_register(&self, path: &Path) -> Result<Arc<LoadedPlugin>, LoadError> {
        let plugin = Arc::new(self.load(path).await?);
        self.registry.insert(plugin.clone());
        Ok(plugin)
    }

    /// Loads every `*.wasm` in `dir` (sorted by name) and registers each that
    /// validates; returns one result per file so the caller can report failures.
    pub async fn load_dir(
        &self,
        dir: &Path,
    ) -> Result<Vec<Result<Arc<LoadedPlugin>, LoadError>>, LoadError> {
        let mut entries = tokio::fs::read_dir(dir).await.map_err(|e| LoadError::Io {
            file: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut paths = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "wasm") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut results = Vec::with_capacity(paths.len());
        for path in paths {
            results.push(self.load_and_register(&path).await);
        }
        Ok(results)
    }

    /// Loads and validates a plugin file without registering it: it must be a
    /// component, export `herald:adapter/adapter` at a supported version,
    /// import only allowed interfaces, and name at least one kind in `info`.
    pub async fn load(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        let file = path.display().to_string();
        let bytes = tokio::fs::read(path).await.map_err(|e| LoadError::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        self.load_bytes(path, &bytes).await
    }

    /// Like [`load`](Self::load), from bytes already read; `path` names the source in errors.
    pub async fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<LoadedPlugin, LoadError> {
        let file = path.display().to_string();
        let invalid = |reason: String| LoadError::Invalid {
            file: file.clone(),
            reason,
        };
        check_header(bytes).map_err(&invalid)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = self.compile(&sha256, bytes).map_err(&invalid)?;

        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let export_names: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();

        let wit_version = adapter_export_version(&export_names).map_err(&invalid)?;
        if let Some(bad) = imports
            .iter()
            .find(|name| !ALLOWED_IMPORTS.iter().any(|p| name.starts_with(p)))
        {
            return Err(invalid(format!(
                "imports `{bad}`, which plugins may not use (allowed: {}); adapters do no I/O of their own",
                ALLOWED_IMPORTS.join(", ")
            )));
        }

        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("cannot be linked against the host: {e:#}")))?;
        let pre = PluginPre::new(instance_pre)
            .map_err(|e| invalid(format!("does not match the herald:adapter world: {e:#}")))?;

        // Ask the plugin who it is, in its own sandboxed store.
        let probe = LoadedPlugin {
            kinds: Vec::new(),
            version: String::new(),
            description: String::new(),
            wit_version,
            path: path.to_path_buf(),
            sha256,
            size: bytes.len() as u64,
            loaded_at: SystemTime::now(),
            imports,
            exports: export_names,
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            pre,
            kind_tag: Arc::from("(loading)"),
            version_tag: Arc::from("?"),
        };
        let probe = Arc::new(probe);
        let mut session = self
            .session(
                &probe,
                StateScope::new("(load)", "(load)"),
                CallOptions::default(),
            )
            .await
            .map_err(|e| invalid(format!("cannot be instantiated: {}", e.message)))?;
        let info = session
            .info()
            .await
            .map_err(|e| invalid(format!("`info` failed: {}", e.message)))?;
        drop(session);
        if info.kinds.is_empty() {
            return Err(invalid(
                "`info` names no kinds; an adapter must handle at least one".into(),
            ));
        }
        if let Some(bad) = info.kinds.iter().find(|k| !valid_kind(k)) {
            return Err(invalid(format!(
                "`info` names the kind `{}`, which is not a valid kind (lower-case letters, digits and `-`, at most 63)",
                bad.chars().take(64).collect::<String>()
            )));
        }
        let mut plugin = Arc::into_inner(probe).ok_or_else(|| invalid("still in use".into()))?;
        plugin.kind_tag = Arc::from(info.kinds.join(",").as_str());
        plugin.version_tag = Arc::from(info.version.as_str());
        plugin.kinds = info.kinds;
        plugin.version = info.version;
        plugin.description = info.description;
        Ok(plugin)
    }

    fn compile(&self, sha256: &str, bytes: &[u8]) -> Result<Component, String> {
        let mut cache = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.get(sha256) {
            return Ok(c.clone());
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| format!("is not a valid WebAssembly component: {e:#}"))?;
        cache.insert(sha256.to_string(), component.clone());
        Ok(component)
    }

    /// Opens a sandboxed session: a fresh store (memory cap, epoch deadline,
    /// deny-all WASI, state scoped to `scope`) with a fresh instance of `plugin`.
    /// Waits for a free instance slot when the pool is busy.
    pub async fn session(
        &self,
        plugin: &Arc<LoadedPlugin>,
        scope: StateScope,
        call: CallOptions,
    ) -> Result<Session, crate::model::DeliveryError> {
        let permit: OwnedSemaphorePermit =
            self.permits.clone().acquire_owned().await.map_err(|_| {
                crate::model::DeliveryError::permanent("plugin runtime is shutting down")
            })?;
        let data = HostData::new(
            plugin.kind_tag.clone(),
            plugin.version_tag.clone(),
            scope,
            self.state.clone(),
            self.limits.clone(),
            call,
        );
        let mut store = Store::new(&self.engine, data);
        store.limiter(|d| &mut d.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let data = ctx.data_mut();
            if Instant::now() >= data.deadline {
                data.timed_out = true;
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        Session::start(store, plugin.clone(), self.limits.clone(), permit).await
    }
}

fn build_engine(limits: &RuntimeLimits) -> wasmtime::Result<Engine> {
    let n = limits.max_instances;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n)
        // A wasip2 component holds a few core instances (the program and its WASI adapters).
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 8)
        .total_stacks(n)
        .max_memory_size(limits.memory_cap)
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        // Keep recently used pages resident: freeing them on every teardown
        // makes the next instantiation page-fault on every core.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .async_stack_keep_resident(128 << 10)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .concurrency_support(false)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

fn start_epoch_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("herald-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(
            "cannot start the epoch ticker thread: {e}; runaway plugins will not be stopped"
        );
    }
}

/// Tells a component from a core module or a non-wasm file, with advice.
fn check_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err("is not a WebAssembly file (no `\\0asm` header)".into());
    }
    match bytes[4..8] {
        [0x0d, 0x00, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(
            "is a core WebAssembly module, not a component; build the adapter for the \
             wasm32-wasip2 target (see plugins/README.md)"
                .into(),
        ),
        _ => Err("has an unknown WebAssembly version or layer".into()),
    }
}

/// Finds `herald:adapter/adapter@X` among the exports and checks X is supported.
fn adapter_export_version(exports: &[String]) -> Result<String, String> {
    let found: Vec<&str> = exports
        .iter()
        .filter_map(|e| e.strip_prefix("herald:adapter/adapter@"))
        .collect();
    if let Some(v) = found.iter().find(|v| SUPPORTED_WIT.contains(v)) {
        return Ok(v.to_string());
    }
    let supported = SUPPORTED_WIT.join(", ");
    match found.first() {
        Some(v) => Err(format!(
            "exports herald:adapter/adapter@{v}, but this host supports only {supported}; rebuild it against this Herald's wit/"
        )),
        None => Err(format!(
            "does not export herald:adapter/adapter (supported versions: {supported}); found exports: [{}]",
            exports.join(", ")
        )),
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 characters.
pub fn valid_kind(kind: &str) -> bool {
    let b = kind.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

impl LoadedPlugin {
    /// Counts a call and whether it failed in the sandbox.
    pub(crate) fn count_call(&self, failed: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}
