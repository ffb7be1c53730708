//! `POST /refresh`: re-fetch userinfo, refreshing the tokens first when the access token
//! has expired (or will within a minute), or when userinfo rejects it. A refresh that fails
//! ends the session with "please sign in again", never a 500.
//!
//! Concurrency: one refresh per session at a time in an isolate (a second one waits for the
//! first and shows its result); the result is written back onto the session as KV holds it
//! then, never onto a session that was logged out meanwhile; and a failed refresh ends the
//! session only if nobody else has replaced its refresh token in the meantime.

use super::session::{self, Lookup, WriteBack};
use super::{check_same_origin, Context};
use crate::config::{Config, Settings};
use crate::cookies::{self, SessionCookie, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::id_token::{check_same_identity, NonceRule};
use crate::oidc::userinfo::UserinfoError;
use crate::platform::{HttpClient, KeyValueStore};
use crate::provider;
use crate::sessions::{SessionPolicy, SessionRecord, SessionTokens};

/// How often, and how long at most, a refresh waits for another one of the same session
/// (four subrequests with their 10-second timeouts bound the other one).
const WAIT_POLL_MILLIS: u32 = 50;
const WAIT_MAX_MILLIS: u32 = 45_000;

pub async fn run<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Result<Reply, AppError> {
    check_same_origin(req)?;
    let policy = SessionPolicy::load(ctx.settings)?;
    let mut active = match session::lookup(req, ctx, &policy).await? {
        Lookup::Active(active) => active,
        Lookup::SignedOut => return Ok(Reply::redirect("/").with_reason("signed_out")),
        Lookup::Ambiguous => {
            return Ok(Reply::redirect("/").with_reason("session_cookie_ambiguous"))
        }
        Lookup::Gone => return Ok(session_gone()),
    };
    let kv_key = active.cookie.id.kv_key();
    let Some(_turn) = ctx.refreshing.try_enter(&kv_key) else {
        wait_for_other_refresh(ctx, &kv_key).await;
        return Ok(Reply::redirect("/")
            .no_store()
            .with_reason("refresh_joined"));
    };
    let config = Config::load(ctx.settings, &req.origin)?;
    let base = active.record.clone();
    match refresh_profile(ctx, &config, &mut active.record).await {
        Ok(()) => {
            active.record.last_seen_at = ctx.now;
            let stored =
                session::write_back(ctx, &policy, &active.cookie, &base, &mut active.record);
            match stored.await? {
                WriteBack::Stored => Ok(Reply::redirect("/")
                    .no_store()
                    .with_reason("profile_refreshed")),
                WriteBack::Ended => Ok(session_gone()),
            }
        }
        Err(err @ AppError::SessionEnded(_)) => {
            end_session(ctx, &policy, &active.cookie, &base, err).await
        }
        Err(err) => Err(err),
    }
}

/// The session ended while this request ran (or before): signed out, cookie cleared.
fn session_gone() -> Reply {
    Reply::redirect("/")
        .with_cookie(cookies::clear(SESSION_COOKIE))
        .no_store()
        .with_reason("session_unknown")
}

async fn wait_for_other_refresh<K, H: HttpClient, S>(ctx: &Context<'_, K, H, S>, kv_key: &str) {
    let mut waited = 0;
    while ctx.refreshing.is_held(kv_key) && waited < WAIT_MAX_MILLIS {
        ctx.http.pause(WAIT_POLL_MILLIS).await;
        waited += WAIT_POLL_MILLIS;
    }
}

async fn refresh_profile<K, H: HttpClient, S>(
    ctx: &Context<'_, K, H, S>,
    config: &Config,
    record: &mut SessionRecord,
) -> Result<(), AppError> {
    let mut refreshed = false;
    if record.tokens.access_token_expiring(ctx.now) {
        refresh_tokens(ctx, config, record).await?;
        refreshed = true;
    }
    let userinfo = match fetch(ctx, config, record).await {
        // The provider may have revoked the token before its stated expiry: refresh once.
        Err(AppError::Userinfo(UserinfoError::Status(401))) if !refreshed => {
            refresh_tokens(ctx, config, record).await?;
            fetch(ctx, config, record).await?
        }
        other => other?,
    };
    record.userinfo = userinfo;
    Ok(())
}

async fn fetch<K, H: HttpClient, S>(
    ctx: &Context<'_, K, H, S>,
    config: &Config,
    record: &SessionRecord,
) -> Result<serde_json::Map<String, serde_json::Value>, AppError> {
    provider::fetch_userinfo(
        ctx.http,
        config,
        &record.tokens.access_token,
        &record.subject,
    )
    .await
}

/// The refresh grant; a refreshed ID token passes the sign-in checks and keeps the identity.
/// Any failure here means the session cannot continue.
async fn refresh_tokens<K, H: HttpClient, S>(
    ctx: &Context<'_, K, H, S>,
    config: &Config,
    record: &mut SessionRecord,
) -> Result<(), AppError> {
    let ended = |err: AppError| AppError::SessionEnded(err.reason());
    let refresh_token = record
        .tokens
        .refresh_token
        .clone()
        .ok_or(AppError::SessionEnded("no_refresh_token"))?;
    let tokens = provider::refresh_tokens(ctx.http, config, &refresh_token)
        .await
        .map_err(ended)?;
    if let Some(raw) = tokens.id_token.as_deref() {
        let original_nonce = record.id_token_claims.get("nonce").and_then(|n| n.as_str());
        let nonce = NonceRule::IfPresent(original_nonce);
        let verified =
            provider::verify_id_token(ctx.http, ctx.crypto, ctx.keys, config, raw, nonce, ctx.now)
                .await
                .map_err(ended)?;
        check_same_identity(&record.id_token_claims, &verified).map_err(|e| ended(e.into()))?;
        record.id_token_claims = verified.claims().clone();
    }
    record.tokens = SessionTokens {
        access_token: tokens.access_token,
        access_expires_at: tokens.expires_in.map(|secs| ctx.now.saturating_add(secs)),
        // Keep the old refresh token unless the provider rotated it.
        refresh_token: tokens.refresh_token.or(Some(refresh_token)),
    };
    Ok(())
}

/// Ends the session after a failed refresh, unless the failure only shows that another
/// request (in another isolate or location) refreshed first and replaced the refresh token:
/// then the session goes on with that request's tokens.
async fn end_session<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
    cookie: &SessionCookie,
    base: &SessionRecord,
    err: AppError,
) -> Result<Reply, AppError> {
    match session::read_live(ctx, policy, cookie).await? {
        None => return Ok(session_gone()),
        Some(current) if current.tokens.refresh_token != base.tokens.refresh_token => {
            return Ok(Reply::redirect("/")
                .no_store()
                .with_reason("refresh_superseded"));
        }
        Some(_) => {}
    }
    let clear = session::end(ctx, cookie).await?;
    Ok(super::error_reply(&err).with_cookie(clear))
}
