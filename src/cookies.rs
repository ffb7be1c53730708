//! How cookies are read and set; what each of our cookies carries lives with its concept
//! (`session::ticket`, `pending_login`). Both use the `__Host-` prefix, so browsers only
//! accept them from this exact host over HTTPS with `Path=/` and no `Domain`
//! (RFC 6265bis §4.1.3.2): a sibling subdomain cannot set a cookie of that exact name.
//!
//! What a sibling subdomain *can* do is toss look-alikes: a cookie whose name only looks like
//! ours (`"\u{2000}__Host-webex-session"`, which browsers treat as an ordinary name and send to
//! every host of the domain), or, through a browser that still accepts them, a second cookie
//! that serialises under our exact name. Reading therefore compares names byte for byte after
//! trimming only SP and HTAB (RFC 6265bis §5.7), and a name of ours that appears more than
//! once counts as absent: a request whose cookie cannot be told apart from a planted one is
//! treated as carrying none, and the genuine cookie is never cleared because of the other.

/// Our values are up to three 43-character base64url parts joined by dots.
const MAX_VALUE_LEN: usize = 160;

/// What a `Cookie` header carries under one of our names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<T> {
    /// No cookie of exactly this name.
    Absent,
    /// The name appears more than once: ours cannot be told from a planted one.
    Ambiguous,
    /// Exactly one cookie of this name, but its value is not shaped like ours.
    Malformed,
    /// Exactly one cookie of this name, shaped like ours.
    One(T),
}

impl<T> Found<T> {
    /// The value when there is exactly one well-formed cookie of the name.
    pub fn one(self) -> Option<T> {
        match self {
            Self::One(value) => Some(value),
            _ => None,
        }
    }

    /// Parses the one value found; a value that does not parse counts as malformed.
    pub fn and_then<U>(self, parse: impl FnOnce(T) -> Option<U>) -> Found<U> {
        match self {
            Self::Absent => Found::Absent,
            Self::Ambiguous => Found::Ambiguous,
            Self::Malformed => Found::Malformed,
            Self::One(value) => parse(value).map_or(Found::Malformed, Found::One),
        }
    }
}

/// The cookie named exactly `name` in a `Cookie` header (RFC 6265bis §5.7.4 pairs: split at
/// `;`, name and value split at the first `=`, SP and HTAB trimmed, nothing else).
pub fn find<'a>(header: &'a str, name: &'a str) -> Found<&'a str> {
    let mut values = named(header, name);
    match (values.next(), values.next()) {
        (None, _) => Found::Absent,
        (Some(_), Some(_)) => Found::Ambiguous,
        (Some(value), None) => token_value(value).map_or(Found::Malformed, Found::One),
    }
}

/// Every well-formed value under `name`, in header order: what logout ends when a name of
/// ours is duplicated and the genuine one cannot be told apart. Not cut short here: planted
/// values sent first must not crowd the genuine one out (the caller bounds its own work).
pub fn candidates<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
    named(header, name).filter_map(token_value)
}

/// Every value under `name`, in the whole header: reading only its first part would let
/// cookies planted with a longer `Path` (sent first) push the genuine one out of sight and
/// turn a duplicate into a single planted cookie. The runtime bounds the header's size.
fn named<'a>(header: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> {
    header.split(';').filter_map(move |pair| {
        let (n, value) = pair.split_once('=')?;
        (trim_sp_htab(n) == name).then(|| trim_sp_htab(value))
    })
}

/// Only SP and HTAB: `str::trim` would also strip Unicode spaces, which is exactly how a
/// look-alike name would pass for ours.
pub fn trim_sp_htab(s: &str) -> &str {
    let bytes = s.as_bytes();
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    // Both ends sit next to ASCII bytes, so they are character boundaries.
    s.get(start..end).unwrap_or("")
}

/// Our values are base64url parts joined by dots, optionally in double quotes.
fn token_value(value: &str) -> Option<&str> {
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    let plausible = !value.is_empty()
        && value.len() <= MAX_VALUE_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    plausible.then_some(value)
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
    use crate::pending_login::{PendingLogins, LOGIN_COOKIE};
    use crate::seal::SealKey;
    use crate::session::ticket::{SessionCookie, SESSION_COOKIE};

    const ID: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn finds_the_named_cookie_among_others() {
        let header = format!("a=1; {SESSION_COOKIE}={ID};{LOGIN_COOKIE}=zzz ");
        assert_eq!(find(&header, SESSION_COOKIE), Found::One(ID));
        assert_eq!(find(&header, LOGIN_COOKIE), Found::One("zzz"));
        assert_eq!(find(&header, "missing"), Found::Absent);
        let spaced = format!(" \t{SESSION_COOKIE}\t = \t{ID} ;");
        assert_eq!(
            find(&spaced, SESSION_COOKIE),
            Found::One(ID),
            "SP and HTAB trimmed"
        );
    }

    #[test]
    fn ignores_prefix_lookalikes_and_odd_values() {
        assert_eq!(
            find("x__Host-webex-session=abc", SESSION_COOKIE),
            Found::Absent
        );
        assert_eq!(
            find("__host-webex-session=abc", SESSION_COOKIE),
            Found::Absent
        );
        for bad in ["<script>", "", &"a".repeat(200), "\"abc", "a b"] {
            assert_eq!(
                find(&format!("{SESSION_COOKIE}={bad}"), SESSION_COOKIE),
                Found::Malformed,
                "{bad:?}"
            );
        }
        assert_eq!(
            find(&format!("{SESSION_COOKIE}=\"{ID}\""), SESSION_COOKIE),
            Found::One(ID)
        );
    }

    /// A sibling subdomain can set `"\u{2000}__Host-webex-session=…; Domain=example.com"`:
    /// browsers take the name as an ordinary one. Whether the runtime hands the header over as
    /// UTF-8 or byte by byte (Latin-1), such a name is not ours.
    #[test]
    fn names_with_unicode_spaces_or_invisible_bytes_are_not_ours() {
        for space in [
            '\u{2000}', '\u{a0}', '\u{3000}', '\u{feff}', '\u{85}', '\u{b}', '\u{c}',
        ] {
            let utf8 = space.to_string();
            let latin1: String = utf8.bytes().map(char::from).collect();
            for lead in [utf8, latin1] {
                for header in [
                    format!("{lead}{SESSION_COOKIE}={ID}"),
                    format!("{SESSION_COOKIE}{lead}={ID}"),
                    format!("a=1; {lead}{SESSION_COOKIE}={ID}"),
                ] {
                    assert_eq!(find(&header, SESSION_COOKIE), Found::Absent, "{header:?}");
                }
                // The tossed cookie sorts first; the genuine one is still found, alone.
                let header = format!("{lead}{SESSION_COOKIE}=junk; {SESSION_COOKIE}={ID}");
                assert_eq!(find(&header, SESSION_COOKIE), Found::One(ID), "{header:?}");
            }
        }
    }

    #[test]
    fn a_duplicated_name_counts_as_absent_in_either_order() {
        let other = "A".repeat(43);
        for header in [
            format!("{SESSION_COOKIE}={ID}; {SESSION_COOKIE}={other}"),
            format!("{SESSION_COOKIE}={other}; {SESSION_COOKIE}={ID}"),
            // `Path=/me` sorts the planted cookie first on /me only.
            format!("{SESSION_COOKIE}={other}; a=b; {SESSION_COOKIE}={ID}"),
            format!("{SESSION_COOKIE}={ID}; {SESSION_COOKIE}=<junk>"),
        ] {
            let found = find(&header, SESSION_COOKIE);
            assert_eq!(found, Found::Ambiguous, "{header:?}");
            assert_eq!(found.one(), None);
        }
        let junk = format!("{SESSION_COOKIE}={ID}; {SESSION_COOKIE}=<junk>");
        assert_eq!(
            candidates(&junk, SESSION_COOKIE).collect::<Vec<_>>(),
            vec![ID],
            "only well-formed candidates"
        );
        let many = format!("{SESSION_COOKIE}=x; ").repeat(20) + &format!("{SESSION_COOKIE}={ID}");
        assert_eq!(
            candidates(&many, SESSION_COOKIE).last(),
            Some(ID),
            "the last of many is still a candidate"
        );
    }

    #[test]
    fn a_cookie_after_other_sites_many_cookies_is_still_found() {
        // A domain's other cookies can fill several kilobytes before ours.
        let header = format!("{}; {SESSION_COOKIE}={ID}", "other=v; ".repeat(1_200));
        assert!(header.len() > 10_000);
        assert_eq!(find(&header, SESSION_COOKIE), Found::One(ID));
        let beyond = format!("{}; {SESSION_COOKIE}={ID}", "other=v; ".repeat(20_000));
        assert_eq!(find(&beyond, SESSION_COOKIE), Found::One(ID));
        let planted_first = format!(
            "{SESSION_COOKIE}=planted; {}; {SESSION_COOKIE}={ID}",
            "pad=vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv; ".repeat(1_000)
        );
        assert_eq!(
            find(&planted_first, SESSION_COOKIE),
            Found::Ambiguous,
            "padding cannot push the genuine cookie out of sight"
        );
    }

    #[test]
    fn survives_hostile_headers() {
        assert_eq!(find(";;;==;=;", SESSION_COOKIE), Found::Absent);
        assert_eq!(find(&"a=b; ".repeat(50_000), SESSION_COOKIE), Found::Absent);
        assert_eq!(find("é=ü; \u{0}=1", SESSION_COOKIE), Found::Absent);
        // Multi-byte characters in a long header must not panic.
        let long = format!("{}{}", "a".repeat(16 * 1024 - 1), "é".repeat(10));
        assert_eq!(find(&long, SESSION_COOKIE), Found::Absent);
    }

    #[test]
    fn session_and_login_cookies_read_the_same_way() {
        let cookie = SessionCookie::generate().unwrap();
        let value = cookie.set_cookie(60);
        let value = value.split(';').next().unwrap();
        let twice = format!("{value}; {value}");
        assert!(matches!(SessionCookie::read(&twice), Found::Ambiguous));
        assert!(SessionCookie::from_header(&twice).is_none());
        let tossed = format!("\u{2000}{value}");
        assert!(matches!(SessionCookie::read(&tossed), Found::Absent));

        let pending = PendingLogins::default().with_new(SealKey::generate().unwrap());
        let login = pending.set_cookie(600);
        let login = login.split(';').next().unwrap();
        assert!(matches!(PendingLogins::read(login), Found::One(_)));
        assert!(matches!(
            PendingLogins::read(&format!("{login}; {login}")),
            Found::Ambiguous
        ));
        assert!(PendingLogins::from_header(&format!("{login}; {login}")).is_empty());
        assert!(matches!(
            PendingLogins::read(&format!("\u{3000}{login}")),
            Found::Absent
        ));
        assert!(matches!(
            PendingLogins::read(&format!("{LOGIN_COOKIE}=junk.more")),
            Found::Malformed
        ));
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
