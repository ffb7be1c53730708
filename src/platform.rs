//! What the Worker borrows from its platform, as small traits: a key-value store (Workers
//! KV), an HTTP client (the Fetch API), a timer, a rate limiter and cryptography (WebCrypto).
//! The runtime implementations live in `edge/`, one file per binding; tests substitute
//! in-memory ones (`testing`).
//!
//! `async fn` in traits without `Send` bounds is deliberate: Workers run one thread per isolate.

use futures_util::future::LocalBoxFuture;

#[cfg(feature = "gateway")]
use crate::oidc::es256::SignEs256;
use crate::oidc::jwks::VerifyRs256;
use crate::oidc::outbound::{OutboundRequest, OutboundResponse, TransportError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub &'static str);

/// Workers KV refuses expirations under a minute; callers store records for at least this long
/// and enforce shorter lifetimes with the record's own timestamps.
pub const KV_MIN_TTL_SECS: u64 = 60;

#[allow(async_fn_in_trait)]
pub trait KeyValueStore {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Stores with an expiry of at least [`KV_MIN_TTL_SECS`].
    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// The bindings whose calls are generic (async functions in traits), named together so that
/// code over the platform takes one type parameter.
pub trait Platform {
    type Kv: KeyValueStore;
    type Http: HttpClient;
    type Upstream: Upstream;
}

/// How the gateway forwards a request: the incoming request's method and body go as they are
/// (streamed by the platform, never buffered); this decides everything else.
#[derive(Debug, Clone)]
pub struct ForwardPlan {
    /// The absolute URL to send it to (the upstream origin, the request's path and query).
    pub url: String,
    /// Through the `UPSTREAM` service binding instead of `fetch`.
    pub via_binding: bool,
    /// Incoming headers not forwarded, by lower-case name (identity headers a client may not
    /// set, our cookies' header).
    pub drop_header: fn(&str) -> bool,
    /// Headers set on the forwarded request (replacing any of the same name).
    pub set_headers: Vec<(&'static str, String)>,
    /// `Set-Cookie` values of the upstream's response that are not passed on.
    pub drop_set_cookie: fn(&str) -> bool,
    /// Neither from nor into the zone's cache: the answer to a signed-in request may be that
    /// person's own, and the cache keys on the URL alone.
    pub bypass_cache: bool,
}

/// The upstream answered: its status (the platform keeps the body and headers and streams
/// them back itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forwarded {
    pub status: u16,
}

/// A build without gateway mode has no upstream to forward to.
pub struct NoUpstream<'a>(std::marker::PhantomData<&'a ()>);

impl NoUpstream<'_> {
    pub fn new<R, B, U>(_: R, _: B, _: U) -> Self {
        Self(std::marker::PhantomData)
    }
}

impl Upstream for NoUpstream<'_> {
    async fn forward(&self, _: ForwardPlan) -> Result<Forwarded, TransportError> {
        Err(TransportError::Network)
    }
}

/// The origin (or Worker) behind the gateway.
#[allow(async_fn_in_trait)]
pub trait Upstream {
    /// Forwards the request being served, following no redirect: a 3xx goes back to the
    /// client as the origin sent it.
    async fn forward(&self, plan: ForwardPlan) -> Result<Forwarded, TransportError>;
}

#[allow(async_fn_in_trait)]
pub trait HttpClient {
    /// Sends one request and never follows a redirect: a 3xx answer is
    /// [`TransportError::Redirected`] (see
    /// [`refuse_redirect`](crate::oidc::outbound::refuse_redirect)).
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError>;
}

/// This request's own timer: how a request waits for a fetch another request is making.
/// (Being woken by the other request instead would cross request contexts, and the Workers
/// runtime cancels such a request as hung.)
pub trait Timer {
    fn sleep(&self, millis: u32) -> LocalBoxFuture<'_, ()>;
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

/// ES256 signing where gateway mode is built in (its assertion); nothing otherwise, so that a
/// standalone build carries no signing code.
#[cfg(feature = "gateway")]
pub trait SignsAssertions: SignEs256 {}
#[cfg(feature = "gateway")]
impl<T: SignEs256> SignsAssertions for T {}
#[cfg(not(feature = "gateway"))]
pub trait SignsAssertions {}
#[cfg(not(feature = "gateway"))]
impl<T> SignsAssertions for T {}

/// The cryptography the Worker borrows from its platform: RS256 signature checks and ES256
/// signatures (the protocol core's [`VerifyRs256`], [`SignEs256`]) and AES-256-GCM for
/// records at rest. The Worker hands both
/// to the runtime's WebCrypto (native code; imported RSA keys are kept for the isolate); tests
/// use the RustCrypto crates. Boxed futures keep this usable as a trait object, so routes do
/// not grow another type parameter.
pub trait Crypto: VerifyRs256 + SignsAssertions {
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
