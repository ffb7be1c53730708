//! The thin shell over the Workers runtime: turns a `worker::Request` into an [`Incoming`],
//! provides KV, Fetch and settings through the platform traits, turns the [`Reply`] into a
//! `worker::Response`, and logs one JSON line per request.

use std::cell::Cell;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::js_sys::{self, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::{kv::KvStore, Delay, Env};

use crate::config::Settings;
use crate::error::AppError;
use crate::http::{split_request_url, Incoming, Reply};
use crate::platform::{
    self, HttpClient, KeyValueStore, OutboundRequest, OutboundResponse, StoreError, TransportError,
};
use crate::provider::KeyCache;
use crate::routes::{self, Context};

/// The KV namespace binding that holds login records and sessions.
pub const KV_BINDING: &str = "AUTH_KV";
/// Every subrequest gets this long before the login fails with a clear message.
const SUBREQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Provider responses are read up to this size and no further.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

thread_local! {
    /// The isolate-wide JWKS cache (one thread per isolate; vanishes if the isolate does).
    static KEYS: Rc<KeyCache> = Rc::new(KeyCache::default());
}

/// The `fetch` handler. It works on the runtime's own `Request`/`Response` objects (web-sys)
/// rather than the `worker` crate's wrappers: nothing here formats a runtime error, which
/// keeps the wrappers' error text and URL parsing out of the module (see the README's
/// performance notes). Errors become reason codes, never messages.
pub async fn serve(req: web_sys::Request, env: Env) -> Result<JsValue, JsValue> {
    let started = js_sys::Date::now() as u64;
    let incoming = incoming(&req);
    let request_id = header(&req.headers(), "cf-ray").unwrap_or_else(local_request_id);
    let usage = Usage::default();
    let reply = match env.kv(KV_BINDING) {
        Ok(kv) => {
            let keys = KEYS.with(Rc::clone);
            let ctx = Context {
                kv: &WorkersKv { kv, usage: &usage },
                http: &WorkersFetch { usage: &usage },
                settings: &WorkerSettings(&env),
                keys: &keys,
                now: (started / 1000) as i64,
            };
            routes::handle(&incoming, &ctx).await
        }
        Err(_) => routes::error_reply(&AppError::Config(crate::config::ConfigError {
            setting: "AUTH_KV (KV namespace binding)",
            problem: "is not bound in wrangler.toml".into(),
        })),
    };
    let duration_ms = (js_sys::Date::now() as u64).saturating_sub(started);
    log_line(&incoming, &reply, &request_id, duration_ms, &usage);
    into_response(reply).map(JsValue::from)
}

fn header(headers: &web_sys::Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

fn incoming(req: &web_sys::Request) -> Incoming {
    // The runtime hands over an absolute, already normalised URL.
    let url = req.url();
    let (origin, path, query) = split_request_url(&url).unwrap_or_default();
    let headers = req.headers();
    Incoming {
        method: req.method(),
        path: path.to_owned(),
        query: query.to_owned(),
        origin: origin.to_owned(),
        cookie_header: header(&headers, "cookie").unwrap_or_default(),
        origin_header: header(&headers, "origin"),
        sec_fetch_site: header(&headers, "sec-fetch-site"),
    }
}

/// Outside Cloudflare's edge (wrangler dev) there is no `cf-ray`: 64 random bits instead.
fn local_request_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Platform operations of one request, counted for the log line (and the benchmark).
#[derive(Default)]
struct Usage {
    kv_reads: Cell<u32>,
    kv_writes: Cell<u32>,
    subrequests: Cell<u32>,
}

fn bump(counter: &Cell<u32>) {
    counter.set(counter.get() + 1);
}

/// One structured line per request: no query, no cookie, no header values, so no secret.
fn log_line(req: &Incoming, reply: &Reply, request_id: &str, duration_ms: u64, usage: &Usage) {
    let line = serde_json::json!({
        "event": "request",
        "method": req.method,
        "route": req.path.chars().take(64).collect::<String>(),
        "status": reply.status,
        "reason": reply.reason,
        "duration_ms": duration_ms,
        "request_id": request_id,
        "kv_reads": usage.kv_reads.get(),
        "kv_writes": usage.kv_writes.get(),
        "subrequests": usage.subrequests.get(),
    });
    if reply.status >= 500 {
        worker::console_error!("{line}");
    } else if reply.status >= 400 {
        worker::console_warn!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// Only fails if the runtime cannot construct a response at all; the runtime then answers 500.
fn into_response(reply: Reply) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    init.set_headers(&headers);
    let body = (!reply.body.is_empty()).then_some(reply.body.as_str());
    web_sys::Response::new_with_opt_str_and_init(body, &init)
}

struct WorkerSettings<'a>(&'a Env);

impl Settings for WorkerSettings<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .var(name)
            .map(|v| v.to_string())
            .or_else(|_| self.0.secret(name).map(|s| s.to_string()))
            .ok()
    }
}

struct WorkersKv<'a> {
    kv: KvStore,
    usage: &'a Usage,
}

impl KeyValueStore for WorkersKv<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        bump(&self.usage.kv_reads);
        self.kv
            .get(key)
            .text()
            .await
            .map_err(|_| StoreError("kv get failed"))
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        // put_bytes: `put(&str)` would go through serde and drag float formatting along.
        self.kv
            .put_bytes(key, value.as_bytes())
            .map_err(|_| StoreError("kv put failed"))?
            .expiration_ttl(ttl_secs.max(60))
            .execute()
            .await
            .map_err(|_| StoreError("kv put failed"))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        self.kv
            .delete(key)
            .await
            .map_err(|_| StoreError("kv delete failed"))
    }
}

struct WorkersFetch<'a> {
    usage: &'a Usage,
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
        platform::Method::Get => "GET",
        platform::Method::Post => "POST",
    });
    init.set_headers(&headers);
    if let Some(body) = &request.body {
        init.set_body(&JsValue::from_str(body));
    }
    init.set_signal(Some(signal));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(global.fetch_with_str_and_init(request.url.as_str(), &init))
}

/// Reads at most [`MAX_RESPONSE_BYTES`]: a hostile provider cannot exhaust the isolate's memory.
async fn read_bounded(response: web_sys::Response) -> Result<OutboundResponse, TransportError> {
    let status = response.status();
    let headers = response.headers();
    let content_type = header(&headers, "content-type");
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
            body.extend_from_slice(&bytes.to_vec());
        }
    }
    Ok(OutboundResponse {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
