//! The Fetch API: the `HttpClient` for calls to the provider, with a timeout, a bounded read
//! and redirects refused.

use wasm_bindgen::prelude::wasm_bindgen;

use super::promise::settled;
use super::{bump, Usage};
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
        let mut headers = String::new();
        for (name, value) in &request.headers {
            // A line break would split a header in two: refused, as `Headers` itself would.
            if name.contains(['\n', '\r']) || value.contains(['\n', '\r']) {
                return Err(TransportError::Network);
            }
            headers.push_str(name);
            headers.push('\n');
            headers.push_str(value);
            headers.push('\n');
        }
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

#[wasm_bindgen(inline_js = "
// One subrequest, from the request to the end of its body, in one call from wasm (some twenty
// calls and three awaits when done piece by piece from Rust). The runtime's own deadline
// (AbortSignal.timeout) aborts the fetch or the body's reading. Redirects are never followed:
// a 3xx comes back with its status and no body. A body is read up to maxBytes and no
// further: refused at once when Content-Length declares more; read chunk by chunk, and its
// stream cancelled as soon as it grows too large, when the length is not declared.
// Fulfils with `status \\n body` (UTF-8, invalid bytes replaced); rejects with 'timeout',
// 'too_large' or 'network'.
export function fetchBounded(url, method, headerLines, body, timeoutMs, maxBytes) {
  const signal = AbortSignal.timeout(timeoutMs);
  const failed = (error) => {
    throw error === 'too_large' ? error : signal.aborted ? 'timeout' : 'network';
  };
  try {
    const headers = new Headers();
    const parts = headerLines.split('\\n');
    for (let i = 0; i + 1 < parts.length; i += 2) headers.append(parts[i], parts[i + 1]);
    const init = { method, headers, signal, redirect: 'manual' };
    if (body !== undefined) init.body = body;
    return fetch(url, init).then((response) => readBounded(response, maxBytes)).catch(failed);
  } catch (error) {
    return Promise.reject('network');
  }
}

async function readBounded(response, maxBytes) {
  const status = response.status;
  if (status >= 300 && status < 400) {
    if (response.body) response.body.cancel().catch(() => {});
    return `${status}\\n`;
  }
  const declared = response.headers.get('content-length');
  if (declared !== null && /^[0-9]+$/.test(declared)) {
    if (Number(declared) > maxBytes) {
      if (response.body) response.body.cancel().catch(() => {});
      throw 'too_large';
    }
    // The runtime holds the body to its declared length: read it in one call.
    return `${status}\\n${await response.text()}`;
  }
  const chunks = [];
  let length = 0;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.byteLength;
      if (length > maxBytes) {
        // Stop the provider's stream here instead of draining it.
        reader.cancel().catch(() => {});
        throw 'too_large';
      }
      chunks.push(value);
    }
  }
  const whole = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  return `${status}\\n${new TextDecoder().decode(whole)}`;
}")]
extern "C" {
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
