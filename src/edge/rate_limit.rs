//! Workers Rate Limiting: the `RateLimiter` for `GET /login`.

use futures_util::future::LocalBoxFuture;
use js_sys::Reflect;
use wasm_bindgen::JsValue;

use super::call_binding;
use crate::platform::{RateLimit, RateLimiter};

/// The Workers Rate Limiting binding that limits `GET /login` per client address.
pub const LOGIN_RATE_LIMITER_BINDING: &str = "LOGIN_RATE_LIMITER";

/// The `LOGIN_RATE_LIMITER` binding (Workers Rate Limiting), called directly:
/// `limit({ key })` resolves to `{ success }`. Undefined when the binding is missing.
pub struct WorkersRateLimiter(pub JsValue);

impl RateLimiter for WorkersRateLimiter {
    fn limit<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, RateLimit> {
        Box::pin(async move {
            if !self.0.is_object() {
                return RateLimit::Unavailable("rate_limiter_unbound");
            }
            let options = js_sys::Object::new();
            let _ = Reflect::set(&options, &"key".into(), &key.into());
            let outcome = call_binding(&self.0, "limit", &[options.into()]).await;
            match outcome.map(|o| Reflect::get(&o, &"success".into()).map(|s| s.as_bool())) {
                Ok(Ok(Some(true))) => RateLimit::Allowed,
                Ok(Ok(Some(false))) => RateLimit::Exceeded,
                _ => RateLimit::Unavailable("rate_limiter_failed"),
            }
        })
    }
}
