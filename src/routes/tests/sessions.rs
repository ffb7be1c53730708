//! Sessions: at rest, lifetimes, refresh, `/me`, deep links, tabs.

use super::*;

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
