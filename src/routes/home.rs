//! `GET /`: the profile when signed in, the login page otherwise.

use super::Context;
use crate::config::Settings;
use crate::cookies::{self, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::secrets::SessionId;
use crate::pages;
use crate::platform::{HttpClient, KeyValueStore};
use crate::sessions::{self, SessionRecord};

pub async fn show<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Result<Reply, AppError> {
    let Some(id) = cookies::find(&req.cookie_header, SESSION_COOKIE).map(SessionId::from_untrusted)
    else {
        return Ok(signed_out());
    };
    match load(&id, ctx).await {
        Ok(Some(session)) => Ok(Reply::html(200, pages::profile(&session))
            .no_store()
            .with_reason("profile")),
        // Unknown or expired: the cookie is useless, drop it.
        Ok(None) => Ok(signed_out()
            .with_cookie(cookies::clear(SESSION_COOKIE))
            .with_reason("session_unknown")),
        // KV did not answer: fail safe (signed out) but keep the cookie for the next try.
        Err(err) => Ok(signed_out().with_reason(err.reason())),
    }
}

fn signed_out() -> Reply {
    Reply::html(200, pages::login())
        .no_store()
        .with_reason("signed_out")
}

async fn load<K: KeyValueStore, H, S>(
    id: &SessionId,
    ctx: &Context<'_, K, H, S>,
) -> Result<Option<SessionRecord>, AppError> {
    let raw = ctx.kv.get(&id.kv_key()).await?;
    Ok(raw
        .as_deref()
        .and_then(sessions::decode_session)
        .filter(|s| !s.is_expired(ctx.now)))
}
