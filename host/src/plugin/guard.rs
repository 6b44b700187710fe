//! Checks on every request an adapter asks the host to send: it may only go
//! to its own target's origin, and it must fit the size limit.

use url::Url;

use crate::model::DeliveryError;

use super::bindings::types::HttpRequest;

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// The scheme, host and port of a URL (the port made explicit).
fn origin(url: &Url) -> (String, String, Option<u16>) {
    (
        url.scheme().to_string(),
        url.host_str().unwrap_or("").to_ascii_lowercase(),
        url.port_or_known_default(),
    )
}

/// Refuses a request that leaves the target's origin, uses an odd method, or
/// carries a body over `max_body` bytes. Errors are `permanent`, and their
/// messages name the offending origin but never the path (secret URLs carry
/// tokens in the path).
pub fn check_request(
    target_url: &str,
    request: &HttpRequest,
    max_body: usize,
) -> Result<Url, DeliveryError> {
    let target = Url::parse(target_url).map_err(|e| {
        DeliveryError::permanent(format!("the target's `url` is not a valid URL: {e}"))
    })?;
    let url = Url::parse(&request.url).map_err(|e| {
        DeliveryError::permanent(format!("plugin returned an invalid request URL: {e}"))
    })?;
    if origin(&url) != origin(&target) {
        let (scheme, host, port) = origin(&url);
        return Err(DeliveryError::permanent(format!(
            "plugin tried to reach another origin ({scheme}://{host}:{}); requests may only go to the target's own url",
            port.map(|p| p.to_string()).unwrap_or_default()
        )));
    }
    if !METHODS.contains(&request.method.as_str()) {
        return Err(DeliveryError::permanent(format!(
            "plugin returned an unsupported HTTP method `{}`",
            request.method.chars().take(16).collect::<String>()
        )));
    }
    if request.body.len() > max_body {
        return Err(DeliveryError::permanent(format!(
            "plugin built a request body of {} bytes, over the {max_body}-byte limit",
            request.body.len()
        )));
    }
    Ok(url)
}
