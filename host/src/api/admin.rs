//! The admin API: targets (config without secrets, health, counts), a test
//! alert per target, loaded plugins, and reload on demand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::ingress::publish_response;
use crate::health::HealthCheckStrategy;
use crate::model::{Alert, AlertStatus, EnrichedAlert, Target};
use crate::publish::ParallelPublishOptions;

/// A target as the admin API shows it: never a secret or a header value.
#[derive(Debug, Serialize)]
pub struct TargetView {
    pub name: String,
    pub kind: String,
    /// The URL without any user-info part.
    pub url: String,
    pub enabled: bool,
    /// Header names only: values often carry tokens.
    pub headers: Vec<String>,
    pub options: BTreeMap<String, String>,
    /// Secret names only.
    pub secrets: Vec<String>,
    pub timeout_ms: u64,
    /// Whether deliveries can happen (enabled, a plugin for its kind, valid).
    pub routable: bool,
    /// Why it is not routable, or what the adapter said about it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<String>,
    /// Health and circuit breaker state, when health is tracked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<serde_json::Value>,
}

fn strip_userinfo(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "(invalid url)".into(),
    }
}

fn view(state: &AppState, target: &Target) -> TargetView {
    let mut issues = state.control.target_issues(&target.name);
    if state
        .publisher
        .deliverer()
        .runtime()
        .adapter(&target.kind)
        .is_none()
    {
        issues.push(format!(
            "not routable: no loaded plugin provides the kind `{}`",
            target.kind
        ));
    }
    TargetView {
        name: target.name.clone(),
        kind: target.kind.clone(),
        url: strip_userinfo(&target.url),
        enabled: target.enabled,
        headers: target.headers.keys().cloned().collect(),
        options: target.options.clone(),
        secrets: target.secrets.keys().map(str::to_string).collect(),
        timeout_ms: target.timeout.as_millis() as u64,
        routable: target.enabled && issues.is_empty(),
        issues: issues
            .into_iter()
            .map(|i| target.secrets.redact(&i))
            .collect(),
        health: state.control.health(&target.name),
    }
}

/// `GET /api/v1/targets`.
pub async fn list_targets(State(state): State<Arc<AppState>>) -> Json<Vec<TargetView>> {
    let targets = state.publisher.target_source().targets();
    Json(targets.iter().map(|t| view(&state, t)).collect())
}

fn find(state: &AppState, name: &str) -> Result<Target, ApiError> {
    state
        .publisher
        .target_source()
        .targets()
        .iter()
        .find(|t| t.name == name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no target named `{name}`")))
}

/// `GET /api/v1/targets/{name}`.
pub async fn get_target(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<TargetView>, ApiError> {
    let target = find(&state, &name)?;
    Ok(Json(view(&state, &target)))
}

/// The alert `POST /api/v1/targets/{name}/test` sends: clearly marked as a test.
pub fn test_alert() -> EnrichedAlert {
    let now = chrono::Utc::now();
    EnrichedAlert::plain(Alert {
        fingerprint: Some(format!("herald-test-{}", now.timestamp_millis())),
        status: AlertStatus::Firing,
        labels: BTreeMap::from([
            ("alertname".to_string(), "HeraldTestAlert".to_string()),
            ("severity".to_string(), "info".to_string()),
            ("herald_test".to_string(), "true".to_string()),
        ]),
        annotations: BTreeMap::from([(
            "summary".to_string(),
            "Test alert from Herald: please ignore. It checks that this target receives alerts."
                .to_string(),
        )]),
        starts_at: now,
        ends_at: None,
        generator_url: None,
    })
}

/// `POST /api/v1/targets/{name}/test`: delivers a test alert to that target
/// only, ignoring health and breakers, and answers with the result.
pub async fn test_target(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let target = find(&state, &name)?;
    let options = ParallelPublishOptions {
        health_strategy: HealthCheckStrategy::PublishToAll,
        respect_circuit_breakers: false,
        ..state.publisher.options().clone()
    };
    let outcome = state
        .publisher
        .publish(None, &test_alert(), &[target], &options)
        .await;
    Ok(publish_response(outcome))
}

/// A loaded plugin as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct PluginView {
    pub kinds: Vec<String>,
    pub version: String,
    pub wit_version: String,
    pub description: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub loaded_at: u64,
    pub calls: u64,
    pub failures: u64,
}

/// `GET /api/v1/plugins`: one entry per loaded file.
pub async fn list_plugins(State(state): State<Arc<AppState>>) -> Json<Vec<PluginView>> {
    let snapshot = state.publisher.deliverer().runtime().registry().snapshot();
    let mut seen = std::collections::BTreeSet::new();
    let views = snapshot
        .values()
        .filter(|p| seen.insert(p.sha256.clone() + &p.path.display().to_string()))
        .map(|p| PluginView {
            kinds: p.kinds.clone(),
            version: p.version.clone(),
            wit_version: p.wit_version.clone(),
            description: p.description.clone(),
            path: p.path.display().to_string(),
            sha256: p.sha256.clone(),
            size: p.size,
            loaded_at: p
                .loaded_at
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            calls: p.calls.load(std::sync::atomic::Ordering::Relaxed),
            failures: p.failures.load(std::sync::atomic::Ordering::Relaxed),
        })
        .collect();
    Json(views)
}

/// `POST /api/v1/reload`: reloads plugins and targets now; answers what changed.
pub async fn reload(State(state): State<Arc<AppState>>) -> Response {
    Json(state.control.reload().await).into_response()
}
