//! KV as it really is: TTLs, failing deletes, stale reads at other locations.

use super::*;

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
