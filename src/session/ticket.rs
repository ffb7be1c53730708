//! The session ticket, end to end, as oauth2-proxy keeps its `ticket.go`: the
//! `__Host-webex-session` cookie `<id>.<key>` (its format, reading, `Set-Cookie` and
//! clearing), the KV key it names, and loading, storing, writing back and ending the sealed
//! record. The one place that reads the session cookie and enforces the lifetimes.
//!
//! Write-backs (the idle-timeout touch, a refresh) never create a session: each re-reads the
//! record right before writing and writes only onto a session that still exists, merged with
//! whatever another request stored meanwhile (see [`SessionRecord::merge_write_back`]). A
//! logout's delete therefore wins over any request that was already in flight.

use super::record::{Freshness, SessionPolicy, SessionRecord};
use crate::cookies::{self, find, set, Found};
use crate::oidc::secrets::{secret_type, sha256_b64url};
use crate::platform::{Crypto, KeyValueStore, StoreError};
use crate::seal::{open_record, seal_record, SealError, SealKey};

/// Carries the session id.
pub const SESSION_COOKIE: &str = "__Host-webex-session";

secret_type!(
    /// Session identifier carried (with the record key) by the `__Host-webex-session` cookie.
    SessionId
);

impl SessionId {
    /// KV key of the session: a hash of the cookie value, never the raw value.
    pub fn kv_key(&self) -> String {
        format!("session:{}", sha256_b64url(self.secret()))
    }
}

/// The `__Host-webex-session` cookie: `<session id>.<record key>`. The id names the KV
/// record (through a hash); the key opens it. Neither is stored server-side.
#[derive(Debug, Clone)]
pub struct SessionCookie {
    pub id: SessionId,
    pub key: SealKey,
}

impl SessionCookie {
    pub fn generate() -> Result<Self, getrandom::Error> {
        Ok(Self {
            id: SessionId::generate()?,
            key: SealKey::generate()?,
        })
    }

    /// The session cookie as found (see [`Found`]): only `One` names a session to look up.
    pub fn read(header: &str) -> Found<Self> {
        find(header, SESSION_COOKIE).and_then(Self::parse)
    }

    /// The session cookie when exactly one well-formed cookie carries it.
    pub fn from_header(header: &str) -> Option<Self> {
        Self::read(header).one()
    }

    /// A cookie value shaped `<id>.<key>`.
    pub fn parse(value: &str) -> Option<Self> {
        let (id, key) = value.split_once('.')?;
        if id.len() != 43 {
            return None;
        }
        Some(Self {
            id: SessionId::from_untrusted(id),
            key: SealKey::from_cookie(key)?,
        })
    }

    pub fn set_cookie(&self, max_age_secs: u64) -> String {
        let value = format!("{}.{}", self.id.secret(), self.key.to_cookie());
        set(SESSION_COOKIE, &value, max_age_secs)
    }
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_cookie() -> String {
    cookies::clear(SESSION_COOKIE)
}

/// Why the session store failed (the app maps it to a status and a page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// Workers KV failed.
    Storage,
    Seal(SealError),
}

impl From<StoreError> for SessionError {
    fn from(_: StoreError) -> Self {
        Self::Storage
    }
}
impl From<SealError> for SessionError {
    fn from(e: SealError) -> Self {
        Self::Seal(e)
    }
}

/// What the session store needs for one request: KV, the cipher, the lifetimes, the time.
pub struct SessionStore<'a, K> {
    pub kv: &'a K,
    pub crypto: &'a dyn Crypto,
    pub policy: &'a SessionPolicy,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

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
impl<K: KeyValueStore> SessionStore<'_, K> {
    /// The session the request's cookie names, if it is live.
    pub async fn lookup(&self, cookie_header: &str) -> Result<Lookup, SessionError> {
        let cookie = match SessionCookie::read(cookie_header) {
            Found::Absent => return Ok(Lookup::SignedOut),
            Found::Ambiguous => return Ok(Lookup::Ambiguous),
            Found::Malformed => return Ok(Lookup::Gone),
            Found::One(cookie) => cookie,
        };
        let Some(record) = self.read_live(&cookie).await? else {
            return Ok(Lookup::Gone);
        };
        Ok(Lookup::Active(Box::new(ActiveSession { cookie, record })))
    }

    /// The record as KV holds it now, if the session is still live (an expired one is
    /// deleted on sight).
    pub async fn read_live(
        &self,
        cookie: &SessionCookie,
    ) -> Result<Option<SessionRecord>, SessionError> {
        let kv_key = cookie.id.kv_key();
        let Some(sealed) = self.kv.get(&kv_key).await? else {
            return Ok(None);
        };
        let opened = open_record::<SessionRecord>(self.crypto, &cookie.key, &kv_key, &sealed);
        let Some(record) = opened.await else {
            return Ok(None);
        };
        if record.freshness(self.policy, self.now) == Freshness::Expired {
            self.kv.delete(&kv_key).await?;
            return Ok(None);
        }
        Ok(Some(record))
    }

    /// Writes `last_seen_at` back once per touch interval (see
    /// [`SessionPolicy::touch_interval_secs`]), so an active session outlives the idle timeout.
    pub async fn touch_if_due(
        &self,
        session: &mut ActiveSession,
    ) -> Result<WriteBack, SessionError> {
        if session.record.freshness(self.policy, self.now) != Freshness::NeedsTouch {
            return Ok(WriteBack::Stored);
        }
        let base = session.record.clone();
        session.record.last_seen_at = self.now;
        self.write_back(&session.cookie, &base, &mut session.record)
            .await
    }

    /// Stores `record` (a change of `base`) onto the session as KV holds it now, or nothing if
    /// the session ended meanwhile.
    pub async fn write_back(
        &self,
        cookie: &SessionCookie,
        base: &SessionRecord,
        record: &mut SessionRecord,
    ) -> Result<WriteBack, SessionError> {
        let Some(current) = self.read_live(cookie).await? else {
            return Ok(WriteBack::Ended);
        };
        *record = record.merge_write_back(base, current);
        self.store(cookie, record).await?;
        Ok(WriteBack::Stored)
    }

    /// Seals and stores the record, expiring in KV when the session ends.
    pub async fn store(
        &self,
        cookie: &SessionCookie,
        record: &SessionRecord,
    ) -> Result<(), SessionError> {
        let kv_key = cookie.id.kv_key();
        let sealed = seal_record(self.crypto, &cookie.key, &kv_key, record).await?;
        let ttl = record.kv_ttl_secs(self.policy, self.now);
        self.kv.put(&kv_key, &sealed, ttl).await?;
        Ok(())
    }

    /// Deletes the session; returns the `Set-Cookie` that clears its cookie.
    pub async fn end(&self, cookie: &SessionCookie) -> Result<String, SessionError> {
        self.kv.delete(&cookie.id.kv_key()).await?;
        Ok(clear_cookie())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_keys_do_not_contain_the_raw_value() {
        let id = SessionId::from_untrusted("abc123");
        assert!(id.kv_key().starts_with("session:"));
        assert!(!id.kv_key().contains("abc123"));
        let state = crate::oidc::secrets::State::from_untrusted("abc123");
        assert_ne!(crate::pending_login::kv_key(&state), id.kv_key());
    }
}
