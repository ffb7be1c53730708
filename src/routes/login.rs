//! `GET /login`: start an Authorization Code flow with state, nonce and PKCE.

use super::Context;
use crate::config::{Config, Settings};
use crate::cookies::{self, LOGIN_COOKIE};
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::authorize::authorize_url;
use crate::oidc::secrets::{BrowserBinding, Nonce, PkceVerifier, State};
use crate::platform::{HttpClient, KeyValueStore};
use crate::sessions::{self, LoginRecord, LOGIN_TTL_SECS};

pub async fn start<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Result<Reply, AppError> {
    let config = Config::load(ctx.settings, &req.origin)?;
    let state = State::generate()?;
    let nonce = Nonce::generate()?;
    let verifier = PkceVerifier::generate()?;
    let binding = BrowserBinding::generate()?;
    let location = authorize_url(&config, &state, &nonce, &verifier);

    let record = LoginRecord::new(binding.hash(), nonce, verifier, ctx.now);
    let encoded = sessions::encode(&record).map_err(|_| AppError::Storage)?;
    ctx.kv
        .put(&state.kv_key(), &encoded, LOGIN_TTL_SECS)
        .await?;

    Ok(Reply::redirect(location.as_str())
        .with_cookie(cookies::set(LOGIN_COOKIE, binding.secret(), LOGIN_TTL_SECS))
        .no_store()
        .with_reason("login_started"))
}
