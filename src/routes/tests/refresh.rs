//! Refreshes: without a refresh token, with failing userinfo, without rotation, one at a time.

use super::*;

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
fn a_refresh_grant_is_kept_when_userinfo_fails_after_it() {
    let world = World::new();
    world.login();
    world.provider.reject_reuse.set(true);
    world.now.set(NOW + 600);
    world.provider.redirected.borrow_mut().push("/v1/userinfo");
    let reply = world.post("/refresh");
    assert_eq!((reply.status, reply.reason), (502, "userinfo_redirect"));
    assert_eq!(
        world.provider.refreshes.get(),
        1,
        "the grant itself succeeded"
    );
    world.provider.redirected.borrow_mut().clear();
    assert_eq!(world.get("/").reason, "profile", "the session goes on");
    world.now.set(NOW + 1300);
    assert_eq!(world.post("/refresh").reason, "profile_refreshed");
    let presented = world.provider.presented_refresh_tokens();
    assert_eq!(presented.len(), 2);
    assert_ne!(
        presented[0], presented[1],
        "the next grant presents the rotated refresh token, not the spent one"
    );
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
