//! `POST /logout`: end the session here. Webex has no end-session endpoint, so the
//! provider session (if any) is left alone.

use super::Context;
use crate::config::Settings;
use crate::cookies::{self, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::secrets::SessionId;
use crate::platform::{HttpClient, KeyValueStore};

pub async fn end<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Result<Reply, AppError> {
    check_same_origin(req)?;
    if let Some(id) =
        cookies::find(&req.cookie_header, SESSION_COOKIE).map(SessionId::from_untrusted)
    {
        ctx.kv.delete(&id.kv_key()).await?;
    }
    Ok(Reply::redirect("/")
        .with_cookie(cookies::clear(SESSION_COOKIE))
        .no_store()
        .with_reason("logged_out"))
}

/// SameSite=Lax already keeps the cookie off cross-site POSTs; this refuses them outright,
/// so a forged form cannot even sign a user out. Fetch Metadata decides when the browser
/// sends it; otherwise `Origin` must name this origin. Chromium sends `Origin: null` on
/// same-origin form posts from pages with `Referrer-Policy: no-referrer`, which is why
/// `Sec-Fetch-Site` comes first.
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
