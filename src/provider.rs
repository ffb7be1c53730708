//! Talking to the OpenID Provider: the code exchange, the JWKS (cached in the isolate) and
//! userinfo. Each call goes through the `HttpClient` trait; the parsing lives in `oidc`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::AppError;
use crate::oidc::callback::AuthorizationCode;
use crate::oidc::id_token::{
    Expectations, IdTokenError, NonceRule, UnverifiedIdToken, VerifiedIdToken,
};
use crate::oidc::jwks::{JwksError, KeySet};
use crate::oidc::secrets::PkceVerifier;
use crate::oidc::{token, userinfo};
use crate::platform::{Crypto, HttpClient, Method, OutboundRequest};

/// Keys are reused for an hour, then fetched again.
pub const KEYS_MAX_AGE_SECS: i64 = 3600;
/// A token no cached key verifies triggers a refetch at most this often, so forged tokens
/// cannot make the Worker hammer the provider's JWKS endpoint.
pub const KEYS_REFETCH_COOLDOWN_SECS: i64 = 10;

/// Parsed JWKS kept for the life of the isolate: steady-state logins fetch nothing.
#[derive(Default)]
pub struct KeyCache {
    slot: RefCell<Option<CachedKeys>>,
    /// When the last refetch *started*: requests arriving while it is in flight must not
    /// start their own, or a burst of forged tokens fans out into a burst of fetches.
    last_refetch_started: Cell<Option<i64>>,
    /// Set while a cold isolate fetches the keys: requests arriving meanwhile wait for that
    /// fetch instead of each fetching the same keys (one fetch per isolate per lifetime).
    fetching: Cell<bool>,
}

/// How often, and for how long at most, a request polls for another request's key fetch
/// (the subrequest timeout bounds that fetch anyway).
const FETCH_POLL_MILLIS: u32 = 20;
const FETCH_WAIT_MAX_MILLIS: u32 = 10_000;

/// Clears [`KeyCache::fetching`] however the fetching request ends, even if its future is
/// dropped mid-fetch: nobody must wait on a fetch nobody is making.
struct FetchingGuard<'a>(&'a Cell<bool>);

impl Drop for FetchingGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

struct CachedKeys {
    url: String,
    keys: Rc<KeySet>,
    fetched_at: i64,
}

impl KeyCache {
    /// Cached keys for `url` if young enough, with the time they were fetched.
    fn current(&self, url: &str, now: i64) -> Option<(Rc<KeySet>, i64)> {
        let slot = self.slot.borrow();
        let cached = slot.as_ref()?;
        let fresh = cached.url == url && now - cached.fetched_at < KEYS_MAX_AGE_SECS;
        fresh.then(|| (Rc::clone(&cached.keys), cached.fetched_at))
    }

    async fn fetch(
        &self,
        http: &impl HttpClient,
        config: &Config,
        now: i64,
    ) -> Result<Rc<KeySet>, JwksError> {
        let request = OutboundRequest {
            method: Method::Get,
            url: config.jwks_url.clone(),
            headers: vec![("Accept", "application/json".to_owned())],
            body: None,
        };
        let response = http.send(request).await.map_err(JwksError::Transport)?;
        if !response.is_success() {
            return Err(JwksError::Status(response.status));
        }
        let keys = Rc::new(KeySet::parse(&response.body)?);
        *self.slot.borrow_mut() = Some(CachedKeys {
            url: config.jwks_url.to_string(),
            keys: Rc::clone(&keys),
            fetched_at: now,
        });
        Ok(keys)
    }

    /// Cached keys, or fresh ones: fetched by the first request that finds none, waited for
    /// by the requests that arrive while that fetch runs.
    async fn current_or_fetch(
        &self,
        http: &impl HttpClient,
        config: &Config,
        now: i64,
    ) -> Result<(Rc<KeySet>, i64), JwksError> {
        let url = config.jwks_url.as_str();
        if let Some(cached) = self.current(url, now) {
            return Ok(cached);
        }
        let mut waited = 0;
        while self.fetching.get() && waited < FETCH_WAIT_MAX_MILLIS {
            http.pause(FETCH_POLL_MILLIS).await;
            waited += FETCH_POLL_MILLIS;
        }
        if let Some(cached) = self.current(url, now) {
            return Ok(cached);
        }
        // No fetch running, or it failed: this request fetches.
        self.fetching.set(true);
        let _guard = FetchingGuard(&self.fetching);
        Ok((self.fetch(http, config, now).await?, now))
    }

    /// Claims the right to refetch, at most once per cooldown since the keys were fetched
    /// or a refetch was last started.
    fn claim_refetch(&self, fetched_at: i64, now: i64) -> bool {
        let last = self
            .last_refetch_started
            .get()
            .map_or(fetched_at, |t| t.max(fetched_at));
        if now - last < KEYS_REFETCH_COOLDOWN_SECS {
            return false;
        }
        self.last_refetch_started.set(Some(now));
        true
    }
}

/// The authorization-code grant (RFC 6749 §4.1.3).
pub async fn exchange_code(
    http: &impl HttpClient,
    config: &Config,
    code: &AuthorizationCode,
    verifier: &PkceVerifier,
) -> Result<token::TokenSet, AppError> {
    let response = http
        .send(token::code_request(config, code, verifier))
        .await
        .map_err(token::TokenError::Transport)?;
    Ok(token::parse_response(
        &response,
        token::Grant::AuthorizationCode,
    )?)
}

/// The refresh-token grant (RFC 6749 §6).
pub async fn refresh_tokens(
    http: &impl HttpClient,
    config: &Config,
    refresh_token: &str,
) -> Result<token::TokenSet, AppError> {
    let response = http
        .send(token::refresh_request(config, refresh_token))
        .await
        .map_err(token::TokenError::Transport)?;
    Ok(token::parse_response(&response, token::Grant::Refresh)?)
}

/// Verifies an ID token against the cached keys, refetching once (rate-limited) when no
/// cached key verifies it: the provider may have rotated its keys.
pub async fn verify_id_token(
    http: &impl HttpClient,
    crypto: &dyn Crypto,
    cache: &KeyCache,
    config: &Config,
    raw: &str,
    nonce: NonceRule<'_>,
    now: i64,
) -> Result<VerifiedIdToken, AppError> {
    let token = UnverifiedIdToken::parse(raw)?;
    let expect = Expectations {
        issuers: &config.issuers,
        client_id: &config.client_id,
        nonce,
        now,
    };
    let (keys, fetched_at) = cache.current_or_fetch(http, config, now).await?;
    match token.verify_signature(&keys, crypto).await {
        Ok(signed) => Ok(signed.validate(&expect)?),
        Err(IdTokenError::BadSignature) if cache.claim_refetch(fetched_at, now) => {
            let keys = cache.fetch(http, config, now).await?;
            Ok(token
                .verify_signature(&keys, crypto)
                .await?
                .validate(&expect)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// UserInfo for the verified subject (OIDC Core §5.3).
pub async fn fetch_userinfo(
    http: &impl HttpClient,
    config: &Config,
    access_token: &str,
    subject: &str,
) -> Result<Map<String, Value>, AppError> {
    let response = http
        .send(userinfo::request(config, access_token))
        .await
        .map_err(userinfo::UserinfoError::Transport)?;
    Ok(userinfo::parse_response(&response, subject)?)
}
