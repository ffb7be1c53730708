//! The one request path. [`serve`] dispatches a request, in the shape of axum's `nest` +
//! `fallback`: in standalone mode the sign-in routes answer at the root; in gateway mode they
//! are nested below `AUTH_PREFIX` (with the gateway's `jwks.json` and `check`), and every
//! other path falls back to the gateway, which forwards it. Every answer, including the
//! edge's own failures ([`unavailable`]), leaves through the same wrapping (`answer::finish`).
//!
//! Direction: the submodules are what every handler shares (the [`Context`], this request's
//! [`RequestConfig`], [`error_reply`], the [`signed_in`] lookup, the refreshes in flight);
//! `routes/` and `gateway/` depend on them and never on each other. Only this file, the
//! dispatcher, knows both.

mod answer;
mod config;
mod context;
mod in_flight;
mod route;
mod session;

use crate::config::{ConfigError, Settings};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::platform::Platform;
use crate::routes;

pub use self::answer::error_reply;
use self::answer::finish;
pub use self::config::{GatewayConfig, RequestConfig};
pub use self::context::Context;
pub use self::in_flight::InFlightRefreshes;
use self::route::{below, Route};
pub use self::session::{signed_in, SignedOut, Touch};

/// Answers a request: dispatched, then wrapped. What the edge calls for every request it can
/// hand over (the KV binding is there).
pub async fn serve<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Reply {
    finish(req, dispatch(req, ctx)).await
}

/// What the edge could not provide; answered like any failure, through the same wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeFailure {
    /// No KV namespace is bound as `AUTH_KV`: nothing can be served, and the page names the
    /// binding to add.
    KvUnbound,
    /// Gateway mode: the runtime refused to build the upstream's response (a header it will
    /// not carry, say): the client gets a 502, as if the upstream were unreachable.
    #[cfg(feature = "gateway")]
    ForwardUnbuildable,
}

/// The answer to an [`EdgeFailure`]. `settings` give the links of the page (the gateway's
/// prefix); without storage none is read, and the links are the standalone ones.
pub async fn unavailable(req: &Incoming, failure: EdgeFailure, settings: &dyn Settings) -> Reply {
    let (err, base) = match failure {
        EdgeFailure::KvUnbound => {
            let missing = ConfigError::new(
                "AUTH_KV (KV namespace binding)",
                "is not bound in wrangler.toml",
            );
            (AppError::Config(missing), String::new())
        }
        #[cfg(feature = "gateway")]
        EdgeFailure::ForwardUnbuildable => {
            let config = RequestConfig::new(settings, &req.origin);
            (
                AppError::UpstreamUnreachable,
                config.auth_prefix().to_owned(),
            )
        }
    };
    #[cfg(not(feature = "gateway"))]
    let _ = settings;
    finish(req, async { error_reply(&err, &base) }).await
}

/// Chooses who answers: the sign-in routes (at the root, or nested below the prefix), or the
/// gateway as the fallback.
async fn dispatch<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Reply {
    let gateway = match ctx.config.gateway() {
        Ok(gateway) => gateway,
        Err(err) => return error_reply(&err.into(), ""),
    };
    let path = match gateway {
        None => req.path.as_str(),
        Some(gateway) => match below(&req.path, ctx.config.auth_prefix()) {
            Some(path) => path,
            None => return fallback(req, ctx, gateway).await,
        },
    };
    own_route(req, path, ctx, gateway).await
}

/// One of the Worker's own routes, at `path` (below the prefix in gateway mode).
async fn own_route<P: Platform>(
    req: &Incoming,
    path: &str,
    ctx: &Context<'_, P>,
    gateway: Option<&GatewayConfig>,
) -> Reply {
    let base = ctx.config.auth_prefix();
    let Some(route) = Route::at(path, gateway.is_some()) else {
        return error_reply(&AppError::NotFound, base);
    };
    if !route.accepts(&req.method) {
        return error_reply(&AppError::MethodNotAllowed, base)
            .with_header("Allow", route.allowed());
    }
    let result = match (route, gateway) {
        (Route::Home, _) => routes::home::handle(req, ctx).await,
        (Route::Login, _) => routes::login::handle(req, ctx).await,
        (Route::Callback, _) => return routes::callback::handle(req, ctx).await,
        (Route::Me, _) => routes::me::handle(req, ctx).await,
        (Route::Logout, _) => routes::logout::handle(req, ctx).await,
        (Route::Refresh, _) => routes::refresh::handle(req, ctx).await,
        (Route::Jwks | Route::Check, Some(gateway)) => {
            return gateway_route(route, req, ctx, gateway).await
        }
        (Route::Jwks | Route::Check, None) => Err(AppError::NotFound),
        (Route::Stylesheet, _) => return routes::stylesheet(),
    };
    result.unwrap_or_else(|err| error_reply(&err, base))
}

/// A request outside `AUTH_PREFIX`: the gateway's.
#[cfg(feature = "gateway")]
async fn fallback<P: Platform>(
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
async fn fallback<P: Platform>(_: &Incoming, _: &Context<'_, P>, gateway: &GatewayConfig) -> Reply {
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
