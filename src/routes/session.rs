//! Finding, extending and storing the browser's session: the one place that reads the
//! session cookie and enforces the lifetimes, for every route that needs a signed-in user.
//!
//! Write-backs (the idle-timeout touch, a refresh) never create a session: each re-reads the
//! record right before writing and writes only onto a session that still exists, merged with
//! whatever another request stored meanwhile (see [`SessionRecord::merge_write_back`]). A
//! logout's delete therefore wins over any request that was already in flight.

use super::Context;
use crate::cookies::{self, Found, SessionCookie, SESSION_COOKIE};
use crate::error::AppError;
use crate::http::Incoming;
use crate::platform::KeyValueStore;
use crate::sessions::{self, Freshness, SessionPolicy, SessionRecord};

pub struct ActiveSession {
    pub cookie: SessionCookie,
    pub record: SessionRecord,
}

pub enum Lookup {
    /// No session cookie at all.
    SignedOut,
    /// Our cookie name appears more than once (a sibling subdomain planted one): treated as
    /// signed out, and no cookie is cleared, since the genuine one cannot be told apart.
    Ambiguous,
    /// A cookie that no longer opens a live session (unknown, expired, wrong key): clear it.
    Gone,
    Active(Box<ActiveSession>),
}

/// What a write-back found when it re-read the record.
#[derive(Debug, PartialEq, Eq)]
pub enum WriteBack {
    Stored,
    /// The session was ended (logged out, expired) while this request ran: nothing written.
    Ended,
}

/// One KV read. An expired session is deleted; a record the cookie's key cannot open is
/// left alone (the cookie, not the record, is what is wrong).
pub async fn lookup<K: KeyValueStore, H, S>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
) -> Result<Lookup, AppError> {
    let cookie = match SessionCookie::read(&req.cookie_header) {
        Found::Absent => return Ok(Lookup::SignedOut),
        Found::Ambiguous => return Ok(Lookup::Ambiguous),
        Found::Malformed => return Ok(Lookup::Gone),
        Found::One(cookie) => cookie,
    };
    let Some(record) = read_live(ctx, policy, &cookie).await? else {
        return Ok(Lookup::Gone);
    };
    Ok(Lookup::Active(Box::new(ActiveSession { cookie, record })))
}

/// The live record the cookie opens, if any; an expired one is deleted on the way.
pub async fn read_live<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
    cookie: &SessionCookie,
) -> Result<Option<SessionRecord>, AppError> {
    let kv_key = cookie.id.kv_key();
    let Some(sealed) = ctx.kv.get(&kv_key).await? else {
        return Ok(None);
    };
    let Some(record) = sessions::open_session(ctx.crypto, &cookie.key, &kv_key, &sealed).await
    else {
        return Ok(None);
    };
    if record.freshness(policy, ctx.now) == Freshness::Expired {
        ctx.kv.delete(&kv_key).await?;
        return Ok(None);
    }
    Ok(Some(record))
}

/// Records activity, writing KV at most once per touch interval (not on every view).
pub async fn touch_if_due<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
    session: &mut ActiveSession,
) -> Result<WriteBack, AppError> {
    if session.record.freshness(policy, ctx.now) != Freshness::NeedsTouch {
        return Ok(WriteBack::Stored);
    }
    // The base of the merge: the record as read (only a touch pays for the copy).
    let base = session.record.clone();
    session.record.last_seen_at = ctx.now;
    write_back(ctx, policy, &session.cookie, &base, &mut session.record).await
}

/// Writes this request's changes back onto the session as it is in KV now: re-read right
/// before the write, nothing written when the session has ended meanwhile, and another
/// request's newer tokens or profile kept (three-way merge against `base`, the record as
/// this request read it). `record` becomes what was stored.
pub async fn write_back<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
    cookie: &SessionCookie,
    base: &SessionRecord,
    record: &mut SessionRecord,
) -> Result<WriteBack, AppError> {
    let Some(current) = read_live(ctx, policy, cookie).await? else {
        return Ok(WriteBack::Ended);
    };
    *record = record.merge_write_back(base, current);
    store(ctx, policy, cookie, record).await?;
    Ok(WriteBack::Stored)
}

/// Seals and writes the record; its KV expiry follows the session's nearest end. Only for a
/// new session: existing ones change through [`write_back`].
pub async fn store<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    policy: &SessionPolicy,
    cookie: &SessionCookie,
    record: &SessionRecord,
) -> Result<(), AppError> {
    let kv_key = cookie.id.kv_key();
    let sealed = sessions::seal_record(ctx.crypto, &cookie.key, &kv_key, record).await?;
    ctx.kv
        .put(&kv_key, &sealed, record.kv_ttl_secs(policy, ctx.now))
        .await?;
    Ok(())
}

/// Deletes the session and returns the `Set-Cookie` that clears it.
pub async fn end<K: KeyValueStore, H, S>(
    ctx: &Context<'_, K, H, S>,
    cookie: &SessionCookie,
) -> Result<String, AppError> {
    ctx.kv.delete(&cookie.id.kv_key()).await?;
    Ok(cookies::clear(SESSION_COOKIE))
}

/// The sessions this isolate is refreshing right now. A refresh grant spends the refresh
/// token, so two at once for one session would present the same token twice (which a
/// rotating provider answers by revoking the grant): the second request waits for the first
/// instead. Across isolates, [`write_back`]'s merge and the refresh route's re-read cover it.
#[derive(Default)]
pub struct InFlightRefreshes(std::cell::RefCell<Vec<String>>);

/// Held while a refresh runs; the session is released however the request ends.
pub struct RefreshTurn<'a> {
    registry: &'a InFlightRefreshes,
    kv_key: String,
}

impl Drop for RefreshTurn<'_> {
    fn drop(&mut self) {
        self.registry.0.borrow_mut().retain(|k| *k != self.kv_key);
    }
}

impl InFlightRefreshes {
    /// The turn for the session stored under `kv_key`, or `None` while another request of
    /// this isolate holds it.
    pub fn try_enter(&self, kv_key: &str) -> Option<RefreshTurn<'_>> {
        let mut held = self.0.borrow_mut();
        if held.iter().any(|k| k == kv_key) {
            return None;
        }
        held.push(kv_key.to_owned());
        Some(RefreshTurn {
            registry: self,
            kv_key: kv_key.to_owned(),
        })
    }

    pub fn is_held(&self, kv_key: &str) -> bool {
        self.0.borrow().iter().any(|k| k == kv_key)
    }
}
