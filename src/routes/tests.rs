//! The routes end to end, natively: in-memory KV, and a fake provider that mints real RS256
//! tokens with test keys. The same flows run against the real runtime in `tests/e2e`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::executor::block_on;
use serde_json::{json, Value};
use url::Url;

use super::*;
use crate::config::tests::MapSettings;
use crate::oidc::outbound::{OutboundRequest, OutboundResponse, TransportError};
use crate::oidc::test_keys::{jwk_json, jwks_json, sign_rs256, RustCrypto, TestKey};
use crate::pending_login::LOGIN_COOKIE;
use crate::platform::{HttpClient, KeyValueStore, Platform, RateLimit, StoreError, Timer};
use crate::provider_api::KEYS_REFETCH_COOLDOWN_SECS;
use crate::session::ticket::SESSION_COOKIE;

const ORIGIN: &str = "https://login.example.com";
const ISSUER: &str = "https://idbroker.webex.com/idb";
const NOW: i64 = 1_800_000_000;

/// Workers KV as unkind as the real one: entries expire with their TTL on the test clock,
/// TTLs under 60 s are refused, reads, puts and deletes fail on demand, and a stale mode
/// serves what another location would still see (the value before the last write) for a
/// while after each write.
struct MemoryKv {
    entries: RefCell<HashMap<String, Stored>>,
    clock: Rc<Cell<i64>>,
    /// After a write, reads keep seeing the previous value for this many seconds (0: none).
    stale_secs: Cell<i64>,
    /// The previous value of each key and until when stale reads still see it.
    stale: RefCell<HashMap<String, (Option<String>, i64)>>,
    fail: Cell<bool>,
    fail_puts: Cell<bool>,
    fail_deletes: Cell<bool>,
    reads: Cell<usize>,
    writes: Cell<usize>,
    /// Every successful put: the key's prefix (`login:`, `session:`) and its TTL.
    ttls: RefCell<Vec<(String, u64)>>,
    /// Lets other requests run while a read travels to the store, as a real KV round trip
    /// does: the value is the one the store holds when the read arrives.
    yield_before_get: Cell<bool>,
}

struct Stored {
    value: String,
    expires_at: i64,
}

/// The minimum `expirationTtl` Workers KV accepts.

impl MemoryKv {
    fn new(clock: Rc<Cell<i64>>) -> Self {
        Self {
            entries: RefCell::default(),
            clock,
            stale_secs: Cell::new(0),
            stale: RefCell::default(),
            fail: Cell::new(false),
            fail_puts: Cell::new(false),
            fail_deletes: Cell::new(false),
            reads: Cell::new(0),
            writes: Cell::new(0),
            ttls: RefCell::default(),
            yield_before_get: Cell::new(false),
        }
    }

    /// Live (unexpired) entries under `prefix`.
    fn count(&self, prefix: &str) -> usize {
        self.live().keys().filter(|k| k.starts_with(prefix)).count()
    }

    fn live(&self) -> HashMap<String, String> {
        let now = self.clock.get();
        self.entries
            .borrow()
            .iter()
            .filter(|(_, e)| e.expires_at > now)
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect()
    }

    fn current(&self, key: &str) -> Option<String> {
        self.live().get(key).cloned()
    }

    /// Before a write: what stale readers keep seeing for a while.
    fn remember_previous(&self, key: &str) {
        if self.stale_secs.get() > 0 {
            let until = self.clock.get() + self.stale_secs.get();
            let previous = self.current(key);
            self.stale
                .borrow_mut()
                .insert(key.to_owned(), (previous, until));
        }
    }

    /// The TTLs of the puts under `prefix`, in order.
    fn ttls_of(&self, prefix: &str) -> Vec<u64> {
        self.ttls
            .borrow()
            .iter()
            .filter(|(p, _)| p == prefix)
            .map(|(_, ttl)| *ttl)
            .collect()
    }
}

impl KeyValueStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        if self.fail.get() {
            return Err(StoreError("down"));
        }
        if self.yield_before_get.get() {
            YieldOnce(false).await;
        }
        if let Some((previous, until)) = self.stale.borrow().get(key) {
            if self.clock.get() < *until {
                return Ok(previous.clone());
            }
        }
        Ok(self.current(key))
    }
    async fn put(&self, key: &str, value: &str, ttl: u64) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        if self.fail.get() || self.fail_puts.get() {
            return Err(StoreError("down"));
        }
        if ttl < crate::platform::KV_MIN_TTL_SECS {
            return Err(StoreError("expirationTtl below 60 seconds"));
        }
        let prefix = key.split_inclusive(':').next().unwrap_or("").to_owned();
        self.ttls.borrow_mut().push((prefix, ttl));
        self.remember_previous(key);
        let expires_at = self.clock.get() + ttl as i64;
        self.entries.borrow_mut().insert(
            key.to_owned(),
            Stored {
                value: value.to_owned(),
                expires_at,
            },
        );
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        if self.fail.get() || self.fail_deletes.get() {
            return Err(StoreError("down"));
        }
        self.remember_previous(key);
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
}

struct Grant {
    nonce: String,
    challenge: String,
    spent: bool,
}

/// Webex-shaped provider: tokens without `kid`, string `email_verified` in userinfo.
struct FakeProvider {
    /// What each issued code was granted for (per code, like a real provider): the nonce
    /// and PKCE challenge of its authorization request, and whether it was spent.
    grants: RefCell<HashMap<String, Grant>>,
    /// The nonce of the latest authorization request (to look for it in KV dumps).
    last_nonce: RefCell<String>,
    signing_key: Cell<usize>,
    claims_override: RefCell<Value>,
    userinfo_sub: RefCell<String>,
    token_status: Cell<u16>,
    calls: RefCell<Vec<String>>,
    seen_requests: RefCell<Vec<String>>,
    /// How the refresh grant answers: None = fail with invalid_grant; Some(claims) = succeed,
    /// with an ID token of those claims unless they are null.
    refresh_id_token: RefCell<Option<Value>>,
    /// Access tokens userinfo refuses with 401.
    revoked: RefCell<Vec<String>>,
    refreshes: Cell<usize>,
    /// How many times each coming token request yields before it is answered (in order).
    token_yields: RefCell<std::collections::VecDeque<usize>>,
    /// How many times userinfo yields before it answers (a slow provider).
    userinfo_yields: Cell<usize>,
    /// Refresh tokens already spent: with `reject_reuse`, presenting one again fails.
    spent_refresh_tokens: RefCell<Vec<String>>,
    reject_reuse: Cell<bool>,
    /// Refresh answers carry no new refresh token (the old one stays valid).
    keep_refresh_token: Cell<bool>,
    /// The JWKS endpoint's status (200: the keys) and how many times it yields first.
    jwks_status: Cell<u16>,
    jwks_yields: Cell<usize>,
    /// Timer waits requests made (each one poll of something another request does).
    pauses: Cell<usize>,
    /// Paths whose requests end in a 3xx, which the HTTP client refuses to follow.
    redirected: RefCell<Vec<&'static str>>,
}

impl Default for FakeProvider {
    fn default() -> Self {
        Self {
            grants: RefCell::default(),
            last_nonce: RefCell::default(),
            signing_key: Cell::new(0),
            claims_override: RefCell::new(json!({})),
            userinfo_sub: RefCell::new("user-1".into()),
            token_status: Cell::new(200),
            calls: RefCell::default(),
            seen_requests: RefCell::default(),
            refresh_id_token: RefCell::new(Some(Value::Null)),
            revoked: RefCell::default(),
            refreshes: Cell::new(0),
            token_yields: RefCell::default(),
            userinfo_yields: Cell::new(0),
            spent_refresh_tokens: RefCell::default(),
            reject_reuse: Cell::new(false),
            keep_refresh_token: Cell::new(false),
            jwks_status: Cell::new(200),
            jwks_yields: Cell::new(0),
            pauses: Cell::new(0),
            redirected: RefCell::default(),
        }
    }
}

impl FakeProvider {
    fn calls_to(&self, path: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|p| p.as_str() == path)
            .count()
    }

    /// The provider's side of the authorize redirect: remembers the request's nonce and PKCE
    /// challenge under a new single-use code, and returns the code.
    fn authorize(&self, authorize_url: &str) -> String {
        let url = Url::parse(authorize_url).unwrap();
        let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(params["code_challenge_method"], "S256");
        let code = format!("code-{}", self.grants.borrow().len() + 1);
        *self.last_nonce.borrow_mut() = params["nonce"].clone();
        self.grants.borrow_mut().insert(
            code.clone(),
            Grant {
                nonce: params["nonce"].clone(),
                challenge: params["code_challenge"].clone(),
                spent: false,
            },
        );
        code
    }

    /// The authorization code grant, checked as a provider does: a known, unspent code and
    /// the verifier of its challenge (RFC 7636 §4.6).
    fn exchange_code(&self, body: &str) -> OutboundResponse {
        let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let invalid_grant = || json_response(400, r#"{"error":"invalid_grant"}"#.into());
        let mut grants = self.grants.borrow_mut();
        let Some(grant) = form.get("code").and_then(|code| grants.get_mut(code)) else {
            return invalid_grant();
        };
        let verifier = form.get("code_verifier").map(String::as_str).unwrap_or("");
        if grant.spent || crate::oidc::secrets::sha256_b64url(verifier) != grant.challenge {
            grant.spent = true;
            return invalid_grant();
        }
        grant.spent = true;
        let nonce = grant.nonce.clone();
        json_response(
            200,
            json!({"access_token": "AT-123", "token_type": "Bearer", "expires_in": 600,
                   "refresh_token": "RT-456", "id_token": self.id_token(&nonce)})
            .to_string(),
        )
    }

    fn id_token(&self, nonce: &str) -> String {
        let mut claims = json!({
            "iss": ISSUER, "sub": "user-1", "aud": "client-1", "exp": NOW + 7200, "iat": NOW,
            "nonce": nonce, "email": "ada@example.com", "email_verified": true,
        });
        for (k, v) in self.claims_override.borrow().as_object().unwrap() {
            claims[k] = v.clone();
        }
        sign_rs256(
            TestKey::get(self.signing_key.get()),
            &json!({"alg": "RS256"}),
            &claims,
        )
    }
}

fn json_response(status: u16, body: String) -> OutboundResponse {
    OutboundResponse { status, body }
}

impl HttpClient for FakeProvider {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        let path = request.url.path().to_owned();
        self.calls.borrow_mut().push(path.clone());
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        self.seen_requests.borrow_mut().push(format!(
            "{} {} {}",
            request.url,
            headers.join("|"),
            request.body.clone().unwrap_or_default()
        ));
        if self.redirected.borrow().contains(&path.as_str()) {
            return Err(TransportError::Redirected);
        }
        let yields = match path.as_str() {
            "/v1/access_token" => self.token_yields.borrow_mut().pop_front().unwrap_or(0),
            "/v1/userinfo" => self.userinfo_yields.get(),
            "/v1/verification" => self.jwks_yields.get(),
            _ => 0,
        };
        for _ in 0..yields {
            YieldOnce(false).await;
        }
        Ok(match path.as_str() {
            "/v1/access_token"
                if request
                    .body
                    .as_deref()
                    .unwrap_or("")
                    .contains("grant_type=refresh_token") =>
            {
                self.refresh_response(request.body.as_deref().unwrap_or(""))
            }
            "/v1/access_token" if self.token_status.get() == 400 => json_response(
                400,
                r#"{"error":"invalid_grant","error_description":"expired"}"#.into(),
            ),
            "/v1/access_token" if self.token_status.get() != 200 => {
                json_response(self.token_status.get(), r#"{"message":"boom"}"#.into())
            }
            "/v1/access_token" => self.exchange_code(request.body.as_deref().unwrap_or("")),
            "/v1/verification" if self.jwks_status.get() != 200 => {
                YieldOnce(false).await;
                json_response(self.jwks_status.get(), r#"{"message":"down"}"#.into())
            }
            "/v1/verification" => {
                // Let concurrent requests run while this fetch is in flight.
                YieldOnce(false).await;
                json_response(
                    200,
                    jwks_json(&[
                        jwk_json(TestKey::get(2), Some("other"), Some("sig"), None),
                        jwk_json(
                            TestKey::get(self.signing_key.get()),
                            Some("current"),
                            Some("sig"),
                            None,
                        ),
                    ]),
                )
            }
            "/v1/userinfo" => {
                let bearer = request
                    .headers
                    .iter()
                    .find(|(k, _)| *k == "Authorization")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let token = bearer.trim_start_matches("Bearer ").to_owned();
                if self.revoked.borrow().contains(&token) {
                    json_response(401, "{}".into())
                } else {
                    json_response(
                        200,
                        json!({"sub": *self.userinfo_sub.borrow(), "name": format!("Ada <b>Lovelace</b> ({})", if token == "AT-123" { "first token" } else { "refreshed token" }),
                               "email": "ada@example.com", "email_verified": "true"})
                        .to_string(),
                    )
                }
            }
            _ => return Err(TransportError::Network),
        })
    }
}

/// Each wait is one poll of something another request does.
impl Timer for FakeProvider {
    fn sleep(&self, _millis: u32) -> futures_util::future::LocalBoxFuture<'_, ()> {
        self.pauses.set(self.pauses.get() + 1);
        Box::pin(YieldOnce(false))
    }
}

/// The test doubles as the app's platform.
struct TestPlatform;

impl Platform for TestPlatform {
    type Kv = MemoryKv;
    type Http = FakeProvider;
}

/// A future that is pending once, like a real network call.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

impl FakeProvider {
    fn refresh_response(&self, body: &str) -> OutboundResponse {
        self.refreshes.set(self.refreshes.get() + 1);
        let Some(claims) = self.refresh_id_token.borrow().clone() else {
            return json_response(400, r#"{"error":"invalid_grant"}"#.into());
        };
        let n = self.refreshes.get();
        let presented = url::form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "refresh_token")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let reused = self.spent_refresh_tokens.borrow().contains(&presented);
        self.spent_refresh_tokens
            .borrow_mut()
            .push(presented.clone());
        if reused && self.reject_reuse.get() {
            return json_response(400, r#"{"error":"invalid_grant"}"#.into());
        }
        let mut response = json!({"access_token": format!("AT-{n}"), "token_type": "Bearer",
            "expires_in": 600, "refresh_token": format!("RT-{n}"), "presented": presented});
        if self.keep_refresh_token.get() {
            response.as_object_mut().unwrap().remove("refresh_token");
        }
        if !claims.is_null() {
            let mut all = json!({"iss": ISSUER, "sub": "user-1", "aud": "client-1", "exp": NOW + 7200, "iat": NOW});
            for (k, v) in claims.as_object().unwrap() {
                all[k] = v.clone();
            }
            response["id_token"] = json!(sign_rs256(
                TestKey::get(self.signing_key.get()),
                &json!({"alg": "RS256"}),
                &all
            ));
        }
        json_response(200, response.to_string())
    }

    /// The refresh tokens presented to the token endpoint, in order.
    fn presented_refresh_tokens(&self) -> Vec<String> {
        self.seen_requests
            .borrow()
            .iter()
            .filter(|r| r.contains("grant_type=refresh_token"))
            .filter_map(|r| {
                r.split("refresh_token=")
                    .nth(1)
                    .map(|t| t.split('&').next().unwrap_or("").to_owned())
            })
            .collect()
    }
}

/// The rate limiter: allows `remaining` requests, then refuses; or is unavailable.
struct FakeLimiter {
    remaining: Cell<u32>,
    unavailable: Cell<Option<&'static str>>,
    keys: RefCell<Vec<String>>,
}

impl Default for FakeLimiter {
    fn default() -> Self {
        Self {
            remaining: Cell::new(u32::MAX),
            unavailable: Cell::new(None),
            keys: RefCell::default(),
        }
    }
}

impl RateLimiter for FakeLimiter {
    fn limit<'a>(&'a self, key: &'a str) -> futures_util::future::LocalBoxFuture<'a, RateLimit> {
        self.keys.borrow_mut().push(key.to_owned());
        let outcome = match (self.unavailable.get(), self.remaining.get()) {
            (Some(why), _) => RateLimit::Unavailable(why),
            (None, 0) => RateLimit::Exceeded,
            (None, n) => {
                self.remaining.set(n - 1);
                RateLimit::Allowed
            }
        };
        Box::pin(async move { outcome })
    }
}

const CLIENT_IP: &str = "203.0.113.7";

struct World {
    limiter: FakeLimiter,
    kv: MemoryKv,
    provider: FakeProvider,
    settings: MapSettings,
    keys: KeyCache,
    refreshing: InFlightRefreshes,
    now: Rc<Cell<i64>>,
    cookies: RefCell<HashMap<String, String>>,
}

impl World {
    fn new() -> Self {
        let now = Rc::new(Cell::new(NOW));
        Self {
            limiter: FakeLimiter::default(),
            kv: MemoryKv::new(Rc::clone(&now)),
            provider: FakeProvider::default(),
            settings: crate::config::tests::minimal(),
            keys: KeyCache::default(),
            refreshing: InFlightRefreshes::default(),
            now,
            cookies: RefCell::default(),
        }
    }

    fn request(&self, method: &str, target: &str, extra: &[(&str, &str)]) -> Reply {
        let req = self.incoming(method, target, extra);
        let reply = block_on(handle(&req, &self.context()));
        self.store_cookies(&reply);
        reply
    }

    fn context(&self) -> Context<'_, TestPlatform> {
        self.context_at(ORIGIN)
    }

    /// The context of a request to this Worker reached at `origin`.
    fn context_at<'a>(&'a self, origin: &'a str) -> Context<'a, TestPlatform> {
        let bindings = Bindings {
            kv: &self.kv,
            http: &self.provider,
            timer: &self.provider,
            crypto: &RustCrypto,
            login_limiter: &self.limiter,
            settings: &self.settings,
            keys: &self.keys,
            refreshing: &self.refreshing,
            now: self.now.get(),
        };
        Context::new(bindings, origin)
    }

    fn incoming(&self, method: &str, target: &str, extra: &[(&str, &str)]) -> Incoming {
        let url = Url::parse(&format!("{ORIGIN}{target}")).unwrap();
        let cookie_header = self
            .cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut req = Incoming {
            method: method.into(),
            path: url.path().into(),
            query: url.query().unwrap_or("").into(),
            origin: ORIGIN.into(),
            cookie_header,
            origin_header: None,
            sec_fetch_site: None,
            client_ip: Some(CLIENT_IP.into()),
        };
        for (name, value) in extra {
            match *name {
                "origin" => req.origin_header = Some(value.to_string()),
                "sec-fetch-site" => req.sec_fetch_site = Some(value.to_string()),
                _ => unreachable!(),
            }
        }
        req
    }

    fn get(&self, target: &str) -> Reply {
        self.request("GET", target, &[])
    }

    /// A request to this Worker reached at `origin` instead of [`ORIGIN`].
    fn request_at(&self, origin: &str, method: &str, target: &str) -> Reply {
        let mut req = self.incoming(method, target, &[]);
        req.origin = origin.into();
        block_on(handle(&req, &self.context_at(origin)))
    }

    fn store_cookies(&self, reply: &Reply) {
        for header in reply.headers_named("Set-Cookie") {
            let (name, rest) = header.split_once('=').unwrap();
            let value = rest.split(';').next().unwrap();
            if value.is_empty() {
                self.cookies.borrow_mut().remove(name);
            } else {
                self.cookies.borrow_mut().insert(name.into(), value.into());
            }
        }
    }

    /// `/login`, then the provider's redirect back: returns the callback target.
    fn start_login(&self) -> String {
        let reply = self.get("/login");
        assert_eq!(reply.status, 302);
        let location = Url::parse(reply.header("Location").unwrap()).unwrap();
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        let code = self.provider.authorize(location.as_str());
        format!("/oauth?code={code}&state={}", params["state"])
    }

    fn login(&self) -> Reply {
        let callback = self.start_login();
        self.get(&callback)
    }
}

fn assert_no_session_cookie(reply: &Reply) {
    for header in reply.headers_named("Set-Cookie") {
        assert!(
            !header.starts_with(&format!("{SESSION_COOKIE}="))
                || header.starts_with(&format!("{SESSION_COOKIE}=;")),
            "{header}"
        );
    }
}

#[test]
fn login_redirects_with_state_nonce_pkce_and_binds_the_browser() {
    let world = World::new();
    let reply = world.get("/login");
    assert_eq!(reply.status, 302);
    let location = Url::parse(reply.header("Location").unwrap()).unwrap();
    let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["redirect_uri"], "https://login.example.com/oauth");
    assert_eq!(params["state"].len(), 43);
    assert_ne!(params["state"], params["nonce"]);
    let cookie = reply.headers_named("Set-Cookie").next().unwrap();
    assert!(cookie.starts_with(LOGIN_COOKIE));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Lax")
    );
    assert_eq!(world.kv.count("login:"), 1);
    // The KV record holds the verifier and the nonce but not the binding cookie value.
    let binding = world.cookies.borrow()[LOGIN_COOKIE].clone();
    assert!(world.kv.live().values().all(|v| !v.contains(&binding)));
}

#[test]
fn full_login_opens_a_session_and_shows_the_profile() {
    let world = World::new();
    let reply = world.login();
    assert_eq!(reply.status, 302, "{}", reply.body);
    assert_eq!(reply.header("Location"), Some("/"));
    assert_eq!(reply.reason, "login_complete");
    assert!(world.cookies.borrow().contains_key(SESSION_COOKIE));
    assert!(
        !world.cookies.borrow().contains_key(LOGIN_COOKIE),
        "login cookie cleared"
    );
    assert_eq!(world.kv.count("session:"), 1);
    assert_eq!(world.kv.count("login:"), 0, "state consumed");

    let page = world.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("Cache-Control"), Some("no-store"));
    assert!(page.body.contains("ada@example.com"));
    assert!(page.body.contains("Ada &lt;b&gt;Lovelace&lt;/b&gt;"));
    assert!(page.body.contains("id=\"userinfo\""));

    // PKCE verifier and client authentication reached the token endpoint; the bearer
    // token reached userinfo in the header.
    let seen = world.provider.seen_requests.borrow().join("\n");
    assert!(seen.contains("code_verifier="));
    assert!(seen.contains("Authorization: Basic "));
    assert!(seen.contains("Authorization: Bearer AT-123"));
    // No token is stored in KV.
    let stored = world.kv.live().into_values().collect::<Vec<_>>().join("");
    assert!(!stored.contains("AT-123") && !stored.contains("RT-456"));
}

#[test]
fn replayed_callback_is_rejected_and_creates_nothing() {
    let world = World::new();
    let callback = world.start_login();
    let binding = world.cookies.borrow()[LOGIN_COOKIE].clone();
    assert_eq!(world.get(&callback).status, 302);
    world
        .cookies
        .borrow_mut()
        .insert(LOGIN_COOKIE.into(), binding);
    let replay = world.get(&callback);
    assert_eq!(replay.status, 400);
    assert_eq!(replay.reason, "state_unknown");
    assert!(replay.body.contains("Start again"));
    assert_no_session_cookie(&replay);
    assert_eq!(world.kv.count("session:"), 1);
}

#[test]
fn missing_or_foreign_binding_cookie_is_rejected() {
    let world = World::new();
    let callback = world.start_login();
    world.cookies.borrow_mut().remove(LOGIN_COOKIE);
    let reply = world.get(&callback);
    assert_eq!((reply.status, reply.reason), (400, "login_cookie_missing"));

    let callback = world.start_login();
    world
        .cookies
        .borrow_mut()
        .insert(LOGIN_COOKIE.into(), "A".repeat(43));
    let reply = world.get(&callback);
    assert_eq!((reply.status, reply.reason), (400, "state_mismatch"));
    assert_eq!(world.kv.count("session:"), 0);
    assert_eq!(
        world.provider.calls_to("/v1/access_token"),
        0,
        "no code spent"
    );
}

#[test]
fn tampered_or_expired_state_is_rejected() {
    let world = World::new();
    let callback = world.start_login();
    let reply = world.get(&callback.replace("state=", "state=X"));
    assert_eq!((reply.status, reply.reason), (400, "state_unknown"));

    let callback = world.start_login();
    world.now.set(NOW + 601);
    let reply = world.get(&callback);
    assert_eq!((reply.status, reply.reason), (400, "state_unknown"));
}

#[test]
fn provider_error_shows_a_friendly_escaped_page() {
    let world = World::new();
    let callback = world.start_login();
    let state = callback.split("state=").nth(1).unwrap();
    let reply = world.get(&format!(
        "/oauth?error=access_denied&error_description=%3Cscript%3Ex%3C%2Fscript%3E&state={state}"
    ));
    assert_eq!((reply.status, reply.reason), (400, "provider_error"));
    assert!(reply.body.contains("You declined"));
    assert!(reply.body.contains("&lt;script&gt;x&lt;/script&gt;"));
    assert!(!reply.body.contains("<script>"));
}

#[test]
fn token_endpoint_failure_is_502_and_the_next_login_works() {
    let world = World::new();
    world.provider.token_status.set(500);
    let reply = world.login();
    assert_eq!((reply.status, reply.reason), (502, "token_endpoint_error"));
    assert_no_session_cookie(&reply);
    assert_eq!(world.kv.count("session:"), 0);
    world.provider.token_status.set(200);
    assert_eq!(world.login().status, 302);
}

#[test]
fn a_redirect_from_any_provider_endpoint_fails_the_login_with_its_own_reason() {
    for (path, reason) in [
        ("/v1/access_token", "token_redirect"),
        ("/v1/verification", "jwks_redirect"),
        ("/v1/userinfo", "userinfo_redirect"),
    ] {
        let world = World::new();
        world.provider.redirected.borrow_mut().push(path);
        let reply = world.login();
        assert_eq!((reply.status, reply.reason), (502, reason), "{path}");
        assert!(reply.body.contains(reason) && reply.body.contains("Start again"));
        assert_no_session_cookie(&reply);
        assert_eq!(world.kv.count("session:"), 0);
        assert_eq!(world.provider.calls_to(path), 1, "asked once, not retried");
    }
}

#[test]
fn invalid_grant_says_the_code_expired() {
    let world = World::new();
    world.provider.token_status.set(400);
    let reply = world.login();
    assert_eq!((reply.status, reply.reason), (502, "token_invalid_grant"));
    assert!(reply.body.contains("no longer accepts this sign-in code"));
    assert!(reply.body.contains("Start again"));
}

#[test]
fn id_token_failures_leave_no_session() {
    for (claims, reason) in [
        (json!({"nonce": "other"}), "id_token_nonce"),
        (json!({"iss": "https://evil.example"}), "id_token_iss"),
        (json!({"aud": "someone-else"}), "id_token_aud"),
        (json!({"exp": NOW - 3600}), "id_token_exp"),
    ] {
        let world = World::new();
        *world.provider.claims_override.borrow_mut() = claims;
        let reply = world.login();
        assert_eq!((reply.status, reply.reason), (502, reason));
        assert_no_session_cookie(&reply);
        assert_eq!(world.kv.count("session:"), 0);
        assert_eq!(world.provider.calls_to("/v1/userinfo"), 0);
    }
}

#[test]
fn userinfo_for_another_subject_is_rejected() {
    let world = World::new();
    *world.provider.userinfo_sub.borrow_mut() = "someone-else".into();
    let reply = world.login();
    assert_eq!((reply.status, reply.reason), (502, "userinfo_sub_mismatch"));
    assert_eq!(world.kv.count("session:"), 0);
}

#[test]
fn jwks_is_fetched_once_and_refetched_after_rotation_with_a_cooldown() {
    let world = World::new();
    assert_eq!(world.login().status, 302);
    assert_eq!(world.login().status, 302);
    assert_eq!(
        world.provider.calls_to("/v1/verification"),
        1,
        "cached in the isolate"
    );

    // The provider rotates to a key the cache has never seen.
    world.provider.signing_key.set(1);
    world.now.set(NOW + 1);
    let reply = world.login();
    assert_eq!(
        (reply.status, reply.reason),
        (502, "id_token_signature"),
        "within the cooldown"
    );
    assert_eq!(world.provider.calls_to("/v1/verification"), 1);

    world.now.set(NOW + KEYS_REFETCH_COOLDOWN_SECS);
    assert_eq!(world.login().status, 302, "refetched after the cooldown");
    assert_eq!(world.provider.calls_to("/v1/verification"), 2);
}

/// Starts `count` logins, then runs all their callbacks at once (interleaved at every await).
fn concurrent_callbacks(world: &World, count: usize) -> Vec<Reply> {
    let callbacks: Vec<Incoming> = (0..count)
        .map(|_| {
            let target = world.start_login();
            world.incoming("GET", &target, &[])
        })
        .collect();
    let ctx = world.context();
    block_on(futures::future::join_all(
        callbacks.iter().map(|req| handle(req, &ctx)),
    ))
}

#[test]
fn a_cold_isolate_fetches_the_keys_once_for_concurrent_logins() {
    let world = World::new();
    let replies = concurrent_callbacks(&world, 5);
    // Every login completes, each with its own code, nonce and verifier, with the keys of
    // one fetch.
    let reasons: Vec<&str> = replies.iter().map(|r| r.reason).collect();
    assert_eq!(reasons, vec!["login_complete"; 5]);
    assert_eq!(world.kv.count("session:"), 5);
    assert_eq!(world.provider.calls_to("/v1/verification"), 1);
}

#[test]
fn concurrent_forged_tokens_share_one_rate_limited_refetch() {
    let world = World::new();
    assert_eq!(world.login().status, 302);
    // Tokens now signed with a weak key the Worker never accepts: forgeries.
    world.provider.signing_key.set(3);
    world.now.set(NOW + KEYS_REFETCH_COOLDOWN_SECS);
    let replies = concurrent_callbacks(&world, 5);
    assert!(replies.iter().all(|r| r.reason == "id_token_signature"));
    assert_eq!(
        world.provider.calls_to("/v1/verification"),
        2,
        "one refetch for the whole burst"
    );
}

#[test]
fn a_new_login_replaces_the_previous_session() {
    let world = World::new();
    world.login();
    let first = world.cookies.borrow()[SESSION_COOKIE].clone();
    world.login();
    assert_ne!(world.cookies.borrow()[SESSION_COOKIE], first);
    assert_eq!(world.kv.count("session:"), 1);
}

#[test]
fn logout_deletes_the_session_and_refuses_cross_site_requests() {
    let world = World::new();
    world.login();
    let cross = world.request("POST", "/logout", &[("origin", "https://evil.example")]);
    assert_eq!((cross.status, cross.reason), (403, "cross_site_request"));
    let cross = world.request("POST", "/logout", &[("sec-fetch-site", "cross-site")]);
    assert_eq!(cross.status, 403);
    assert_eq!(world.kv.count("session:"), 1);

    let reply = world.request(
        "POST",
        "/logout",
        &[("origin", ORIGIN), ("sec-fetch-site", "same-origin")],
    );
    assert_eq!(reply.status, 302);
    assert_eq!(world.kv.count("session:"), 0);
    assert!(!world.cookies.borrow().contains_key(SESSION_COOKIE));
    assert!(world.get("/").body.contains("Sign in with Webex"));
}

#[test]
fn expired_or_unknown_session_is_signed_out() {
    let world = World::new();
    world.login();
    world.now.set(NOW + 8 * 3600);
    let page = world.get("/");
    assert!(page.body.contains("Sign in with Webex"));
    assert!(
        !world.cookies.borrow().contains_key(SESSION_COOKIE),
        "stale cookie cleared"
    );
}

#[test]
fn kv_outage_fails_safe() {
    let world = World::new();
    world.login();
    world.kv.fail.set(true);
    let page = world.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Sign in with Webex"));
    assert!(
        world.cookies.borrow().contains_key(SESSION_COOKIE),
        "kept for when KV is back"
    );
    let reply = world.get("/login");
    assert_eq!((reply.status, reply.reason), (503, "kv_unavailable"));
    assert!(
        reply.headers_named("Set-Cookie").next().is_none(),
        "no login cookie without a record"
    );
}

#[test]
fn missing_configuration_names_the_setting() {
    let mut world = World::new();
    world.settings.0.remove("WEBEX_CLIENT_SECRET");
    let reply = world.get("/login");
    assert_eq!((reply.status, reply.reason), (500, "config_invalid"));
    assert!(reply.body.contains("WEBEX_CLIENT_SECRET"));
}

#[test]
fn unknown_paths_and_methods() {
    let world = World::new();
    assert_eq!(world.get("/nope").status, 404);
    let reply = world.request("PUT", "/", &[]);
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("Allow"), Some("GET"));
    assert_eq!(world.get("/logout").status, 405);
}

#[test]
fn hostile_callback_queries_never_panic() {
    let world = World::new();
    world.start_login();
    for query in [
        "/oauth",
        "/oauth?state=a&state=b&code=c",
        "/oauth?code=%FF&state=%FE%FF",
        &format!("/oauth?code=c&state={}", "s".repeat(100_000)),
        "/oauth?error=&state=",
    ] {
        let reply = world.get(query);
        assert_eq!(reply.status, 400, "{query:.40}");
        assert!(reply.body.contains("Start again"));
    }
}

// ---- Sessions: at rest, lifetimes, refresh, /me, deep links, tabs ----

impl World {
    fn post(&self, target: &str) -> Reply {
        self.request(
            "POST",
            target,
            &[("origin", ORIGIN), ("sec-fetch-site", "same-origin")],
        )
    }

    fn kv_dump(&self) -> String {
        let entries = self.kv.live();
        entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    fn reset_kv_counts(&self) {
        self.kv.reads.set(0);
        self.kv.writes.set(0);
    }

    fn kv_counts(&self) -> (usize, usize) {
        (self.kv.reads.get(), self.kv.writes.get())
    }

    fn with_setting(mut self, name: &'static str, value: &str) -> Self {
        self.settings.0.insert(name, value.to_owned());
        self
    }
}

#[test]
fn a_kv_dump_reveals_no_token_and_no_personal_data() {
    let world = World::new();
    world.start_login();
    let pending = world.kv_dump();
    assert!(
        !pending.contains(&*world.provider.last_nonce.borrow()),
        "nonce sealed"
    );
    assert!(!pending.contains("code_verifier") && !pending.contains("verifier"));
    world.cookies.borrow_mut().clear();
    world.login();
    let dump = world.kv_dump();
    for secret in [
        "AT-123",
        "RT-456",
        "ada@example.com",
        "Lovelace",
        "user-1",
        "email",
    ] {
        assert!(!dump.contains(secret), "{secret} visible in KV");
    }
    let cookie = world.cookies.borrow()[SESSION_COOKIE].clone();
    for part in cookie.split('.') {
        assert!(!dump.contains(part), "a cookie part is stored in KV");
    }
}

#[test]
fn a_cookie_with_a_wrong_secret_is_signed_out_and_the_record_survives() {
    let world = World::new();
    world.login();
    let cookie = world.cookies.borrow()[SESSION_COOKIE].clone();
    let (id, _) = cookie.split_once('.').unwrap();
    let forged = format!(
        "{id}.{}",
        crate::seal::SealKey::generate().unwrap().to_cookie()
    );
    world
        .cookies
        .borrow_mut()
        .insert(SESSION_COOKIE.into(), forged);
    let page = world.get("/");
    assert!(page.body.contains("Sign in with Webex"));
    assert_eq!(page.reason, "session_unknown");
    assert_eq!(
        world.kv.count("session:"),
        1,
        "the owner's session is untouched"
    );
    // The real cookie still works.
    world
        .cookies
        .borrow_mut()
        .insert(SESSION_COOKIE.into(), cookie);
    assert_eq!(world.get("/").reason, "profile");
}

#[test]
fn page_views_read_once_and_write_at_most_once_per_touch_interval() {
    let world = World::new();
    world.reset_kv_counts();
    world.login();
    let login = world.kv_counts();
    // /login: 1 write; /oauth: 1 read + 1 delete (state) + 1 write (session).
    assert_eq!(login, (1, 3), "login costs 1 read and 3 writes");
    world.reset_kv_counts();
    for second in 0..10 {
        world.now.set(NOW + second);
        assert_eq!(world.get("/").reason, "profile");
    }
    assert_eq!(world.kv_counts(), (10, 0), "page views write nothing");
    world.now.set(NOW + 301);
    world.reset_kv_counts();
    world.get("/");
    world.get("/");
    // The touch re-reads the record right before writing it (a logout in between wins).
    assert_eq!(world.kv_counts(), (3, 1), "one touch after five minutes");
}

#[test]
fn idle_timeout_and_absolute_lifetime_are_enforced_server_side() {
    let world = World::new()
        .with_setting("SESSION_IDLE_TIMEOUT", "10m")
        .with_setting("SESSION_TTL", "30m");
    world.login();
    world.now.set(NOW + 9 * 60);
    assert_eq!(world.get("/").reason, "profile");
    world.now.set(NOW + 9 * 60 + 10 * 60);
    assert_eq!(
        world.get("/").reason,
        "session_unknown",
        "idle for 10 minutes"
    );
    assert_eq!(world.kv.count("session:"), 0, "expired session deleted");

    world.login();
    let mut now = world.now.get();
    let end = now + 30 * 60;
    while now < end - 60 {
        now += 60;
        world.now.set(now);
        assert_eq!(world.get("/").reason, "profile");
    }
    world.now.set(end);
    assert_eq!(
        world.get("/").reason,
        "session_unknown",
        "absolute lifetime"
    );
}

#[test]
fn refresh_uses_the_refresh_token_when_the_access_token_expires_and_stores_rotation() {
    let world = World::new();
    world.login();
    // Access token still fresh: only userinfo.
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    assert_eq!(world.provider.refreshes.get(), 0);

    world.now.set(NOW + 600 - 30);
    let reply = world.post("/refresh");
    assert_eq!((reply.status, reply.reason), (302, "profile_refreshed"));
    assert!(
        world.get("/").body.contains("(refreshed token)"),
        "userinfo fetched with the new token"
    );
    world.now.set(NOW + 1200);
    world.post("/refresh");
    assert_eq!(
        world.provider.presented_refresh_tokens(),
        vec!["RT-456", "RT-1"],
        "rotated token stored"
    );
    assert!(!world.kv_dump().contains("RT-1"));
}

#[test]
fn a_revoked_access_token_is_refreshed_once() {
    let world = World::new();
    world.login();
    world.provider.revoked.borrow_mut().push("AT-123".into());
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    assert_eq!(world.provider.refreshes.get(), 1);
}

#[test]
fn refreshed_id_tokens_must_keep_the_identity() {
    for (claims, reason) in [
        (json!({"sub": "user-2"}), "id_token_identity_changed"),
        (json!({"azp": "other"}), "id_token_azp"),
        (
            json!({"iss": "https://idbroker-eu.webex.com/idb"}),
            "id_token_identity_changed",
        ),
        (json!({"iss": "https://evil.example/idb"}), "id_token_iss"),
    ] {
        let world = World::new();
        world.login();
        *world.provider.refresh_id_token.borrow_mut() = Some(claims);
        world.now.set(NOW + 600);
        let reply = world.post("/refresh");
        assert_eq!((reply.status, reply.reason), (401, reason));
        assert!(reply.body.contains("Please sign in again"));
        assert_eq!(world.kv.count("session:"), 0);
        assert!(!world.cookies.borrow().contains_key(SESSION_COOKIE));
    }
    let world = World::new();
    world.login();
    *world.provider.refresh_id_token.borrow_mut() = Some(json!({"email": "new@example.com"}));
    world.now.set(NOW + 600);
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    assert!(
        world.get("/").body.contains("new@example.com"),
        "refreshed claims shown"
    );
}

#[test]
fn a_failed_refresh_ends_the_session_gracefully() {
    let world = World::new();
    world.login();
    *world.provider.refresh_id_token.borrow_mut() = None;
    world.now.set(NOW + 600);
    let reply = world.post("/refresh");
    assert_eq!((reply.status, reply.reason), (401, "token_invalid_grant"));
    assert!(reply.body.contains("Please sign in again"));
    assert!(reply.body.contains("Start again"));
    assert_eq!(world.kv.count("session:"), 0);
    assert!(world.get("/").body.contains("Sign in with Webex"));
}

#[test]
fn refresh_is_post_only_and_same_origin_only() {
    let world = World::new();
    world.login();
    assert_eq!(world.get("/refresh").status, 405);
    let cross = world.request("POST", "/refresh", &[("sec-fetch-site", "cross-site")]);
    assert_eq!(cross.status, 403);
    world.cookies.borrow_mut().clear();
    assert_eq!(world.post("/refresh").header("Location"), Some("/"));
}

#[test]
fn me_returns_json_for_the_signed_in_user_and_401_otherwise() {
    let world = World::new();
    let anonymous = world.get("/me");
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("Content-Type"), Some("application/json"));
    assert_eq!(
        serde_json::from_str::<Value>(&anonymous.body).unwrap()["error"],
        "unauthenticated"
    );

    world.login();
    let me = world.get("/me");
    assert_eq!(me.status, 200);
    assert_eq!(me.header("Cache-Control"), Some("no-store"));
    assert!(
        me.headers
            .iter()
            .all(|(k, _)| !k.starts_with("Access-Control")),
        "no CORS"
    );
    let body: Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(body["sub"], "user-1");
    assert_eq!(body["id_token_claims"]["email"], "ada@example.com");
    assert_eq!(body["userinfo"]["email_verified"], "true");
    assert_eq!(body["session"]["expires_at"], NOW + 8 * 3600);
    assert_eq!(body["session"]["idle_expires_at"], NOW + 3600);
    assert!(!me.body.contains("AT-123") && !me.body.contains("RT-456"));
}

#[test]
fn deep_links_come_back_to_same_origin_paths_only() {
    let world = World::new();
    for (requested, landing) in [
        ("%2Fsome%2Fpage%3Fx%3D1", "/some/page?x=1"),
        ("%2F%2Fevil.example", "/"),
        ("%2F%5Cevil.example", "/"),
        ("https%3A%2F%2Fevil.example", "/"),
        ("%2F%0d%0aLocation%3A%20x", "/"),
    ] {
        let reply = world.get(&format!("/login?return_to={requested}"));
        let location = Url::parse(reply.header("Location").unwrap()).unwrap();
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        let code = world.provider.authorize(location.as_str());
        let done = world.get(&format!("/oauth?code={code}&state={}", params["state"]));
        assert_eq!(done.header("Location"), Some(landing), "{requested}");
    }
}

#[test]
fn two_tabs_can_log_in_at_once_and_pending_logins_are_bounded() {
    let world = World::new();
    let first = world.start_login();
    let second = world.start_login();
    assert_eq!(world.get(&second).status, 302, "second tab");
    assert_eq!(world.get(&first).status, 302, "first tab completes too");
    assert!(
        !world.cookies.borrow().contains_key(LOGIN_COOKIE),
        "nothing pending"
    );

    let oldest = world.start_login();
    for _ in 0..crate::pending_login::MAX_PENDING_LOGINS {
        world.start_login();
    }
    let reply = world.get(&oldest);
    assert_eq!(
        (reply.status, reply.reason),
        (400, "state_mismatch"),
        "pushed out"
    );
}

#[test]
fn logout_shows_a_signed_out_page_or_goes_to_the_provider() {
    let world = World::new();
    world.login();
    let reply = world.post("/logout");
    assert_eq!(reply.header("Location"), Some("/?signed_out"));
    assert!(world
        .get("/?signed_out")
        .body
        .contains("You are signed out"));

    let world = World::new().with_setting(
        "WEBEX_LOGOUT_URL",
        "https://idbroker.webex.com/idb/oauth2/v1/logout",
    );
    world.login();
    let profile = world.get("/");
    let csp = profile.header("Content-Security-Policy").unwrap();
    assert!(
        csp.contains("form-action 'self' https://idbroker.webex.com;"),
        "{csp}"
    );
    let reply = world.post("/logout");
    assert_eq!(
        reply.header("Location"),
        Some("https://idbroker.webex.com/idb/oauth2/v1/logout")
    );
    assert_eq!(world.kv.count("session:"), 0);
}

#[test]
fn a_kv_error_on_session_creation_leaves_no_cookie() {
    let world = World::new();
    let callback = world.start_login();
    world.kv.fail_puts.set(true);
    let reply = world.get(&callback);
    assert_eq!((reply.status, reply.reason), (503, "kv_unavailable"));
    assert_no_session_cookie(&reply);
    assert!(!world.cookies.borrow().contains_key(SESSION_COOKIE));
}

#[test]
fn invalid_session_settings_name_the_setting() {
    let world = World::new().with_setting("SESSION_IDLE_TIMEOUT", "soon");
    let reply = world.get("/");
    assert_eq!((reply.status, reply.reason), (500, "config_invalid"));
    assert!(reply.body.contains("SESSION_IDLE_TIMEOUT"));
}

// ---- Hardening: tossed cookies, logouts that stick, concurrent refreshes, planted text ----

impl World {
    /// A request with exactly this `Cookie` header (the jar is neither read nor updated).
    fn with_cookie_header(&self, method: &str, target: &str, header: &str) -> Reply {
        let mut req = self.incoming(method, target, &[]);
        req.cookie_header = header.to_owned();
        if method == "POST" {
            req.origin_header = Some(ORIGIN.into());
            req.sec_fetch_site = Some("same-origin".into());
        }
        block_on(handle(&req, &self.context()))
    }

    fn session_cookie_pair(&self) -> String {
        format!("{SESSION_COOKIE}={}", self.cookies.borrow()[SESSION_COOKIE])
    }

    /// Runs two requests of this browser concurrently, the second starting after the first
    /// has yielded `delay` times; `other_isolate` gives the second its own isolate state
    /// (refreshes in flight), as a request in another isolate has.
    fn concurrently(
        &self,
        first: (&str, &str),
        second: (&str, &str),
        other_isolate: bool,
        delay: usize,
    ) -> (Reply, Reply) {
        let same_origin = [("origin", ORIGIN), ("sec-fetch-site", "same-origin")];
        let a = self.incoming(first.0, first.1, &same_origin);
        let b = self.incoming(second.0, second.1, &same_origin);
        let elsewhere = InFlightRefreshes::default();
        let mut ctx_b = self.context();
        if other_isolate {
            ctx_b.refreshing = &elsewhere;
        }
        let ctx_a = self.context();
        let delayed_b = async {
            for _ in 0..delay {
                YieldOnce(false).await;
            }
            handle(&b, &ctx_b).await
        };
        let (ra, rb) = block_on(futures::future::join(handle(&a, &ctx_a), delayed_b));
        self.store_cookies(&ra);
        self.store_cookies(&rb);
        (ra, rb)
    }
}

/// Spaces and invisible characters a browser keeps in a cookie name, as UTF-8 and as the
/// bytes-as-Latin-1 a runtime may hand over.
fn lookalike_leads() -> Vec<String> {
    let mut leads = Vec::new();
    for c in ['\u{2000}', '\u{a0}', '\u{3000}', '\u{feff}'] {
        leads.push(c.to_string());
        leads.push(c.to_string().bytes().map(char::from).collect());
    }
    leads
}

fn assert_sets_no_cookie(reply: &Reply) {
    assert_eq!(
        reply.headers_named("Set-Cookie").count(),
        0,
        "{:?}",
        reply.headers
    );
}

#[test]
fn a_cookie_tossed_under_a_lookalike_name_is_not_ours() {
    let world = World::new();
    world.login();
    let attacker = world.session_cookie_pair();
    world.cookies.borrow_mut().clear();
    world.login();
    let genuine = world.session_cookie_pair();
    for lead in lookalike_leads() {
        // Session fixation: the attacker's session planted under a look-alike name.
        let page = world.with_cookie_header("GET", "/", &format!("{lead}{attacker}"));
        assert_eq!(page.reason, "signed_out", "{lead:?}");
        assert_sets_no_cookie(&page);
        // Forced sign-out: junk sorted first must not clear or hide the genuine cookie.
        let junk = format!("{lead}{SESSION_COOKIE}=junk; {genuine}");
        let page = world.with_cookie_header("GET", "/", &junk);
        assert_eq!(page.reason, "profile", "{lead:?}");
        assert_sets_no_cookie(&page);
        let me = world.with_cookie_header("GET", "/me", &format!("{lead}{attacker}"));
        assert_eq!(me.status, 401);
        assert_sets_no_cookie(&me);
    }
    assert_eq!(world.kv.count("session:"), 2, "both sessions untouched");
}

#[test]
fn a_login_cookie_tossed_under_a_lookalike_name_cannot_finish_a_login() {
    // Login CSRF: the attacker starts a login, plants its login cookie in the victim's
    // browser under a look-alike name and sends the victim to its callback.
    let world = World::new();
    let callback = world.start_login();
    let planted = format!("{LOGIN_COOKIE}={}", world.cookies.borrow()[LOGIN_COOKIE]);
    for lead in lookalike_leads() {
        let reply = world.with_cookie_header("GET", &callback, &format!("{lead}{planted}"));
        assert_eq!((reply.status, reply.reason), (400, "login_cookie_missing"));
    }
    assert_eq!(world.kv.count("session:"), 0);
    assert_eq!(world.provider.calls_to("/v1/access_token"), 0);
}

#[test]
fn a_duplicated_session_cookie_signs_out_without_clearing_anything() {
    let world = World::new();
    world.login();
    let attacker = world.session_cookie_pair();
    world.cookies.borrow_mut().clear();
    world.login();
    let genuine = world.session_cookie_pair();
    for header in [
        format!("{genuine}; {attacker}"),
        format!("{attacker}; {genuine}"),
        // A planted `Path=/me` cookie is sent first, on /me only.
        format!("{attacker}; other=1; {genuine}"),
        format!("{genuine}; {SESSION_COOKIE}=junk"),
    ] {
        for target in ["/", "/me"] {
            let reply = world.with_cookie_header("GET", target, &header);
            assert_eq!(
                reply.reason, "session_cookie_ambiguous",
                "{target} {header}"
            );
            assert!(reply.status == 200 || reply.status == 401);
            assert!(!reply.body.contains("ada@example.com"), "no profile");
            assert_sets_no_cookie(&reply);
        }
        let refresh = world.with_cookie_header("POST", "/refresh", &header);
        assert_eq!(refresh.reason, "session_cookie_ambiguous");
        assert_sets_no_cookie(&refresh);
    }
    assert_eq!(world.kv.count("session:"), 2, "nothing deleted");
    // The genuine cookie alone works again.
    assert_eq!(
        world.with_cookie_header("GET", "/", &genuine).reason,
        "profile"
    );
    // "Sign out" ends every candidate: the user wants out, whichever is theirs.
    let reply = world.with_cookie_header("POST", "/logout", &format!("{attacker}; {genuine}"));
    assert_eq!(reply.status, 302);
    assert_eq!(world.kv.count("session:"), 0);
}

#[test]
fn a_duplicated_login_cookie_fails_closed_and_spends_nothing() {
    let world = World::new();
    let callback = world.start_login();
    let genuine = format!("{LOGIN_COOKIE}={}", world.cookies.borrow()[LOGIN_COOKIE]);
    let other = format!("{LOGIN_COOKIE}={}", "A".repeat(43));
    world.reset_kv_counts();
    for header in [format!("{genuine}; {other}"), format!("{other}; {genuine}")] {
        let reply = world.with_cookie_header("GET", &callback, &header);
        assert_eq!(
            (reply.status, reply.reason),
            (400, "login_cookie_ambiguous")
        );
        assert!(reply.body.contains("Start again"));
        assert_sets_no_cookie(&reply);
    }
    assert_eq!(world.kv_counts(), (0, 0), "no KV read or write");
    assert_eq!(
        world.kv.count("login:"),
        1,
        "the genuine login is still there"
    );
    assert_eq!(world.provider.calls_to("/v1/access_token"), 0);
    // With the planted cookie gone, the same login completes.
    let reply = world.with_cookie_header("GET", &callback, &genuine);
    assert_eq!(reply.reason, "login_complete");
}

#[test]
fn a_logout_during_a_refresh_sticks() {
    let world = World::new();
    world.login();
    world.provider.userinfo_yields.set(3);
    let (refresh, logout) = world.concurrently(("POST", "/refresh"), ("POST", "/logout"), false, 0);
    assert_eq!(logout.status, 302);
    assert_eq!(
        refresh.reason, "session_unknown",
        "the refresh found the session ended"
    );
    assert_eq!(world.kv.count("session:"), 0, "not written back");
}

#[test]
fn a_logout_during_an_idle_touch_sticks() {
    let world = World::new();
    world.login();
    let stolen = world.session_cookie_pair();
    world.now.set(NOW + 400); // the next view writes last_seen_at back
    world.kv.yield_before_get.set(true);
    let (page, logout) = world.concurrently(("GET", "/"), ("POST", "/logout"), false, 1);
    assert_eq!(logout.status, 302);
    assert_eq!(page.reason, "session_unknown");
    assert_eq!(
        world.kv.count("session:"),
        0,
        "the touch did not re-create it"
    );
    world.kv.yield_before_get.set(false);
    assert_eq!(
        world.with_cookie_header("GET", "/", &stolen).reason,
        "session_unknown"
    );
}

#[test]
fn an_idle_touch_racing_a_refresh_keeps_the_rotated_token() {
    let world = World::new();
    world.login();
    world.now.set(NOW + 600); // access token expired and a touch due
    world.kv.yield_before_get.set(true);
    // The view reads the session before the refresh stores its rotation, and re-reads it
    // after: its touch must not bring the spent refresh token back.
    world.provider.token_yields.borrow_mut().push_back(1);
    let (refresh, page) = world.concurrently(("POST", "/refresh"), ("GET", "/"), false, 1);
    assert_eq!(refresh.reason, "profile_refreshed");
    assert_eq!(page.reason, "profile");
    world.kv.yield_before_get.set(false);
    world.now.set(NOW + 1300);
    world.provider.reject_reuse.set(true);
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    assert_eq!(
        world.provider.presented_refresh_tokens(),
        vec!["RT-456", "RT-1"]
    );
}

#[test]
fn concurrent_refreshes_in_one_isolate_present_the_refresh_token_once() {
    let world = World::new();
    world.login();
    world.now.set(NOW + 600);
    world.provider.reject_reuse.set(true);
    world.provider.token_yields.borrow_mut().extend([3, 3]);
    let (first, second) = world.concurrently(("POST", "/refresh"), ("POST", "/refresh"), false, 0);
    assert_eq!(first.reason, "profile_refreshed");
    assert_eq!(second.reason, "refresh_joined");
    assert_eq!(world.provider.presented_refresh_tokens(), vec!["RT-456"]);
    // The session goes on with the rotated token.
    world.now.set(NOW + 1300);
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    assert_eq!(
        world.provider.presented_refresh_tokens(),
        vec!["RT-456", "RT-1"]
    );
    assert_eq!(world.kv.count("session:"), 1);
}

#[test]
fn a_refresh_that_lost_to_another_isolate_does_not_end_the_session() {
    let world = World::new();
    world.login();
    world.now.set(NOW + 600);
    world.provider.reject_reuse.set(true);
    // The first request's grant is answered only after the second stored its rotation.
    world.provider.token_yields.borrow_mut().extend([6, 0]);
    let (late, early) = world.concurrently(("POST", "/refresh"), ("POST", "/refresh"), true, 0);
    assert_eq!(early.reason, "profile_refreshed");
    assert_eq!(late.reason, "refresh_superseded", "{}", late.body);
    assert_eq!(world.kv.count("session:"), 1, "the session survives");
    world.now.set(NOW + 1300);
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    assert_eq!(
        world.provider.presented_refresh_tokens(),
        vec!["RT-456", "RT-456", "RT-1"],
        "the stored token is the one the provider still honours"
    );
}

#[test]
fn provider_error_text_is_shown_only_for_this_browsers_login() {
    let world = World::new();
    let callback = world.start_login();
    let state = callback.split("state=").nth(1).unwrap().to_owned();
    let planted = "error=access_denied&error_description=Call+support+at+%2B1+555+0100";

    // Another browser (no login cookie), a made-up state, or a real state without the
    // cookie: generic page, no text, nothing deleted.
    let cookie = world.cookies.borrow().clone();
    world.cookies.borrow_mut().clear();
    world.reset_kv_counts();
    for query in [
        planted.to_string(),
        format!("{planted}&state=made-up"),
        format!("{planted}&state={state}"),
        format!("error=Call+%2B1+555+0100&state={state}"),
    ] {
        let reply = world.get(&format!("/oauth?{query}"));
        assert_eq!((reply.status, reply.reason), (400, "provider_error"));
        assert!(!reply.body.contains("555"), "{query}: {}", reply.body);
        assert!(reply.body.contains("Start again"));
    }
    assert_eq!(
        world.kv_counts(),
        (0, 0),
        "no KV read or write without a login cookie"
    );
    *world.cookies.borrow_mut() = cookie;

    // This browser's cookie, but a state it did not start: still nothing shown or deleted.
    let reply = world.get(&format!("/oauth?{planted}&state=made-up"));
    assert!(!reply.body.contains("555"));
    assert_eq!(world.kv.count("login:"), 1);
    let reply = world.get("/oauth?error=server%E2%80%AEerror&error_description=x&state=made-up");
    assert!(
        reply.body.contains("ended with an error"),
        "unregistered code not shown"
    );
    assert!(!reply.body.contains("server"));

    // The login this browser started: the provider's words, and the login is over.
    let reply = world.get(&format!(
        "/oauth?error=access_denied&error_description=Nope+%E2%80%AEevil&state={state}"
    ));
    assert_eq!((reply.status, reply.reason), (400, "provider_error"));
    assert!(reply.body.contains("Nope evil"), "{}", reply.body);
    assert!(!reply.body.contains('\u{202e}'));
    assert_eq!(
        world.kv.count("login:"),
        0,
        "the finished login's record is deleted"
    );
    assert!(!world.cookies.borrow().contains_key(LOGIN_COOKIE));
}

#[test]
fn a_callback_with_someone_elses_state_deletes_nothing() {
    let world = World::new();
    let victim_callback = world.start_login();
    world.cookies.borrow_mut().clear();
    world.start_login(); // the attacker's own login cookie, for another state
    world.reset_kv_counts();
    let reply = world.get(&victim_callback);
    assert_eq!((reply.status, reply.reason), (400, "state_mismatch"));
    assert_eq!(world.kv_counts(), (1, 0), "read, not deleted");
    assert_eq!(world.kv.count("login:"), 2);
}

// ---- KV as it really is: TTLs, failing deletes, stale reads elsewhere ----

#[test]
fn every_kv_write_carries_the_ttl_of_what_it_stores() {
    let world = World::new()
        .with_setting("SESSION_IDLE_TIMEOUT", "1h")
        .with_setting("SESSION_TTL", "2h");
    world.login();
    assert_eq!(
        world.kv.ttls_of("login:"),
        vec![600],
        "login records: 10 minutes"
    );
    assert_eq!(
        world.kv.ttls_of("session:"),
        vec![3600],
        "a new session: its idle end"
    );
    // A touch after 50 minutes moves the idle end; the TTL follows it.
    world.now.set(NOW + 50 * 60);
    assert_eq!(world.get("/").reason, "profile");
    assert_eq!(world.kv.ttls_of("session:"), vec![3600, 3600]);
    // Near the absolute end the TTL is what is left, but never under KV's 60-second floor.
    world.now.set(NOW + 100 * 60);
    world.get("/");
    assert_eq!(
        world.kv.ttls_of("session:")[2],
        20 * 60,
        "up to the absolute end"
    );
    world.now.set(NOW + 2 * 3600 - 30);
    world.get("/");
    assert_eq!(world.kv.ttls_of("session:")[3], 60, "KV's minimum");
    assert_eq!(world.get("/").reason, "profile");
    world.now.set(NOW + 2 * 3600);
    assert_eq!(
        world.get("/").reason,
        "session_unknown",
        "the record's clock ends it"
    );
}

#[test]
fn login_records_expire_in_kv_after_ten_minutes() {
    let world = World::new();
    let callback = world.start_login();
    world.now.set(NOW + 599);
    assert_eq!(world.kv.count("login:"), 1);
    world.now.set(NOW + 600);
    assert_eq!(world.kv.count("login:"), 0, "gone from KV on its own");
    let reply = world.get(&callback);
    assert_eq!((reply.status, reply.reason), (400, "state_unknown"));
}

#[test]
fn a_logout_whose_delete_fails_says_so_and_keeps_the_cookie() {
    let world = World::new();
    world.login();
    world.kv.fail_deletes.set(true);
    let reply = world.post("/logout");
    assert_eq!((reply.status, reply.reason), (503, "kv_unavailable"));
    assert_sets_no_cookie(&reply);
    assert!(reply.body.contains("Start again") || reply.body.contains("try again"));
    world.kv.fail_deletes.set(false);
    assert_eq!(world.get("/").reason, "profile", "nothing half-done");
    assert_eq!(world.post("/logout").status, 302);
    assert_eq!(world.kv.count("session:"), 0);
}

#[test]
fn a_state_whose_delete_fails_spends_no_code() {
    let world = World::new();
    let callback = world.start_login();
    world.kv.fail_deletes.set(true);
    let reply = world.get(&callback);
    assert_eq!((reply.status, reply.reason), (503, "kv_unavailable"));
    assert_no_session_cookie(&reply);
    assert_eq!(
        world.provider.calls_to("/v1/access_token"),
        0,
        "code not spent"
    );
    assert_eq!(world.kv.count("session:"), 0);
    world.kv.fail_deletes.set(false);
    assert_eq!(
        world.get(&callback).reason,
        "login_complete",
        "the login can finish"
    );
}

#[test]
fn a_failed_refresh_whose_delete_fails_reports_it_and_leaves_the_session() {
    let world = World::new();
    world.login();
    *world.provider.refresh_id_token.borrow_mut() = None; // the grant fails
    world.now.set(NOW + 600);
    world.kv.fail_deletes.set(true);
    let reply = world.post("/refresh");
    assert_eq!((reply.status, reply.reason), (503, "kv_unavailable"));
    assert_sets_no_cookie(&reply);
    assert_eq!(world.kv.count("session:"), 1);
    world.kv.fail_deletes.set(false);
    let reply = world.post("/refresh");
    assert_eq!((reply.status, reply.reason), (401, "token_invalid_grant"));
    assert_eq!(world.kv.count("session:"), 0, "ended once KV answers");
}

/// README: "a login whose callback is served by a location that cannot see the login record
/// yet gets 'start again'" — and the record is not lost: once visible, the login completes.
#[test]
fn a_callback_that_cannot_see_its_login_record_yet_says_start_again() {
    let world = World::new();
    world.kv.stale_secs.set(60);
    let callback = world.start_login();
    let reply = world.get(&callback);
    assert_eq!((reply.status, reply.reason), (400, "state_unknown"));
    assert!(reply.body.contains("Start again"));
    assert_no_session_cookie(&reply);
    assert_eq!(world.provider.calls_to("/v1/access_token"), 0);
    world.now.set(NOW + 61);
    assert_eq!(world.get(&callback).reason, "login_complete");
}

/// README: "a page view right after sign-in that lands on such a location shows the
/// signed-out page".
#[test]
fn a_page_view_that_cannot_see_a_new_session_yet_is_signed_out() {
    let world = World::new();
    let callback = world.start_login();
    world.kv.stale_secs.set(60);
    assert_eq!(world.get(&callback).reason, "login_complete");
    let page = world.get("/");
    assert_eq!(page.reason, "session_unknown");
    assert!(page.body.contains("Sign in with Webex"));
    assert!(!page.body.contains("ada@example.com"));
}

/// README: "a logged-out or expired session may remain readable elsewhere for up to a minute
/// (its sealed record still needs the cookie's key)".
#[test]
fn a_logged_out_session_stays_readable_elsewhere_for_a_minute_and_only_with_its_key() {
    let world = World::new();
    world.login();
    let stolen = world.session_cookie_pair();
    world.kv.stale_secs.set(60);
    assert_eq!(world.post("/logout").status, 302);
    assert_eq!(
        world.with_cookie_header("GET", "/", &stolen).reason,
        "profile"
    );
    let (id, _) = stolen.split_once('.').unwrap();
    let forged = format!("{id}.{}", "A".repeat(43));
    assert_eq!(
        world.with_cookie_header("GET", "/", &forged).reason,
        "session_unknown",
        "the id alone opens nothing"
    );
    world.now.set(NOW + 60);
    assert_eq!(
        world.with_cookie_header("GET", "/", &stolen).reason,
        "session_unknown"
    );
}

// ---- HTTPS, rate limits ----

const HSTS: &str = "max-age=31536000; includeSubDomains";

#[test]
fn every_response_over_https_carries_hsts() {
    let mut world = World::new();
    let mut replies = vec![
        world.get("/login"),
        world.login(),
        world.get("/"),
        world.get("/me"),
        world.get("/nowhere"),
        world.request("PUT", "/", &[]),
        world.get("/oauth?state=x&code=y"),
    ];
    world.settings.0.clear();
    replies.push(world.get("/login"));
    for reply in replies {
        assert_eq!(
            reply
                .headers_named("Strict-Transport-Security")
                .collect::<Vec<_>>(),
            [HSTS],
            "{} {}",
            reply.status,
            reply.reason
        );
    }
}

#[test]
fn plain_http_on_this_machine_is_served_without_hsts() {
    let mut world = World::new();
    world
        .settings
        .0
        .insert("REDIRECT_URI", "http://localhost:8787/oauth".into());
    for origin in [
        "http://localhost:8787",
        "http://127.0.0.1:8787",
        "http://[::1]:8787",
    ] {
        for (method, target) in [("GET", "/login"), ("GET", "/"), ("GET", "/nowhere")] {
            let reply = world.request_at(origin, method, target);
            assert_ne!(reply.status, 308, "{origin}{target}");
            assert_eq!(reply.header("Strict-Transport-Security"), None);
        }
    }
}

#[test]
fn plain_http_elsewhere_is_redirected_to_https_keeping_the_method() {
    let world = World::new();
    for (origin, method, target, location) in [
        (
            "http://login.example.com",
            "GET",
            "/login?return_to=%2Fme",
            "https://login.example.com/login?return_to=%2Fme",
        ),
        (
            "http://login.example.com:8080",
            "POST",
            "/logout",
            "https://login.example.com/logout",
        ),
        (
            "http://login.example.com",
            "GET",
            "/",
            "https://login.example.com/",
        ),
        (
            "http://user:pw@login.example.com",
            "GET",
            "/oauth?code=c&state=s",
            "https://login.example.com/oauth?code=c&state=s",
        ),
        (
            "http://[2001:db8::1]:80",
            "GET",
            "/",
            "https://[2001:db8::1]/",
        ),
        (
            "http://localhost.example",
            "GET",
            "/",
            "https://localhost.example/",
        ),
    ] {
        let reply = world.request_at(origin, method, target);
        assert_eq!(
            (reply.status, reply.reason, reply.header("Location")),
            (308, "https_redirect", Some(location)),
            "{origin}"
        );
        assert_eq!(reply.header("Strict-Transport-Security"), None);
        assert!(reply.body.is_empty());
    }
    assert_eq!(world.kv.writes.get() + world.kv.reads.get(), 0);
}

#[test]
fn too_many_logins_from_one_address_get_429_with_retry_after_and_no_kv_write() {
    let world = World::new();
    world.limiter.remaining.set(2);
    assert_eq!(world.get("/login").status, 302);
    assert_eq!(world.get("/login").status, 302);
    let writes = world.kv.writes.get();
    let reads = world.kv.reads.get();
    let cookies_before = world.cookies.borrow().clone();

    let reply = world.get("/login?return_to=%2Fme");
    assert_eq!((reply.status, reply.reason), (429, "rate_limited"));
    assert_eq!(reply.header("Retry-After"), Some("60"));
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(reply.header("Cache-Control"), Some("no-store"));
    assert!(reply.body.contains("Too many sign-in attempts"));
    assert!(reply.body.contains("rate_limited") && reply.body.contains("Start again"));
    assert_eq!(reply.headers_named("Set-Cookie").count(), 0);
    assert_eq!(reply.warning, None);
    assert_eq!(
        (world.kv.writes.get(), world.kv.reads.get()),
        (writes, reads)
    );
    assert_eq!(*world.cookies.borrow(), cookies_before);
    assert_eq!(world.kv.count("login:"), 2);
    assert_eq!(world.limiter.keys.borrow().as_slice(), [CLIENT_IP; 3]);

    // Only /login is limited: a signed-in page view or a callback is not counted.
    world.get("/");
    world.get("/oauth?code=c&state=s");
    assert_eq!(world.limiter.keys.borrow().len(), 3);
}

#[test]
fn a_missing_or_failing_limiter_lets_logins_through_with_a_warning() {
    for why in ["rate_limiter_unbound", "rate_limiter_failed"] {
        let world = World::new();
        world.limiter.unavailable.set(Some(why));
        let reply = world.get("/login");
        assert_eq!((reply.status, reply.reason), (302, "login_started"));
        assert_eq!(reply.warning, Some(why));
        assert_eq!(world.kv.count("login:"), 1);
    }
    let world = World::new();
    assert_eq!(world.get("/login").warning, None);
    let mut req = world.incoming("GET", "/login", &[]);
    req.client_ip = None;
    let reply = block_on(handle(&req, &world.context()));
    assert_eq!(
        (reply.status, reply.warning),
        (302, Some("rate_limit_no_client_ip"))
    );
}

// ---- Behaviours that had no test ----

#[test]
fn state_changing_posts_follow_fetch_metadata_then_origin() {
    for (headers, allowed) in [
        (vec![("sec-fetch-site", "same-origin")], true),
        // Typed into the address bar or a bookmark: no other site involved.
        (vec![("sec-fetch-site", "none")], true),
        // A sibling subdomain is another origin.
        (vec![("sec-fetch-site", "same-site")], false),
        (vec![("sec-fetch-site", "cross-site")], false),
        // Chromium's same-origin form post from a no-referrer page.
        (
            vec![("sec-fetch-site", "same-origin"), ("origin", "null")],
            true,
        ),
        // `Origin: null` alone (a sandboxed frame, a data: URL) names no origin: refused.
        (vec![("origin", "null")], false),
        (vec![("origin", ORIGIN)], true),
        (
            vec![("origin", "https://login.example.com.evil.example")],
            false,
        ),
        // No browser sent this (a browser's cross-site POST carries Origin): allowed.
        (vec![], true),
    ] {
        for target in ["/logout", "/refresh"] {
            let world = World::new();
            world.login();
            let reply = world.request("POST", target, &headers);
            assert_eq!(
                reply.status == 403,
                !allowed,
                "{target} {headers:?}: {} {}",
                reply.status,
                reply.reason
            );
            if !allowed {
                assert_eq!(reply.reason, "cross_site_request");
                assert_eq!(world.kv.count("session:"), 1, "nothing ended");
            }
        }
    }
}

#[test]
fn an_invalid_logout_url_still_ends_the_session_and_clears_the_cookie() {
    let world = World::new().with_setting("WEBEX_LOGOUT_URL", "javascript:alert(1)");
    world.login();
    let reply = world.post("/logout");
    assert_eq!((reply.status, reply.reason), (500, "config_invalid"));
    assert!(reply.body.contains("WEBEX_LOGOUT_URL"));
    assert_eq!(
        reply.headers_named("Set-Cookie").collect::<Vec<_>>(),
        vec![crate::cookies::clear(SESSION_COOKIE)]
    );
    assert_eq!(reply.headers_named("Cache-Control").count(), 1);
    assert_eq!(world.kv.count("session:"), 0);
    assert!(world.get("/").body.contains("Sign in with Webex"));
}

#[test]
fn a_redirect_uri_off_the_callback_route_names_the_setting() {
    let world = World::new().with_setting("REDIRECT_URI", "https://login.example.com/callback");
    let reply = world.get("/login");
    assert_eq!((reply.status, reply.reason), (500, "config_invalid"));
    assert!(reply.body.contains("REDIRECT_URI"));
    assert_eq!(world.kv.count("login:"), 0);
    let world = World::new().with_setting("REDIRECT_URI", "https://login.example.com/oauth");
    assert_eq!(world.get("/login").status, 302);
}

#[test]
fn both_cookies_live_as_long_as_what_they_carry() {
    let world = World::new().with_setting("SESSION_TTL", "2h");
    let login = world.get("/login");
    let cookie = login.headers_named("Set-Cookie").next().unwrap().to_owned();
    assert!(cookie.contains("; Max-Age=600;"), "{cookie}");
    let callback = world.start_login();
    let done = world.get(&callback);
    let session = done
        .headers_named("Set-Cookie")
        .find(|c| c.starts_with(SESSION_COOKIE))
        .unwrap()
        .to_owned();
    assert!(session.contains("; Max-Age=7200;"), "{session}");
}

#[test]
fn a_refresh_without_a_refresh_token_ends_the_session() {
    let world = World::new();
    world.login();
    // A session whose provider issued no refresh token.
    let cookie = world.session_cookie_pair();
    let parsed = crate::session::ticket::SessionCookie::from_header(&cookie).unwrap();
    let kv_key = parsed.id.kv_key();
    let sealed = world.kv.current(&kv_key).unwrap();
    let mut record = block_on(crate::seal::open_record::<
        crate::session::record::SessionRecord,
    >(&RustCrypto, &parsed.key, &kv_key, &sealed))
    .unwrap();
    record.tokens.refresh_token = None;
    let resealed = block_on(crate::seal::seal_record(
        &RustCrypto,
        &parsed.key,
        &kv_key,
        &record,
    ))
    .unwrap();
    block_on(world.kv.put(&kv_key, &resealed, 3600)).unwrap();
    world.now.set(NOW + 600);
    let reply = world.post("/refresh");
    assert_eq!((reply.status, reply.reason), (401, "no_refresh_token"));
    assert_eq!(world.kv.count("session:"), 0);
}

#[test]
fn a_refresh_whose_userinfo_fails_keeps_the_session_as_it_was() {
    let world = World::new();
    world.login();
    let before = world.kv_dump();
    world.provider.redirected.borrow_mut().push("/v1/userinfo");
    let reply = world.post("/refresh");
    assert_eq!((reply.status, reply.reason), (502, "userinfo_redirect"));
    assert_eq!(world.kv_dump(), before, "nothing written");
    world.provider.redirected.borrow_mut().clear();
    assert_eq!(world.get("/").reason, "profile");
}

#[test]
fn a_refresh_answer_without_a_refresh_token_keeps_the_old_one() {
    let world = World::new();
    world.login();
    world.provider.keep_refresh_token.set(true);
    world.now.set(NOW + 600);
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    world.now.set(NOW + 1300);
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    assert_eq!(
        world.provider.presented_refresh_tokens(),
        vec!["RT-456", "RT-456"],
        "no new refresh token: the old one is kept and used again"
    );
}

#[test]
fn cached_keys_are_fetched_again_after_an_hour() {
    let world = World::new();
    assert_eq!(world.login().reason, "login_complete");
    world
        .now
        .set(NOW + crate::provider_api::KEYS_MAX_AGE_SECS - 1);
    assert_eq!(world.login().reason, "login_complete");
    assert_eq!(
        world.provider.calls_to("/v1/verification"),
        1,
        "still cached"
    );
    world.now.set(NOW + crate::provider_api::KEYS_MAX_AGE_SECS);
    assert_eq!(world.login().reason, "login_complete");
    assert_eq!(
        world.provider.calls_to("/v1/verification"),
        2,
        "fetched again"
    );
}

#[test]
fn a_failed_refetch_fails_that_login_and_keeps_the_cached_keys() {
    let world = World::new();
    assert_eq!(world.login().reason, "login_complete");
    // A token under an unknown key triggers a refetch, which fails.
    world.provider.signing_key.set(3);
    world.provider.jwks_status.set(503);
    world.now.set(NOW + KEYS_REFETCH_COOLDOWN_SECS);
    let reply = world.login();
    assert_eq!((reply.status, reply.reason), (502, "jwks_unavailable"));
    assert_no_session_cookie(&reply);
    // The keys fetched before still serve genuine logins, with no new fetch.
    world.provider.signing_key.set(0);
    let calls = world.provider.calls_to("/v1/verification");
    assert_eq!(world.login().reason, "login_complete");
    assert_eq!(world.provider.calls_to("/v1/verification"), calls);
}

#[test]
fn a_failed_cold_fetch_fails_every_waiting_login_cleanly_then_recovers() {
    let world = World::new();
    world.provider.jwks_status.set(503);
    let replies = concurrent_callbacks(&world, 4);
    for reply in &replies {
        assert_eq!((reply.status, reply.reason), (502, "jwks_unavailable"));
        assert_no_session_cookie(reply);
    }
    // Each waiting login tries once more after the fetch it waited for failed: never more
    // fetches than logins.
    let fetches = world.provider.calls_to("/v1/verification");
    assert!((1..=4).contains(&fetches), "{fetches} fetches");
    assert_eq!(world.kv.count("session:"), 0);
    world.provider.jwks_status.set(200);
    assert_eq!(
        world.login().reason,
        "login_complete",
        "the next login fetches and works"
    );
}

#[test]
fn logins_stop_waiting_for_a_key_fetch_that_never_ends() {
    let world = World::new();
    // The first fetch stays in flight longer than the 10-second wait cap (20 ms polls).
    world.provider.jwks_yields.set(1_000);
    let replies = concurrent_callbacks(&world, 3);
    assert!(replies.iter().all(|r| r.reason == "login_complete"));
    assert_eq!(
        world.provider.calls_to("/v1/verification"),
        3,
        "the waiters gave up waiting and fetched themselves"
    );
}

#[test]
fn a_second_refresh_waits_for_the_first_and_no_longer() {
    let world = World::new();
    world.login();
    world.now.set(NOW + 600);
    world.provider.token_yields.borrow_mut().push_back(5);
    let same_origin = [("origin", ORIGIN), ("sec-fetch-site", "same-origin")];
    let first = world.incoming("POST", "/refresh", &same_origin);
    let second = world.incoming("POST", "/refresh", &same_origin);
    let ctx = world.context();
    let finished = RefCell::new(Vec::new());
    let run = |req, name| {
        let ctx = &ctx;
        let finished = &finished;
        async move {
            let reply = handle(req, ctx).await;
            finished.borrow_mut().push(name);
            reply
        }
    };
    let (a, b) = block_on(futures::future::join(
        run(&first, "first"),
        run(&second, "second"),
    ));
    assert_eq!(
        (a.reason, b.reason),
        ("profile_refreshed", "refresh_joined")
    );
    assert_eq!(
        *finished.borrow(),
        ["first", "second"],
        "the second waited for the first"
    );
    assert!(
        world.provider.pauses.get() <= 10,
        "and stopped polling once it was done ({} polls)",
        world.provider.pauses.get()
    );
}

#[test]
fn concurrent_callbacks_with_one_state_open_at_most_one_session() {
    // Two callbacks with one state at two locations: KV has no atomic take, and the second
    // location may still read the login record after the first deleted it (eventual
    // consistency). The state alone cannot stop the second; the provider's single-use code does.
    let world = World::new();
    let callback = world.start_login();
    let binding = world.cookies.borrow()[LOGIN_COOKIE].clone();
    world.kv.stale_secs.set(60);
    let first = world.get(&callback);
    world
        .cookies
        .borrow_mut()
        .insert(LOGIN_COOKIE.into(), binding);
    let second = world.get(&callback);
    assert_eq!(first.status, 302);
    assert_eq!(first.reason, "login_complete");
    assert_eq!(second.status, 502, "{}", second.reason);
    assert_eq!(
        second.reason, "token_invalid_grant",
        "it read the record, its code was spent"
    );
    assert!(second.body.contains("Start again"));
    assert_no_session_cookie(&second);
    assert_eq!(world.kv.count("session:"), 1, "at most one session");
}
