//! `herald sink`: a small capture server for trying Herald and for plugin
//! authors. It prints every request it receives, readably, and answers the
//! way the real target would for the paths each adapter uses, so that every
//! example target in `config/` can deliver to one local sink.
//!
//! Depends on nothing else in the crate.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Header names whose values the sink masks unless asked to show secrets.
const SECRET_HEADERS: &[&str] = &["authorization", "x-api-key", "x-auth-token", "cookie"];
/// JSON fields whose values the sink masks unless asked to show secrets.
const SECRET_FIELDS: &[&str] = &["routing_key", "token", "api_key", "password"];

struct Sink {
    seq: AtomicU64,
    show_secrets: bool,
    out: Box<dyn Fn(String) + Send + Sync>,
}

/// Runs the sink on `listener` until `shutdown` resolves, writing each request
/// through `out` (one call per request). With `show_secrets` false, auth
/// headers and key fields are masked in what is printed.
pub async fn run(
    listener: TcpListener,
    show_secrets: bool,
    out: impl Fn(String) + Send + Sync + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sink = Arc::new(Sink {
        seq: AtomicU64::new(0),
        show_secrets,
        out: Box::new(out),
    });
    let app = Router::new().fallback(handle).with_state(sink);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn mask_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if SECRET_FIELDS.contains(&k.as_str()) && v.is_string() {
                    *v = Value::String("***".into());
                } else {
                    mask_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        _ => {}
    }
}

fn render(
    sink: &Sink,
    n: u64,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> String {
    let mut text = format!(
        "#{n} {} {method} {uri}\n",
        chrono::Utc::now().format("%H:%M:%S%.3f")
    );
    for (name, value) in headers {
        let value = if !sink.show_secrets && SECRET_HEADERS.contains(&name.as_str()) {
            "***".to_string()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        text.push_str(&format!("  {name}: {value}\n"));
    }
    let shown = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            if !sink.show_secrets {
                mask_json(&mut v);
            }
            serde_json::to_string_pretty(&v).unwrap_or_default()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    if !shown.is_empty() {
        for line in shown.lines() {
            text.push_str("  | ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// The answer a real target would give for this path.
fn answer(n: u64, method: &Method, path: &str, body: &Bytes) -> Response {
    let json_body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |k: &str| json_body.get(k).cloned().unwrap_or(Value::Null);
    let id = format!("sink-{n:06}");
    match (method.as_str(), path) {
        // PagerDuty Events API v2.
        ("POST", p) if p.ends_with("/v2/enqueue") => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"status": "success", "message": "Event processed", "dedup_key": field("dedup_key")})),
        )
            .into_response(),
        // Slack Web API.
        ("POST", p) if p.ends_with("/api/chat.postMessage") => {
            let channel = match field("channel") {
                Value::String(c) if !c.starts_with('#') => c,
                _ => "C0SINK".to_string(),
            };
            axum::Json(json!({"ok": true, "channel": channel, "ts": format!("1700000000.{n:06}")})).into_response()
        }
        ("POST", p) if p.ends_with("/api/chat.update") => {
            axum::Json(json!({"ok": true, "channel": field("channel"), "ts": field("ts")})).into_response()
        }
        ("POST", p) if p.ends_with("/api/auth.test") => axum::Json(json!({"ok": true})).into_response(),
        // Rootly (JSON:API).
        ("POST", "/v1/alerts") | ("POST", "/v1/incidents") => (
            StatusCode::CREATED,
            [("content-type", "application/vnd.api+json")],
            json!({"data": {"id": id, "type": path.trim_start_matches("/v1/")}}).to_string(),
        )
            .into_response(),
        ("POST", p) if p.starts_with("/v1/alerts/") && p.ends_with("/resolve") => (
            [("content-type", "application/vnd.api+json")],
            json!({"data": {"id": p.split('/').nth(3), "type": "alerts"}}).to_string(),
        )
            .into_response(),
        ("PATCH", p) if p.starts_with("/v1/incidents/") => (
            [("content-type", "application/vnd.api+json")],
            json!({"data": {"id": p.split('/').nth(3), "type": "incidents"}}).to_string(),
        )
            .into_response(),
        // Alertmanager API v2.
        ("POST", p) if p.ends_with("/api/v2/alerts") => StatusCode::OK.into_response(),
        // Slack incoming webhooks and generic webhooks answer plain `ok`.
        _ => (StatusCode::OK, "ok").into_response(),
    }
}

async fn handle(
    State(sink): State<Arc<Sink>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = sink.seq.fetch_add(1, Ordering::Relaxed) + 1;
    (sink.out)(render(&sink, n, &method, &uri, &headers, &body));
    answer(n, &method, uri.path(), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_unless_asked() {
        let sink = Sink {
            seq: AtomicU64::new(0),
            show_secrets: false,
            out: Box::new(|_| {}),
        };
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer xoxb-secret-token".parse().unwrap());
        let body = Bytes::from(r#"{"routing_key":"R0UT1NGKEY","event_action":"trigger"}"#);
        let text = render(
            &sink,
            1,
            &Method::POST,
            &"/v2/enqueue".parse().unwrap(),
            &headers,
            &body,
        );
        assert!(!text.contains("xoxb-secret-token"), "{text}");
        assert!(!text.contains("R0UT1NGKEY"), "{text}");
        assert!(text.contains("\"event_action\": \"trigger\""), "{text}");
    }

    #[test]
    fn answers_like_the_targets() {
        let r = answer(
            3,
            &Method::POST,
            "/v2/enqueue",
            &Bytes::from(r#"{"dedup_key":"abc"}"#),
        );
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let r = answer(3, &Method::POST, "/v1/alerts", &Bytes::new());
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = answer(3, &Method::POST, "/hook", &Bytes::new());
        assert_eq!(r.status(), StatusCode::OK);
    }
}
