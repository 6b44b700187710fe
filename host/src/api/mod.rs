//! The HTTP API (axum on hyper): ingress, admin, metrics and probes.
//!
//! Depends on `publish` (synchronous publishes), `queue` (the [`Intake`]
//! that asynchronous ingress hands alerts to) and, through the [`Control`]
//! trait, on whatever runs the daemon (reloads, readiness, target issues).

pub mod admin;
mod auth;
mod error;
pub mod ingress;
mod ops;
pub mod queue;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use tokio::net::TcpListener;

pub use auth::Token;
pub use error::ApiError;

use crate::publish::Publisher;
use crate::queue::Intake;

/// What the API needs from the daemon around it.
#[async_trait::async_trait]
pub trait Control: Send + Sync + 'static {
    /// Reloads plugins and targets now; the report is returned to the caller as JSON.
    async fn reload(&self) -> serde_json::Value;
    /// `Ok` when plugins are loaded and targets parsed; otherwise why not.
    fn ready(&self) -> Result<(), String>;
    /// Problems known about a target (from its file or its adapter's validation).
    fn target_issues(&self, target: &str) -> Vec<String>;
    /// The target's health and breaker state, if tracked.
    fn health(&self, target: &str) -> Option<serde_json::Value>;
}

/// Everything the handlers share.
pub struct AppState {
    pub publisher: Arc<Publisher>,
    pub intake: Arc<dyn Intake>,
    pub control: Arc<dyn Control>,
    /// The deadline given to synchronous publishes (see [`ApiSettings::request_timeout`]).
    pub request_timeout: std::time::Duration,
}

/// Limits and tokens for the router.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Required on admin endpoints when set.
    pub admin_token: Option<Token>,
    /// Required on ingress endpoints when set.
    pub ingress_token: Option<Token>,
    /// Longest a request may take: synchronous publishes get this as their
    /// deadline (their result then reports targets still running as timed
    /// out), and any request still running after it gets 503.
    pub request_timeout: std::time::Duration,
}

/// The whole API. `extra_admin` routes (the queue and DLQ endpoints) are
/// served behind the admin token like the built-in admin endpoints.
pub fn router(state: Arc<AppState>, settings: &ApiSettings, extra_admin: Option<Router>) -> Router {
    let ingress = Router::new()
        .route(
            "/api/v1/alerts/alertmanager",
            post(ingress::alertmanager_webhook),
        )
        .route("/api/v2/alerts", post(ingress::alertmanager_v2))
        .route("/api/v1/publish", post(ingress::publish))
        .layer(middleware::from_fn_with_state(
            settings.ingress_token.clone(),
            auth::require,
        ));
    let admin = Router::new()
        .route("/api/v1/targets", get(admin::list_targets))
        .route("/api/v1/targets/{name}", get(admin::get_target))
        .route("/api/v1/targets/{name}/test", post(admin::test_target))
        .route("/api/v1/plugins", get(admin::list_plugins))
        .route("/api/v1/reload", post(admin::reload))
        .layer(middleware::from_fn_with_state(
            settings.admin_token.clone(),
            auth::require,
        ));
    let ops = Router::new()
        .route("/metrics", get(ops::metrics_text))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz));
    // The synchronous publish answers by its own deadline; this margin lets
    // it do so before the blanket timeout cuts the request.
    let cutoff = settings.request_timeout + REQUEST_TIMEOUT_MARGIN;
    let mut app = Router::new()
        .merge(ingress)
        .merge(admin)
        .merge(ops)
        .with_state(state);
    if let Some(extra) = extra_admin {
        app = app.merge(extra.layer(middleware::from_fn_with_state(
            settings.admin_token.clone(),
            auth::require,
        )));
    }
    app.layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(middleware::from_fn(move |request, next| {
            timeout(cutoff, request, next)
        }))
}

/// Extra time a request gets beyond `request_timeout` before it is cut.
const REQUEST_TIMEOUT_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

async fn timeout(
    limit: std::time::Duration,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than {} ms (`server.request_timeout`)",
                limit.saturating_sub(REQUEST_TIMEOUT_MARGIN).as_millis()
            ),
        )
        .into_response(),
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting
/// and lets requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
