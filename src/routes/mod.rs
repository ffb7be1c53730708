//! The router and the routes. Each route is a function from an [`Incoming`] request and
//! the platform [`Context`] to a [`Reply`]; none touches the `worker` crate.

mod callback;
mod home;
mod login;
mod logout;
mod me;
mod refresh;
mod session;

use crate::config::Settings;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::pages;
use crate::platform::{Crypto, HttpClient, KeyValueStore, RateLimiter};
use crate::provider::KeyCache;
pub use session::InFlightRefreshes;

/// What a route may use of the platform.
pub struct Context<'a, K, H, S> {
    pub kv: &'a K,
    pub http: &'a H,
    pub settings: &'a S,
    pub keys: &'a KeyCache,
    /// Sessions this isolate is refreshing (one refresh per session at a time).
    pub refreshing: &'a InFlightRefreshes,
    pub crypto: &'a dyn Crypto,
    /// Limits `GET /login` per client address.
    pub login_limiter: &'a dyn RateLimiter,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

pub async fn handle<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Reply {
    let reply = match https_redirect(req) {
        Some(redirect) => redirect,
        None => route(req, ctx).await,
    };
    with_transport_security(req, reply)
}

async fn route<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Reply {
    let result = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => home::show(req, ctx).await,
        ("GET", "/login") => login::start(req, ctx).await,
        ("GET", "/oauth") => return callback::finish(req, ctx).await,
        ("GET", "/me") => me::show(req, ctx).await,
        ("POST", "/logout") => logout::end(req, ctx).await,
        ("POST", "/refresh") => refresh::run(req, ctx).await,
        (_, "/" | "/login" | "/oauth" | "/me") => {
            return error_reply(&AppError::MethodNotAllowed).with_header("Allow", "GET")
        }
        (_, "/logout" | "/refresh") => {
            return error_reply(&AppError::MethodNotAllowed).with_header("Allow", "POST")
        }
        _ => Err(AppError::NotFound),
    };
    result.unwrap_or_else(|err| error_reply(&err))
}

/// Plain `http://` is served only on this machine (`wrangler dev`). Anywhere else the same URL
/// on `https://` (default port) answers instead: 308, so that a POST stays a POST.
fn https_redirect(req: &Incoming) -> Option<Reply> {
    let authority = req.origin.strip_prefix("http://")?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host,
        _ => authority,
    };
    if matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
        return None;
    }
    let query = if req.query.is_empty() { "" } else { "?" };
    let location = format!("https://{host}{}{query}{}", req.path, req.query);
    Some(
        Reply::redirect(&location)
            .with_status(308)
            .with_reason("https_redirect"),
    )
}

/// HSTS (RFC 6797) on every response served over HTTPS; never on plain http, where browsers
/// ignore it (§8.1) and servers must not send it (§7.2).
pub fn with_transport_security(req: &Incoming, reply: Reply) -> Reply {
    if req.origin.starts_with("https://") {
        reply.with_header(
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        )
    } else {
        reply
    }
}

/// The one way an error becomes a response: status, page and log reason from the enum.
pub fn error_reply(err: &AppError) -> Reply {
    let reply = Reply::html(err.status(), pages::error(err))
        .no_store()
        .with_reason(err.reason());
    match err.retry_after() {
        Some(secs) => reply.with_header("Retry-After", secs),
        None => reply,
    }
}

/// For state-changing POSTs. SameSite=Lax already keeps the session cookie off cross-site
/// POSTs; this refuses them outright. Fetch Metadata decides when the browser sends it;
/// otherwise `Origin` must name this origin. Chromium sends `Origin: null` on same-origin
/// form posts from pages with `Referrer-Policy: no-referrer`, which is why `Sec-Fetch-Site`
/// comes first.
fn check_same_origin(req: &Incoming) -> Result<(), AppError> {
    if let Some(site) = req.sec_fetch_site.as_deref() {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(AppError::CrossSite),
        };
    }
    match req.origin_header.as_deref() {
        Some(origin) if origin != req.origin => Err(AppError::CrossSite),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
