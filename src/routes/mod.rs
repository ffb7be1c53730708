//! The router and the routes. Each route is a function from an [`Incoming`] request and
//! the platform [`Context`] to a [`Reply`]; none touches the `worker` crate.

mod callback;
mod home;
mod in_flight;
mod login;
mod logout;
mod me;
mod refresh;

use crate::config::{GatewayConfig, RequestConfig};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::http_url::is_loopback;
use crate::pages;
use crate::platform::{Crypto, Platform, RateLimiter, Timer};
use crate::provider_api::{KeyCache, Provider};
use crate::reason;
use crate::session::ticket::SessionStore;
pub use in_flight::InFlightRefreshes;
use url::Url;

/// What a route may use: the platform's bindings, the isolate's caches, this request's
/// settings (loaded once) and the time.
pub struct Context<'a, P: Platform> {
    pub kv: &'a P::Kv,
    pub http: &'a P::Http,
    /// Gateway mode: the origin behind the gateway.
    pub upstream: &'a P::Upstream,
    pub timer: &'a dyn Timer,
    pub crypto: &'a dyn Crypto,
    /// Limits `GET /login` per client address.
    pub login_limiter: &'a dyn RateLimiter,
    /// The isolate's cache of the provider's signing keys.
    pub keys: &'a KeyCache,
    /// Sessions this isolate is refreshing (one refresh per session at a time).
    pub refreshing: &'a InFlightRefreshes,
    /// This request's settings: `RequestConfig::new(settings, origin)`.
    pub config: RequestConfig<'a>,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

impl<'a, P: Platform> Context<'a, P> {
    /// The session store, with the configured lifetimes.
    pub fn sessions(&self) -> Result<SessionStore<'_, P::Kv>, AppError> {
        Ok(SessionStore {
            kv: self.kv,
            crypto: self.crypto,
            policy: self.config.session_policy()?,
            now: self.now,
        })
    }

    /// Calls to the provider, as the configured client.
    pub fn provider(&self) -> Result<Provider<'_, P::Http>, AppError> {
        Ok(Provider {
            client: self.config.client()?,
            http: self.http,
            timer: self.timer,
            crypto: self.crypto,
            keys: self.keys,
            now: self.now,
        })
    }
}

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Reply {
    let reply = match https_redirect(req) {
        Some(redirect) => redirect,
        None => route(req, ctx).await,
    };
    with_transport_security(req, reply)
}

/// The Worker's own routes, each path once (below `AUTH_PREFIX` in gateway mode): its method
/// and its handler.
#[derive(Clone, Copy)]
enum Route {
    Home,
    Login,
    Callback,
    Me,
    Logout,
    Refresh,
    /// Gateway mode: the keys that verify `Webex-Assertion`.
    Jwks,
    /// Gateway mode: forward-auth for a proxy in front of the origin.
    Check,
    /// The pages' stylesheet.
    Stylesheet,
}

impl Route {
    fn at(path: &str, gateway: bool) -> Option<Self> {
        Some(match path {
            "/" => Self::Home,
            "/login" => Self::Login,
            "/oauth" => Self::Callback,
            "/me" => Self::Me,
            "/logout" => Self::Logout,
            "/refresh" => Self::Refresh,
            "/jwks.json" if gateway => Self::Jwks,
            "/check" if gateway => Self::Check,
            pages::STYLESHEET_PATH => Self::Stylesheet,
            _ => return None,
        })
    }

    fn method(self) -> &'static str {
        match self {
            Self::Home
            | Self::Login
            | Self::Callback
            | Self::Me
            | Self::Jwks
            | Self::Check
            | Self::Stylesheet => "GET",
            Self::Logout | Self::Refresh => "POST",
        }
    }

    /// Whether `HEAD` is answered as `GET`: where a `GET` changes nothing that matters
    /// (uptime checks use it). Never on `/login` or the callback: a `HEAD` there would start
    /// a login or spend one.
    fn answers_head(self) -> bool {
        matches!(self, Self::Home | Self::Jwks | Self::Stylesheet)
    }

    /// The `Allow` header of a 405.
    fn allowed(self) -> &'static str {
        if self.answers_head() {
            "GET, HEAD"
        } else {
            self.method()
        }
    }

    fn accepts(self, method: &str) -> bool {
        method == self.method() || (method == "HEAD" && self.answers_head())
    }
}

/// The path below `prefix` (`/_auth` → `/`, `/_auth/login` → `/login`), or `None` outside it.
fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    match path.strip_prefix(prefix)? {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}

async fn route<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Reply {
    let gateway = match ctx.config.gateway() {
        Ok(gateway) => gateway,
        Err(err) => return error_reply(&err.into(), ""),
    };
    let base = ctx.config.auth_prefix();
    let path = match gateway {
        None => req.path.as_str(),
        Some(gateway) => match below(&req.path, base) {
            Some(path) => path,
            None => return outside_prefix(req, ctx, gateway).await,
        },
    };
    let Some(route) = Route::at(path, gateway.is_some()) else {
        return error_reply(&AppError::NotFound, base);
    };
    if !route.accepts(&req.method) {
        return error_reply(&AppError::MethodNotAllowed, base)
            .with_header("Allow", route.allowed());
    }
    let result = match (route, gateway) {
        (Route::Home, _) => home::handle(req, ctx).await,
        (Route::Login, _) => login::handle(req, ctx).await,
        (Route::Callback, _) => return callback::handle(req, ctx).await,
        (Route::Me, _) => me::handle(req, ctx).await,
        (Route::Logout, _) => logout::handle(req, ctx).await,
        (Route::Refresh, _) => refresh::handle(req, ctx).await,
        (Route::Jwks | Route::Check, Some(gateway)) => {
            return gateway_route(route, req, ctx, gateway).await
        }
        (Route::Jwks | Route::Check, None) => Err(AppError::NotFound),
        (Route::Stylesheet, _) => return stylesheet(),
    };
    result.unwrap_or_else(|err| error_reply(&err, base))
}

/// The stylesheet the pages link (its URL changes with its content).
fn stylesheet() -> Reply {
    Reply::immutable("text/css; charset=utf-8", pages::STYLESHEET.into())
        .with_reason(reason::STYLESHEET)
}

/// A request outside `AUTH_PREFIX`: the gateway's.
#[cfg(feature = "gateway")]
async fn outside_prefix<P: Platform>(
    req: &Incoming,
    ctx: &Context<'_, P>,
    gateway: &GatewayConfig,
) -> Reply {
    crate::gateway::handle(req, ctx, gateway).await
}

/// The gateway's own routes below `AUTH_PREFIX`.
#[cfg(feature = "gateway")]
async fn gateway_route<P: Platform>(
    route: Route,
    req: &Incoming,
    ctx: &Context<'_, P>,
    gateway: &GatewayConfig,
) -> Reply {
    match route {
        Route::Check => crate::gateway::check(req, ctx, gateway).await,
        _ => crate::gateway::jwks(gateway),
    }
}

#[cfg(not(feature = "gateway"))]
async fn outside_prefix<P: Platform>(
    _: &Incoming,
    _: &Context<'_, P>,
    gateway: &GatewayConfig,
) -> Reply {
    match *gateway {}
}

#[cfg(not(feature = "gateway"))]
async fn gateway_route<P: Platform>(
    _: Route,
    _: &Incoming,
    _: &Context<'_, P>,
    gateway: &GatewayConfig,
) -> Reply {
    match *gateway {}
}

/// Plain `http://` is served only on this machine (`wrangler dev`). Anywhere else the same URL
/// on `https://` (default port) answers instead: 308, so that a POST stays a POST.
fn https_redirect(req: &Incoming) -> Option<Reply> {
    let mut origin = Url::parse(&req.origin).ok()?;
    if origin.scheme() != "http" || is_loopback(&origin) {
        return None;
    }
    // The same host on https's default port, without any credentials.
    origin.set_scheme("https").ok()?;
    origin.set_port(None).ok()?;
    origin.set_username("").ok()?;
    origin.set_password(None).ok()?;
    Some(
        Reply::redirect(&req.target_at(&origin))
            .with_status(308)
            .with_reason(reason::HTTPS_REDIRECT),
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

/// The one way an error becomes a response: status, page and log reason from the enum. `base`
/// is where the Worker's own routes live (the page's links).
pub fn error_reply(err: &AppError, base: &str) -> Reply {
    let reply = Reply::html(err.status(), pages::error(err, base))
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
