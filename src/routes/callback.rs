//! `GET /oauth`: the provider's redirect back. Finds the login record by state, opens it
//! with a key from this browser's login cookie (single use: the record is deleted first),
//! exchanges the code, verifies the ID token, fetches userinfo, and only then creates the
//! session: a failure at any step leaves no session behind.

use crate::app::{error_reply, Context};
use crate::cookies::Found;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::authorization_response::{check_issuer_matches, AuthorizationCode, Callback};
use crate::oidc::id_token::NonceRule;
use crate::pending_login::{self, LoginRecord, PendingLogins, LOGIN_TTL_SECS};
use crate::platform::{KeyValueStore, Platform};
use crate::reason;
use crate::session::record::{SessionRecord, SessionTokens};
use crate::session::ticket::SessionCookie;

/// Updates the login cookie when this login was identified: whatever happened next, it is over.
/// A login cookie whose name appears twice is left as it is (ours cannot be told apart from
/// the planted one) and the login fails closed.
pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Reply {
    let (mut pending, ambiguous) = match PendingLogins::read(&req.cookie_header) {
        Found::One(pending) => (pending, false),
        Found::Ambiguous => (PendingLogins::default(), true),
        Found::Absent | Found::Malformed => (PendingLogins::default(), false),
    };
    let before = pending.keys().len();
    let reply = run(req, ctx, &mut pending, ambiguous)
        .await
        .unwrap_or_else(|err| error_reply(&err, ctx.config.auth_prefix()));
    if pending.keys().len() == before {
        return reply;
    }
    reply.with_cookie(pending.set_cookie(LOGIN_TTL_SECS))
}

async fn run<P: Platform>(
    req: &Incoming,
    ctx: &Context<'_, P>,
    pending: &mut PendingLogins,
    ambiguous: bool,
) -> Result<Reply, AppError> {
    let client = ctx.config.client()?;
    match Callback::parse(&req.query, &client.issuers)? {
        Callback::Error { state, error } => {
            // Only a login of this browser ends here (its record deleted, its text shown):
            // anyone can link to the callback with an error and a state they made up. (A
            // browser without a login cookie costs no KV operation: `take` checks first.)
            let own_login = match state {
                Some(state) => {
                    let taken = pending_login::take(ctx.kv, ctx.crypto, &state, pending, ctx.now);
                    taken.await.is_ok()
                }
                None => false,
            };
            Err(AppError::ProviderDenied(error.shown(own_login)))
        }
        Callback::Code { .. } if ambiguous => Err(AppError::LoginCookieAmbiguous),
        Callback::Code { state, code, iss } => {
            let taken = pending_login::take(ctx.kv, ctx.crypto, &state, pending, ctx.now);
            let login = taken.await?;
            complete(req, ctx, &code, iss.as_deref(), login).await
        }
    }
}

async fn complete<P: Platform>(
    req: &Incoming,
    ctx: &Context<'_, P>,
    code: &AuthorizationCode,
    callback_iss: Option<&str>,
    login: LoginRecord,
) -> Result<Reply, AppError> {
    let sessions = ctx.sessions()?;
    let provider = ctx.provider()?;
    let grant = provider.exchange_code(code, &login.verifier).await?;
    let nonce = NonceRule::Required(&login.nonce);
    let id_token = provider.verify_id_token(&grant.id_token, nonce).await?;
    let id_token_iss = id_token.claims().get("iss").and_then(|iss| iss.as_str());
    check_issuer_matches(callback_iss, id_token_iss)?;
    let tokens = grant.tokens;
    let userinfo = provider
        .fetch_userinfo(&tokens.access_token, id_token.subject())
        .await?;

    #[cfg(feature = "gateway")]
    let org_id = match ctx.config.people_url() {
        Some(url) => Some(provider.fetch_org_id(url, &tokens.access_token).await?),
        None => None,
    };
    #[cfg(not(feature = "gateway"))]
    let org_id = None;
    let mut record = SessionRecord::new(
        id_token.subject().to_owned(),
        id_token.claims().clone(),
        userinfo,
        SessionTokens::from_response(tokens, None, ctx.now),
        sessions.policy,
        ctx.now,
    );
    record.org_id = org_id;
    // A new id at every login (no fixation); the browser's previous session goes away.
    let cookie = SessionCookie::generate()?;
    sessions.store(&cookie, &record).await?;
    if let Some(previous) = SessionCookie::from_header(&req.cookie_header) {
        // Best effort: the old record expires on its own TTL if this fails.
        let _ = ctx.kv.delete(&previous.id.kv_key()).await;
    }

    Ok(Reply::redirect(&login.return_to)
        .with_cookie(cookie.set_cookie(sessions.policy.ttl_secs as u64))
        .no_store()
        .with_reason(reason::LOGIN_COMPLETE))
}
