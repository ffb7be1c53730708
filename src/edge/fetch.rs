//! The Fetch API: the `HttpClient` for calls to the provider, with a timeout, a bounded read
//! and redirects refused.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::{bump, header, Usage};
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
        // The runtime's own deadline: it aborts the fetch, or the body's reading, when it
        // passes (no timer or race of our own to keep).
        let signal = web_sys::AbortSignal::timeout_with_u32(SUBREQUEST_TIMEOUT_MS);
        let failed = |_| failure(&signal);
        let response = JsFuture::from(start_fetch(&request, &signal)?)
            .await
            .map_err(failed)?;
        read_bounded(response.unchecked_into(), &signal).await
    }
}

/// A rejected fetch or read: the deadline if it has passed, the network otherwise.
fn failure(signal: &web_sys::AbortSignal) -> TransportError {
    if signal.aborted() {
        TransportError::Timeout
    } else {
        TransportError::Network
    }
}

fn start_fetch(
    request: &OutboundRequest,
    signal: &web_sys::AbortSignal,
) -> Result<js_sys::Promise, TransportError> {
    let headers = web_sys::Headers::new().map_err(|_| TransportError::Network)?;
    for (name, value) in &request.headers {
        headers
            .set(name, value)
            .map_err(|_| TransportError::Network)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(match request.method {
        Method::Get => "GET",
        Method::Post => "POST",
    });
    init.set_headers(&headers);
    if let Some(body) = &request.body {
        init.set_body(&JsValue::from_str(body));
    }
    init.set_signal(Some(signal));
    // Never follow a redirect: the 3xx itself comes back and `read_bounded` refuses it.
    Reflect::set(&init, &"redirect".into(), &"manual".into())
        .map_err(|_| TransportError::Network)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(global.fetch_with_str_and_init(request.url.as_str(), &init))
}

/// Reads at most [`MAX_RESPONSE_BYTES`]: a hostile provider cannot exhaust the isolate's memory.
async fn read_bounded(
    response: web_sys::Response,
    signal: &web_sys::AbortSignal,
) -> Result<OutboundResponse, TransportError> {
    let status = response.status();
    if let Err(redirected) = refuse_redirect(status) {
        if let Some(body) = response.body() {
            let _ = body.cancel();
        }
        return Err(redirected);
    }
    let headers = response.headers();
    let declared = header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_RESPONSE_BYTES) {
        return Err(TransportError::TooLarge);
    }
    let body = match declared {
        // The runtime holds the body to its declared length: read it in one call.
        Some(_) => read_whole(&response, signal).await?,
        None => read_chunks(&response, signal).await?,
    };
    Ok(OutboundResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

async fn read_whole(
    response: &web_sys::Response,
    signal: &web_sys::AbortSignal,
) -> Result<Vec<u8>, TransportError> {
    let promise = response.array_buffer().map_err(|_| failure(signal))?;
    let buffer = JsFuture::from(promise).await.map_err(|_| failure(signal))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// A body of undeclared length, chunk by chunk, refused as soon as it grows too large.
async fn read_chunks(
    response: &web_sys::Response,
    signal: &web_sys::AbortSignal,
) -> Result<Vec<u8>, TransportError> {
    let mut body = Vec::new();
    if let Some(stream) = response.body() {
        let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        loop {
            let chunk = JsFuture::from(reader.read())
                .await
                .map_err(|_| failure(signal))?;
            if Reflect::get(&chunk, &JsValue::from_str("done")).is_ok_and(|d| d.is_truthy()) {
                break;
            }
            let bytes: Uint8Array = Reflect::get(&chunk, &JsValue::from_str("value"))
                .map_err(|_| TransportError::Network)?
                .dyn_into()
                .map_err(|_| TransportError::Network)?;
            if body.len() + bytes.length() as usize > MAX_RESPONSE_BYTES {
                // Stop the provider's stream here instead of draining it.
                let _ = reader.cancel();
                return Err(TransportError::TooLarge);
            }
            // Copied straight into the body buffer, not through a temporary Vec.
            let start = body.len();
            body.resize(start + bytes.length() as usize, 0);
            bytes.copy_to(&mut body[start..]);
        }
    }
    Ok(body)
}
