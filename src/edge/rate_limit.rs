//! Workers Rate Limiting: the `RateLimiter` for `GET /login`.

use futures_util::future::LocalBoxFuture;
use worker::RateLimiter as Binding;

use crate::platform::{RateLimit, RateLimiter};

/// The Workers Rate Limiting binding that limits `GET /login` per client address.
pub const LOGIN_RATE_LIMITER_BINDING: &str = "LOGIN_RATE_LIMITER";

/// The `LOGIN_RATE_LIMITER` binding, or `None` when it is not bound.
pub struct WorkersRateLimiter(pub Option<Binding>);

impl RateLimiter for WorkersRateLimiter {
    fn limit<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, RateLimit> {
        Box::pin(async move {
            let Some(binding) = &self.0 else {
                return RateLimit::Unavailable("rate_limiter_unbound");
            };
            match binding.limit(key.to_owned()).await {
                Ok(outcome) if outcome.success => RateLimit::Allowed,
                Ok(_) => RateLimit::Exceeded,
                Err(_) => RateLimit::Unavailable("rate_limiter_failed"),
            }
        })
    }
}
