//! The sign-in routes, one handler per route, each a function from an [`Incoming`] request
//! and the app's [`Context`](crate::app::Context) to a [`Reply`]; `app`'s dispatcher picks
//! them. They share only what `app` lends (never the gateway), and none touches the runtime.

pub mod callback;
pub mod home;
pub mod login;
pub mod logout;
pub mod me;
pub mod refresh;

use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::pages;
use crate::reason;

/// The stylesheet the pages link (its URL changes with its content).
pub fn stylesheet() -> Reply {
    Reply::immutable("text/css; charset=utf-8", pages::STYLESHEET.into())
        .with_reason(reason::STYLESHEET)
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
