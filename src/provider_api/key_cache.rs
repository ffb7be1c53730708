//! The provider's signing keys, cached in the isolate: steady-state logins fetch nothing, a
//! cold isolate fetches once however many logins arrive together, and a token no cached key
//! verifies triggers a rate-limited refetch (the provider may have rotated its keys).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::oidc::client::Client;
use crate::oidc::jwks::{JwksError, KeySet};
use crate::oidc::outbound::{Method, OutboundRequest};
use crate::platform::{HttpClient, Timer};

/// Keys are reused for an hour, then fetched again.
pub const KEYS_MAX_AGE_SECS: i64 = 3600;
/// A token no cached key verifies triggers a refetch at most this often, so forged tokens
/// cannot make the Worker hammer the provider's JWKS endpoint.
pub const KEYS_REFETCH_COOLDOWN_SECS: i64 = 10;

/// Parsed JWKS kept for the life of the isolate: steady-state logins fetch nothing.
#[derive(Default)]
pub struct KeyCache {
    slot: RefCell<Option<CachedKeys>>,
    /// When the last refetch *started*: requests arriving while it is in flight must not
    /// start their own, or a burst of forged tokens fans out into a burst of fetches.
    last_refetch_started: Cell<Option<i64>>,
    /// Set while a cold isolate fetches the keys: requests arriving meanwhile wait for that
    /// fetch instead of each fetching the same keys (one fetch per isolate per lifetime).
    fetching: Cell<bool>,
}

/// How often, and for how long at most, a request polls for another request's key fetch
/// (the subrequest timeout bounds that fetch anyway).
const FETCH_POLL_MILLIS: u32 = 20;
const FETCH_WAIT_MAX_MILLIS: u32 = 10_000;

/// Clears [`KeyCache::fetching`] however the fetching request ends, even if its future is
/// dropped mid-fetch: nobody must wait on a fetch nobody is making.
struct FetchingGuard<'a>(&'a Cell<bool>);

impl Drop for FetchingGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

struct CachedKeys {
    url: String,
    keys: Rc<KeySet>,
    fetched_at: i64,
}

impl KeyCache {
    /// Cached keys for `url` if young enough, with the time they were fetched.
    fn current(&self, url: &str, now: i64) -> Option<(Rc<KeySet>, i64)> {
        let slot = self.slot.borrow();
        let cached = slot.as_ref()?;
        let fresh = cached.url == url && now - cached.fetched_at < KEYS_MAX_AGE_SECS;
        fresh.then(|| (Rc::clone(&cached.keys), cached.fetched_at))
    }

    pub(super) async fn fetch(
        &self,
        http: &impl HttpClient,
        config: &Client,
        now: i64,
    ) -> Result<Rc<KeySet>, JwksError> {
        let request = OutboundRequest {
            method: Method::Get,
            url: config.jwks_url.clone(),
            headers: vec![("Accept", "application/json".to_owned())],
            body: None,
        };
        let response = http.send(request).await.map_err(JwksError::Transport)?;
        if !response.is_success() {
            return Err(JwksError::Status(response.status));
        }
        let keys = Rc::new(KeySet::parse(&response.body)?);
        *self.slot.borrow_mut() = Some(CachedKeys {
            url: config.jwks_url.to_string(),
            keys: Rc::clone(&keys),
            fetched_at: now,
        });
        Ok(keys)
    }

    /// Cached keys, or fresh ones: fetched by the first request that finds none, waited for
    /// by the requests that arrive while that fetch runs.
    pub(super) async fn current_or_fetch(
        &self,
        http: &impl HttpClient,
        timer: &dyn Timer,
        config: &Client,
        now: i64,
    ) -> Result<(Rc<KeySet>, i64), JwksError> {
        let url = config.jwks_url.as_str();
        if let Some(cached) = self.current(url, now) {
            return Ok(cached);
        }
        let mut waited = 0;
        while self.fetching.get() && waited < FETCH_WAIT_MAX_MILLIS {
            timer.sleep(FETCH_POLL_MILLIS).await;
            waited += FETCH_POLL_MILLIS;
        }
        if let Some(cached) = self.current(url, now) {
            return Ok(cached);
        }
        // No fetch running, or it failed: this request fetches.
        self.fetching.set(true);
        let _guard = FetchingGuard(&self.fetching);
        Ok((self.fetch(http, config, now).await?, now))
    }

    /// Claims the right to refetch, at most once per cooldown since the keys were fetched
    /// or a refetch was last started.
    pub(super) fn claim_refetch(&self, fetched_at: i64, now: i64) -> bool {
        let last = self
            .last_refetch_started
            .get()
            .map_or(fetched_at, |t| t.max(fetched_at));
        if now - last < KEYS_REFETCH_COOLDOWN_SECS {
            return false;
        }
        self.last_refetch_started.set(Some(now));
        true
    }
}
