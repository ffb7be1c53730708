//! The Fetch API: the `HttpClient` for calls to the provider, with a timeout, a bounded read
//! and redirects refused.

use wasm_bindgen::prelude::wasm_bindgen;

use super::promise::settled;
use super::{bump, header_lines, Usage};
use crate::oidc::outbound::{
    refuse_redirect, Method, OutboundRequest, OutboundResponse, TransportError,
};
use crate::platform::HttpClient;

/// Every subrequest gets this long (milliseconds) before the login fails with a clear message.
const SUBREQUEST_TIMEOUT_MS: u32 = 10_000;
/// Provider responses are read up to this size and no further.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

pub struct WorkersFetch<'a> {
    pub usage: &'a Usage,
}

impl HttpClient for WorkersFetch<'_> {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        bump(&self.usage.subrequests);
        let headers = header_lines(&request.headers).ok_or(TransportError::Network)?;
        let method = match request.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let promise = fetch_bounded(
            request.url.as_str(),
            method,
            &headers,
            request.body.as_deref(),
            SUBREQUEST_TIMEOUT_MS,
            MAX_RESPONSE_BYTES,
        );
        match settled(&promise).await {
            Ok(answer) => answered(answer.as_string().unwrap_or_default()),
            Err(reason) => Err(match reason.as_string().as_deref() {
                Some("timeout") => TransportError::Timeout,
                Some("too_large") => TransportError::TooLarge,
                _ => TransportError::Network,
            }),
        }
    }
}

/// `status \n body` as `fetchBounded` fulfils: a redirect is refused here, whatever its body.
fn answered(mut answer: String) -> Result<OutboundResponse, TransportError> {
    let newline = answer.find('\n').ok_or(TransportError::Network)?;
    let status = answer[..newline]
        .parse()
        .map_err(|_| TransportError::Network)?;
    refuse_redirect(status)?;
    // The body stays where it is: only the status line is taken off its front.
    answer.drain(..=newline);
    Ok(OutboundResponse {
        status,
        body: answer,
    })
}

#[wasm_bindgen(module = "/src/edge/shell.js")]
extern "C" {
    /// One subrequest to its end (see shell.js): fulfils with `status \n body`, rejects with
    /// `timeout`, `too_large` or `network`.
    #[wasm_bindgen(js_name = fetchBounded)]
    fn fetch_bounded(
        url: &str,
        method: &str,
        headers: &str,
        body: Option<&str>,
        timeout_ms: u32,
        max_bytes: usize,
    ) -> js_sys::Promise;
}
