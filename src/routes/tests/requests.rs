//! Requests as they arrive: HTTPS and HSTS, the login rate limit, Fetch Metadata on POSTs.

use super::*;

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

/// The stylesheet every page links: served to anyone, with or without a session, cached for
/// good, with no cookie and no KV operation.
#[test]
fn the_stylesheet_is_served_to_anyone_cached_and_costs_no_kv() {
    let world = World::new();
    let page = world.get("/");
    let href = page
        .body
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(href.starts_with("/style.css?v="), "{href}");
    for signed_in in [false, true] {
        if signed_in {
            world.login();
        }
        world.reset_kv_counts();
        let reply = world.get(&href);
        assert_eq!(reply.status, 200);
        assert_eq!(reply.reason, "stylesheet");
        assert_eq!(reply.body, crate::pages::STYLESHEET);
        assert_eq!(
            reply.header("Content-Type"),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(
            reply.header("Cache-Control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
        assert_sets_no_cookie(&reply);
        assert_eq!(world.kv_counts(), (0, 0), "signed in: {signed_in}");
    }
    assert_eq!(world.request("POST", &href, &[]).status, 405);
}

/// What the edge answers itself goes through the same wrapping as every route.
fn edge_failure(world: &World, origin: &str, failure: crate::app::EdgeFailure) -> Reply {
    let mut req = world.incoming("GET", "/login", &[]);
    req.origin = origin.into();
    block_on(crate::app::unavailable(&req, failure, &world.settings))
}

#[test]
fn without_kv_every_request_gets_a_page_naming_the_binding_with_the_same_wrapping() {
    let world = World::new();
    let reply = edge_failure(&world, ORIGIN, crate::app::EdgeFailure::KvUnbound);
    assert_eq!((reply.status, reply.reason), (500, "config_invalid"));
    assert!(reply.body.contains("AUTH_KV (KV namespace binding)"));
    assert!(reply.body.contains(r#"href="/login""#));
    assert_eq!(reply.header("Cache-Control"), Some("no-store"));
    assert_eq!(reply.header("Strict-Transport-Security"), Some(HSTS));
    let local = edge_failure(
        &world,
        "http://localhost:8787",
        crate::app::EdgeFailure::KvUnbound,
    );
    assert_eq!(
        (local.status, local.header("Strict-Transport-Security")),
        (500, None)
    );
    let plain = edge_failure(
        &world,
        "http://login.example.com",
        crate::app::EdgeFailure::KvUnbound,
    );
    assert_eq!((plain.status, plain.reason), (308, "https_redirect"));
}
