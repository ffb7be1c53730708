//! How every answer leaves: a failure becomes its page in one way ([`error_reply`]), and
//! every reply, whoever made it, gets the same outer wrapping ([`finish`]).

use std::future::Future;

use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::http_url::is_loopback;
use crate::pages;
use crate::reason;
use url::Url;

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

/// The outer wrapping of every answer: plain http away from this machine is sent to https
/// instead (the answer is then never computed: a future does nothing until awaited, so no
/// login starts and no KV is touched), and whatever is answered over https carries HSTS.
pub async fn finish(req: &Incoming, answer: impl Future<Output = Reply>) -> Reply {
    let reply = match https_redirect(req) {
        Some(redirect) => redirect,
        None => answer.await,
    };
    with_transport_security(req, reply)
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
fn with_transport_security(req: &Incoming, reply: Reply) -> Reply {
    if req.origin.starts_with("https://") {
        reply.with_header(
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        )
    } else {
        reply
    }
}
