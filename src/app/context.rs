//! What a handler may use: the platform's bindings, the isolate's caches, this request's
//! settings and the time. The sign-in routes and the gateway receive the same context.

use super::config::RequestConfig;
use super::in_flight::InFlightRefreshes;
use crate::error::AppError;
use crate::platform::{Crypto, Platform, RateLimiter, Timer};
use crate::provider_api::{KeyCache, Provider};
use crate::session::ticket::SessionStore;

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
