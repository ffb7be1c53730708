//! `POST /logout`: end the session here, then optionally at the provider
//! (`WEBEX_LOGOUT_URL`; Webex documents no end-session endpoint).

use super::{check_same_origin, Context};
use crate::cookies;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::platform::Platform;
use crate::reason;
use crate::session::ticket::{clear_cookie, SessionCookie, SESSION_COOKIE};

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    check_same_origin(req)?;
    // With a planted duplicate, ours cannot be told apart: end every candidate (a few at
    // most), so that "Sign out" works whatever else the domain's cookies hold. Only a record
    // its cookie opens is deleted: made-up cookies must not spend KV deletes (billed as
    // writes; 1,000 a day on the Free plan, and sign-in needs them), only reads.
    let sessions = ctx.sessions()?;
    let candidates = cookies::candidates(&req.cookie_header, SESSION_COOKIE);
    for cookie in candidates.filter_map(SessionCookie::parse) {
        if sessions.read_live(&cookie).await?.is_some() {
            sessions.end(&cookie).await?;
        }
    }
    let reply = match ctx.config.logout_url() {
        Ok(Some(url)) => Reply::redirect(url.as_str())
            .no_store()
            .with_reason(reason::LOGGED_OUT),
        Ok(None) => Reply::redirect(&format!("{}/?signed_out", ctx.config.auth_prefix()))
            .no_store()
            .with_reason(reason::LOGGED_OUT),
        // Signed out here all the same: the page names the setting, and the cookie goes.
        Err(err) => super::error_reply(&err.into(), ctx.config.auth_prefix()),
    };
    Ok(reply.with_cookie(clear_cookie()))
}
