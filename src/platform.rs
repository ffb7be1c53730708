//! The two things the Worker borrows from its platform, as small traits: a key-value store
//! (Workers KV) and an HTTP client (the Fetch API). The runtime implementations live in
//! `edge.rs`; tests substitute in-memory ones.
//!
//! `async fn` in traits without `Send` bounds is deliberate: Workers run one thread per isolate.

use futures_util::future::LocalBoxFuture;

use crate::http_url::HttpUrl;
use crate::oidc::jwks::RsaPublicKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub &'static str);

#[allow(async_fn_in_trait)]
pub trait KeyValueStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Stores with an expiry; Workers KV needs at least 60 seconds.
    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A request to the provider. Headers may carry credentials: never log this.
pub struct OutboundRequest {
    pub method: Method,
    pub url: HttpUrl,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// No usable HTTP response at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// DNS, TLS, connection reset: the request did not complete.
    Network,
    /// No response within the subrequest time limit.
    Timeout,
    /// The body exceeded the read limit; the rest was not read.
    TooLarge,
    /// The answer was a redirect (3xx). Subrequests never follow one: a redirected token
    /// request would re-send the code, the PKCE verifier, a refresh token or the client
    /// secret to wherever `Location` points.
    Redirected,
}

/// The one place that decides what a subrequest's status means before its body is read: any
/// 3xx is a failure, never a hop to follow.
pub fn refuse_redirect(status: u16) -> Result<(), TransportError> {
    if (300..400).contains(&status) {
        Err(TransportError::Redirected)
    } else {
        Ok(())
    }
}

#[allow(async_fn_in_trait)]
pub trait HttpClient {
    /// Sends one request and never follows a redirect: a 3xx answer is
    /// [`TransportError::Redirected`] (see [`refuse_redirect`]).
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError>;

    /// Waits on this request's own timer: how a request waits for a fetch another request is
    /// making. (Being woken by the other request instead would cross request contexts, and
    /// the Workers runtime cancels such a request as hung.)
    async fn pause(&self, millis: u32);
}

impl OutboundResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// True for `application/json` and `+json` media types, parameters ignored.
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            let media = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media == "application/json" || media.ends_with("+json")
        })
    }
}

/// What the rate limiter answered for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    Allowed,
    /// Over the limit for this period.
    Exceeded,
    /// The limiter could not be asked (not bound, or it failed): the request goes ahead, and
    /// its log line carries this warning.
    Unavailable(&'static str),
}

/// A per-client request limit (the Workers Rate Limiting binding). Boxed future, so that it
/// can be a trait object like [`Crypto`].
pub trait RateLimiter {
    /// Counts one request for `key` and says whether it is within the limit.
    fn limit<'a>(&'a self, key: &'a str) -> LocalBoxFuture<'a, RateLimit>;
}

/// The cryptography the Worker borrows from its platform: RS256 signature checks
/// (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3) and AES-256-GCM for records at rest. The
/// Worker hands both to the runtime's WebCrypto (native code; imported RSA keys are kept for
/// the isolate); tests use the RustCrypto crates. Boxed futures keep this usable as a trait
/// object, so routes do not grow another type parameter.
pub trait Crypto {
    /// True only for a valid signature by `key` over `message`; any failure is false.
    fn verify_rs256<'a>(
        &'a self,
        key: &'a RsaPublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> LocalBoxFuture<'a, bool>;

    /// `ciphertext || tag` (16 bytes), or `None` if the platform failed.
    fn aes256gcm_seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        nonce: &'a [u8; 12],
        aad: &'a [u8],
        plaintext: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>>;

    /// The plaintext, or `None` for a wrong key, other associated data or any tampering.
    fn aes256gcm_open<'a>(
        &'a self,
        key: &'a [u8; 32],
        nonce: &'a [u8; 12],
        aad: &'a [u8],
        sealed: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_3xx_is_a_refused_redirect_and_nothing_else_is() {
        for status in [300, 301, 302, 303, 304, 307, 308, 399] {
            assert_eq!(
                refuse_redirect(status),
                Err(TransportError::Redirected),
                "{status}"
            );
        }
        for status in [100, 200, 204, 299, 400, 401, 404, 500, 503] {
            assert_eq!(refuse_redirect(status), Ok(()), "{status}");
        }
    }
}
