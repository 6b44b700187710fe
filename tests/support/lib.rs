//! Shared pieces for Herald's black-box tests and benches: real HTTP mock
//! targets on 127.0.0.1 that record what they receive, and paths to the
//! compiled plugins (`make plugins` builds them), and a real Alertmanager
//! process for tests against the real peer ([`RealAlertmanager`]).

mod alertmanager;
pub mod daemon;

pub use alertmanager::RealAlertmanager;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A compiled guest, by crate name with `-` or `_` (e.g. `herald_plugin_webhook`).
/// Panics with the fix when it has not been built.
pub fn wasm(crate_name: &str) -> PathBuf {
    let file = format!("{}.wasm", crate_name.replace('-', "_"));
    let path = repo_root().join("target/wasm32-wasip2/release").join(&file);
    assert!(
        path.exists(),
        "{} is missing: build the plugins first (`make plugins`)",
        path.display()
    );
    path
}

/// One request a mock target received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// How a mock target answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub status: StatusCode,
    pub delay: Duration,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            status: StatusCode::OK,
            delay: Duration::ZERO,
            headers: Vec::new(),
            body: "ok".into(),
        }
    }
}

impl Behaviour {
    /// Answers `status` at once.
    pub fn status(status: u16) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ..Self::default()
        }
    }
    /// Answers after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets the response body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
    /// Answers `status` with `body` as JSON (`Content-Type: application/json; charset=utf-8`).
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::status(status)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
    }
}

/// Decides each answer from the request, for mocks that behave like a real
/// API (incrementing ids, remembered messages, errors for unknown ids).
pub type Responder = Arc<dyn Fn(&Received) -> Behaviour + Send + Sync>;

#[derive(Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    /// Answers to use first, in order, before falling back to `responder`
    /// or `behaviour`.
    script: Mutex<std::collections::VecDeque<Behaviour>>,
    /// When set, answers every request that no scripted answer took.
    responder: Option<Responder>,
    received: Mutex<Vec<Received>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A real HTTP server on 127.0.0.1 that records every request.
#[derive(Clone)]
pub struct MockTarget {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl MockTarget {
    /// Starts a mock answering with `behaviour` on a free loopback port.
    pub async fn start(behaviour: Behaviour) -> Self {
        Self::serve(Shared {
            behaviour: Mutex::new(behaviour),
            ..Shared::default()
        })
        .await
    }

    /// Starts a mock that answers each request with what `responder` returns
    /// for it (scripted answers, see [`script`](Self::script), still go first).
    /// The responder sees every request after it was recorded, so it can keep
    /// its own model of the remote API (ids handed out, messages posted).
    pub async fn start_with(
        responder: impl Fn(&Received) -> Behaviour + Send + Sync + 'static,
    ) -> Self {
        Self::serve(Shared {
            responder: Some(Arc::new(responder)),
            ..Shared::default()
        })
        .await
    }

    async fn serve(shared: Shared) -> Self {
        let shared = Arc::new(shared);
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how later requests are answered.
    pub fn set(&self, behaviour: Behaviour) {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = behaviour;
    }

    /// Queues answers for the next requests, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Behaviour>) {
        self.shared
            .script
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(answers);
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        self.shared
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// The most requests that were being answered at the same moment.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Received {
        method,
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers,
        body,
    };
    shared
        .received
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(received.clone());
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let scripted = shared
        .script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pop_front();
    let b = scripted.unwrap_or_else(|| match &shared.responder {
        Some(responder) => responder(&received),
        None => shared
            .behaviour
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    });
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut response = (b.status, b.body).into_response();
    for (k, v) in b.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

/// A firing alert with the given name, as the publish API takes it.
pub fn alert(name: &str) -> herald::model::EnrichedAlert {
    serde_json::from_value(serde_json::json!({
        "alert": {
            "status": "firing",
            "labels": {"alertname": name, "severity": "critical", "instance": "db-1"},
            "annotations": {"summary": format!("{name} is firing")},
            "starts_at": "2026-12-01T10:00:00Z",
            "generator_url": "http://prometheus.test/graph"
        }
    }))
    .expect("valid alert")
}

/// A runtime with default limits and the given guests loaded and registered.
pub async fn runtime(guests: &[&str]) -> Arc<herald::plugin::PluginRuntime> {
    runtime_with(herald::plugin::RuntimeLimits::default(), guests).await
}

/// A runtime with the given limits and guests.
pub async fn runtime_with(
    limits: herald::plugin::RuntimeLimits,
    guests: &[&str],
) -> Arc<herald::plugin::PluginRuntime> {
    let rt = herald::plugin::PluginRuntime::new(
        limits,
        Arc::new(herald::plugin::MemoryStateStore::new()),
    )
    .expect("runtime");
    for g in guests {
        rt.load_and_register(&wasm(g))
            .await
            .unwrap_or_else(|e| panic!("loading {g}: {e}"));
    }
    Arc::new(rt)
}

/// A publisher over a runtime, a fixed target list and a health view.
pub fn publisher(
    runtime: Arc<herald::plugin::PluginRuntime>,
    targets: Vec<herald::model::Target>,
    health: Arc<dyn herald::health::HealthView>,
    options: herald::publish::ParallelPublishOptions,
) -> Arc<herald::publish::Publisher> {
    let deliverer = Arc::new(herald::publish::Deliverer::new(runtime).expect("http client"));
    Arc::new(
        herald::publish::Publisher::new(
            deliverer,
            Arc::new(herald::model::StaticTargets::new(targets)),
            health,
            options,
        )
        .expect("valid options"),
    )
}
