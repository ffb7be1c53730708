//! Settings that decide behaviour: the logout URL, the redirect URI, cookie lifetimes.

use super::*;

#[test]
fn an_invalid_logout_url_still_ends_the_session_and_clears_the_cookie() {
    let world = World::new().with_setting("WEBEX_LOGOUT_URL", "javascript:alert(1)");
    world.login();
    let profile = world.get("/");
    assert_eq!(profile.reason, "profile");
    assert_eq!(
        profile.warning,
        Some("logout_url_invalid"),
        "the operator is told"
    );
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

#[cfg(not(feature = "gateway"))]
#[test]
fn an_upstream_without_gateway_mode_in_the_build_says_how_to_get_it() {
    let world = World::new().with_setting("UPSTREAM_URL", "https://origin.example.com");
    for path in ["/", "/login", "/anything"] {
        let reply = world.get(path);
        assert_eq!(
            (reply.status, reply.reason),
            (500, "config_invalid"),
            "{path}"
        );
        assert!(reply.body.contains("UPSTREAM_URL"));
        assert!(reply.body.contains("scripts/build.sh --gateway"));
    }
}
