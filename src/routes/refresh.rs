//! `POST /refresh`: re-fetch userinfo, refreshing the tokens first when the access token
//! has expired (or will within a minute), or when userinfo rejects it. A refresh that fails
//! ends the session with "please sign in again", never a 500.
//!
//! Concurrency: one refresh per session at a time in an isolate (a second one waits for the
//! first and shows its result); the result is written back onto the session as KV holds it
//! then, never onto a session that was logged out meanwhile; and a failed refresh ends the
//! session only if nobody else has replaced its refresh token in the meantime.

use super::check_same_origin;
use crate::app::{error_reply, signed_in, Context, SignedOut, Touch};
use crate::error::{AppError, SessionEndCause};
use crate::http::{Incoming, Reply};
use crate::oidc::http_url::HttpUrl;
use crate::oidc::id_token::{check_same_identity, NonceRule};
use crate::oidc::json::Object;
use crate::oidc::userinfo::UserinfoError;
use crate::platform::{HttpClient, KeyValueStore, Platform};
use crate::provider_api::{Provider, ProviderError};
use crate::reason;
use crate::session::record::{SessionRecord, SessionTokens};
use crate::session::ticket::{clear_cookie, SessionCookie, SessionStore, WriteBack};

/// How often, and how long at most, a refresh waits for another one of the same session
/// (four subrequests with their 10-second timeouts bound the other one).
const WAIT_POLL_MILLIS: u32 = 50;
const WAIT_MAX_MILLIS: u32 = 45_000;

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    check_same_origin(req)?;
    let sessions = ctx.sessions()?;
    let home = format!("{}/", ctx.config.auth_prefix());
    let home = home.as_str();
    let mut active = match signed_in(&sessions, req, Touch::Skip).await {
        Ok(active) => active,
        Err(SignedOut::Unavailable(err)) => return Err(err),
        Err(SignedOut::Gone) => return Ok(session_gone(home)),
        Err(out) => return Ok(out.answer(Reply::redirect(home))),
    };
    let kv_key = active.cookie.id.kv_key();
    let Some(_turn) = ctx.refreshing.try_enter(&kv_key) else {
        wait_for_other_refresh(ctx, &kv_key).await;
        return Ok(Reply::redirect(home)
            .no_store()
            .with_reason(reason::REFRESH_JOINED));
    };
    let provider = ctx.provider()?;
    let base = active.record.clone();
    let people_url = ctx.config.people_url();
    match refresh_profile(&provider, people_url, &mut active.record).await {
        Ok(()) => {
            active.record.last_seen_at = ctx.now;
            let stored = sessions.write_back(&active.cookie, &base, &mut active.record);
            match stored.await? {
                WriteBack::Stored => Ok(Reply::redirect(home)
                    .no_store()
                    .with_reason(reason::PROFILE_REFRESHED)),
                WriteBack::Ended => Ok(session_gone(home)),
            }
        }
        Err(Failure::Ends(cause)) => {
            let ended = end_session(&sessions, &active.cookie, &base, cause, home);
            ended.await
        }
        Err(Failure::Other(err)) => {
            keep_renewed_tokens(&sessions, &active.cookie, &base, active.record).await;
            Err(err.into())
        }
    }
}

/// After a refresh grant that succeeded, a later step (userinfo, the organisation) failed:
/// the grant spent the stored refresh token, so the new tokens (and the ID token's claims
/// they came with) are stored all the same, with the rest of the session as it was.
/// Presenting the spent one next time would look like reuse to a provider that rotates them,
/// and revoke the whole grant (RFC 9700 §4.14.2). Best effort: the request fails either way,
/// with the error that made it fail.
async fn keep_renewed_tokens<K: KeyValueStore>(
    sessions: &SessionStore<'_, K>,
    cookie: &SessionCookie,
    base: &SessionRecord,
    record: SessionRecord,
) {
    if record.tokens != base.tokens {
        let mut kept = base.clone();
        kept.tokens = record.tokens;
        kept.id_token_claims = record.id_token_claims;
        let _ = sessions.write_back(cookie, base, &mut kept).await;
    }
}

/// How a refresh failed: the session cannot continue, or the request alone failed.
enum Failure {
    Ends(SessionEndCause),
    Other(ProviderError),
}

impl From<ProviderError> for Failure {
    fn from(e: ProviderError) -> Self {
        Self::Other(e)
    }
}

/// The session ended while this request ran (or before): signed out, cookie cleared.
fn session_gone(home: &str) -> Reply {
    Reply::redirect(home)
        .with_cookie(clear_cookie())
        .no_store()
        .with_reason(reason::SESSION_UNKNOWN)
}

async fn wait_for_other_refresh<P: Platform>(ctx: &Context<'_, P>, kv_key: &str) {
    let mut waited = 0;
    while ctx.refreshing.is_held(kv_key) && waited < WAIT_MAX_MILLIS {
        ctx.timer.sleep(WAIT_POLL_MILLIS).await;
        waited += WAIT_POLL_MILLIS;
    }
}

/// Fresh userinfo (and, when a policy needs it, the organisation: a person admitted at login
/// is checked again with what the provider says now).
async fn refresh_profile<H: HttpClient>(
    provider: &Provider<'_, H>,
    people_url: Option<&HttpUrl>,
    record: &mut SessionRecord,
) -> Result<(), Failure> {
    let mut refreshed = false;
    if record.tokens.access_token_expiring(provider.now) {
        refresh_tokens(provider, record).await?;
        refreshed = true;
    }
    let userinfo = match fetch_userinfo(provider, record).await {
        // The provider may have revoked the token before its stated expiry: refresh once.
        Err(ProviderError::Userinfo(UserinfoError::Status(401))) if !refreshed => {
            refresh_tokens(provider, record).await?;
            fetch_userinfo(provider, record).await?
        }
        other => other?,
    };
    record.userinfo = userinfo;
    #[cfg(feature = "gateway")]
    if let Some(url) = people_url {
        let token = &record.tokens.access_token;
        record.org_id = Some(provider.fetch_org_id(url, token).await?);
    }
    #[cfg(not(feature = "gateway"))]
    let _ = people_url;
    Ok(())
}

async fn fetch_userinfo<H: HttpClient>(
    provider: &Provider<'_, H>,
    record: &SessionRecord,
) -> Result<Object, ProviderError> {
    let tokens = &record.tokens;
    provider
        .fetch_userinfo(&tokens.access_token, &record.subject)
        .await
}

/// The refresh grant; a refreshed ID token passes the sign-in checks and keeps the identity.
/// Any failure here means the session cannot continue.
async fn refresh_tokens<H: HttpClient>(
    provider: &Provider<'_, H>,
    record: &mut SessionRecord,
) -> Result<(), Failure> {
    let ended = |err: ProviderError| Failure::Ends(SessionEndCause::Provider(err));
    let refresh_token = record
        .tokens
        .refresh_token
        .clone()
        .ok_or(Failure::Ends(SessionEndCause::NoRefreshToken))?;
    let tokens = provider
        .refresh_tokens(&refresh_token)
        .await
        .map_err(ended)?;
    if let Some(raw) = tokens.id_token.as_deref() {
        let original_nonce = record.id_token_claims.get("nonce").and_then(|n| n.as_str());
        let nonce = NonceRule::IfPresent(original_nonce);
        let verified = provider.verify_id_token(raw, nonce).await.map_err(ended)?;
        check_same_identity(&record.id_token_claims, &verified).map_err(|e| ended(e.into()))?;
        record.id_token_claims = verified.claims().clone();
    }
    record.tokens = SessionTokens::from_response(tokens, Some(refresh_token), provider.now);
    Ok(())
}

/// Ends the session after a failed refresh, unless the failure only shows that another
/// request (in another isolate or location) refreshed first and replaced the refresh token:
/// then the session goes on with that request's tokens.
async fn end_session<K: KeyValueStore>(
    sessions: &SessionStore<'_, K>,
    cookie: &SessionCookie,
    base: &SessionRecord,
    cause: SessionEndCause,
    home: &str,
) -> Result<Reply, AppError> {
    match sessions.read_live(cookie).await? {
        None => return Ok(session_gone(home)),
        Some(current) if current.tokens.refresh_token != base.tokens.refresh_token => {
            return Ok(Reply::redirect(home)
                .no_store()
                .with_reason(reason::REFRESH_SUPERSEDED));
        }
        Some(_) => {}
    }
    let clear = sessions.end(cookie).await?;
    let base = home.trim_end_matches('/');
    Ok(error_reply(&AppError::SessionEnded(cause), base).with_cookie(clear))
}
