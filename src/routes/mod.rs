//! The router and the routes. Each route is a function from an [`Incoming`] request and
//! the platform [`Context`] to a [`Reply`]; none touches the `worker` crate.

mod callback;
mod home;
mod login;
mod logout;

use crate::config::Settings;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::pages;
use crate::platform::{HttpClient, KeyValueStore};
use crate::provider::KeyCache;

/// What a route may use of the platform.
pub struct Context<'a, K, H, S> {
    pub kv: &'a K,
    pub http: &'a H,
    pub settings: &'a S,
    pub keys: &'a KeyCache,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

pub async fn handle<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Reply {
    let result = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => home::show(req, ctx).await,
        ("GET", "/login") => login::start(req, ctx).await,
        ("GET", "/oauth") => return callback::finish(req, ctx).await,
        ("POST", "/logout") => logout::end(req, ctx).await,
        (_, "/" | "/login" | "/oauth") => {
            return error_reply(&AppError::MethodNotAllowed).with_header("Allow", "GET")
        }
        (_, "/logout") => {
            return error_reply(&AppError::MethodNotAllowed).with_header("Allow", "POST")
        }
        _ => Err(AppError::NotFound),
    };
    result.unwrap_or_else(|err| error_reply(&err))
}

/// The one way an error becomes a response: status, page and log reason from the enum.
pub fn error_reply(err: &AppError) -> Reply {
    Reply::html(err.status(), pages::error(err))
        .no_store()
        .with_reason(err.reason())
}

#[cfg(test)]
mod tests;
