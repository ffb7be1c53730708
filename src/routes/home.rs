//! `GET /`: the profile when signed in, the login page otherwise.

use super::Context;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::pages;
use crate::platform::Platform;
use crate::reason;
use crate::session::ticket::{clear_cookie, Lookup, WriteBack};

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    let sessions = ctx.sessions()?;
    let base = ctx.config.auth_prefix();
    match sessions.lookup(&req.cookie_header).await {
        Ok(Lookup::Active(mut active)) => {
            if let Ok(WriteBack::Ended) = sessions.touch_if_due(&mut active).await {
                return Ok(session_gone(req, base));
            }
            let mut reply = Reply::html(
                200,
                pages::profile(&active.record, sessions.policy, ctx.config.auth_prefix()),
            )
            .no_store()
            .with_reason(reason::PROFILE);
            match ctx.config.logout_url() {
                Ok(Some(logout)) => reply = reply.allow_form_target(logout.origin()),
                Ok(None) => {}
                // The page still works; signing out will say which setting to fix. Until then
                // every profile view tells the operator in its log line.
                Err(_) => reply = reply.with_warning(Some("logout_url_invalid")),
            }
            Ok(reply)
        }
        Ok(Lookup::SignedOut) => Ok(signed_out(req, base)),
        Ok(Lookup::Ambiguous) => {
            Ok(signed_out(req, base).with_reason(reason::SESSION_COOKIE_AMBIGUOUS))
        }
        Ok(Lookup::Gone) => Ok(session_gone(req, base)),
        Err(err) => Ok(signed_out(req, base).with_reason(AppError::from(err).reason())),
    }
}

fn session_gone(req: &Incoming, base: &str) -> Reply {
    signed_out(req, base)
        .with_cookie(clear_cookie())
        .with_reason(reason::SESSION_UNKNOWN)
}

fn signed_out(req: &Incoming, base: &str) -> Reply {
    let just_left =
        url::form_urlencoded::parse(req.query.as_bytes()).any(|(k, _)| k == "signed_out");
    Reply::html(200, pages::login(base, just_left))
        .no_store()
        .with_reason(reason::SIGNED_OUT)
}
