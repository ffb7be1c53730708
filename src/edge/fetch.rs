//! The Fetch API: the `HttpClient` for calls to the provider, with a timeout, a bounded read
//! and redirects refused.

use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Delay;

use super::{bump, header, Usage};
use crate::oidc::outbound::{
    refuse_redirect, Method, OutboundRequest, OutboundResponse, TransportError,
};
use crate::platform::HttpClient;

/// Every subrequest gets this long before the login fails with a clear message.
const SUBREQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Provider responses are read up to this size and no further.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

pub struct WorkersFetch<'a> {
    pub usage: &'a Usage,
}

impl HttpClient for WorkersFetch<'_> {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        bump(&self.usage.subrequests);
        let controller = web_sys::AbortController::new().map_err(|_| TransportError::Network)?;
        let signal = controller.signal();
        let exchange = async move {
            let response = JsFuture::from(start_fetch(&request, &signal)?)
                .await
                .map_err(|_| TransportError::Network)?;
            read_bounded(response.unchecked_into()).await
        };
        let exchange = pin!(exchange);
        let deadline = pin!(Delay::from(SUBREQUEST_TIMEOUT));
        match select(exchange, deadline).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => {
                controller.abort();
                Err(TransportError::Timeout)
            }
        }
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
async fn read_bounded(response: web_sys::Response) -> Result<OutboundResponse, TransportError> {
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
    let mut body = Vec::new();
    if let Some(stream) = response.body() {
        let reader: web_sys::ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
        loop {
            let chunk = JsFuture::from(reader.read())
                .await
                .map_err(|_| TransportError::Network)?;
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
    Ok(OutboundResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
