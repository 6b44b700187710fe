//! `herald serve`: builds every part from the daemon config, loads plugins
//! and targets, starts hot reload, serves the API until shutdown, then drains.
//!
//! The top of the dependency graph below `main`: it wires `config`, `plugin`,
//! `health`, `publish`, `queue` and `api` together.

pub mod reload;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api::{self, ApiSettings, AppState, Control, Token};
use crate::config::{DaemonConfig, TargetStore};
use crate::health::{HealthMonitor, HealthRegistry, MonitorHandle};
use crate::plugin::PluginRuntime;
use crate::publish::{Deliverer, Publisher};
use crate::queue::{DurableQueue, Intake, Store};

pub use reload::{ReloadReport, Reloader};

/// A built daemon, ready to serve.
pub struct Daemon {
    pub config: DaemonConfig,
    pub runtime: Arc<PluginRuntime>,
    pub targets: Arc<TargetStore>,
    pub publisher: Arc<Publisher>,
    /// Accepted alerts, retries and dead letters; also the ingress intake.
    pub intake: Arc<dyn Intake>,
    pub queue: Arc<DurableQueue>,
    pub reloader: Arc<Reloader>,
    health: Arc<HealthRegistry>,
    /// Active health probes; stopped when the daemon is dropped.
    _monitor: Option<MonitorHandle>,
    /// Keeps the watchers and the loader task alive as long as the daemon.
    _reload_guard: reload::ReloadGuard,
}

struct DaemonControl {
    reloader: Arc<Reloader>,
    health: Arc<HealthRegistry>,
}

#[async_trait::async_trait]
impl Control for DaemonControl {
    async fn reload(&self) -> serde_json::Value {
        serde_json::to_value(self.reloader.reload().await).unwrap_or_default()
    }
    fn ready(&self) -> Result<(), String> {
        self.reloader.ready()
    }
    fn target_issues(&self, target: &str) -> Vec<String> {
        self.reloader.issues(target)
    }
    fn health(&self, target: &str) -> Option<serde_json::Value> {
        self.health
            .snapshot(target)
            .and_then(|h| serde_json::to_value(h).ok())
    }
}

impl Daemon {
    /// Builds everything from `config` and does the first load of plugins and
    /// targets. Problems with single plugin or target files are logged, not fatal.
    pub async fn build(config: DaemonConfig) -> anyhow::Result<Self> {
        // The durable store holds accepted alerts, retry jobs, dead letters
        // and the adapters' state, so a resolve after a restart still finds
        // what the firing remembered.
        let settings = config.queue.settings();
        let store = Store::open(&settings.data_dir).with_context(|| {
            format!("opening the queue store in {}", settings.data_dir.display())
        })?;
        let runtime = Arc::new(
            PluginRuntime::new(config.plugins.runtime_limits(), store.state_store())
                .context("starting the plugin runtime")?,
        );
        let targets = Arc::new(TargetStore::default());
        let reloader = Reloader::new(
            runtime.clone(),
            config.plugins.dir.clone(),
            config.targets.clone(),
            targets.clone(),
        );
        // Watch first, then load through the loader task: a file that changes
        // during the first load is picked up right after it, and loads never
        // run in parallel.
        let reload_guard = reloader.start();
        let report = reloader.initial_load().await;
        tracing::info!(
            plugins = report.plugins_loaded.len(),
            rejected = report.plugins_rejected.len(),
            targets = report.targets,
            problems = report.target_problems.len(),
            "plugins and targets loaded"
        );
        let health =
            Arc::new(HealthRegistry::new(config.health.clone()).context("the [health] settings")?);
        let deliverer =
            Arc::new(Deliverer::new(runtime.clone()).context("building the HTTP client")?);
        let monitor = config.health.probes.then(|| {
            HealthMonitor::new(health.clone(), targets.clone(), deliverer.clone()).spawn()
        });
        let publisher = Arc::new(
            Publisher::new(
                deliverer,
                targets.clone(),
                health.clone(),
                config.publish.clone(),
            )
            .context("the [publish] options")?,
        );
        let queue = DurableQueue::start(store, publisher.clone(), targets.clone(), settings)
            .context("starting the durable queue")?;
        let intake: Arc<dyn Intake> = queue.clone();
        Ok(Self {
            config,
            runtime,
            targets,
            publisher,
            intake,
            queue,
            reloader,
            health,
            _monitor: monitor,
            _reload_guard: reload_guard,
        })
    }

    /// Target health and circuit breakers, as the publisher consults them.
    pub fn health(&self) -> &Arc<HealthRegistry> {
        &self.health
    }

    /// The API router for this daemon.
    pub fn router(&self) -> axum::Router {
        let state = Arc::new(AppState {
            publisher: self.publisher.clone(),
            intake: self.intake.clone(),
            control: Arc::new(DaemonControl {
                reloader: self.reloader.clone(),
                health: self.health.clone(),
            }),
            request_timeout: self.config.server.request_timeout,
        });
        let settings = ApiSettings {
            max_body_bytes: self.config.server.max_body_bytes,
            admin_token: self
                .config
                .admin
                .token
                .as_ref()
                .map(|t| Token::new(t.expose())),
            ingress_token: self
                .config
                .server
                .ingress_token
                .as_ref()
                .map(|t| Token::new(t.expose())),
            request_timeout: self.config.server.request_timeout,
        };
        api::router(
            state,
            &settings,
            Some(api::queue::routes(self.queue.clone())),
        )
    }

    /// Serves on `listener` with hot reload until `shutdown` resolves; then
    /// stops accepting, lets in-flight requests and background publishes
    /// finish within the grace period, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "herald is serving");
        // One grace period from the moment shutdown begins covers both the
        // HTTP drain and the background publishes: a client that never
        // finishes its request must not hold the exit up forever.
        let grace = self.config.server.shutdown_grace;
        let (began_tx, began_rx) = tokio::sync::watch::channel(None::<tokio::time::Instant>);
        let server = api::serve(listener, self.router(), async move {
            shutdown.await;
            began_tx.send_replace(Some(tokio::time::Instant::now()));
        });
        let mut timer_rx = began_rx.clone();
        let overrun = async move {
            let began = timer_rx
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|b| *b);
            match began {
                Some(began) => tokio::time::sleep_until(began + grace).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            served = server => served.context("serving HTTP")?,
            () = overrun => tracing::warn!(
                ?grace,
                "requests still open when the shutdown grace period ended; closing their connections"
            ),
        }
        let began = (*began_rx.borrow()).unwrap_or_else(tokio::time::Instant::now);
        tracing::info!("shutting down: draining in-flight publishes");
        self.intake
            .shutdown(grace.saturating_sub(began.elapsed()))
            .await;
        tracing::info!("stopped");
        Ok(())
    }
}
