//! `herald demo`: one example alert, published through the webhook adapter
//! to three local mock targets (one healthy, one signed, one failing), with
//! what each target received and the per-target result printed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;

use crate::health::AlwaysHealthy;
use crate::model::{EnrichedAlert, StaticTargets, Target};
use crate::plugin::{MemoryStateStore, PluginRuntime, RuntimeLimits};
use crate::publish::{Deliverer, ParallelPublishOptions, Publisher};

/// What a mock target saw.
type Received = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

async fn mock(status: StatusCode) -> anyhow::Result<(SocketAddr, Received)> {
    let received: Received = Arc::default();
    let seen = received.clone();
    let app = Router::new().route(
        "/{*path}",
        post(
            move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push((
                        uri.path().to_string(),
                        headers,
                        body,
                    ));
                    let mut h = HeaderMap::new();
                    if status == StatusCode::SERVICE_UNAVAILABLE {
                        h.insert("retry-after", axum::http::HeaderValue::from_static("30"));
                    }
                    (status, h, "demo target reply").into_response()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, received))
}

/// The alert the demo publishes.
pub fn example_alert() -> EnrichedAlert {
    serde_json::from_value(serde_json::json!({
        "alert": {
            "status": "firing",
            "labels": {"alertname": "HighRequestLatency", "severity": "critical",
                       "service": "checkout", "namespace": "shop"},
            "annotations": {"summary": "p99 latency above 2s for 10 minutes",
                            "runbook_url": "https://runbooks.example/latency"},
            "starts_at": chrono::Utc::now().to_rfc3339(),
            "generator_url": "http://prometheus.example/graph?g0.expr=latency"
        },
        "classification": {"severity": "critical", "confidence": 0.93,
            "reasoning": "Latency SLO burn rate is 14x; checkout is customer facing.",
            "recommendations": ["Scale the checkout deployment", "Check the payments DB"]}
    }))
    .unwrap_or_else(|e| unreachable!("the example alert is valid JSON: {e}"))
}

/// Runs the demo; `Ok(true)` when at least one target got the alert.
pub async fn run(plugin_dir: &Path) -> anyhow::Result<bool> {
    let runtime = Arc::new(PluginRuntime::new(
        RuntimeLimits::default(),
        Arc::new(MemoryStateStore::new()),
    )?);
    for loaded in runtime
        .load_dir(plugin_dir)
        .await
        .context("loading plugins (build them with `make plugins`)")?
    {
        match loaded {
            Ok(p) => println!(
                "loaded plugin {} {} ({})",
                p.kinds.join(","),
                p.version,
                p.path.display()
            ),
            Err(e) => println!("skipped: {e}"),
        }
    }
    anyhow::ensure!(
        runtime.adapter("webhook").is_some(),
        "no webhook plugin in {}; run `make plugins` first",
        plugin_dir.display()
    );

    let (ok_addr, ok_seen) = mock(StatusCode::OK).await?;
    let (signed_addr, signed_seen) = mock(StatusCode::ACCEPTED).await?;
    let (down_addr, down_seen) = mock(StatusCode::SERVICE_UNAVAILABLE).await?;
    let targets = vec![
        Target::new("ops-hook", "webhook", format!("http://{ok_addr}/alerts"))
            .with_header("Authorization", "Bearer demo-token-not-real"),
        Target::new(
            "audit-hook",
            "webhook",
            format!("http://{signed_addr}/herald"),
        )
        .with_option("format", "alertmanager")
        .with_secret("signing_secret", "demo-signing-secret"),
        Target::new("flaky-hook", "webhook", format!("http://{down_addr}/down")),
    ];
    let deliverer = Arc::new(Deliverer::new(runtime.clone())?);
    let publisher = Publisher::new(
        deliverer,
        Arc::new(StaticTargets::new(targets.clone())),
        Arc::new(AlwaysHealthy),
        ParallelPublishOptions::default(),
    )?;
    let alert = example_alert();
    println!(
        "\npublishing `{}` to {} targets...\n",
        alert.alert.name(),
        targets.len()
    );
    let result = match publisher.publish_to_all(&alert).await {
        Ok(r) => r,
        Err(e) => e.result().cloned().ok_or(e)?,
    };

    for (name, seen) in [
        ("ops-hook", &ok_seen),
        ("audit-hook", &signed_seen),
        ("flaky-hook", &down_seen),
    ] {
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        for (path, headers, body) in seen.iter() {
            println!("── {name} received POST {path}");
            for h in [
                "content-type",
                "authorization",
                "x-herald-timestamp",
                "x-herald-signature",
            ] {
                if let Some(v) = headers.get(h) {
                    println!("   {h}: {}", v.to_str().unwrap_or("?"));
                }
            }
            let pretty = serde_json::from_slice::<serde_json::Value>(body)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
            for line in pretty.lines() {
                println!("   {line}");
            }
        }
    }
    println!(
        "\n{:<12} {:<8} {:<8} {:>6} {:>9}  detail",
        "target", "kind", "result", "status", "ms"
    );
    for r in &result.results {
        let outcome = if r.success {
            "ok"
        } else if r.skipped {
            "skipped"
        } else {
            "failed"
        };
        let detail = r
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.class.as_str(), e.message))
            .or_else(|| r.note.clone())
            .unwrap_or_default();
        println!(
            "{:<12} {:<8} {:<8} {:>6} {:>9.1}  {detail}",
            r.target_name,
            r.target_type,
            outcome,
            r.status_code
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            r.duration.as_secs_f64() * 1000.0,
        );
    }
    println!(
        "\n{} of {} targets succeeded, {} failed, {} skipped; partial success: {}; {:.1} ms",
        result.success_count,
        result.total_targets,
        result.failure_count,
        result.skipped_count,
        result.is_partial_success,
        result.duration.as_secs_f64() * 1000.0
    );
    println!(
        "\nresult as JSON:\n{}",
        serde_json::to_string_pretty(&result)?
    );
    Ok(result.success_count > 0)
}
