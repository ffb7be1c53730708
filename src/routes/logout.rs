//! `POST /logout`: end the session here, then optionally at the provider
//! (`WEBEX_LOGOUT_URL`; Webex documents no end-session endpoint).

use super::{check_same_origin, Context};
use crate::cookies;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::platform::{KeyValueStore, Platform};
use crate::reason;
use crate::session::ticket::{clear_cookie, SessionCookie, SESSION_COOKIE};

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    check_same_origin(req)?;
    // With a planted duplicate, ours cannot be told apart: end every candidate (a few at
    // most), so that "Sign out" works whatever else the domain's cookies hold.
    let sessions = cookies::candidates(&req.cookie_header, SESSION_COOKIE);
    for cookie in sessions.filter_map(SessionCookie::parse) {
        ctx.kv.delete(&cookie.id.kv_key()).await?;
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
