//! Alerts in: Alertmanager's webhook (v4), the Alertmanager v2 API (so
//! Prometheus can use Herald as its alertmanager), and the synchronous
//! publish of one enriched alert.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::health::HealthCheckStrategy;
use crate::model::{Alert, AlertStatus, Classification, EnrichedAlert, Target};
use crate::publish::{ParallelPublishOptions, PublishError};
use crate::queue::IntakeError;

/// Parses JSON with a message that says where it went wrong.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(format!(
            "empty body: expected {what}"
        )));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))
}

/// Alertmanager's "unset" time.
fn set_time(t: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    t.filter(|t| t.timestamp() > 0)
}

/// One alert of Alertmanager's webhook payload.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert {
    status: AlertStatus,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: DateTime<Utc>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

/// Alertmanager's webhook payload, version 4. Unknown fields are ignored:
/// Alertmanager may add some, and refusing them would lose alerts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookPayload {
    version: String,
    alerts: Vec<WebhookAlert>,
}

/// `POST /api/v1/alerts/alertmanager`.
pub async fn alertmanager_webhook(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let payload: WebhookPayload = parse(&body, "Alertmanager webhook payload (version 4)")?;
    if payload.version != "4" {
        return Err(ApiError::bad_request(format!(
            "unsupported Alertmanager webhook payload version `{}`; Herald reads version 4",
            payload.version
        )));
    }
    let alerts = payload
        .alerts
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let alert = Alert {
                fingerprint: a.fingerprint.filter(|f| !f.is_empty()),
                status: a.status,
                labels: a.labels,
                annotations: a.annotations,
                starts_at: a.starts_at,
                ends_at: set_time(a.ends_at),
                generator_url: a.generator_url.filter(|u| !u.is_empty()),
            };
            alert
                .validate()
                .map_err(|e| ApiError::bad_request(format!("alerts[{i}]: {e}")))?;
            Ok(EnrichedAlert::plain(alert))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    accept(&state, alerts).await
}

/// One alert of the Alertmanager v2 API (`postableAlert`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
}

/// `POST /api/v2/alerts`: status is derived as Alertmanager does — resolved
/// when `endsAt` is in the past, firing otherwise.
pub async fn alertmanager_v2(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let posted: Vec<PostableAlert> =
        parse(&body, "array of postable alerts (Alertmanager API v2)")?;
    let now = Utc::now();
    let alerts = posted
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let ends_at = set_time(a.ends_at);
            let alert = Alert {
                fingerprint: None,
                status: if ends_at.is_some_and(|e| e <= now) {
                    AlertStatus::Resolved
                } else {
                    AlertStatus::Firing
                },
                labels: a.labels,
                annotations: a.annotations,
                starts_at: set_time(a.starts_at).unwrap_or(now),
                ends_at,
                generator_url: a.generator_url.filter(|u| !u.is_empty()),
            };
            alert
                .validate()
                .map_err(|e| ApiError::bad_request(format!("[{i}]: {e}")))?;
            Ok(EnrichedAlert::plain(alert))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    accept(&state, alerts).await
}

async fn accept(state: &AppState, alerts: Vec<EnrichedAlert>) -> Result<Response, ApiError> {
    if alerts.is_empty() {
        return Ok((StatusCode::OK, Json(serde_json::json!({ "accepted": 0 }))).into_response());
    }
    match state.intake.accept(alerts).await {
        Ok(n) => Ok((StatusCode::OK, Json(serde_json::json!({ "accepted": n }))).into_response()),
        Err(e @ IntakeError::Full(_, after)) => Err(ApiError {
            retry_after: Some(after),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }),
        Err(e) => Err(ApiError {
            retry_after: Some(std::time::Duration::from_secs(5)),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }),
    }
}

/// The body of `POST /api/v1/publish`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub alert: Alert,
    #[serde(default)]
    pub classification: Option<Classification>,
    #[serde(default)]
    pub enrichment: Option<serde_json::Value>,
    /// Only these targets (by name); all enabled targets when absent.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
    /// Overrides the configured health strategy for this publish.
    #[serde(default)]
    pub strategy: Option<HealthCheckStrategy>,
}

/// `POST /api/v1/publish`: synchronous; answers with the per-target result.
pub async fn publish(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: PublishRequest = parse(&body, "publish request")?;
    let alert = EnrichedAlert {
        alert: request.alert,
        classification: request.classification,
        enrichment: request.enrichment,
    };
    alert.validate().map_err(ApiError::unprocessable)?;
    let all = state.publisher.target_source().targets();
    let targets: Vec<Target> = match &request.targets {
        None => all.iter().cloned().collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                all.iter()
                    .find(|t| &t.name == n)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(format!("no target named `{n}`")))
            })
            .collect::<Result<_, _>>()?,
    };
    if targets.is_empty() {
        // Nothing to publish to is "no target routable", not a success.
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no target to publish to: none is configured (add target files) or the request's `targets` list is empty",
        ));
    }
    let options = ParallelPublishOptions {
        health_strategy: request
            .strategy
            .unwrap_or(state.publisher.options().health_strategy),
        ..state.publisher.options().clone()
    };
    let deadline = tokio::time::Instant::now() + state.request_timeout;
    Ok(publish_response(
        state
            .publisher
            .publish(Some(deadline), &alert, &targets, &options)
            .await,
    ))
}

/// 200 with the result when a target succeeded (or there were none), 502
/// when all failed, 503 when none was routable, 422 for an invalid alert.
pub(crate) fn publish_response(
    outcome: Result<crate::model::ParallelPublishResult, PublishError>,
) -> Response {
    match outcome {
        Ok(result) => (StatusCode::OK, Json(result)).into_response(),
        Err(PublishError::AllFailed(result)) => {
            (StatusCode::BAD_GATEWAY, Json(*result)).into_response()
        }
        Err(e @ PublishError::NoHealthyTargets(_)) => {
            let body = serde_json::json!({ "error": e.to_string(), "result": e.result() });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        Err(e @ PublishError::InvalidAlert(_)) => {
            ApiError::unprocessable(e.to_string()).into_response()
        }
        Err(e @ PublishError::InvalidOptions(_)) => {
            ApiError::bad_request(e.to_string()).into_response()
        }
    }
}
