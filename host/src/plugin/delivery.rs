//! The delivery loop, shared by the daemon and `herald plugin test`:
//! `prepare`, then for every request the adapter asks for — check it (own
//! origin, method, headers, body size), send it through a [`Transport`], hand
//! the response to `handle-response` — until the adapter finishes.
//!
//! The daemon's transport is HTTP (`publish::Deliverer`); the test kit's
//! answers from a case file. Either way the rules are the same: at most
//! `max_requests_per_delivery` requests; a refused request ends the delivery
//! with that `permanent` error; the adapter's state is committed when it
//! finished or classified an error itself, never after a sandbox failure.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use url::Url;

use super::bindings::types as wit;
use super::guard::check_request;
use super::limits::RuntimeLimits;
use super::session::Session;
use crate::model::DeliveryError;

/// The adapter side of a delivery: a live [`Session`] in production, a
/// script in unit tests.
#[allow(async_fn_in_trait)] // used with concrete types only, never as `dyn`
pub trait Sandbox {
    /// The first action.
    async fn prepare(&mut self) -> Result<wit::Action, DeliveryError>;
    /// The action after a response.
    async fn handle_response(
        &mut self,
        response: &wit::HttpResponse,
    ) -> Result<wit::Action, DeliveryError>;
    /// Whether a call failed in the sandbox (then state is not committed).
    fn is_broken(&self) -> bool;
    /// Applies the state the adapter staged.
    fn commit_state(&mut self);
}

/// A session delivering one alert to one target.
pub struct SessionSandbox<'a> {
    pub session: Session,
    pub alert: &'a wit::EnrichedAlert,
    pub target: &'a wit::Target,
}

impl Sandbox for SessionSandbox<'_> {
    async fn prepare(&mut self) -> Result<wit::Action, DeliveryError> {
        self.session.prepare(self.alert, self.target).await
    }

    async fn handle_response(
        &mut self,
        response: &wit::HttpResponse,
    ) -> Result<wit::Action, DeliveryError> {
        self.session
            .handle_response(self.alert, self.target, response)
            .await
    }

    fn is_broken(&self) -> bool {
        self.session.is_broken()
    }

    fn commit_state(&mut self) {
        self.session.commit_state();
    }
}

/// A request that passed every check, in the types an HTTP client takes.
#[derive(Debug)]
pub struct CheckedRequest<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    /// The adapter's request as it returned it (body included).
    pub raw: &'a wit::HttpRequest,
}

/// Sends checked requests.
#[allow(async_fn_in_trait)] // used with concrete types only, never as `dyn`
pub trait Transport {
    /// The response, a transport failure, or `Ok(None)` to stop the delivery
    /// without an ending (the test kit, when a case has no step left).
    async fn send(
        &mut self,
        request: CheckedRequest<'_>,
    ) -> Result<Option<wit::HttpResponse>, DeliveryError>;
}

/// How a delivery went.
#[derive(Debug)]
pub struct Delivery {
    /// How it ended; `None` when the transport stopped it.
    pub result: Option<Result<wit::Outcome, DeliveryError>>,
    /// Requests handed to the transport.
    pub requests: usize,
    /// The HTTP status of the last response.
    pub status_code: Option<u16>,
}

/// Checks an adapter's request: origin and size ([`check_request`]), method,
/// header names and values.
pub fn check<'a>(
    target_url: &str,
    request: &'a wit::HttpRequest,
    limits: &RuntimeLimits,
) -> Result<CheckedRequest<'a>, DeliveryError> {
    let url = check_request(target_url, request, limits.max_request_body)?;
    let method = Method::from_bytes(request.method.as_bytes())
        .map_err(|_| DeliveryError::permanent("plugin returned an invalid HTTP method"))?;
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            DeliveryError::permanent(format!(
                "plugin returned an invalid header name `{}`",
                name.chars().take(64).collect::<String>()
            ))
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            DeliveryError::permanent(format!(
                "plugin returned an invalid value for header `{name}`"
            ))
        })?;
        headers.append(name, value);
    }
    Ok(CheckedRequest {
        method,
        url,
        headers,
        raw: request,
    })
}

/// Runs one delivery to its end.
pub async fn drive(
    sandbox: &mut impl Sandbox,
    transport: &mut impl Transport,
    target_url: &str,
    limits: &RuntimeLimits,
) -> Delivery {
    let mut requests = 0;
    let mut status_code = None;
    let mut action = sandbox.prepare().await;
    let result = loop {
        let request = match action {
            Ok(wit::Action::Finish(outcome)) => {
                sandbox.commit_state();
                break Some(Ok(outcome));
            }
            Err(e) => {
                // When the adapter classified the failure itself, keep what
                // it remembered; a sandbox failure leaves the state untouched.
                if !sandbox.is_broken() {
                    sandbox.commit_state();
                }
                break Some(Err(e));
            }
            Ok(wit::Action::Send(request)) => request,
        };
        if requests >= limits.max_requests_per_delivery {
            break Some(Err(DeliveryError::permanent(format!(
                "plugin asked for more than {} requests in one delivery",
                limits.max_requests_per_delivery
            ))));
        }
        let checked = match check(target_url, &request, limits) {
            Ok(c) => c,
            Err(e) => break Some(Err(e)),
        };
        requests += 1;
        let response = match transport.send(checked).await {
            Ok(Some(r)) => r,
            Ok(None) => break None,
            Err(e) => break Some(Err(e)),
        };
        status_code = Some(response.status);
        action = sandbox.handle_response(&response).await;
    };
    Delivery {
        result,
        requests,
        status_code,
    }
}
