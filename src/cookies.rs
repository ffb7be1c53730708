//! Where cookies are read and set. Both cookies use the `__Host-` prefix, so browsers only
//! accept them from this exact host over HTTPS with `Path=/` and no `Domain`
//! (RFC 6265bis §4.1.3.2): a sibling subdomain cannot plant or overwrite them.

use crate::oidc::secrets::SessionId;
use crate::sessions::seal::SealKey;

/// Ties a login in progress to the browser that started it.
pub const LOGIN_COOKIE: &str = "__Host-webex-login";
/// Carries the session id.
pub const SESSION_COOKIE: &str = "__Host-webex-session";

/// Browsers send at most a few kB; more is not worth scanning.
const MAX_COOKIE_HEADER_BYTES: usize = 16 * 1024;
/// Our values are up to three 43-character base64url parts joined by dots.
const MAX_VALUE_LEN: usize = 160;
/// Logins that may be in progress at once in one browser (tabs). Older ones are dropped.
pub const MAX_PENDING_LOGINS: usize = 3;

/// The value of cookie `name` in a `Cookie` header, if present and shaped like ours.
pub fn find<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    let header = header
        .get(..header.len().min(MAX_COOKIE_HEADER_BYTES))
        .unwrap_or("");
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| is_token_value(v))
}

fn is_token_value(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_VALUE_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The `__Host-webex-login` cookie: the record keys of the logins this browser has in
/// progress, newest first. One cookie for all tabs, so two logins started side by side both
/// complete, and a bounded number of them can pile up.
#[derive(Debug, Default)]
pub struct PendingLogins(Vec<SealKey>);

impl PendingLogins {
    pub fn from_header(header: &str) -> Self {
        let keys = find(header, LOGIN_COOKIE)
            .map(|value| {
                value
                    .split('.')
                    .filter_map(SealKey::from_cookie)
                    .take(MAX_PENDING_LOGINS)
                    .collect()
            })
            .unwrap_or_default();
        Self(keys)
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

    pub fn from_header(header: &str) -> Option<Self> {
        let (id, key) = find(header, SESSION_COOKIE)?.split_once('.')?;
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

/// `Set-Cookie` for one of our cookies: HttpOnly (no script access), Secure, SameSite=Lax
/// (sent on the top-level redirect back from the provider, not on cross-site POSTs).
pub fn set(name: &str, value: &str, max_age_secs: u64) -> String {
    format!("{name}={value}; Max-Age={max_age_secs}; Path=/; Secure; HttpOnly; SameSite=Lax")
}

/// `Set-Cookie` that deletes one of our cookies.
pub fn clear(name: &str) -> String {
    format!("{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn finds_the_named_cookie_among_others() {
        let header = format!("a=1; {SESSION_COOKIE}={ID}; {LOGIN_COOKIE}=zzz");
        assert_eq!(find(&header, SESSION_COOKIE), Some(ID));
        assert_eq!(find(&header, LOGIN_COOKIE), Some("zzz"));
        assert_eq!(find(&header, "missing"), None);
    }

    #[test]
    fn ignores_prefix_lookalikes_and_odd_values() {
        assert_eq!(find("x__Host-webex-session=abc", SESSION_COOKIE), None);
        assert_eq!(
            find(&format!("{SESSION_COOKIE}=<script>"), SESSION_COOKIE),
            None
        );
        assert_eq!(find(&format!("{SESSION_COOKIE}="), SESSION_COOKIE), None);
        assert_eq!(
            find(
                &format!("{SESSION_COOKIE}={}", "a".repeat(200)),
                SESSION_COOKIE
            ),
            None
        );
        assert_eq!(
            find(&format!("{SESSION_COOKIE}=\"{ID}\""), SESSION_COOKIE),
            Some(ID)
        );
    }

    #[test]
    fn survives_hostile_headers() {
        assert_eq!(find(";;;==;=;", SESSION_COOKIE), None);
        assert_eq!(find(&"a=b; ".repeat(50_000), SESSION_COOKIE), None);
        assert_eq!(find("é=ü; \u{0}=1", SESSION_COOKIE), None);
        // A cut in the middle of a multi-byte character must not panic.
        let long = format!(
            "{}{}",
            "a".repeat(MAX_COOKIE_HEADER_BYTES - 1),
            "é".repeat(10)
        );
        assert_eq!(find(&long, SESSION_COOKIE), None);
    }

    #[test]
    fn pending_logins_are_bounded_newest_first() {
        let keys: Vec<SealKey> = (0..5).map(|_| SealKey::generate().unwrap()).collect();
        let mut pending = PendingLogins::default();
        for key in &keys {
            let header = pending
                .set_cookie(600)
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            pending = PendingLogins::from_header(&header).with_new(key.clone());
        }
        assert_eq!(
            pending.keys(),
            &[keys[4].clone(), keys[3].clone(), keys[2].clone()]
        );
        let header = pending.set_cookie(600);
        let value = header.split(';').next().unwrap();
        assert_eq!(
            PendingLogins::from_header(value).keys(),
            pending.keys(),
            "fits the value bound"
        );
        let pending = pending.without(&keys[3]);
        assert_eq!(pending.keys(), &[keys[4].clone(), keys[2].clone()]);
        let pending = pending.without(&keys[4]).without(&keys[2]);
        assert!(pending.set_cookie(600).contains("Max-Age=0"));
        assert!(PendingLogins::from_header(&format!("{LOGIN_COOKIE}=junk.more")).is_empty());
    }

    #[test]
    fn session_cookie_round_trips_and_refuses_malformed_values() {
        let cookie = SessionCookie::generate().unwrap();
        let header = cookie.set_cookie(60);
        let value = header.split(';').next().unwrap();
        let parsed = SessionCookie::from_header(value).unwrap();
        assert_eq!(parsed.id, cookie.id);
        assert_eq!(parsed.key, cookie.key);
        for bad in [
            "abc",
            "abc.def",
            &format!("{}.x", "a".repeat(43)),
            &"a".repeat(87),
        ] {
            assert!(
                SessionCookie::from_header(&format!("{SESSION_COOKIE}={bad}")).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn set_cookie_has_every_protective_attribute() {
        let header = set(SESSION_COOKIE, ID, 3600);
        assert!(header.starts_with(&format!("__Host-webex-session={ID};")));
        for attribute in [
            "Max-Age=3600",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
        ] {
            assert!(
                header.split("; ").any(|a| a == attribute),
                "{attribute} in {header}"
            );
        }
        assert!(!header.contains("Domain"));
        assert!(clear(LOGIN_COOKIE).contains("Max-Age=0"));
    }
}
