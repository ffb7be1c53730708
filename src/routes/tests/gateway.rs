//! Gateway mode: sign-in in front of an origin, the access policy, what the origin receives,
//! public paths, forward-auth, the assertion keys, and an origin that is down or slow.

use super::*;
use crate::gateway::settings::tests::SIGNING_KEY;
use crate::oidc::outbound::TransportError;
use base64ct::{Base64UrlUnpadded, Encoding};

const ORG: &str = "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9vcmc";

impl World {
    fn gateway() -> Self {
        World::new()
            .with_setting("UPSTREAM_URL", "https://origin.example.com")
            .with_setting("ALLOWED_EMAIL_DOMAINS", "example.com")
            .with_setting("ASSERTION_SIGNING_KEY", SIGNING_KEY)
    }

    /// A navigation, as a browser loading a page sends it.
    fn navigate(&self, target: &str) -> Reply {
        self.request("GET", target, &[("sec-fetch-mode", "navigate")])
    }

    /// Signs in through the gateway's own routes, landing on `target` of the origin.
    fn gateway_login(&self, target: &str) -> Reply {
        let to_login = self.navigate(target);
        assert_eq!(to_login.status, 302, "{}", to_login.reason);
        let login = to_login.header("Location").unwrap().to_owned();
        assert!(login.starts_with("/_auth/login?return_to="), "{login}");
        let reply = self.get(&login);
        assert_eq!(reply.status, 302, "{}", reply.reason);
        let location = Url::parse(reply.header("Location").unwrap()).unwrap();
        let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(params["redirect_uri"], format!("{ORIGIN}/_auth/oauth"));
        let code = self.provider.authorize(location.as_str());
        self.get(&format!(
            "/_auth/oauth?code={code}&state={}",
            params["state"]
        ))
    }

    fn last_received(&self) -> crate::testing::upstream::Received {
        self.upstream
            .received
            .borrow()
            .last()
            .cloned()
            .expect("something was forwarded")
    }
}

/// Verifies an assertion with the public key alone (as an origin would), returning its claims.
fn verify_assertion(jwt: &str, jwks: &Value) -> Value {
    use p256::ecdsa::{signature::Verifier, Signature, VerifyingKey};
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value =
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the kid is published");
    let coordinate =
        |name: &str| Base64UrlUnpadded::decode_vec(key[name].as_str().unwrap()).unwrap();
    let mut sec1 = vec![4u8];
    sec1.extend(coordinate("x"));
    sec1.extend(coordinate("y"));
    let verifying = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
    let signature =
        Signature::from_slice(&Base64UrlUnpadded::decode_vec(parts[2]).unwrap()).unwrap();
    verifying
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the signature verifies");
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[1]).unwrap()).unwrap()
}

#[test]
fn signed_out_page_loads_go_to_sign_in_and_api_calls_get_401() {
    let world = World::gateway();
    let page = world.navigate("/app/page?x=1&y=%20");
    assert_eq!((page.status, page.reason), (302, "sign_in_required"));
    assert_eq!(
        page.header("Location"),
        Some("/_auth/login?return_to=%2Fapp%2Fpage%3Fx%3D1%26y%3D%2520")
    );
    let by_accept = world.request(
        "GET",
        "/app",
        &[("accept", "text/html,application/xhtml+xml")],
    );
    assert_eq!(by_accept.status, 302);
    for api in [
        world.get("/api/data"),
        world.request(
            "GET",
            "/api/data",
            &[("sec-fetch-mode", "cors"), ("accept", "text/html")],
        ),
        world.request("POST", "/api/data", &[("accept", "text/html")]),
    ] {
        assert_eq!((api.status, api.reason), (401, "sign_in_required"));
        let body: Value = serde_json::from_str(&api.body).unwrap();
        assert_eq!(
            body,
            json!({"error": "unauthenticated", "login_url": "/_auth/login"})
        );
    }
    assert!(
        world.upstream.received.borrow().is_empty(),
        "nothing forwarded"
    );
}

#[test]
fn a_sign_in_lands_back_on_the_page_and_the_origin_receives_a_verifiable_identity() {
    let world = World::gateway();
    let landed = world.gateway_login("/app/page?x=1");
    assert_eq!((landed.status, landed.reason), (302, "login_complete"));
    assert_eq!(landed.header("Location"), Some("/app/page?x=1"));

    world.reset_kv_counts();
    let page = world.navigate("/app/page?x=1");
    assert_eq!((page.status, page.reason), (200, "forwarded"));
    assert!(page.forwarded);
    assert_eq!(world.kv_counts(), (1, 0), "one KV read, no write");
    assert!(
        page.header("Content-Security-Policy").is_none(),
        "the origin's response as it is"
    );
    let received = world.last_received();
    assert_eq!(received.url, "https://origin.example.com/app/page?x=1");
    assert_eq!(received.header("X-Webex-User"), Some("user-1"));
    assert_eq!(received.header("X-Webex-Email"), Some("ada@example.com"));
    assert_eq!(
        received.header("X-Forwarded-Host"),
        Some("login.example.com")
    );
    assert_eq!(received.header("X-Forwarded-Proto"), Some("https"));
    assert_eq!(received.header("Cookie"), None, "our cookies stay with us");

    let jwks: Value = serde_json::from_str(&world.get("/_auth/jwks.json").body).unwrap();
    let claims = verify_assertion(received.header("Webex-Assertion").unwrap(), &jwks);
    assert_eq!(claims["iss"], ORIGIN);
    assert_eq!(claims["aud"], "https://origin.example.com");
    assert_eq!(claims["sub"], "user-1");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["iat"], NOW);
    assert_eq!(claims["exp"], NOW + 60);
}

#[test]
fn clients_cannot_spoof_identity_and_the_origin_cannot_set_our_cookies() {
    let world = World::gateway();
    world.gateway_login("/");
    *world.upstream.client_headers.borrow_mut() = vec![
        ("X-Webex-User".into(), "admin".into()),
        ("X-Webex-Email".into(), "ceo@example.com".into()),
        ("x-webex-org-id".into(), "other-org".into()),
        ("Webex-Assertion".into(), "forged".into()),
        ("X-Forwarded-For".into(), "10.0.0.1".into()),
        ("Authorization".into(), "Bearer app-token".into()),
    ];
    world
        .cookies
        .borrow_mut()
        .insert("theme".into(), "dark".into());
    *world.upstream.set_cookies.borrow_mut() = vec![
        format!("{SESSION_COOKIE}=planted; Path=/"),
        format!("{LOGIN_COOKIE}=planted"),
        "app=1; Path=/".into(),
    ];
    world.get("/dashboard");
    let received = world.last_received();
    assert_eq!(received.header("X-Webex-User"), Some("user-1"));
    assert_eq!(received.header("X-Webex-Email"), Some("ada@example.com"));
    assert_eq!(received.header("X-Webex-Org-Id"), None);
    assert_ne!(received.header("Webex-Assertion"), Some("forged"));
    assert_eq!(received.header("X-Forwarded-For"), Some(CLIENT_IP));
    assert_eq!(
        received.header("Authorization"),
        Some("Bearer app-token"),
        "the app's own headers pass"
    );
    assert_eq!(received.header("Cookie"), Some("theme=dark"));
    assert_eq!(
        *world.upstream.passed_set_cookies.borrow(),
        vec!["app=1; Path=/".to_owned()]
    );
}

#[test]
fn the_policy_refuses_other_accounts_with_403_and_forwards_nothing() {
    let world = World::gateway().with_setting("ALLOWED_EMAIL_DOMAINS", "example.org");
    world.gateway_login("/");
    let page = world.navigate("/");
    assert_eq!((page.status, page.reason), (403, "policy_denied"));
    assert!(
        page.body.contains("ada@example.com"),
        "names the refused account"
    );
    assert!(
        page.body.contains("action=\"/_auth/logout\""),
        "offers sign-out"
    );
    let api = world.get("/api");
    assert_eq!((api.status, api.reason), (403, "policy_denied"));
    assert_eq!(
        serde_json::from_str::<Value>(&api.body).unwrap()["error"],
        "forbidden"
    );
    assert!(world.upstream.received.borrow().is_empty());
    // With a provider logout, the page's form may lead there (the logout redirects to it).
    let csp = |page: &Reply| {
        page.header("Content-Security-Policy")
            .unwrap_or_default()
            .to_owned()
    };
    assert!(csp(&page).contains("form-action 'self';"), "{}", csp(&page));
    let with_logout = World::gateway()
        .with_setting("ALLOWED_EMAIL_DOMAINS", "example.org")
        .with_setting(
            "WEBEX_LOGOUT_URL",
            "https://idbroker.webex.com/idb/oauth2/v1/logout",
        );
    with_logout.gateway_login("/");
    let page = with_logout.navigate("/");
    assert_eq!(page.status, 403);
    assert!(
        csp(&page).contains("form-action 'self' https://idbroker.webex.com;"),
        "{}",
        csp(&page)
    );
    // An email that neither the ID token nor userinfo says is verified counts for nothing.
    let unverified = World::gateway();
    unverified
        .provider
        .claims_override
        .replace(json!({"email_verified": false}));
    unverified
        .provider
        .userinfo_email_verified
        .replace("false".into());
    unverified.gateway_login("/");
    assert_eq!(unverified.get("/api").status, 403);
}

#[test]
fn an_organisation_rule_reads_the_org_at_sign_in_and_asks_for_its_scope() {
    let world = World::gateway()
        .with_setting("ALLOWED_EMAIL_DOMAINS", "")
        .with_setting("ALLOWED_WEBEX_ORGS", ORG);
    world.provider.org_id.replace(Some(ORG.into()));
    let login = world.navigate("/");
    let authorize = world.get(login.header("Location").unwrap());
    let scopes: HashMap<String, String> = Url::parse(authorize.header("Location").unwrap())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(scopes["scope"], "openid email profile spark:people_read");
    world.gateway_login("/");
    assert_eq!(world.get("/x").reason, "forwarded");
    assert_eq!(world.last_received().header("X-Webex-Org-Id"), Some(ORG));
    assert_eq!(world.provider.calls_to("/v1/people/me"), 1);

    let outsider = World::gateway()
        .with_setting("ALLOWED_EMAIL_DOMAINS", "")
        .with_setting("ALLOWED_WEBEX_ORGS", ORG);
    outsider.provider.org_id.replace(Some("another-org".into()));
    outsider.gateway_login("/");
    assert_eq!(outsider.get("/x").status, 403);
    // Without the people API's answer there is no session at all.
    let unanswered = World::gateway().with_setting("ALLOWED_WEBEX_ORGS", ORG);
    let failed = unanswered.gateway_login("/");
    assert_eq!((failed.status, failed.reason), (502, "people_error"));
    assert_eq!(unanswered.kv.count("session:"), 0);
}

#[test]
fn public_paths_pass_without_sign_in_and_without_identity() {
    let world = World::gateway().with_setting("PUBLIC_PATHS", "/healthz,/assets/");
    *world.upstream.client_headers.borrow_mut() = vec![("X-Webex-User".into(), "admin".into())];
    for path in ["/healthz", "/healthz/live", "/assets/app.css"] {
        let reply = world.get(path);
        assert_eq!(
            (reply.status, reply.reason),
            (200, "forwarded_public"),
            "{path}"
        );
        let received = world.last_received();
        assert_eq!(
            received.header("X-Webex-User"),
            None,
            "{path}: no identity, spoofed or not"
        );
        assert_eq!(received.header("Webex-Assertion"), None);
    }
    let before = world.upstream.received.borrow().len();
    for path in [
        "/healthzadmin",
        "/assets%2F..%2Fadmin",
        "//assets/x",
        "/ASSETS/app.css",
        "/admin",
    ] {
        assert_eq!(world.get(path).status, 401, "{path} is not public");
    }
    assert_eq!(world.upstream.received.borrow().len(), before);
}

#[test]
fn an_origin_down_or_slow_gets_a_page_and_leaves_the_session_alone() {
    let world = World::gateway();
    world.gateway_login("/");
    for (failure, status, reason) in [
        (TransportError::Network, 502, "upstream_unreachable"),
        (TransportError::Timeout, 504, "upstream_timeout"),
    ] {
        world.upstream.failure.set(Some(failure));
        let reply = world.navigate("/");
        assert_eq!((reply.status, reply.reason), (status, reason));
        assert!(reply.body.contains("The site is unavailable"));
        assert_sets_no_cookie(&reply);
    }
    world.upstream.failure.set(None);
    assert_eq!(world.navigate("/").reason, "forwarded", "still signed in");
}

#[test]
fn a_forwarded_response_the_runtime_cannot_build_is_a_502_with_the_gateways_links() {
    let world = World::gateway();
    let mut req = world.incoming("GET", "/", &[]);
    req.origin = ORIGIN.into();
    let failure = crate::app::EdgeFailure::ForwardUnbuildable;
    let reply = block_on(crate::app::unavailable(&req, failure, &world.settings));
    assert_eq!((reply.status, reply.reason), (502, "upstream_unreachable"));
    assert!(reply.body.contains("The site is unavailable"));
    assert!(reply.body.contains(r#"href="/_auth/login""#));
    assert_eq!(
        reply.header("Strict-Transport-Security"),
        Some("max-age=31536000; includeSubDomains")
    );
}

#[test]
fn forward_auth_answers_204_with_identity_401_or_403() {
    let world = World::gateway();
    let out = world.request("GET", "/_auth/check", &[("sec-fetch-mode", "navigate")]);
    assert_eq!(
        (out.status, out.reason),
        (401, "sign_in_required"),
        "never a redirect"
    );
    world.gateway_login("/");
    let allowed = world.get("/_auth/check");
    assert_eq!((allowed.status, allowed.reason), (204, "check_allowed"));
    assert_eq!(allowed.header("X-Webex-Email"), Some("ada@example.com"));
    assert!(allowed.header("Webex-Assertion").is_some());
    assert!(
        world.upstream.received.borrow().is_empty(),
        "forward-auth forwards nothing"
    );
    let refused = World::gateway()
        .with_setting("ALLOWED_EMAILS", "")
        .with_setting("ALLOWED_EMAIL_DOMAINS", "example.org");
    refused.gateway_login("/");
    assert_eq!(refused.get("/_auth/check").status, 403);
}

#[test]
fn the_auth_routes_live_under_the_prefix_and_standalone_is_unchanged() {
    let world = World::gateway().with_setting("ASSERTION_SIGNING_KEY_PREVIOUS", r#"{"kty":"EC","crv":"P-256","kid":"old","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#);
    let jwks = world.get("/_auth/jwks.json");
    assert_eq!(jwks.header("Cache-Control"), Some("public, max-age=300"));
    let keys: Value = serde_json::from_str(&jwks.body).unwrap();
    let kids: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["3E4C5vn2u9G_FS-gTa2pvbnUBPcBDI0Qz7wPJIc-BB8", "old"]);
    assert!(!jwks.body.contains("\"d\""), "no private part");
    assert!(world.get("/_auth").body.contains("href=\"/_auth/login\""));
    assert!(world.get("/_auth/").body.contains("href=\"/_auth/login\""));
    assert_eq!(world.get("/_auth/nope").status, 404);
    assert_eq!(world.get("/_authx").status, 401, "outside the prefix");

    let standalone = World::new();
    assert_eq!(standalone.get("/_auth/login").status, 404);
    assert_eq!(standalone.get("/jwks.json").status, 404);
    assert_eq!(standalone.get("/check").status, 404);
}

#[test]
fn gateway_mode_without_an_allow_list_is_a_configuration_error_everywhere() {
    let world = World::gateway().with_setting("ALLOWED_EMAIL_DOMAINS", "");
    for path in ["/", "/app", "/_auth/login"] {
        let reply = world.get(path);
        assert_eq!(
            (reply.status, reply.reason),
            (500, "config_invalid"),
            "{path}"
        );
        assert!(reply.body.contains("ALLOW_ANY_WEBEX_USER"));
    }
    let anyone = World::gateway()
        .with_setting("ALLOWED_EMAIL_DOMAINS", "")
        .with_setting("ALLOW_ANY_WEBEX_USER", "true");
    assert_eq!(anyone.get("/app").status, 401);
}

#[test]
fn gateway_logout_and_refresh_stay_under_the_prefix() {
    let world = World::gateway();
    world.gateway_login("/");
    let refreshed = world.post("/_auth/refresh");
    assert_eq!(refreshed.header("Location"), Some("/_auth/"));
    let out = world.post("/_auth/logout");
    assert_eq!(out.header("Location"), Some("/_auth/?signed_out"));
    assert_eq!(world.get("/app").status, 401);
}

/// The pages' stylesheet lives below `AUTH_PREFIX`; the origin's own `/style.css` is the
/// origin's.
#[test]
fn the_stylesheet_is_below_the_prefix_and_the_origins_path_is_the_origins() {
    let world = World::gateway();
    let ours = world.get("/_auth/style.css?v=1");
    assert_eq!((ours.status, ours.reason), (200, "stylesheet"));
    assert_eq!(ours.body, crate::pages::STYLESHEET);
    let theirs = world.get("/style.css");
    assert_ne!(theirs.reason, "stylesheet");
}
