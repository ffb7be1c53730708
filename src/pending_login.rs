//! A login in progress, end to end: the `__Host-webex-login` cookie that ties it to the
//! browser that started it, and the login record in KV (per `state`, 10 minutes) holding the
//! nonce, the PKCE verifier and where to land. The record is sealed under a key only the
//! cookie carries: it proves the callback comes back to the browser that started the login,
//! and a KV dump reveals neither the verifier nor the nonce.

use crate::cookies::{clear, find, set, Found};
use serde::{Deserialize, Serialize};

use crate::oidc::secrets::{sha256_b64url, Nonce, PkceVerifier, State};
use crate::platform::{Crypto, KeyValueStore};
use crate::seal::{open_record, seal_record, Record, SealError, SealKey};

/// Ties a login in progress to the browser that started it.
pub const LOGIN_COOKIE: &str = "__Host-webex-login";
/// Logins that may be in progress at once in one browser (tabs). Older ones are dropped.
pub const MAX_PENDING_LOGINS: usize = 3;
/// A login must come back within 10 minutes (the KV TTL; KV's minimum is 60 s).
pub const LOGIN_TTL_SECS: u64 = 600;

/// KV key of the login record: a hash, so the key itself cannot be replayed as a state.
pub fn kv_key(state: &State) -> String {
    format!("login:{}", sha256_b64url(state.secret()))
}

/// Why a pending login could not be stored or taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingLoginError {
    /// The browser-binding cookie is absent: another browser, or cookies blocked.
    CookieMissing,
    /// No login record for this state: expired, already used, or never issued.
    Unknown,
    /// The browser-binding cookie belongs to another login.
    Mismatch,
    /// Workers KV failed.
    Storage,
    Seal(SealError),
}

impl From<crate::platform::StoreError> for PendingLoginError {
    fn from(_: crate::platform::StoreError) -> Self {
        Self::Storage
    }
}
impl From<SealError> for PendingLoginError {
    fn from(e: SealError) -> Self {
        Self::Seal(e)
    }
}

/// What the callback needs to finish the login that `/login` started. Stored (see
/// [`Record`]) as a JSON object of these fields by name.
#[derive(Serialize, Deserialize)]
pub struct LoginRecord {
    pub nonce: Nonce,
    pub verifier: PkceVerifier,
    /// Same-origin path to land on after sign-in (validated by `routes::login`).
    pub return_to: String,
    pub created_at: i64,
}

impl LoginRecord {
    pub fn new(nonce: Nonce, verifier: PkceVerifier, return_to: String, now: i64) -> Self {
        Self {
            nonce,
            verifier,
            return_to,
            created_at: now,
        }
    }

    /// KV may serve an entry a little past its TTL; the record's own clock decides.
    pub fn is_expired(&self, now: i64) -> bool {
        now.saturating_sub(self.created_at) > LOGIN_TTL_SECS as i64
    }
}

impl Record for LoginRecord {}

/// The `__Host-webex-login` cookie: the record keys of the logins this browser has in
/// progress, newest first. One cookie for all tabs, so two logins started side by side both
/// complete, and a bounded number of them can pile up.
#[derive(Debug, Default)]
pub struct PendingLogins(Vec<SealKey>);

impl PendingLogins {
    /// The pending logins; none when the cookie is absent, malformed or ambiguous.
    pub fn from_header(header: &str) -> Self {
        Self::read(header).one().unwrap_or_default()
    }

    /// The login cookie as found; a value with no usable key counts as malformed.
    pub fn read(header: &str) -> Found<Self> {
        find(header, LOGIN_COOKIE).and_then(|value| {
            let keys: Vec<SealKey> = value
                .split('.')
                .filter_map(SealKey::from_cookie)
                .take(MAX_PENDING_LOGINS)
                .collect();
            (!keys.is_empty()).then_some(Self(keys))
        })
    }

    pub fn keys(&self) -> &[SealKey] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a new login, dropping the oldest beyond the bound.
    pub fn with_new(mut self, key: SealKey) -> Self {
        self.0.insert(0, key);
        self.0.truncate(MAX_PENDING_LOGINS);
        self
    }

    /// Removes a finished login.
    pub fn without(mut self, key: &SealKey) -> Self {
        self.0.retain(|k| k != key);
        self
    }

    /// `Set-Cookie` for what remains: the list, or a deletion when nothing is pending.
    pub fn set_cookie(&self, max_age_secs: u64) -> String {
        if self.0.is_empty() {
            return clear(LOGIN_COOKIE);
        }
        let value: Vec<String> = self.0.iter().map(SealKey::to_cookie).collect();
        set(LOGIN_COOKIE, &value.join("."), max_age_secs)
    }
}

/// Stores a new login record under its state, sealed under a fresh key, and returns the
/// browser's pending logins with that key added (for its cookie).
pub async fn put(
    kv: &impl KeyValueStore,
    crypto: &dyn Crypto,
    state: &State,
    record: &LoginRecord,
    pending: PendingLogins,
) -> Result<PendingLogins, PendingLoginError> {
    let key = SealKey::generate().map_err(|_| SealError::Randomness)?;
    let kv_key = kv_key(state);
    let sealed = seal_record(crypto, &key, &kv_key, record).await?;
    kv.put(&kv_key, &sealed, LOGIN_TTL_SECS).await?;
    Ok(pending.with_new(key))
}

/// Reads the login record, opens it with one of the browser's pending-login keys, and only
/// then deletes it (a state works once; a browser that did not start the login deletes
/// nothing). The delete happens before the code is spent, so a replay racing this request
/// finds nothing; the provider's single-use code is the second line of defence where KV has
/// not yet propagated the delete.
pub async fn take(
    kv: &impl KeyValueStore,
    crypto: &dyn Crypto,
    state: &State,
    pending: &mut PendingLogins,
    now: i64,
) -> Result<LoginRecord, PendingLoginError> {
    if pending.is_empty() {
        return Err(PendingLoginError::CookieMissing);
    }
    let kv_key = kv_key(state);
    let sealed = kv.get(&kv_key).await?.ok_or(PendingLoginError::Unknown)?;
    let mut opened = None;
    for key in pending.keys() {
        if let Some(login) = open_record::<LoginRecord>(crypto, key, &kv_key, &sealed).await {
            opened = Some((key.clone(), login));
            break;
        }
    }
    let (key, login) = opened.ok_or(PendingLoginError::Mismatch)?;
    kv.delete(&kv_key).await?;
    *pending = std::mem::take(pending).without(&key);
    if login.is_expired(now) {
        return Err(PendingLoginError::Unknown);
    }
    Ok(login)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::test_keys::RustCrypto;
    use base64ct::{Base64UrlUnpadded, Encoding};
    use futures::executor::block_on;

    fn seal_record<T: crate::seal::Record>(
        key: &SealKey,
        kv_key: &str,
        record: &T,
    ) -> Result<String, SealError> {
        block_on(crate::seal::seal_record(&RustCrypto, key, kv_key, record))
    }

    fn open_login(key: &SealKey, kv_key: &str, sealed: &str) -> Option<LoginRecord> {
        block_on(open_record(&RustCrypto, key, kv_key, sealed))
    }

    fn open_session(
        key: &SealKey,
        kv_key: &str,
        sealed: &str,
    ) -> Option<crate::session::record::SessionRecord> {
        block_on(open_record(&RustCrypto, key, kv_key, sealed))
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// A login record sealed by the release whose JSON module was hand-written, under a
    /// fixed key: a login started before an upgrade completes after it.
    #[test]
    fn a_login_sealed_by_the_earlier_release_still_opens() {
        const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        const SEALED: &str = "7Ja430iXIxe5VV0eMTjSSu1Ynvtip0w9FCth0r0GmQU1wyX6YX-NeW8Z1kXng9zHJEDvIhBFIdJTiNGQN-g2Yze4EbrjRdJqAnhbJQ6nvMO7blgOB0qTRbWwgL5pK4L6GGFdeY5x03NbzTC_jVBOy9GKfM_sWQKwqqWM-pu5EcKeRGTpEJh08OqCJllbJaXHx-NkA-Rzeab7ZnuRGzaJb7sz";
        const PLAINTEXT: &str = r#"{"created_at":1000,"nonce":"n-0S6_WzA2Mj","return_to":"/deep/link?x=1","v":2,"verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"}"#;
        let key = SealKey::from_cookie(KEY).unwrap();
        let plaintext = block_on(crate::seal::open(&RustCrypto, &key, "login:k", SEALED)).unwrap();
        assert_eq!(String::from_utf8(plaintext).unwrap(), PLAINTEXT);
        let opened = open_login(&key, "login:k", SEALED).unwrap();
        assert_eq!(
            (
                opened.nonce.secret(),
                opened.verifier.secret(),
                opened.return_to.as_str(),
                opened.created_at
            ),
            (
                "n-0S6_WzA2Mj",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                "/deep/link?x=1",
                1000
            )
        );
        assert!(open_session(&key, "login:k", SEALED).is_none());
    }

    #[test]
    fn login_record_round_trips_and_expires() {
        let key = SealKey::generate().unwrap();
        let login = LoginRecord::new(
            Nonce::from_untrusted("n"),
            PkceVerifier::from_untrusted("v"),
            "/x".into(),
            50,
        );
        let sealed = seal_record(&key, "login:k", &login).unwrap();
        let stored = Base64UrlUnpadded::decode_vec(&sealed).unwrap();
        let plaintext = block_on(crate::seal::open(&RustCrypto, &key, "login:k", &sealed)).unwrap();
        assert!(
            contains(&plaintext, b"\"nonce\":\"n\""),
            "the record holds the nonce"
        );
        assert!(
            !contains(&stored, b"\"nonce\":\"n\""),
            "the nonce is not readable at rest"
        );
        assert!(!contains(&stored, b"\"verifier\":\"v\""));
        let opened = open_login(&key, "login:k", &sealed).unwrap();
        assert_eq!(
            (
                opened.nonce.secret(),
                opened.verifier.secret(),
                opened.return_to.as_str()
            ),
            ("n", "v", "/x")
        );
        assert!(!opened.is_expired(50 + LOGIN_TTL_SECS as i64));
        assert!(opened.is_expired(51 + LOGIN_TTL_SECS as i64));
        assert!(
            open_session(&key, "login:k", &sealed).is_none(),
            "a login record is no session"
        );
    }
}
