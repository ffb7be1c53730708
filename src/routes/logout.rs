//! `POST /logout`: end the session here, then optionally at the provider
//! (`WEBEX_LOGOUT_URL`; Webex documents no end-session endpoint).

use super::check_same_origin;
use crate::app::{error_reply, Context};
use crate::cookies;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::platform::Platform;
use crate::reason;
use crate::session::ticket::{clear_cookie, SessionCookie, SESSION_COOKIE};

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    check_same_origin(req)?;
    // With a planted duplicate, ours cannot be told apart: end every candidate (see
    // `session_candidates`), so that "Sign out" works whatever else the domain's cookies hold. Only a record
    // its cookie opens is deleted: made-up cookies must not spend KV deletes (billed as
    // writes; 1,000 a day on the Free plan, and sign-in needs them), only reads.
    let sessions = ctx.sessions()?;
    for cookie in session_candidates(&req.cookie_header) {
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
        Err(err) => error_reply(&err.into(), ctx.config.auth_prefix()),
    };
    Ok(reply.with_cookie(clear_cookie()))
}

/// Session cookies a logout reads (a KV read each): distinct, well-formed, and at most
/// [`MAX_SESSION_CANDIDATES`], counted only after values that are not session cookies at
/// all are dropped, so that planted junk sent first cannot crowd the genuine one out.
fn session_candidates(header: &str) -> Vec<SessionCookie> {
    let mut found: Vec<SessionCookie> = Vec::new();
    for cookie in cookies::candidates(header, SESSION_COOKIE).filter_map(SessionCookie::parse) {
        if found.len() == MAX_SESSION_CANDIDATES {
            break;
        }
        if !found
            .iter()
            .any(|seen| seen.id == cookie.id && seen.key == cookie.key)
        {
            found.push(cookie);
        }
    }
    found
}

/// A browser holds a few dozen cookies per site; planted duplicates of ours are a handful.
const MAX_SESSION_CANDIDATES: usize = 16;
