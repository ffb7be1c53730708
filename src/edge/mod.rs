//! The thin shell over the Workers runtime: turns the runtime's `Request` into an
//! [`Incoming`], hands the app its bindings (one adapter file per binding: `env`, `kv`,
//! `fetch`, `timer`, `rate_limit`, `crypto`), turns the [`Reply`] into a `Response`, and logs
//! one JSON line per request.

mod crypto;
mod env;
mod fetch;
mod kv;
mod promise;
mod rate_limit;
mod recovery;
mod timer;
#[cfg(feature = "gateway")]
mod upstream;

use std::cell::Cell;
use std::rc::Rc;

use js_sys::Reflect;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use crate::app::{self, Context, EdgeFailure, InFlightRefreshes, RequestConfig};
use crate::config::UPSTREAM_BINDING;
use crate::http::{split_request_url, Incoming, Reply};
use crate::platform::Platform;
use crate::provider_api::KeyCache;
use serde_json::{json, Value};

use self::crypto::WebCrypto;
use self::env::WorkerSettings;
use self::fetch::WorkersFetch;
use self::kv::{WorkersKv, KV_BINDING};
use self::rate_limit::{WorkersRateLimiter, LOGIN_RATE_LIMITER_BINDING};
use self::timer::WorkersTimer;
#[cfg(feature = "gateway")]
use self::upstream::WorkersUpstream;
#[cfg(not(feature = "gateway"))]
type WorkersUpstream<'a> = crate::platform::NoUpstream<'a>;

#[wasm_bindgen(module = "/src/edge/shell.js")]
extern "C" {
    /// The request as one string (see shell.js): method, URL and the headers `names` asks for.
    #[wasm_bindgen(catch)]
    fn describe(request: &web_sys::Request, names: &str) -> Result<String, JsValue>;

    /// A `Response` from the status, `name\nvalue\n...` headers and the body's UTF-8 bytes
    /// (as bytes, the page is neither decoded into a JavaScript string nor encoded back).
    #[wasm_bindgen(catch)]
    fn respond(status: u16, headers: &str, body: &[u8]) -> Result<web_sys::Response, JsValue>;

    /// Writes the request's log line (`level`: `error`, `warn` or `log`); see shell.js.
    fn log(level: &str, line: &str);
}

/// The request headers the app reads, newline-separated, in the order [`incoming`] takes them
/// from [`describe`].
const READ_HEADERS: &str =
    "cookie\norigin\nsec-fetch-site\ncf-connecting-ip\nsec-fetch-mode\naccept\ncf-ray";

/// The runtime's bindings as the app's platform.
struct Workers<'a>(std::marker::PhantomData<&'a ()>);

impl<'a> Platform for Workers<'a> {
    type Kv = WorkersKv<'a>;
    type Http = WorkersFetch<'a>;
    type Upstream = WorkersUpstream<'a>;
}

thread_local! {
    /// The isolate-wide JWKS cache (one thread per isolate; vanishes if the isolate does).
    static KEYS: Rc<KeyCache> = Rc::new(KeyCache::default());
    /// The sessions this isolate is refreshing (one refresh per session at a time).
    static REFRESHING: Rc<InFlightRefreshes> = Rc::new(InFlightRefreshes::default());
}

/// The `fetch` handler. It works on the runtime's own `Request`/`Response` objects (web-sys)
/// rather than the `worker` crate's wrappers: nothing here formats a runtime error, which
/// keeps the wrappers' error text and URL parsing out of the module (see the README's
/// performance notes). Errors become reason codes, never messages.
pub async fn serve(req: web_sys::Request, env: JsValue) -> Result<JsValue, JsValue> {
    let started = js_sys::Date::now() as u64;
    let (incoming, ray) = incoming(&req);
    let request_id = ray.unwrap_or_else(local_request_id);
    let usage = Usage::default();
    let binding =
        |name: &str| Reflect::get(&env, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
    let upstream = WorkersUpstream::new(&req, binding(UPSTREAM_BINDING), &usage);
    let kv = binding(KV_BINDING);
    let reply = if kv.is_object() {
        let keys = KEYS.with(Rc::clone);
        let refreshing = REFRESHING.with(Rc::clone);
        let limiter = binding(LOGIN_RATE_LIMITER_BINDING);
        let settings = WorkerSettings(&env);
        let ctx = Context::<Workers> {
            kv: &WorkersKv { kv, usage: &usage },
            http: &WorkersFetch { usage: &usage },
            upstream: &upstream,
            timer: &WorkersTimer,
            crypto: &WebCrypto,
            login_limiter: &WorkersRateLimiter(limiter),
            keys: &keys,
            refreshing: &refreshing,
            config: RequestConfig::new(&settings, &incoming.origin),
            now: (started / 1000) as i64,
        };
        app::serve(&incoming, &ctx).await
    } else {
        app::unavailable(&incoming, EdgeFailure::KvUnbound, &WorkerSettings(&env)).await
    };
    #[cfg(feature = "gateway")]
    if reply.forwarded {
        // Built before the log line, so that a response the runtime refuses to build is
        // logged as the 502 the client gets (with the gateway's links and HSTS).
        if let Some(response) = upstream.response(&reply.headers) {
            log_line(&incoming, &reply, &request_id, elapsed_ms(started), &usage);
            return Ok(response.into());
        }
        let settings = WorkerSettings(&env);
        let failed = app::unavailable(&incoming, EdgeFailure::ForwardUnbuildable, &settings).await;
        log_line(&incoming, &failed, &request_id, elapsed_ms(started), &usage);
        return into_response(failed).map(JsValue::from);
    }
    log_line(&incoming, &reply, &request_id, elapsed_ms(started), &usage);
    into_response(reply).map(JsValue::from)
}

fn elapsed_ms(started: u64) -> u64 {
    (js_sys::Date::now() as u64).saturating_sub(started)
}

/// The request as the app sees it, and its `cf-ray` (the request id at the edge).
fn incoming(req: &web_sys::Request) -> (Incoming, Option<String>) {
    let described = describe(req, READ_HEADERS).unwrap_or_default();
    let mut lines = described.split('\n');
    let method = lines.next().unwrap_or_default().to_owned();
    // The runtime hands over an absolute, already normalised URL.
    let (origin, path, query) =
        split_request_url(lines.next().unwrap_or_default()).unwrap_or_default();
    let mut header = || {
        lines
            .next()
            .and_then(|h| h.strip_prefix('='))
            .map(str::to_owned)
    };
    let incoming = Incoming {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        origin: origin.to_owned(),
        cookie_header: header().unwrap_or_default(),
        origin_header: header(),
        sec_fetch_site: header(),
        client_ip: header(),
        sec_fetch_mode: header(),
        accept: header(),
    };
    (incoming, header())
}

/// Outside Cloudflare's edge (wrangler dev) there is no `cf-ray`: 64 random bits instead.
fn local_request_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Calls `binding.method(...args)` (at most three) and awaits the promise it returns.
async fn call_binding(binding: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, ()> {
    promise::call(binding, method, args).await.map_err(|_| ())
}

/// Platform operations of one request, counted for the log line (and the benchmark).
#[derive(Default)]
pub struct Usage {
    kv_reads: Cell<u32>,
    kv_writes: Cell<u32>,
    subrequests: Cell<u32>,
}

fn bump(counter: &Cell<u32>) {
    counter.set(counter.get() + 1);
}

/// One structured line per request: no query, no cookie, no header values, so no secret.
fn log_line(req: &Incoming, reply: &Reply, request_id: &str, duration_ms: u64, usage: &Usage) {
    let count = |counter: &Cell<u32>| Value::from(u64::from(counter.get()));
    let mut fields = json!({
        "event": "request",
        "method": req.method,
        "route": req.path.chars().take(64).collect::<String>(),
        "status": reply.status,
        "reason": reply.reason,
        "duration_ms": duration_ms,
        "request_id": request_id,
        "kv_reads": count(&usage.kv_reads),
        "kv_writes": count(&usage.kv_writes),
        "subrequests": count(&usage.subrequests),
    });
    if let Some(warning) = reply.warning {
        fields["warning"] = warning.into();
    }
    let level = if reply.status >= 500 {
        "error"
    } else if reply.status >= 400 || reply.warning.is_some() {
        "warn"
    } else {
        "log"
    };
    log(level, &fields.to_string());
}

/// Only fails if the runtime cannot construct a response at all; the runtime then answers 500.
fn into_response(reply: Reply) -> Result<web_sys::Response, JsValue> {
    let headers = header_lines(&reply.headers)
        .ok_or_else(|| JsValue::from_str("a header with a line break"))?;
    respond(reply.status, &headers, reply.body.as_bytes())
}

/// Headers as shell.js takes them, `name \n value \n ...`; `None` when a name or value holds
/// a line break, which would split a header in two (refused, as `Headers` itself would).
fn header_lines(headers: &[(&'static str, String)]) -> Option<String> {
    let mut lines = String::new();
    for (name, value) in headers {
        if name.contains(['\n', '\r']) || value.contains(['\n', '\r']) {
            return None;
        }
        lines.push_str(name);
        lines.push('\n');
        lines.push_str(value);
        lines.push('\n');
    }
    Some(lines)
}
