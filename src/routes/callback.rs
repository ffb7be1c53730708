//! `GET /oauth`: the provider's redirect back. Finds the login record by state, opens it
//! with a key from this browser's login cookie (single use: the record is deleted first),
//! exchanges the code, verifies the ID token, fetches userinfo, and only then creates the
//! session: a failure at any step leaves no session behind.

use super::{error_reply, session, Context};
use crate::config::{Config, Settings};
use crate::cookies::{Found, PendingLogins, SessionCookie};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::callback::{AuthorizationCode, Callback};
use crate::oidc::id_token::NonceRule;
use crate::oidc::secrets::State;
use crate::platform::{HttpClient, KeyValueStore};
use crate::provider;
use crate::sessions::{
    self, LoginRecord, SessionPolicy, SessionRecord, SessionTokens, LOGIN_TTL_SECS,
};

/// Updates the login cookie when this login was identified: whatever happened next, it is over.
/// A login cookie whose name appears twice is left as it is (ours cannot be told apart from
/// the planted one) and the login fails closed.
pub async fn finish<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Reply {
    let (mut pending, ambiguous) = match PendingLogins::read(&req.cookie_header) {
        Found::One(pending) => (pending, false),
        Found::Ambiguous => (PendingLogins::default(), true),
        Found::Absent | Found::Malformed => (PendingLogins::default(), false),
    };
    let before = pending.keys().len();
    let reply = run(req, ctx, &mut pending, ambiguous)
        .await
        .unwrap_or_else(|err| error_reply(&err));
    if pending.keys().len() == before {
        return reply;
    }
    reply.with_cookie(pending.set_cookie(LOGIN_TTL_SECS))
}

async fn run<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
    pending: &mut PendingLogins,
    ambiguous: bool,
) -> Result<Reply, AppError> {
    let config = Config::load(ctx.settings, &req.origin)?;
    match Callback::parse(&req.query, &config.issuers)? {
        Callback::Error { state, error } => {
            // Only a login of this browser ends here (its record deleted, its text shown):
            // anyone can link to the callback with an error and a state they made up. (A
            // browser without a login cookie costs no KV operation: `take_login` checks first.)
            let own_login = match state {
                Some(state) => take_login(ctx, &state, pending).await.is_ok(),
                None => false,
            };
            Err(AppError::ProviderDenied(error.shown(own_login)))
        }
        Callback::Code { .. } if ambiguous => Err(AppError::LoginCookieAmbiguous),
        Callback::Code { state, code } => {
            let login = take_login(ctx, &state, pending).await?;
            complete(req, ctx, &config, &code, login).await
        }
    }
}

/// Reads the login record, opens it with one of the browser's pending-login keys, and only
/// then deletes it (a state works once; a browser that did not start the login deletes
/// nothing). The delete happens before the code is spent, so a replay racing this request
/// finds nothing; the provider's single-use code is the second line of defence where KV has
/// not yet propagated the delete.
async fn take_login<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    state: &State,
    pending: &mut PendingLogins,
) -> Result<LoginRecord, AppError> {
    if pending.is_empty() {
        return Err(AppError::LoginCookieMissing);
    }
    let kv_key = state.kv_key();
    let sealed = ctx.kv.get(&kv_key).await?.ok_or(AppError::LoginUnknown)?;
    let mut opened = None;
    for key in pending.keys() {
        if let Some(login) = sessions::open_login(ctx.crypto, key, &kv_key, &sealed).await {
            opened = Some((key.clone(), login));
            break;
        }
    }
    let (key, login) = opened.ok_or(AppError::LoginMismatch)?;
    ctx.kv.delete(&kv_key).await?;
    *pending = std::mem::take(pending).without(&key);
    if login.is_expired(ctx.now) {
        return Err(AppError::LoginUnknown);
    }
    Ok(login)
}

async fn complete<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
    config: &Config,
    code: &AuthorizationCode,
    login: LoginRecord,
) -> Result<Reply, AppError> {
    let policy = SessionPolicy::load(ctx.settings)?;
    let tokens = provider::exchange_code(ctx.http, config, code, &login.verifier).await?;
    let raw_id_token = tokens.id_token.as_deref().unwrap_or_default();
    let nonce = NonceRule::Required(&login.nonce);
    let id_token = provider::verify_id_token(
        ctx.http,
        ctx.crypto,
        ctx.keys,
        config,
        raw_id_token,
        nonce,
        ctx.now,
    )
    .await?;
    let userinfo =
        provider::fetch_userinfo(ctx.http, config, &tokens.access_token, id_token.subject())
            .await?;

    let stored_tokens = SessionTokens {
        access_token: tokens.access_token,
        access_expires_at: tokens.expires_in.map(|secs| ctx.now.saturating_add(secs)),
        refresh_token: tokens.refresh_token,
    };
    let record = SessionRecord::new(
        id_token.subject().to_owned(),
        id_token.claims().clone(),
        userinfo,
        stored_tokens,
        &policy,
        ctx.now,
    );
    // A new id at every login (no fixation); the browser's previous session goes away.
    let cookie = SessionCookie::generate()?;
    session::store(ctx, &policy, &cookie, &record).await?;
    if let Some(previous) = SessionCookie::from_header(&req.cookie_header) {
        // Best effort: the old record expires on its own TTL if this fails.
        let _ = ctx.kv.delete(&previous.id.kv_key()).await;
    }

    Ok(Reply::redirect(&login.return_to)
        .with_cookie(cookie.set_cookie(policy.ttl_secs as u64))
        .no_store()
        .with_reason("login_complete"))
}
