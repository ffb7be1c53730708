//! `GET /oauth`: the provider's redirect back. Checks the state and its browser binding,
//! consumes the login record, exchanges the code, verifies the ID token, fetches userinfo,
//! and only then creates the session: a failure at any step leaves no session behind.

use super::{error_reply, Context};
use crate::config::{Config, Settings};
use crate::cookies::{self, LOGIN_COOKIE, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::callback::{AuthorizationCode, Callback};
use crate::oidc::secrets::{constant_time_eq, BrowserBinding, SessionId, State};
use crate::platform::{HttpClient, KeyValueStore};
use crate::provider;
use crate::sessions::{self, LoginRecord, SessionRecord, SESSION_TTL_SECS};

/// Always clears the login cookie: whatever happened, this login attempt is over.
pub async fn finish<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Reply {
    let reply = match run(req, ctx).await {
        Ok(reply) => reply,
        Err(err) => error_reply(&err),
    };
    reply.with_cookie(cookies::clear(LOGIN_COOKIE))
}

async fn run<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Result<Reply, AppError> {
    let config = Config::load(ctx.settings, &req.origin)?;
    match Callback::parse(&req.query, &config.issuers)? {
        Callback::Error {
            state,
            error,
            description,
        } => {
            if let Some(state) = state {
                // Best effort: the login is over, its record is of no further use.
                let _ = ctx.kv.delete(&state.kv_key()).await;
            }
            Err(AppError::ProviderDenied { error, description })
        }
        Callback::Code { state, code } => complete(req, ctx, &config, &state, &code).await,
    }
}

async fn complete<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
    config: &Config,
    state: &State,
    code: &AuthorizationCode,
) -> Result<Reply, AppError> {
    let binding = cookies::find(&req.cookie_header, LOGIN_COOKIE)
        .map(BrowserBinding::from_untrusted)
        .ok_or(AppError::LoginCookieMissing)?;
    let login = take_login(ctx, state).await?;
    if !constant_time_eq(&binding.hash(), &login.binding_hash) {
        return Err(AppError::LoginMismatch);
    }

    let tokens = provider::exchange_code(ctx.http, config, code, &login.verifier).await?;
    let id_token = provider::verify_id_token(
        ctx.http,
        ctx.keys,
        config,
        &tokens.id_token,
        &login.nonce,
        ctx.now,
    )
    .await?;
    let userinfo =
        provider::fetch_userinfo(ctx.http, config, &tokens.access_token, id_token.subject())
            .await?;

    let session = SessionRecord::new(
        id_token.subject().to_owned(),
        id_token.claims().clone(),
        userinfo,
        ctx.now,
    );
    let id = SessionId::generate()?;
    let encoded = sessions::encode(&session).map_err(|_| AppError::Storage)?;
    ctx.kv.put(&id.kv_key(), &encoded, SESSION_TTL_SECS).await?;
    replace_previous_session(req, ctx).await;

    Ok(Reply::redirect("/")
        .with_cookie(cookies::set(SESSION_COOKIE, id.secret(), SESSION_TTL_SECS))
        .no_store()
        .with_reason("login_complete"))
}

/// Reads and deletes the login record: a state works once. The delete happens before the
/// code is spent, so a replay racing this request finds nothing; the provider's single-use
/// code is the second line of defence where KV has not yet propagated the delete.
async fn take_login<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    state: &State,
) -> Result<LoginRecord, AppError> {
    let key = state.kv_key();
    let raw = ctx.kv.get(&key).await?.ok_or(AppError::LoginUnknown)?;
    ctx.kv.delete(&key).await?;
    sessions::decode_login(&raw)
        .filter(|login| !login.is_expired(ctx.now))
        .ok_or(AppError::LoginUnknown)
}

/// A new login replaces the browser's previous session (no fixation, no orphaned records).
async fn replace_previous_session<K: KeyValueStore, H, S>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) {
    if let Some(old) =
        cookies::find(&req.cookie_header, SESSION_COOKIE).map(SessionId::from_untrusted)
    {
        // Best effort: the old record expires on its own TTL if this fails.
        let _ = ctx.kv.delete(&old.kv_key()).await;
    }
}
