//! Logins and callbacks: the flow, its failures, the key cache under concurrent logins.

use super::*;

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
fn a_callback_iss_of_another_regional_issuer_than_the_id_tokens_is_refused() {
    let world = World::new();
    let callback = world.start_login();
    let other = "https%3A%2F%2Fidbroker-eu.webex.com%2Fidb";
    let reply = world.get(&format!("{callback}&iss={other}"));
    assert_eq!((reply.status, reply.reason), (400, "callback_iss_mismatch"));
    assert_no_session_cookie(&reply);
    assert_eq!(world.kv.count("session:"), 0);
    // The issuer that signed the ID token, named in the callback, is what RFC 9207 expects.
    let callback = world.start_login();
    let same = "https%3A%2F%2Fidbroker.webex.com%2Fidb";
    assert_eq!(
        world.get(&format!("{callback}&iss={same}")).reason,
        "login_complete"
    );
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
fn a_logout_with_made_up_session_cookies_spends_no_kv_write() {
    let world = World::new();
    world.login();
    let made_up = |n: u8| {
        let part = |c: u8| char::from(c).to_string().repeat(43);
        format!("{SESSION_COOKIE}={}.{}", part(b'a' + n), part(b'k'))
    };
    let header = (0..4).map(made_up).collect::<Vec<_>>().join("; ");
    let writes = world.kv.writes.get();
    let reply = world.with_cookie_header("POST", "/logout", &header);
    assert_eq!(reply.status, 302, "signed out as far as this browser goes");
    assert_eq!(
        world.kv.writes.get(),
        writes,
        "no delete for a record that does not open"
    );
    assert_eq!(
        world.kv.count("session:"),
        1,
        "the real session is untouched"
    );
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
    assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
    assert_eq!(world.get("/logout").status, 405);
    // HEAD where GET changes nothing that matters; never where it would start or spend a login.
    assert_eq!(world.request("HEAD", "/", &[]).status, 200);
    assert_eq!(world.request("HEAD", "/style.css", &[]).status, 200);
    let writes = world.kv.writes.get();
    for path in ["/login", "/oauth?code=c&state=s"] {
        let reply = world.request("HEAD", path, &[]);
        assert_eq!(
            (reply.status, reply.header("Allow")),
            (405, Some("GET")),
            "{path}"
        );
    }
    assert_eq!(world.kv.writes.get(), writes, "a HEAD started no login");
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
