//! The session record KV holds (sealed, see `crate::seal`): the identity, the provider's
//! tokens, the profile, and the lifetimes that decide when it ends.

use serde::{Deserialize, Serialize};

use crate::oidc::json::Object;

use crate::oidc::secrets::{AccessToken, RefreshToken};
use crate::oidc::token::TokenSet;
use crate::platform::KV_MIN_TTL_SECS;
use crate::seal::Record;

/// Access tokens this close to expiry count as expired.
pub const ACCESS_TOKEN_MARGIN_SECS: i64 = 60;

/// Session lifetimes, enforced server-side whatever the cookie says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Absolute lifetime from sign-in (`SESSION_TTL`, default 8 h).
    pub ttl_secs: i64,
    /// Inactivity after which the session ends (`SESSION_IDLE_TIMEOUT`, default 1 h).
    pub idle_timeout_secs: i64,
}

impl SessionPolicy {
    /// How stale `last_seen_at` may get before a page view writes it back: a twelfth of the
    /// idle timeout, at most 5 minutes. This bounds KV writes to one per interval per
    /// session, at the price of ending idle sessions up to one interval early.
    pub fn touch_interval_secs(&self) -> i64 {
        (self.idle_timeout_secs / 12).clamp(1, 300)
    }
}

/// The provider tokens, kept only inside the sealed session record. Redacted in `Debug`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionTokens {
    pub access_token: AccessToken,
    pub access_expires_at: Option<i64>,
    pub refresh_token: Option<RefreshToken>,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTokens")
            .field("access_expires_at", &self.access_expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

impl SessionTokens {
    /// What a token response leaves to keep: its access token with an absolute expiry, and
    /// its refresh token, or `previous_refresh_token` when it rotated none (RFC 6749 §6).
    pub fn from_response(
        tokens: TokenSet,
        previous_refresh_token: Option<RefreshToken>,
        now: i64,
    ) -> Self {
        Self {
            access_token: tokens.access_token,
            access_expires_at: tokens.expires_in.map(|secs| now.saturating_add(secs)),
            refresh_token: tokens.refresh_token.or(previous_refresh_token),
        }
    }

    pub fn access_token_expiring(&self, now: i64) -> bool {
        self.access_expires_at
            .is_some_and(|at| now + ACCESS_TOKEN_MARGIN_SECS >= at)
    }
}

/// A signed-in user: verified claims, userinfo, and the tokens to refresh them. Stored (see
/// [`Record`]) as a JSON object of these fields by name, the tokens as an object, `org_id`
/// only when known: the layout every earlier release wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub subject: String,
    pub id_token_claims: Object,
    pub userinfo: Object,
    pub tokens: SessionTokens,
    pub created_at: i64,
    /// Absolute end, fixed at sign-in.
    pub expires_at: i64,
    /// Last activity, written back at most once per touch interval.
    pub last_seen_at: i64,
    /// The Webex organisation (`GET /v1/people/me`), fetched only when an access policy
    /// needs it (gateway mode with `ALLOWED_WEBEX_ORGS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// What a page view finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Freshness {
    Expired,
    Active,
    /// Active, and `last_seen_at` is stale enough to be written back.
    NeedsTouch,
}

impl SessionRecord {
    pub fn new(
        subject: String,
        id_token_claims: Object,
        userinfo: Object,
        tokens: SessionTokens,
        policy: &SessionPolicy,
        now: i64,
    ) -> Self {
        Self {
            subject,
            id_token_claims,
            userinfo,
            tokens,
            created_at: now,
            expires_at: now.saturating_add(policy.ttl_secs),
            last_seen_at: now,
            org_id: None,
        }
    }

    /// When the session ends if nothing happens: idle timeout or absolute end, whichever first.
    pub fn idle_expires_at(&self, policy: &SessionPolicy) -> i64 {
        self.last_seen_at
            .saturating_add(policy.idle_timeout_secs)
            .min(self.expires_at)
    }

    pub fn freshness(&self, policy: &SessionPolicy, now: i64) -> Freshness {
        if now >= self.idle_expires_at(policy) {
            Freshness::Expired
        } else if now - self.last_seen_at >= policy.touch_interval_secs() {
            Freshness::NeedsTouch
        } else {
            Freshness::Active
        }
    }

    /// The record a write-back stores: `self` is what this request wants, `base` what it
    /// read, `current` what KV holds now. What this request changed is taken from it, except
    /// tokens that another request already replaced: the first refresh stored wins, because
    /// its refresh token is the one the provider honours (a provider that rotates refresh
    /// tokens refuses or revokes a second use of the old one). Everything else, and whatever
    /// this request did not change, comes from `current`, so no consumed token comes back.
    pub fn merge_write_back(&self, base: &SessionRecord, current: SessionRecord) -> SessionRecord {
        let mut merged = current;
        if self.tokens != base.tokens && merged.tokens == base.tokens {
            merged.tokens = self.tokens.clone();
            merged.id_token_claims = self.id_token_claims.clone();
        }
        if self.userinfo != base.userinfo {
            merged.userinfo = self.userinfo.clone();
        }
        if self.org_id != base.org_id {
            merged.org_id = self.org_id.clone();
        }
        merged.last_seen_at = merged.last_seen_at.max(self.last_seen_at);
        merged
    }

    /// KV expiry for this record: gone from KV no later than the session could be used.
    pub fn kv_ttl_secs(&self, policy: &SessionPolicy, now: i64) -> u64 {
        (self.idle_expires_at(policy) - now).max(KV_MIN_TTL_SECS as i64) as u64
    }
}

impl Record for SessionRecord {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::oidc::test_keys::RustCrypto;
    use futures::executor::block_on;
    use serde_json::json;

    use crate::seal::{self, SealError, SealKey};

    fn seal_record<T: crate::seal::Record>(
        key: &SealKey,
        kv_key: &str,
        record: &T,
    ) -> Result<String, SealError> {
        block_on(seal::seal_record(&RustCrypto, key, kv_key, record))
    }

    fn open_session(key: &SealKey, kv_key: &str, sealed: &str) -> Option<SessionRecord> {
        block_on(seal::open_record(&RustCrypto, key, kv_key, sealed))
    }

    pub const POLICY: SessionPolicy = SessionPolicy {
        ttl_secs: 8 * 3600,
        idle_timeout_secs: 3600,
    };

    pub fn tokens() -> SessionTokens {
        SessionTokens {
            access_token: AccessToken::from_untrusted("AT-secret"),
            access_expires_at: Some(10_000),
            refresh_token: Some(RefreshToken::from_untrusted("RT-secret")),
        }
    }

    pub fn record(now: i64) -> SessionRecord {
        let claims = json!({"sub": "u", "email": "ada@example.com"})
            .as_object()
            .unwrap()
            .clone();
        SessionRecord::new("u".into(), claims.clone(), claims, tokens(), &POLICY, now)
    }

    use base64ct::{Base64UrlUnpadded, Encoding};

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Sessions stored before the JSON module replaced serde keep working after an upgrade:
    /// the layout is the one serde's derive wrote, member for member.
    #[test]
    fn a_session_stored_in_the_earlier_layout_still_opens() {
        let key = SealKey::generate().unwrap();
        let stored = br#"{"v":2,"subject":"u","id_token_claims":{"email":"ada@example.com","sub":"u"},"userinfo":{"email":"ada@example.com","sub":"u"},"tokens":{"access_token":"AT-secret","access_expires_at":10000,"refresh_token":"RT-secret"},"created_at":1000,"expires_at":29800,"last_seen_at":1000}"#;
        let sealed = block_on(crate::seal::seal(&RustCrypto, &key, "session:k", stored)).unwrap();
        assert_eq!(open_session(&key, "session:k", &sealed), Some(record(1000)));
        let without_refresh = String::from_utf8_lossy(stored)
            .replace(r#""refresh_token":"RT-secret""#, r#""refresh_token":null"#)
            .replace(
                r#""last_seen_at":1000"#,
                r#""last_seen_at":1000,"org_id":"o-1""#,
            );
        let sealed = block_on(crate::seal::seal(
            &RustCrypto,
            &key,
            "session:k",
            without_refresh.as_bytes(),
        ))
        .unwrap();
        let opened = open_session(&key, "session:k", &sealed).unwrap();
        assert_eq!(opened.tokens.refresh_token, None);
        assert_eq!(opened.org_id.as_deref(), Some("o-1"));
        // A member given twice, or nested past the JSON limit, is not a record.
        for odd in [
            String::from_utf8_lossy(stored).replace(r#""v":2,"#, r#""v":2,"subject":"x","#),
            String::from_utf8_lossy(stored).replace(
                r#""sub":"u"}"#,
                &format!(
                    r#""sub":"u","deep":{}{}}}"#,
                    "[".repeat(127),
                    "]".repeat(127)
                ),
            ),
        ] {
            let sealed = block_on(crate::seal::seal(
                &RustCrypto,
                &key,
                "session:k",
                odd.as_bytes(),
            ))
            .unwrap();
            assert_eq!(open_session(&key, "session:k", &sealed), None, "{odd:.60}");
        }
        // A member of the wrong type is not a record.
        let wrong = String::from_utf8_lossy(stored)
            .replace(r#""created_at":1000"#, r#""created_at":"1000""#);
        let sealed = block_on(crate::seal::seal(
            &RustCrypto,
            &key,
            "session:k",
            wrong.as_bytes(),
        ))
        .unwrap();
        assert_eq!(open_session(&key, "session:k", &sealed), None);
    }

    /// A record sealed by the release whose JSON module was hand-written (members written
    /// one by one, sorted by name), under a fixed key: it opens to the same session.
    #[test]
    fn a_session_sealed_by_the_earlier_release_still_opens() {
        const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        const SEALED: &str = "j1_AvSMJKHgDkpn-6nhq1JMH_DzFfti_i-eGGT9_lLqVBdybjXwEO7Nfa7KNYXnliTXnARoz6PbCX17dLmME7DPntA011gUqz1aIxK-MEmNEqDbIS_0LuETPYcB0P5mZTCgSv8KuIdCNzyUOD54E2HgTbSdSnde3tikPb6izQCcnTNmRj0KH7j16We2M5e5X1mVSHdpSReRpzUPEol1bYyVY0svYgzbXbdo3bjdigVd0P3CoBZSEr67qdVOyk2Yw_gLKW5-6n_Z3ueeSYqnheBHl1n1JMFVqqfNQU5EHt0I2PAtYVbX2JGIgPjGJXrt_7ioncOys2BHvP-BqeawoCGP9lCtY2eBYrlFBt-6VcAF7fkzjuIB7fbrHiFY2HstkVNB9aytRR9MZVcYGCnpPkQWpQQ2F5yMahKTdSzOLl4GvwxPXCp-37wQJ9CfUHtSDbglE4mciE6C9r4ui5o6XSpUmxLiSmgwFAjgDrqTJowBwJV4ZMo2p1G8B_3QAgQJ-8A";
        const PLAINTEXT: &str = r#"{"created_at":1000,"expires_at":29800,"id_token_claims":{"address":{"locality":"Zoë"},"amr":["pwd"],"email":"ada@example.com","exp":4600,"iat":1000,"sub":"u"},"last_seen_at":1000,"org_id":"org-1","subject":"u","tokens":{"access_expires_at":null,"access_token":"AT-secret","refresh_token":"RT-secret"},"userinfo":{"email":"ada@example.com","sub":"u"},"v":2}"#;
        let key = SealKey::from_cookie(KEY).unwrap();
        let opened = block_on(crate::seal::open(&RustCrypto, &key, "session:k", SEALED)).unwrap();
        assert_eq!(String::from_utf8(opened).unwrap(), PLAINTEXT);

        let mut expected = record(1000);
        expected.org_id = Some("org-1".into());
        expected.tokens.access_expires_at = None;
        expected.id_token_claims = json!({"sub": "u", "email": "ada@example.com", "exp": 4600,
            "iat": 1000, "amr": ["pwd"], "address": {"locality": "Zoë"}})
        .as_object()
        .unwrap()
        .clone();
        assert_eq!(open_session(&key, "session:k", SEALED), Some(expected));
        assert_eq!(open_session(&key, "session:other", SEALED), None);
    }

    #[test]
    fn sealed_session_round_trips_and_reveals_nothing() {
        let key = SealKey::generate().unwrap();
        let sealed = seal_record(&key, "session:k", &record(1000)).unwrap();
        // What is stored is the ciphertext: its bytes hold none of the record's secrets,
        // which the plaintext (the JSON the record serialises to) does hold.
        let stored = Base64UrlUnpadded::decode_vec(&sealed).unwrap();
        let plaintext =
            block_on(crate::seal::open(&RustCrypto, &key, "session:k", &sealed)).unwrap();
        for secret in ["ada@example.com", "AT-secret", "RT-secret"] {
            assert!(
                contains(&plaintext, secret.as_bytes()),
                "{secret} in the record"
            );
            assert!(
                !contains(&stored, secret.as_bytes()),
                "{secret} visible at rest"
            );
            assert!(!sealed.contains(secret));
        }
        assert_eq!(open_session(&key, "session:k", &sealed), Some(record(1000)));
        assert_eq!(
            open_session(&SealKey::generate().unwrap(), "session:k", &sealed),
            None
        );
        assert_eq!(open_session(&key, "session:other", &sealed), None);
    }

    #[test]
    fn idle_and_absolute_lifetimes() {
        let mut session = record(0);
        assert_eq!(session.freshness(&POLICY, 10), Freshness::Active);
        assert_eq!(session.freshness(&POLICY, 300), Freshness::NeedsTouch);
        assert_eq!(session.freshness(&POLICY, 3600), Freshness::Expired, "idle");
        // Active every 5 minutes, the session still ends at the absolute limit.
        let mut now = 0;
        while session.freshness(&POLICY, now) != Freshness::Expired {
            session.last_seen_at = now;
            now += 300;
        }
        assert_eq!(now, POLICY.ttl_secs);
    }

    #[test]
    fn kv_ttl_follows_the_nearest_end_with_kv_minimum() {
        let session = record(0);
        assert_eq!(session.kv_ttl_secs(&POLICY, 0), 3600);
        assert_eq!(session.kv_ttl_secs(&POLICY, 3590), 60);
        let short = SessionPolicy {
            ttl_secs: 30,
            idle_timeout_secs: 10,
        };
        assert_eq!(short.touch_interval_secs(), 1);
        assert_eq!(POLICY.touch_interval_secs(), 300);
    }

    #[test]
    fn a_write_back_keeps_what_others_stored_meanwhile() {
        let base = record(0);
        let rotated = SessionTokens {
            access_token: AccessToken::from_untrusted("AT-theirs"),
            access_expires_at: Some(20_000),
            refresh_token: Some(RefreshToken::from_untrusted("RT-theirs")),
        };
        let mut theirs = base.clone();
        theirs.tokens = rotated.clone();
        theirs.userinfo.insert("name".into(), json!("Theirs"));
        theirs.last_seen_at = 50;

        // A touch (only last_seen_at changed) keeps their tokens and profile.
        let mut touch = base.clone();
        touch.last_seen_at = 40;
        let merged = touch.merge_write_back(&base, theirs.clone());
        assert_eq!(
            merged.tokens, rotated,
            "no consumed refresh token comes back"
        );
        assert_eq!(merged.userinfo["name"], "Theirs");
        assert_eq!(merged.last_seen_at, 50, "the later activity");

        // Two refreshes: the first stored keeps its tokens; the second's profile is newer.
        let mut ours = base.clone();
        ours.tokens.refresh_token = Some(RefreshToken::from_untrusted("RT-ours"));
        ours.userinfo.insert("name".into(), json!("Ours"));
        ours.last_seen_at = 60;
        let merged = ours.merge_write_back(&base, theirs.clone());
        assert_eq!(merged.tokens, rotated);
        assert_eq!(merged.userinfo["name"], "Ours");
        assert_eq!(merged.last_seen_at, 60);

        // Nobody else wrote: ours goes in whole.
        assert_eq!(ours.merge_write_back(&base, base.clone()), ours);
    }

    #[test]
    fn a_write_back_keeps_the_newest_organisation() {
        let base = record(0);
        let mut refreshed = base.clone();
        refreshed.org_id = Some("org-now".into());
        // A refresh that read the organisation again stores it...
        assert_eq!(
            refreshed
                .merge_write_back(&base, base.clone())
                .org_id
                .as_deref(),
            Some("org-now")
        );
        // ...and a touch that did not keeps what a refresh stored meanwhile.
        let mut touch = base.clone();
        touch.last_seen_at = 40;
        assert_eq!(
            touch.merge_write_back(&base, refreshed).org_id.as_deref(),
            Some("org-now")
        );
    }

    #[test]
    fn access_token_expiry_margin() {
        let t = tokens();
        assert!(!t.access_token_expiring(10_000 - ACCESS_TOKEN_MARGIN_SECS - 1));
        assert!(t.access_token_expiring(10_000 - ACCESS_TOKEN_MARGIN_SECS));
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.starts_with(
                "SessionTokens { access_expires_at: Some(10000), has_refresh_token: true"
            ),
            "what Debug does show: {shown}"
        );
    }
}
