//! The routes end to end, natively: in-memory KV, and a fake provider that mints real RS256
//! tokens with test keys. The same flows run against the real runtime in `tests/e2e`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use futures::executor::block_on;
use serde_json::{json, Value};
use url::Url;

use super::*;
use crate::config::tests::MapSettings;
use crate::cookies::{LOGIN_COOKIE, SESSION_COOKIE};
use crate::oidc::test_keys::{jwk_json, jwks_json, sign_rs256, TestKey};
use crate::platform::{OutboundRequest, OutboundResponse, StoreError, TransportError};
use crate::provider::KEYS_REFETCH_COOLDOWN_SECS;

const ORIGIN: &str = "https://login.example.com";
const ISSUER: &str = "https://idbroker.webex.com/idb";
const NOW: i64 = 1_800_000_000;

#[derive(Default)]
struct MemoryKv {
    entries: RefCell<HashMap<String, String>>,
    fail: Cell<bool>,
}

impl MemoryKv {
    fn count(&self, prefix: &str) -> usize {
        self.entries
            .borrow()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .count()
    }
}

impl KeyValueStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        if self.fail.get() {
            return Err(StoreError("down".into()));
        }
        Ok(self.entries.borrow().get(key).cloned())
    }
    async fn put(&self, key: &str, value: &str, _ttl: u64) -> Result<(), StoreError> {
        if self.fail.get() {
            return Err(StoreError("down".into()));
        }
        self.entries
            .borrow_mut()
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
}

/// Webex-shaped provider: tokens without `kid`, string `email_verified` in userinfo.
struct FakeProvider {
    /// The nonce of the authorization request currently being answered.
    nonce: RefCell<String>,
    signing_key: Cell<usize>,
    claims_override: RefCell<Value>,
    userinfo_sub: RefCell<String>,
    token_status: Cell<u16>,
    calls: RefCell<Vec<String>>,
    seen_requests: RefCell<Vec<String>>,
}

impl Default for FakeProvider {
    fn default() -> Self {
        Self {
            nonce: RefCell::default(),
            signing_key: Cell::new(0),
            claims_override: RefCell::new(json!({})),
            userinfo_sub: RefCell::new("user-1".into()),
            token_status: Cell::new(200),
            calls: RefCell::default(),
            seen_requests: RefCell::default(),
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

    fn id_token(&self) -> String {
        let mut claims = json!({
            "iss": ISSUER, "sub": "user-1", "aud": "client-1", "exp": NOW + 7200, "iat": NOW,
            "nonce": *self.nonce.borrow(), "email": "ada@example.com", "email_verified": true,
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
    OutboundResponse {
        status,
        content_type: Some("application/json".into()),
        body,
    }
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
        Ok(match path.as_str() {
            "/v1/access_token" if self.token_status.get() == 400 => json_response(
                400,
                r#"{"error":"invalid_grant","error_description":"expired"}"#.into(),
            ),
            "/v1/access_token" if self.token_status.get() != 200 => {
                json_response(self.token_status.get(), r#"{"message":"boom"}"#.into())
            }
            "/v1/access_token" => json_response(
                200,
                json!({"access_token": "AT-123", "token_type": "Bearer", "expires_in": 1209600,
                       "refresh_token": "RT-456", "id_token": self.id_token()})
                .to_string(),
            ),
            "/v1/verification" => json_response(
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
            ),
            "/v1/userinfo" => json_response(
                200,
                json!({"sub": *self.userinfo_sub.borrow(), "name": "Ada <b>Lovelace</b>",
                       "email": "ada@example.com", "email_verified": "true"})
                .to_string(),
            ),
            _ => return Err(TransportError::Network),
        })
    }
}

struct World {
    kv: MemoryKv,
    provider: FakeProvider,
    settings: MapSettings,
    keys: KeyCache,
    now: Cell<i64>,
    cookies: RefCell<HashMap<String, String>>,
}

impl World {
    fn new() -> Self {
        Self {
            kv: MemoryKv::default(),
            provider: FakeProvider::default(),
            settings: crate::config::tests::minimal(),
            keys: KeyCache::default(),
            now: Cell::new(NOW),
            cookies: RefCell::default(),
        }
    }

    fn request(&self, method: &str, target: &str, extra: &[(&str, &str)]) -> Reply {
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
        };
        for (name, value) in extra {
            match *name {
                "origin" => req.origin_header = Some(value.to_string()),
                "sec-fetch-site" => req.sec_fetch_site = Some(value.to_string()),
                _ => unreachable!(),
            }
        }
        let ctx = Context {
            kv: &self.kv,
            http: &self.provider,
            settings: &self.settings,
            keys: &self.keys,
            now: self.now.get(),
        };
        let reply = block_on(handle(&req, &ctx));
        self.store_cookies(&reply);
        reply
    }

    fn get(&self, target: &str) -> Reply {
        self.request("GET", target, &[])
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
        *self.provider.nonce.borrow_mut() = params["nonce"].clone();
        format!("/oauth?code=the-code&state={}", params["state"])
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
    assert!(world
        .kv
        .entries
        .borrow()
        .values()
        .all(|v| !v.contains(&binding)));
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
    let stored = world
        .kv
        .entries
        .borrow()
        .values()
        .cloned()
        .collect::<Vec<_>>()
        .join("");
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
    world.start_login();
    let reply = world
        .get("/oauth?error=access_denied&error_description=%3Cscript%3Ex%3C%2Fscript%3E&state=abc");
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
