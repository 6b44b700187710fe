//! One alert to one target: take the adapter for the target's kind, open a
//! sandboxed session, and run the shared delivery loop
//! ([`crate::plugin::delivery::drive`]) over HTTP, with retries within the
//! publish when asked.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::{DeliveryError, ErrorClass, SkipReason, Target, TargetResult};
use crate::plugin::bindings::types as wit;
use crate::plugin::convert::wit_target;
use crate::plugin::delivery::{CheckedRequest, SessionSandbox, Transport, check, drive};
use crate::plugin::{CallOptions, LoadedPlugin, PluginRuntime, StateScope};

/// What every delivery shares: the runtime and the HTTP client.
pub struct Deliverer {
    pub(crate) runtime: Arc<PluginRuntime>,
    pub(crate) client: reqwest::Client,
}

/// How a single attempt ended, before it becomes a [`TargetResult`].
struct Attempt {
    status_code: Option<u16>,
    result: Result<wit::Outcome, DeliveryError>,
}

impl Deliverer {
    /// A deliverer with Herald's HTTP client: pooled connections, no redirects
    /// (a redirect could leave the target's origin), rustls.
    pub fn new(runtime: Arc<PluginRuntime>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(32)
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { runtime, client })
    }

    /// The plugin runtime behind this deliverer.
    pub fn runtime(&self) -> &Arc<PluginRuntime> {
        &self.runtime
    }

    /// Delivers `alert` to `target`, retrying transient and unknown failures up
    /// to `retries` more times with `interval` between attempts (a longer
    /// `Retry-After` wins), all before `deadline`.
    pub async fn deliver(
        &self,
        target: &Target,
        alert: &wit::EnrichedAlert,
        retries: u32,
        interval: Duration,
        deadline: tokio::time::Instant,
    ) -> TargetResult {
        let started = Instant::now();
        let Some(plugin) = self.runtime.adapter(&target.kind) else {
            return TargetResult::skipped(
                &target.name,
                &target.kind,
                SkipReason::NoPlugin,
                Some(format!(
                    "no loaded plugin provides the kind `{}`",
                    target.kind
                )),
            );
        };
        tracing::debug!(target = %target.name, kind = %target.kind, "delivery started");
        let wit_target = wit_target(target);
        let mut attempt = self.attempt(&plugin, target, &wit_target, alert).await;
        for _ in 0..retries {
            let Err(e) = &attempt.result else { break };
            if e.class == ErrorClass::Permanent {
                break;
            }
            let pause = interval.max(e.retry_after.unwrap_or_default());
            if tokio::time::Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            attempt = self.attempt(&plugin, target, &wit_target, alert).await;
        }
        let result = self.result(target, &plugin, attempt, started.elapsed());
        tracing::debug!(
            target = %target.name, success = result.success, status = ?result.status_code,
            ms = result.duration.as_millis() as u64, "delivery finished"
        );
        result
    }

    fn result(
        &self,
        target: &Target,
        plugin: &LoadedPlugin,
        attempt: Attempt,
        duration: Duration,
    ) -> TargetResult {
        let (success, note, error) = match attempt.result {
            Ok(outcome) => (true, outcome.note.map(|n| target.secrets.redact(&n)), None),
            Err(mut e) => {
                e.message = target.secrets.redact(&e.message);
                (false, None, Some(e))
            }
        };
        TargetResult {
            target_name: target.name.clone(),
            target_type: target.kind.clone(),
            success,
            skipped: false,
            skip_reason: None,
            status_code: attempt.status_code,
            duration,
            error,
            note,
            plugin_version: Some(plugin.version.clone()),
        }
    }

    async fn attempt(
        &self,
        plugin: &Arc<LoadedPlugin>,
        target: &Target,
        wit_target: &wit::Target,
        alert: &wit::EnrichedAlert,
    ) -> Attempt {
        let call = CallOptions {
            clock: None,
            secrets: target.secrets.expose().values().cloned().collect(),
        };
        let scope = StateScope::new(&target.name, &alert.alert.fingerprint);
        let session = match self.runtime.session(plugin, scope, call).await {
            Ok(s) => s,
            Err(e) => {
                return Attempt {
                    status_code: None,
                    result: Err(e),
                };
            }
        };
        let mut sandbox = SessionSandbox {
            session,
            alert,
            target: wit_target,
        };
        let mut http = Http {
            client: &self.client,
            timeout: target.timeout,
            max_body: self.runtime.limits().max_response_body,
        };
        let delivery = drive(&mut sandbox, &mut http, &target.url, self.runtime.limits()).await;
        Attempt {
            status_code: delivery.status_code,
            // The HTTP transport never stops a delivery without an ending.
            result: delivery
                .result
                .unwrap_or_else(|| Err(DeliveryError::permanent("delivery stopped"))),
        }
    }
}

impl Deliverer {
    /// Checks and sends one request outside a delivery (health probes), with
    /// the target's timeout; the response body is cut to the runtime's limit.
    pub async fn send(
        &self,
        target: &Target,
        request: &wit::HttpRequest,
    ) -> Result<wit::HttpResponse, DeliveryError> {
        let checked = check(&target.url, request, self.runtime.limits())?;
        let mut http = Http {
            client: &self.client,
            timeout: target.timeout,
            max_body: self.runtime.limits().max_response_body,
        };
        http.send(checked)
            .await?
            .ok_or_else(|| DeliveryError::permanent("request stopped"))
    }
}

/// The daemon's transport: the shared HTTP client with the target's timeout.
struct Http<'a> {
    client: &'a reqwest::Client,
    timeout: Duration,
    /// Response bodies are cut to this many bytes.
    max_body: usize,
}

impl Transport for Http<'_> {
    async fn send(
        &mut self,
        request: CheckedRequest<'_>,
    ) -> Result<Option<wit::HttpResponse>, DeliveryError> {
        let send = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(request.raw.body.clone())
            .timeout(self.timeout)
            .send();
        let mut response = send.await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            let room = self.max_body.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        Ok(Some(wit::HttpResponse {
            status,
            headers,
            body,
        }))
    }
}

/// A transport failure, classified as the shared rules say, without the URL
/// (secret webhook URLs carry tokens in the path).
fn transport_error(e: reqwest::Error) -> DeliveryError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    let detail = source_chain(&e.without_url());
    DeliveryError::transient(format!("{what}: {detail}"))
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
