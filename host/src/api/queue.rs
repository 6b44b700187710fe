//! The durable queue's admin endpoints: queue depth, and the dead-letter
//! queue (list, show, replay, delete, purge). [`routes`] builds them with
//! their own state; the daemon merges them behind the admin token.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ApiError;
use crate::queue::{DlqError, DlqFilter, DurableQueue, MAX_PAGE};

/// `GET /api/v1/queue`, `GET /api/v1/dlq`, `GET|DELETE /api/v1/dlq/{id}`,
/// `POST /api/v1/dlq/{id}/replay`, `POST /api/v1/dlq/replay`, `POST /api/v1/dlq/purge`.
/// No authentication here: merge it behind the admin token layer.
pub fn routes(queue: Arc<DurableQueue>) -> Router<()> {
    Router::new()
        .route("/api/v1/queue", get(stats))
        .route("/api/v1/dlq", get(list))
        .route("/api/v1/dlq/replay", post(replay_matching))
        .route("/api/v1/dlq/purge", post(purge))
        .route("/api/v1/dlq/{id}", get(show).delete(delete))
        .route("/api/v1/dlq/{id}/replay", post(replay_one))
        .with_state(queue)
}

type Q = State<Arc<DurableQueue>>;

/// The filter of `GET /api/v1/dlq` and `POST /api/v1/dlq/replay`, as query
/// parameters or (for replay) a JSON body. `since`/`until` take RFC 3339
/// timestamps or durations meaning "that long ago" (`"1h"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterParams {
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub limit: Option<usize>,
    #[serde(default)]
    pub cursor: Option<String>,
}

fn blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An RFC 3339 timestamp, or a duration ago, as ms since the epoch.
fn parse_time(field: &str, value: &str, now: DateTime<Utc>) -> Result<u64, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp_millis().max(0) as u64);
    }
    if let Ok(d) = humantime::parse_duration(value) {
        let ago = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
        return Ok((now - ago).timestamp_millis().max(0) as u64);
    }
    Err(ApiError::bad_request(format!(
        "`{field}` must be an RFC 3339 time (2026-12-01T10:00:00Z) or a duration ago (\"1h\"), not `{value}`"
    )))
}

impl FilterParams {
    fn filter(&self) -> Result<DlqFilter, ApiError> {
        let now = Utc::now();
        Ok(DlqFilter {
            target: blank(&self.target).map(str::to_string),
            since_ms: blank(&self.since)
                .map(|v| parse_time("since", v, now))
                .transpose()?,
            until_ms: blank(&self.until)
                .map(|v| parse_time("until", v, now))
                .transpose()?,
        })
    }

    fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(default),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::bad_request(format!(
                "`limit` must be between 1 and {MAX_PAGE}, not {n}"
            ))),
        }
    }

    fn cursor(&self) -> Result<Option<u64>, ApiError> {
        blank(&self.cursor)
            .map(|c| {
                c.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "`cursor` must be a value from `next_cursor`, not `{c}`"
                    ))
                })
            })
            .transpose()
    }
}

fn dlq_error(e: DlqError) -> ApiError {
    match e {
        DlqError::NotFound(_) => ApiError::not_found(e.to_string()),
        DlqError::TargetMissing { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        DlqError::QueueFull(_) => ApiError {
            retry_after: Some(Duration::from_secs(5)),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        },
        DlqError::Store(_) => ApiError {
            retry_after: Some(Duration::from_secs(5)),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        },
    }
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{id}` is not a dead-letter id (a number from `GET /api/v1/dlq`)"
        ))
    })
}

/// `GET /api/v1/queue`: depth by class and state, oldest age, retries, DLQ size.
async fn stats(State(queue): Q) -> Response {
    Json(queue.stats()).into_response()
}

/// `GET /api/v1/dlq?target=&since=&until=&limit=&cursor=`.
async fn list(State(queue): Q, Query(params): Query<FilterParams>) -> Result<Response, ApiError> {
    let filter = params.filter()?;
    let page = queue
        .dlq_list(&filter, params.cursor()?, params.limit(100)?)
        .map_err(dlq_error)?;
    Ok(Json(page).into_response())
}

/// `GET /api/v1/dlq/{id}`.
async fn show(State(queue): Q, Path(id): Path<String>) -> Result<Response, ApiError> {
    let entry = queue.dlq_get(parse_id(&id)?).map_err(dlq_error)?;
    Ok(Json(entry).into_response())
}

/// `DELETE /api/v1/dlq/{id}`.
async fn delete(State(queue): Q, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    queue.dlq_delete(id).await.map_err(dlq_error)?;
    Ok(Json(serde_json::json!({ "deleted": id })).into_response())
}

/// `POST /api/v1/dlq/{id}/replay`.
async fn replay_one(State(queue): Q, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    queue.replay(id).await.map_err(dlq_error)?;
    Ok(Json(serde_json::json!({ "replayed": [id] })).into_response())
}

/// `POST /api/v1/dlq/replay`: the filter as query parameters or a JSON body
/// (`{"target": …, "since": …, "until": …, "limit": …}`); at most `limit`
/// (default and most: 1000) entries per call, oldest first; `more` says
/// whether to call again.
async fn replay_matching(
    State(queue): Q,
    Query(query): Query<FilterParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = if body.iter().all(u8::is_ascii_whitespace) {
        query
    } else {
        super::ingress::parse::<FilterParams>(&body, "replay filter")?
    };
    if blank(&params.cursor).is_some() {
        return Err(ApiError::bad_request(
            "`cursor` does not apply to replay: replayed entries leave the DLQ, so call again while `more` is true",
        ));
    }
    let report = queue
        .replay_matching(&params.filter()?, params.limit(MAX_PAGE)?)
        .await
        .map_err(dlq_error)?;
    Ok(Json(report).into_response())
}

/// The body of `POST /api/v1/dlq/purge`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeRequest {
    /// Entries dead-lettered longer ago than this (`"24h"`, `"0s"` for all).
    older_than: String,
    #[serde(default)]
    target: Option<String>,
}

/// `POST /api/v1/dlq/purge` with `{"older_than": "24h"}`.
async fn purge(State(queue): Q, body: Bytes) -> Result<Response, ApiError> {
    let request: PurgeRequest =
        super::ingress::parse(&body, "purge request ({\"older_than\": \"24h\"})")?;
    let older_than = humantime::parse_duration(request.older_than.trim()).map_err(|e| {
        ApiError::bad_request(format!(
            "`older_than` must be a duration like \"24h\" or \"30m\", not `{}`: {e}",
            request.older_than
        ))
    })?;
    let purged = queue
        .dlq_purge(older_than, request.target.filter(|t| !t.is_empty()))
        .await
        .map_err(dlq_error)?;
    Ok(Json(serde_json::json!({ "purged": purged })).into_response())
}
