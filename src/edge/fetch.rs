//! The Fetch API: the `HttpClient` for calls to the provider, with a deadline, a bounded read
//! and redirects refused.

use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use wasm_bindgen::JsValue;
use worker::{
    AbortController, AbortSignal, Delay, Fetch, Headers, Method as WorkerMethod, Request,
    RequestInit, RequestRedirect, Response,
};

use super::{bump, Usage};
use crate::oidc::outbound::{
    refuse_redirect, Method, OutboundRequest, OutboundResponse, TransportError,
};
use crate::platform::HttpClient;

/// Every subrequest gets this long, its body included, before the login fails with a clear
/// message.
const SUBREQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Provider responses are read up to this size and no further.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

pub struct WorkersFetch<'a> {
    pub usage: &'a Usage,
}

impl HttpClient for WorkersFetch<'_> {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        bump(&self.usage.subrequests);
        let request = outgoing(&request).ok_or(TransportError::Network)?;
        let controller = AbortController::default();
        let exchange = pin!(exchange(request, controller.signal()));
        let deadline = pin!(Delay::from(SUBREQUEST_TIMEOUT));
        match select(exchange, deadline).await {
            Either::Left((answer, _)) => answer,
            Either::Right(_) => {
                // Stops the subrequest (or the reading of its body) in the runtime too.
                controller.abort();
                Err(TransportError::Timeout)
            }
        }
    }
}

/// The runtime's request; redirects come back as they are, to be refused.
fn outgoing(request: &OutboundRequest) -> Option<Request> {
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.append(name, value).ok()?;
    }
    let mut init = RequestInit::new();
    init.with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_method(match request.method {
            Method::Get => WorkerMethod::Get,
            Method::Post => WorkerMethod::Post,
        })
        .with_body(request.body.as_deref().map(JsValue::from_str));
    Request::new_with_init(request.url.as_str(), &init).ok()
}

/// The request sent and its answer read (a redirect's body is not).
async fn exchange(
    request: Request,
    signal: AbortSignal,
) -> Result<OutboundResponse, TransportError> {
    let mut response = Fetch::Request(request)
        .send_with_signal(&signal)
        .await
        .map_err(|_| TransportError::Network)?;
    let status = response.status_code();
    if let Err(refused) = refuse_redirect(status) {
        discard(&mut response);
        return Err(refused);
    }
    let body = read_bounded(&mut response, MAX_RESPONSE_BYTES).await?;
    Ok(OutboundResponse {
        status,
        body: decode(body),
    })
}

/// The body, up to `max` bytes and no further: refused at once when `Content-Length` declares
/// more, otherwise read chunk by chunk and its stream cancelled as soon as it grows too large.
/// The bytes are always counted, never taken from `Content-Length`: the runtime inflates gzip
/// and brotli (the header is then the compressed size), and a `Transfer-Encoding` overrides it.
async fn read_bounded(response: &mut Response, max: usize) -> Result<Vec<u8>, TransportError> {
    let declared = response.headers().get("content-length").ok().flatten();
    if declared.is_some_and(|length| declares_more_than(&length, max)) {
        discard(response);
        return Err(TransportError::TooLarge);
    }
    // No stream: the response has no body.
    let Ok(mut stream) = response.stream() else {
        return Ok(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| TransportError::Network)?;
        if body.len() + chunk.len() > max {
            // Returning drops the stream, which cancels it: the rest is never downloaded.
            return Err(TransportError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A `Content-Length` of digits only, over `max` (any too long to count is over it).
fn declares_more_than(length: &str, max: usize) -> bool {
    !length.is_empty()
        && length.bytes().all(|b| b.is_ascii_digit())
        && length.parse::<usize>().map_or(true, |length| length > max)
}

/// Cancels a body that will not be read, rather than letting the provider's stream drain.
fn discard(response: &mut Response) {
    // Dropping the stream's reader cancels the stream.
    drop(response.stream());
}

/// UTF-8, as `TextDecoder` reads it: invalid bytes replaced, a leading byte order mark dropped.
fn decode(body: Vec<u8>) -> String {
    let text = match String::from_utf8(body) {
        Ok(text) => text,
        Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
    };
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}
