//! `GET /`: the profile when signed in, the login page otherwise.

use super::session::{self, Lookup, WriteBack};
use super::Context;
use crate::config::{self, Settings};
use crate::cookies::{self, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::pages;
use crate::platform::{HttpClient, KeyValueStore};
use crate::sessions::SessionPolicy;

pub async fn show<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Result<Reply, AppError> {
    let policy = SessionPolicy::load(ctx.settings)?;
    match session::lookup(req, ctx, &policy).await {
        Ok(Lookup::Active(mut active)) => {
            // Best effort: a failed write only shortens the idle window.
            if let Ok(WriteBack::Ended) = session::touch_if_due(ctx, &policy, &mut active).await {
                return Ok(session_gone(req));
            }
            let mut reply = Reply::html(200, pages::profile(&active.record, &policy))
                .no_store()
                .with_reason("profile");
            if let Ok(Some(logout)) = config::logout_url(ctx.settings) {
                reply = reply.allow_form_target(logout.origin());
            }
            Ok(reply)
        }
        Ok(Lookup::SignedOut) => Ok(signed_out(req)),
        // Signed out, and the cookies are left alone: ours cannot be told from the planted one.
        Ok(Lookup::Ambiguous) => Ok(signed_out(req).with_reason("session_cookie_ambiguous")),
        Ok(Lookup::Gone) => Ok(session_gone(req)),
        // KV did not answer: fail safe (signed out) but keep the cookie for the next try.
        Err(err) => Ok(signed_out(req).with_reason(err.reason())),
    }
}

fn session_gone(req: &Incoming) -> Reply {
    signed_out(req)
        .with_cookie(cookies::clear(SESSION_COOKIE))
        .with_reason("session_unknown")
}

fn signed_out(req: &Incoming) -> Reply {
    let just_left =
        url::form_urlencoded::parse(req.query.as_bytes()).any(|(k, _)| k == "signed_out");
    Reply::html(200, pages::login(just_left))
        .no_store()
        .with_reason("signed_out")
}
