//! The thin shell over the Workers runtime: turns a `worker::Request` into an [`Incoming`],
//! provides KV, Fetch and settings through the platform traits, turns the [`Reply`] into a
//! `worker::Response`, and logs one JSON line per request.

use std::cell::Cell;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::{
    kv::KvStore, AbortController, Delay, Env, Fetch, Headers, Request, RequestInit, Response,
};

use crate::config::Settings;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
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

pub async fn serve(req: Request, env: Env) -> worker::Result<Response> {
    let started = worker::Date::now().as_millis();
    let incoming = incoming(&req);
    let request_id = req
        .headers()
        .get("cf-ray")
        .ok()
        .flatten()
        .unwrap_or_else(local_request_id);
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
    let duration_ms = worker::Date::now().as_millis().saturating_sub(started);
    log_line(&incoming, &reply, &request_id, duration_ms, &usage);
    into_response(reply)
}

fn incoming(req: &Request) -> Incoming {
    let url = req.url().ok();
    let header = |name: &str| req.headers().get(name).ok().flatten();
    Incoming {
        method: req.method().to_string(),
        path: url
            .as_ref()
            .map(|u| u.path().to_owned())
            .unwrap_or_default(),
        query: url
            .as_ref()
            .and_then(|u| u.query())
            .unwrap_or_default()
            .to_owned(),
        origin: url
            .as_ref()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default(),
        cookie_header: header("cookie").unwrap_or_default(),
        origin_header: header("origin"),
        sec_fetch_site: header("sec-fetch-site"),
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

/// Only fails if the runtime cannot construct a response at all; the caller then lets the
/// runtime answer 500.
fn into_response(reply: Reply) -> worker::Result<Response> {
    let headers = Headers::new();
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    let response = if reply.body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(reply.body.into_bytes())?
    };
    Ok(response.with_status(reply.status).with_headers(headers))
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
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        self.kv
            .put(key, value)
            .map_err(|e| StoreError(e.to_string()))?
            .expiration_ttl(ttl_secs.max(60))
            .execute()
            .await
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        self.kv
            .delete(key)
            .await
            .map_err(|e| StoreError(e.to_string()))
    }
}

struct WorkersFetch<'a> {
    usage: &'a Usage,
}

impl HttpClient for WorkersFetch<'_> {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        bump(&self.usage.subrequests);
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = async move {
            let fetch = Fetch::Request(build_request(request)?);
            let mut response = fetch
                .send_with_signal(&signal)
                .await
                .map_err(|_| TransportError::Network)?;
            read_bounded(&mut response).await
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

fn build_request(request: OutboundRequest) -> Result<Request, TransportError> {
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers
            .set(name, value)
            .map_err(|_| TransportError::Network)?;
    }
    let mut init = RequestInit::new();
    init.with_method(match request.method {
        platform::Method::Get => worker::Method::Get,
        platform::Method::Post => worker::Method::Post,
    })
    .with_headers(headers)
    .with_body(request.body.map(|b| b.into()));
    Request::new_with_init(request.url.as_str(), &init).map_err(|_| TransportError::Network)
}

/// Reads at most [`MAX_RESPONSE_BYTES`]: a hostile provider cannot exhaust the isolate's memory.
async fn read_bounded(response: &mut Response) -> Result<OutboundResponse, TransportError> {
    let status = response.status_code();
    let content_type = response.headers().get("content-type").ok().flatten();
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_RESPONSE_BYTES) {
        return Err(TransportError::TooLarge);
    }
    let mut body = Vec::new();
    if let Ok(mut stream) = response.stream() {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| TransportError::Network)?;
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(TransportError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
    }
    Ok(OutboundResponse {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}
