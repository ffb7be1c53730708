//! The login rate limiter, counting down or unavailable.

use std::cell::{Cell, RefCell};

use crate::platform::{RateLimit, RateLimiter};

/// The rate limiter: allows `remaining` requests, then refuses; or is unavailable.
pub struct FakeLimiter {
    pub remaining: Cell<u32>,
    pub unavailable: Cell<Option<&'static str>>,
    pub keys: RefCell<Vec<String>>,
}

impl Default for FakeLimiter {
    fn default() -> Self {
        Self {
            remaining: Cell::new(u32::MAX),
            unavailable: Cell::new(None),
            keys: RefCell::default(),
        }
    }
}

impl RateLimiter for FakeLimiter {
    fn limit<'a>(&'a self, key: &'a str) -> futures_util::future::LocalBoxFuture<'a, RateLimit> {
        self.keys.borrow_mut().push(key.to_owned());
        let outcome = match (self.unavailable.get(), self.remaining.get()) {
            (Some(why), _) => RateLimit::Unavailable(why),
            (None, 0) => RateLimit::Exceeded,
            (None, n) => {
                self.remaining.set(n - 1);
                RateLimit::Allowed
            }
        };
        Box::pin(async move { outcome })
    }
}
