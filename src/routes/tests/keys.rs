//! The provider's keys: expiry of the cache, failed refetches, cold fetches and their waiters.

use super::*;

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
