//! Where cookies are read and set. Both cookies use the `__Host-` prefix, so browsers only
//! accept them from this exact host over HTTPS with `Path=/` and no `Domain`
//! (RFC 6265bis §4.1.3.2): a sibling subdomain cannot plant or overwrite them.

/// Ties a login in progress to the browser that started it.
pub const LOGIN_COOKIE: &str = "__Host-webex-login";
/// Carries the session id.
pub const SESSION_COOKIE: &str = "__Host-webex-session";

/// Browsers send at most a few kB; more is not worth scanning.
const MAX_COOKIE_HEADER_BYTES: usize = 16 * 1024;
/// Our values are 43 base64url characters; anything else is not ours.
const MAX_VALUE_LEN: usize = 128;

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
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
