//! The routes end to end, natively: in-memory KV, and a fake provider that mints real RS256
//! tokens with test keys (`crate::testing`). The same flows run against the real runtime in
//! `tests/e2e`. One file per theme; the simulated browser (`World`) is here.

#[cfg(feature = "gateway")]
mod gateway;
mod hardening;
mod keys;
mod kv;
mod login;
mod refresh;
mod requests;
mod sessions;
mod settings;
mod upgrade;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use futures::executor::block_on;
use serde_json::{json, Value};
use url::Url;

// The whole app, as the edge drives it: `handle` is `app::serve`.
use crate::app::{serve as handle, Context, InFlightRefreshes, RequestConfig};
use crate::config::tests::MapSettings;
use crate::http::{Incoming, Reply};
use crate::oidc::test_keys::RustCrypto;
use crate::pending_login::LOGIN_COOKIE;
use crate::platform::{KeyValueStore, Platform};
use crate::provider_api::KeyCache;
use crate::provider_api::KEYS_REFETCH_COOLDOWN_SECS;
use crate::session::ticket::SESSION_COOKIE;
use crate::testing::kv::MemoryKv;
use crate::testing::limiter::FakeLimiter;
use crate::testing::provider::FakeProvider;
use crate::testing::upstream::FakeUpstream;
use crate::testing::{YieldOnce, NOW};

const ORIGIN: &str = "https://login.example.com";

/// The test doubles as the app's platform.
struct TestPlatform;

impl Platform for TestPlatform {
    type Kv = MemoryKv;
    type Http = FakeProvider;
    type Upstream = FakeUpstream;
}

const CLIENT_IP: &str = "203.0.113.7";

struct World {
    limiter: FakeLimiter,
    kv: MemoryKv,
    provider: FakeProvider,
    upstream: FakeUpstream,
    settings: MapSettings,
    keys: KeyCache,
    refreshing: InFlightRefreshes,
    now: Rc<Cell<i64>>,
    cookies: RefCell<HashMap<String, String>>,
}

impl World {
    fn new() -> Self {
        let now = Rc::new(Cell::new(NOW));
        Self {
            limiter: FakeLimiter::default(),
            kv: MemoryKv::new(Rc::clone(&now)),
            provider: FakeProvider::default(),
            upstream: FakeUpstream::default(),
            settings: crate::config::tests::minimal(),
            keys: KeyCache::default(),
            refreshing: InFlightRefreshes::default(),
            now,
            cookies: RefCell::default(),
        }
    }

    fn request(&self, method: &str, target: &str, extra: &[(&str, &str)]) -> Reply {
        let req = self.incoming(method, target, extra);
        let reply = block_on(handle(&req, &self.context()));
        self.store_cookies(&reply);
        reply
    }

    fn context(&self) -> Context<'_, TestPlatform> {
        self.context_at(ORIGIN)
    }

    /// The context of a request to this Worker reached at `origin`.
    fn context_at<'a>(&'a self, origin: &'a str) -> Context<'a, TestPlatform> {
        Context {
            kv: &self.kv,
            http: &self.provider,
            upstream: &self.upstream,
            timer: &self.provider,
            crypto: &RustCrypto,
            login_limiter: &self.limiter,
            keys: &self.keys,
            refreshing: &self.refreshing,
            config: RequestConfig::new(&self.settings, origin),
            now: self.now.get(),
        }
    }

    fn incoming(&self, method: &str, target: &str, extra: &[(&str, &str)]) -> Incoming {
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
            client_ip: Some(CLIENT_IP.into()),
            sec_fetch_mode: None,
            accept: None,
        };
        for (name, value) in extra {
            match *name {
                "origin" => req.origin_header = Some(value.to_string()),
                "sec-fetch-site" => req.sec_fetch_site = Some(value.to_string()),
                "sec-fetch-mode" => req.sec_fetch_mode = Some(value.to_string()),
                "accept" => req.accept = Some(value.to_string()),
                _ => unreachable!(),
            }
        }
        req
    }

    fn get(&self, target: &str) -> Reply {
        self.request("GET", target, &[])
    }

    /// A request to this Worker reached at `origin` instead of [`ORIGIN`].
    fn request_at(&self, origin: &str, method: &str, target: &str) -> Reply {
        let mut req = self.incoming(method, target, &[]);
        req.origin = origin.into();
        block_on(handle(&req, &self.context_at(origin)))
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
        let code = self.provider.authorize(location.as_str());
        format!("/oauth?code={code}&state={}", params["state"])
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

impl World {
    fn post(&self, target: &str) -> Reply {
        self.request(
            "POST",
            target,
            &[("origin", ORIGIN), ("sec-fetch-site", "same-origin")],
        )
    }

    fn kv_dump(&self) -> String {
        let entries = self.kv.live();
        entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
    }

    fn reset_kv_counts(&self) {
        self.kv.reads.set(0);
        self.kv.writes.set(0);
    }

    fn kv_counts(&self) -> (usize, usize) {
        (self.kv.reads.get(), self.kv.writes.get())
    }

    fn with_setting(mut self, name: &'static str, value: &str) -> Self {
        self.settings.0.insert(name, value.to_owned());
        self
    }
}

impl World {
    /// A request with exactly this `Cookie` header (the jar is neither read nor updated).
    fn with_cookie_header(&self, method: &str, target: &str, header: &str) -> Reply {
        let mut req = self.incoming(method, target, &[]);
        req.cookie_header = header.to_owned();
        if method == "POST" {
            req.origin_header = Some(ORIGIN.into());
            req.sec_fetch_site = Some("same-origin".into());
        }
        block_on(handle(&req, &self.context()))
    }

    fn session_cookie_pair(&self) -> String {
        format!("{SESSION_COOKIE}={}", self.cookies.borrow()[SESSION_COOKIE])
    }

    /// Runs two requests of this browser concurrently, the second starting after the first
    /// has yielded `delay` times; `other_isolate` gives the second its own isolate state
    /// (refreshes in flight), as a request in another isolate has.
    fn concurrently(
        &self,
        first: (&str, &str),
        second: (&str, &str),
        other_isolate: bool,
        delay: usize,
    ) -> (Reply, Reply) {
        let same_origin = [("origin", ORIGIN), ("sec-fetch-site", "same-origin")];
        let a = self.incoming(first.0, first.1, &same_origin);
        let b = self.incoming(second.0, second.1, &same_origin);
        let elsewhere = InFlightRefreshes::default();
        let mut ctx_b = self.context();
        if other_isolate {
            ctx_b.refreshing = &elsewhere;
        }
        let ctx_a = self.context();
        let delayed_b = async {
            for _ in 0..delay {
                YieldOnce(false).await;
            }
            handle(&b, &ctx_b).await
        };
        let (ra, rb) = block_on(futures::future::join(handle(&a, &ctx_a), delayed_b));
        self.store_cookies(&ra);
        self.store_cookies(&rb);
        (ra, rb)
    }
}

fn assert_sets_no_cookie(reply: &Reply) {
    assert_eq!(
        reply.headers_named("Set-Cookie").count(),
        0,
        "{:?}",
        reply.headers
    );
}

/// Starts `count` logins, then runs all their callbacks at once (interleaved at every await).
fn concurrent_callbacks(world: &World, count: usize) -> Vec<Reply> {
    let callbacks: Vec<Incoming> = (0..count)
        .map(|_| {
            let target = world.start_login();
            world.incoming("GET", &target, &[])
        })
        .collect();
    let ctx = world.context();
    block_on(futures::future::join_all(
        callbacks.iter().map(|req| handle(req, &ctx)),
    ))
}
