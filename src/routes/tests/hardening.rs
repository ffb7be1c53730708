//! What an attacker tries: tossed cookies, logouts that must stick, concurrent refreshes, planted text.

use super::*;

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
    let (page, logout) = world.concurrently(("GET", "/"), ("POST", "/logout"), false, 0);
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

#[test]
fn sign_out_finds_the_genuine_session_behind_many_planted_values() {
    let world = World::new();
    world.login();
    let genuine = world.session_cookie_pair();
    // Sent first (a longer Path): junk, then well-formed sessions of nobody.
    let junk = format!("{SESSION_COOKIE}=x; ").repeat(10);
    let planted: Vec<String> = (0..5u8)
        .map(|n| {
            let id = char::from(b'a' + n).to_string().repeat(43);
            format!("{SESSION_COOKIE}={id}.{}", "k".repeat(43))
        })
        .collect();
    let header = format!("{junk}{}; {genuine}", planted.join("; "));
    let reply = world.with_cookie_header("POST", "/logout", &header);
    assert_eq!(reply.status, 302);
    assert_eq!(world.kv.count("session:"), 0, "the genuine session ended");
}
