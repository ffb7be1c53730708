//! Finding, extending and storing the browser's session: the one place that reads the
//! session cookie and enforces the lifetimes, for every route that needs a signed-in user.

use super::Context;
use crate::cookies::{self, SessionCookie, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::Incoming;
use crate::platform::KeyValueStore;
use crate::sessions::{self, Freshness, SessionPolicy, SessionRecord};

pub struct ActiveSession {
    pub cookie: SessionCookie,
    pub record: SessionRecord,
}

pub enum Lookup {
    /// No session cookie at all.
    SignedOut,
    /// A cookie that no longer opens a live session (unknown, expired, wrong key): clear it.
    Gone,
    Active(Box<ActiveSession>),
}

/// One KV read. An expired session is deleted; a record the cookie's key cannot open is
/// left alone (the cookie, not the record, is what is wrong).
pub async fn lookup<K: KeyValueStore, H, S>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
) -> Result<Lookup, AppError> {
    let Some(cookie) = SessionCookie::from_header(&req.cookie_header) else {
        let present = req.cookie_header.contains(SESSION_COOKIE);
        return Ok(if present {
            Lookup::Gone
        } else {
            Lookup::SignedOut
        });
    };
    let kv_key = cookie.id.kv_key();
    let Some(sealed) = ctx.kv.get(&kv_key).await? else {
        return Ok(Lookup::Gone);
    };
    let Some(record) = sessions::open_session(ctx.crypto, &cookie.key, &kv_key, &sealed).await
    else {
        return Ok(Lookup::Gone);
    };
    if record.freshness(policy, ctx.now) == Freshness::Expired {
        ctx.kv.delete(&kv_key).await?;
        return Ok(Lookup::Gone);
    }
    Ok(Lookup::Active(Box::new(ActiveSession { cookie, record })))
}

/// Records activity, writing KV at most once per touch interval (not on every view).
pub async fn touch_if_due<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
    session: &mut ActiveSession,
) -> Result<(), AppError> {
    if session.record.freshness(policy, ctx.now) == Freshness::NeedsTouch {
        session.record.last_seen_at = ctx.now;
        store(ctx, policy, &session.cookie, &session.record).await?;
    }
    Ok(())
}

/// Seals and writes the record; its KV expiry follows the session's nearest end.
pub async fn store<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
    cookie: &SessionCookie,
    record: &SessionRecord,
) -> Result<(), AppError> {
    let kv_key = cookie.id.kv_key();
    let sealed = sessions::seal_record(ctx.crypto, &cookie.key, &kv_key, record).await?;
    ctx.kv
        .put(&kv_key, &sealed, record.kv_ttl_secs(policy, ctx.now))
        .await?;
    Ok(())
}

/// Deletes the session and returns the `Set-Cookie` that clears it.
pub async fn end<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    cookie: &SessionCookie,
) -> Result<String, AppError> {
    ctx.kv.delete(&cookie.id.kv_key()).await?;
    Ok(cookies::clear(SESSION_COOKIE))
}
