//! Calls to the OpenID Provider: the code exchange, the refresh grant, ID token verification
//! against its (cached) keys, and userinfo. Each call goes through the platform's
//! `HttpClient`; building requests and reading answers is the protocol core's (`oidc`).

mod key_cache;
#[cfg(feature = "gateway")]
pub mod people;

use crate::oidc::json::Object;

use crate::oidc::authorization_response::AuthorizationCode;
use crate::oidc::client::Client;
#[cfg(feature = "gateway")]
use crate::oidc::http_url::HttpUrl;
use crate::oidc::id_token::{
    Expectations, IdTokenError, NonceRule, UnverifiedIdToken, VerifiedIdToken,
};
use crate::oidc::jwks::{JwksError, VerifyRs256};
use crate::oidc::secrets::{AccessToken, PkceVerifier, RefreshToken};
use crate::oidc::token::{self, TokenError};
use crate::oidc::userinfo::{self, UserinfoError};
use crate::platform::{HttpClient, Timer};

pub use key_cache::{KeyCache, KEYS_MAX_AGE_SECS, KEYS_REFETCH_COOLDOWN_SECS};

/// Which call to the provider failed, and how (each protocol step's own error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    Token(TokenError),
    Jwks(JwksError),
    IdToken(IdTokenError),
    Userinfo(UserinfoError),
    #[cfg(feature = "gateway")]
    People(people::PeopleError),
}

impl ProviderError {
    /// The log reason code of the protocol step's error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Token(e) => e.code(),
            Self::Jwks(e) => e.code(),
            Self::IdToken(e) => e.code(),
            Self::Userinfo(e) => e.code(),
            #[cfg(feature = "gateway")]
            Self::People(e) => e.code(),
        }
    }
}

impl From<TokenError> for ProviderError {
    fn from(e: TokenError) -> Self {
        Self::Token(e)
    }
}
impl From<JwksError> for ProviderError {
    fn from(e: JwksError) -> Self {
        Self::Jwks(e)
    }
}
impl From<IdTokenError> for ProviderError {
    fn from(e: IdTokenError) -> Self {
        Self::IdToken(e)
    }
}
#[cfg(feature = "gateway")]
impl From<people::PeopleError> for ProviderError {
    fn from(e: people::PeopleError) -> Self {
        Self::People(e)
    }
}
impl From<UserinfoError> for ProviderError {
    fn from(e: UserinfoError) -> Self {
        Self::Userinfo(e)
    }
}

/// One request's view of the provider: its client description, the isolate's key cache and
/// the platform pieces the calls need.
pub struct Provider<'a, H> {
    pub client: &'a Client,
    pub http: &'a H,
    pub timer: &'a dyn Timer,
    pub crypto: &'a dyn VerifyRs256,
    pub keys: &'a KeyCache,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

impl<H: HttpClient> Provider<'_, H> {
    /// The authorization-code grant (RFC 6749 §4.1.3).
    pub async fn exchange_code(
        &self,
        code: &AuthorizationCode,
        verifier: &PkceVerifier,
    ) -> Result<token::CodeGrantTokens, ProviderError> {
        let request = token::code_request(self.client, code, verifier);
        let response = self.http.send(request).await;
        let response = response.map_err(TokenError::Transport)?;
        Ok(token::parse_code_response(&response)?)
    }

    /// The refresh-token grant (RFC 6749 §6).
    pub async fn refresh_tokens(
        &self,
        refresh_token: &RefreshToken,
    ) -> Result<token::TokenSet, ProviderError> {
        let request = token::refresh_request(self.client, refresh_token);
        let response = self.http.send(request).await;
        let response = response.map_err(TokenError::Transport)?;
        Ok(token::parse_response(&response)?)
    }

    /// Verifies an ID token against the cached keys, refetching once (rate-limited) when no
    /// cached key verifies it: the provider may have rotated its keys.
    pub async fn verify_id_token(
        &self,
        raw: &str,
        nonce: NonceRule<'_>,
    ) -> Result<VerifiedIdToken, ProviderError> {
        let token = UnverifiedIdToken::parse(raw)?;
        let expect = Expectations {
            issuers: &self.client.issuers,
            client_id: &self.client.client_id,
            nonce,
            now: self.now,
        };
        let (http, cache, now) = (self.http, self.keys, self.now);
        let (keys, fetched_at) = cache
            .current_or_fetch(http, self.timer, self.client, now)
            .await?;
        match token.verify_signature(&keys, self.crypto).await {
            Ok(signed) => Ok(signed.validate(&expect)?),
            Err(IdTokenError::BadSignature) if cache.claim_refetch(fetched_at, now) => {
                let keys = cache.fetch(http, self.client, now).await?;
                let signed = token.verify_signature(&keys, self.crypto).await?;
                Ok(signed.validate(&expect)?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The person's Webex organisation id (`GET /v1/people/me` at `url`).
    #[cfg(feature = "gateway")]
    pub async fn fetch_org_id(
        &self,
        url: &HttpUrl,
        access_token: &AccessToken,
    ) -> Result<String, ProviderError> {
        let response = self.http.send(people::request(url, access_token)).await;
        let response = response.map_err(people::PeopleError::Transport)?;
        people::parse_org_id(&response).map_err(ProviderError::People)
    }

    /// UserInfo for the verified subject (OIDC Core §5.3).
    pub async fn fetch_userinfo(
        &self,
        access_token: &AccessToken,
        subject: &str,
    ) -> Result<Object, ProviderError> {
        let request = userinfo::request(self.client, access_token);
        let response = self.http.send(request).await;
        let response = response.map_err(UserinfoError::Transport)?;
        Ok(userinfo::parse_response(&response, subject)?)
    }
}
