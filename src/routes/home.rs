//! `GET /`: the profile when signed in, the login page otherwise.

use crate::app::{signed_in, Context, Touch};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::pages;
use crate::platform::Platform;
use crate::reason;

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    let sessions = ctx.sessions()?;
    let base = ctx.config.auth_prefix();
    let active = match signed_in(&sessions, req, Touch::IfDue).await {
        Ok(active) => active,
        // Whatever the reason, storage down included: the login page, with the reason logged.
        Err(out) => return Ok(out.answer(signed_out(req, base))),
    };
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

fn signed_out(req: &Incoming, base: &str) -> Reply {
    let just_left =
        url::form_urlencoded::parse(req.query.as_bytes()).any(|(k, _)| k == "signed_out");
    Reply::html(200, pages::login(base, just_left))
        .no_store()
        .with_reason(reason::SIGNED_OUT)
}
