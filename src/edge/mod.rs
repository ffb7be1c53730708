//! The thin shell over the Workers runtime, on workers-rs: the `fetch` event turns the
//! runtime's `Request` into an [`Incoming`], hands the app its bindings (one adapter file per
//! binding: `env`, `kv`, `fetch`, `timer`, `rate_limit`, `crypto`, `upstream`), turns the
//! [`Reply`] into a `Response`, and logs one JSON line per request.
//!
//! A panic is recovered by workers-rs itself: its start function installs a panic hook that
//! logs the panic as "Critical" and marks the instance for a fresh one, which worker-build's
//! entry point starts before the next request (the isolate's caches start empty again).

mod crypto;
mod env;
mod fetch;
mod kv;
mod rate_limit;
mod timer;
#[cfg(feature = "gateway")]
mod upstream;

use std::cell::Cell;
use std::rc::Rc;

use serde::Serialize;
use worker::{console_error, console_log, console_warn, event, Date, Env, Request};

use crate::app::{self, Context, EdgeFailure, InFlightRefreshes, RequestConfig};
use crate::http::{split_request_url, Incoming, Reply};
use crate::platform::Platform;
use crate::provider_api::KeyCache;

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

/// The `fetch` handler. It answers with the runtime's own `Response` (web-sys) because a
/// forwarded response goes back as the origin's object, which workers-rs's `Response` cannot
/// carry (no `statusText`, see `upstream.rs`). Errors become reason codes, never messages.
#[event(fetch)]
async fn on_fetch(
    req: Request,
    env: Env,
    _ctx: worker::Context,
) -> worker::Result<web_sys::Response> {
    serve(req, env).await
}

/// Every answer leaves here, once: built, logged, returned.
async fn serve(req: Request, env: Env) -> worker::Result<web_sys::Response> {
    let started = Date::now().as_millis();
    let incoming = incoming(&req);
    let usage = Usage::default();
    let settings = WorkerSettings(&env);
    let upstream = WorkersUpstream::new(&req, &env, &usage);
    let reply = match env.kv(KV_BINDING) {
        Ok(kv) => {
            let kv = WorkersKv { kv, usage: &usage };
            let limiter = WorkersRateLimiter(env.rate_limiter(LOGIN_RATE_LIMITER_BINDING).ok());
            let ctx = Context::<Workers> {
                kv: &kv,
                http: &WorkersFetch { usage: &usage },
                upstream: &upstream,
                timer: &WorkersTimer,
                crypto: &WebCrypto,
                login_limiter: &limiter,
                keys: &KEYS.with(Rc::clone),
                refreshing: &REFRESHING.with(Rc::clone),
                config: RequestConfig::new(&settings, &incoming.origin),
                now: (started / 1000) as i64,
            };
            app::serve(&incoming, &ctx).await
        }
        Err(_) => app::unavailable(&incoming, EdgeFailure::KvUnbound, &settings).await,
    };
    let (reply, response) = respond(&incoming, reply, &upstream, &settings).await;
    log_line(&incoming, &reply, &request_id(&req), &usage, started);
    response
}

/// The response that carries `reply`, and the reply as it went out: a forwarded response the
/// runtime refuses to rebuild becomes the 502 the client gets (with the gateway's links and
/// HSTS), so that the log line tells what was sent.
#[cfg_attr(not(feature = "gateway"), allow(unused_variables))]
async fn respond(
    req: &Incoming,
    reply: Reply,
    upstream: &WorkersUpstream<'_>,
    settings: &WorkerSettings<'_>,
) -> (Reply, worker::Result<web_sys::Response>) {
    #[cfg(feature = "gateway")]
    let reply = if reply.forwarded {
        match upstream.response(&reply.headers) {
            Some(response) => return (reply, Ok(response)),
            None => app::unavailable(req, EdgeFailure::ForwardUnbuildable, settings).await,
        }
    } else {
        reply
    };
    page(reply)
}

/// The app's own reply as a `Response`, and the reply without its body (moved into the
/// response) for the log line. Fails only if the runtime refuses a header (a value with a
/// line break, which the app does not write): the event then answers a bare 500.
fn page(mut reply: Reply) -> (Reply, worker::Result<web_sys::Response>) {
    let headers = worker::Headers::new();
    if !reply
        .headers
        .iter()
        .all(|(n, v)| headers.append(n, v).is_ok())
    {
        // Not the runtime's message, which could quote the value (a cookie, say).
        let refused = worker::Error::RustError("the runtime refused a header".into());
        return (reply, Err(refused));
    }
    let body = std::mem::take(&mut reply.body).into_bytes();
    // A response without content has no body at all (a 204 or 304 may not have one).
    let body = if body.is_empty() {
        worker::ResponseBody::Empty
    } else {
        worker::ResponseBody::Body(body)
    };
    // The conversion cannot fail: the status is one of the app's own (200 to 599).
    let response = worker::Response::builder()
        .with_status(reply.status)
        .with_headers(headers)
        .body(body)
        .into();
    (reply, Ok(response))
}

/// The request as the app sees it. The URL is the runtime's: absolute and already normalised,
/// split by the same natively tested function the app's tests use.
fn incoming(req: &Request) -> Incoming {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (origin, path, query) = split_request_url(&req.inner().url()).unwrap_or_default();
    Incoming {
        // The method as sent: workers-rs's `Method` reads an extension method (PROPFIND) as GET.
        method: req.inner().method(),
        path,
        query,
        origin,
        cookie_header: header("cookie").unwrap_or_default(),
        origin_header: header("origin"),
        sec_fetch_site: header("sec-fetch-site"),
        client_ip: header("cf-connecting-ip"),
        sec_fetch_mode: header("sec-fetch-mode"),
        accept: header("accept"),
    }
}

/// The request's `cf-ray` (its id at the edge); outside Cloudflare's edge (wrangler dev) there
/// is none: 64 random bits instead.
fn request_id(req: &Request) -> String {
    if let Ok(Some(ray)) = req.headers().get("cf-ray") {
        return ray;
    }
    let mut bytes = [0u8; 8];
    let _ = getrandom::getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
#[derive(Serialize)]
struct LogLine<'a> {
    event: &'static str,
    method: &'a str,
    /// The path, cut at 64 characters.
    route: String,
    status: u16,
    reason: &'a str,
    duration_ms: u64,
    request_id: &'a str,
    kv_reads: u32,
    kv_writes: u32,
    subrequests: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
}

#[derive(Clone, Copy)]
enum Level {
    Error,
    Warn,
    Log,
}

/// Server errors are errors; client errors and answers with a warning are warnings.
fn level(reply: &Reply) -> Level {
    if reply.status >= 500 {
        Level::Error
    } else if reply.status >= 400 || reply.warning.is_some() {
        Level::Warn
    } else {
        Level::Log
    }
}

fn log_line(req: &Incoming, reply: &Reply, request_id: &str, usage: &Usage, started: u64) {
    let line = LogLine {
        event: "request",
        method: &req.method,
        route: req.path.chars().take(64).collect(),
        status: reply.status,
        reason: reply.reason,
        duration_ms: Date::now().as_millis().saturating_sub(started),
        request_id,
        kv_reads: usage.kv_reads.get(),
        kv_writes: usage.kv_writes.get(),
        subrequests: usage.subrequests.get(),
        warning: reply.warning,
    };
    // Strings and numbers only: serialising cannot fail.
    let line = serde_json::to_string(&line).unwrap_or_default();
    match level(reply) {
        Level::Error => console_error!("{line}"),
        Level::Warn => console_warn!("{line}"),
        Level::Log => console_log!("{line}"),
    }
}
