//! What Workers KV holds: the short-lived login record (per `state`) and the session.
//! Keys are hashes of the values in cookies and URLs (see `oidc::secrets`); records are JSON
//! with a version field so a future format can refuse old records instead of misreading them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::oidc::secrets::{Nonce, PkceVerifier};

/// A login must come back within 10 minutes (the KV TTL; KV's minimum is 60 s).
pub const LOGIN_TTL_SECS: u64 = 600;
/// Absolute session lifetime.
pub const SESSION_TTL_SECS: u64 = 8 * 3600;

const RECORD_VERSION: u8 = 1;

/// What the callback needs to finish the login that `/login` started.
#[derive(Serialize, Deserialize)]
pub struct LoginRecord {
    v: u8,
    /// SHA-256 of the browser-binding cookie, so the record alone cannot forge the cookie.
    pub binding_hash: String,
    pub nonce: Nonce,
    pub verifier: PkceVerifier,
    pub created_at: i64,
}

impl LoginRecord {
    pub fn new(binding_hash: String, nonce: Nonce, verifier: PkceVerifier, now: i64) -> Self {
        Self {
            v: RECORD_VERSION,
            binding_hash,
            nonce,
            verifier,
            created_at: now,
        }
    }

    /// KV may serve an entry a little past its TTL; the record's own clock decides.
    pub fn is_expired(&self, now: i64) -> bool {
        now.saturating_sub(self.created_at) > LOGIN_TTL_SECS as i64
    }
}

/// A signed-in user: the verified ID token claims and the userinfo fields, no tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionRecord {
    v: u8,
    pub subject: String,
    pub id_token_claims: Map<String, Value>,
    pub userinfo: Map<String, Value>,
    pub created_at: i64,
    pub expires_at: i64,
}

impl SessionRecord {
    pub fn new(
        subject: String,
        id_token_claims: Map<String, Value>,
        userinfo: Map<String, Value>,
        now: i64,
    ) -> Self {
        Self {
            v: RECORD_VERSION,
            subject,
            id_token_claims,
            userinfo,
            created_at: now,
            expires_at: now + SESSION_TTL_SECS as i64,
        }
    }

    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }
}

/// Serialises a record for KV.
pub fn encode<T: Serialize>(record: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string(record)
}

/// Reads a login record; anything unreadable or of another version is treated as absent.
pub fn decode_login(raw: &str) -> Option<LoginRecord> {
    serde_json::from_str::<LoginRecord>(raw)
        .ok()
        .filter(|r| r.v == RECORD_VERSION)
}

/// Reads a session record; anything unreadable or of another version is treated as absent.
pub fn decode_session(raw: &str) -> Option<SessionRecord> {
    serde_json::from_str::<SessionRecord>(raw)
        .ok()
        .filter(|r| r.v == RECORD_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_round_trips_and_expires() {
        let claims = json!({"sub": "u", "exp": 5}).as_object().unwrap().clone();
        let record = SessionRecord::new("u".into(), claims, Map::new(), 1000);
        let decoded = decode_session(&encode(&record).unwrap()).unwrap();
        assert_eq!(decoded, record);
        assert!(!decoded.is_expired(1000 + SESSION_TTL_SECS as i64 - 1));
        assert!(decoded.is_expired(1000 + SESSION_TTL_SECS as i64));
    }

    #[test]
    fn login_record_round_trips_and_expires() {
        let record = LoginRecord::new(
            "h".into(),
            Nonce::from_untrusted("n"),
            PkceVerifier::from_untrusted("v"),
            50,
        );
        let decoded = decode_login(&encode(&record).unwrap()).unwrap();
        assert_eq!(decoded.nonce.secret(), "n");
        assert_eq!(decoded.verifier.secret(), "v");
        assert!(!decoded.is_expired(50 + LOGIN_TTL_SECS as i64));
        assert!(decoded.is_expired(51 + LOGIN_TTL_SECS as i64));
    }

    #[test]
    fn unreadable_or_foreign_records_are_absent() {
        assert!(decode_session("").is_none());
        assert!(decode_session("{\"v\":2}").is_none());
        let mut other =
            serde_json::to_value(SessionRecord::new("u".into(), Map::new(), Map::new(), 0))
                .unwrap();
        other["v"] = json!(9);
        assert!(decode_session(&other.to_string()).is_none());
        assert!(decode_login("not json").is_none());
    }
}
