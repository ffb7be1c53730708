//! Absolute `http(s)` URLs from settings: the provider's endpoints, the redirect URI, the
//! logout target.
//!
//! Parsed by the `url` crate (WHATWG URL), with a strict check around it: these URLs are
//! written by the operator, so what the parser would silently accept or repair (credentials,
//! a fragment, a non-ASCII host, a character that should have been percent-encoded, `https:`
//! without `//`) is refused with a message naming the problem instead.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, ParseError, Url};

/// A parsed `http(s)` URL, normalised by the parser (lowercase scheme and host, no default
/// port, a path of at least `/`).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl {
    url: Url,
    /// `scheme://host[:port]`, kept so that callers can borrow it.
    origin: String,
}

/// Why a setting is not a usable `http(s)` URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlProblem {
    NotHttp,
    Credentials,
    Fragment,
    Host,
    Port,
    Character,
}

impl UrlProblem {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NotHttp => "must be an https:// URL",
            Self::Credentials | Self::Fragment => "must not contain a fragment or credentials",
            Self::Host => "has no usable host name (ASCII letters, digits, dots and dashes; punycode for others)",
            Self::Port => "has an invalid port",
            Self::Character => "contains a character that must be percent-encoded",
        }
    }

    fn of(error: ParseError) -> Self {
        match error {
            ParseError::InvalidPort => Self::Port,
            ParseError::EmptyHost
            | ParseError::IdnaError
            | ParseError::InvalidIpv4Address
            | ParseError::InvalidIpv6Address
            | ParseError::InvalidDomainCharacter => Self::Host,
            _ => Self::NotHttp,
        }
    }
}

impl HttpUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlProblem> {
        let written = Written::split(raw)?;
        let url = Url::parse(raw).map_err(UrlProblem::of)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlProblem::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlProblem::Fragment);
        }
        if !written.authority.bytes().all(|b| b.is_ascii_graphic()) || !has_usable_host(&url) {
            return Err(UrlProblem::Host);
        }
        if written.authority.ends_with(':') || url.port() == Some(0) {
            return Err(UrlProblem::Port);
        }
        if !written.tail.bytes().all(is_url_byte) {
            return Err(UrlProblem::Character);
        }
        let origin = url.origin().ascii_serialization();
        Ok(Self { url, origin })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// `scheme://host[:port]`, as browsers serialise an origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The host name or address, without the port (IPv6 in brackets).
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    pub fn path(&self) -> &str {
        self.url.path()
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// This URL with `pairs` appended to its query, form-encoded.
    pub fn with_query_pairs(&self, pairs: &[(&str, &str)]) -> String {
        let mut url = self.url.clone();
        url.query_pairs_mut().extend_pairs(pairs);
        url.into()
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpUrl({})", self.as_str())
    }
}

/// This machine, named as the settings may name it: `localhost`, `127.0.0.1` or `[::1]`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name == "localhost",
        Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
        None => false,
    }
}

/// The setting as the operator wrote it, split where the parser would split it, for the
/// checks that the parser's repairs would hide.
struct Written<'a> {
    authority: &'a str,
    /// Path, query and fragment.
    tail: &'a str,
}

impl<'a> Written<'a> {
    /// `http://` or `https://` (any case) and a non-empty authority: the parser would also
    /// take `https:host` or `https:///host`.
    fn split(raw: &'a str) -> Result<Self, UrlProblem> {
        let (scheme, rest) = raw.split_once("://").ok_or(UrlProblem::NotHttp)?;
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(UrlProblem::NotHttp);
        }
        let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(UrlProblem::Host);
        }
        Ok(Self { authority, tail })
    }
}

/// A DNS name of LDH labels (the parser also takes `_`, empty labels and labels starting or
/// ending with `-`), an IPv4 or a bracketed IPv6 address.
fn has_usable_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => true,
        None => false,
    }
}

/// Bytes allowed as they are in a path or query (RFC 3986 `pchar`, `/`, `?`, `%`, plus the
/// characters browsers leave alone); the parser would percent-encode the others (or read `\`
/// as `/`), so they must arrive percent-encoded.
fn is_url_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words a setting's error page shows for each refusal: a reader must learn what to fix.
    #[test]
    fn each_problem_is_described_by_what_to_fix() {
        let described = |raw: &str| {
            HttpUrl::parse(raw)
                .map(|_| ())
                .map_err(UrlProblem::describe)
        };
        assert_eq!(
            described("ftp://example.com/"),
            Err("must be an https:// URL")
        );
        assert_eq!(
            described("https://user:pw@example.com/"),
            Err("must not contain a fragment or credentials")
        );
        assert_eq!(
            described("https://example.com:0/"),
            Err("has an invalid port")
        );
        assert!(described("https://exa mple.com/")
            .is_err_and(|text| text.starts_with("has no usable host name")));
    }

    /// Debug shows the URL (never secret: settings URLs carry no credentials), for test output.
    #[test]
    fn debug_names_the_url() {
        let url = HttpUrl::parse("https://webexapis.com/v1/authorize");
        assert_eq!(
            format!("{url:?}"),
            "Ok(HttpUrl(https://webexapis.com/v1/authorize))"
        );
    }

    #[test]
    fn normalises_as_the_url_standard_does() {
        // (as written, serialised, origin, path, host)
        for (raw, text, origin, path, host) in [
            (
                "https://webexapis.com/v1/authorize",
                "https://webexapis.com/v1/authorize",
                "https://webexapis.com",
                "/v1/authorize",
                "webexapis.com",
            ),
            (
                "HTTPS://WebexAPIs.com/v1/authorize?x=1&y=%20",
                "https://webexapis.com/v1/authorize?x=1&y=%20",
                "https://webexapis.com",
                "/v1/authorize",
                "webexapis.com",
            ),
            (
                "https://webexapis.com",
                "https://webexapis.com/",
                "https://webexapis.com",
                "/",
                "webexapis.com",
            ),
            (
                "https://webexapis.com?x",
                "https://webexapis.com/?x",
                "https://webexapis.com",
                "/",
                "webexapis.com",
            ),
            (
                "https://webexapis.com:443/v1",
                "https://webexapis.com/v1",
                "https://webexapis.com",
                "/v1",
                "webexapis.com",
            ),
            (
                "http://127.0.0.1:9400/v1/access_token",
                "http://127.0.0.1:9400/v1/access_token",
                "http://127.0.0.1:9400",
                "/v1/access_token",
                "127.0.0.1",
            ),
            (
                "http://localhost:80/oauth",
                "http://localhost/oauth",
                "http://localhost",
                "/oauth",
                "localhost",
            ),
            (
                "http://[::1]:8787/oauth",
                "http://[::1]:8787/oauth",
                "http://[::1]:8787",
                "/oauth",
                "[::1]",
            ),
            (
                "https://idbroker-b-us.webex.com/idb/oauth2/v1/logout",
                "https://idbroker-b-us.webex.com/idb/oauth2/v1/logout",
                "https://idbroker-b-us.webex.com",
                "/idb/oauth2/v1/logout",
                "idbroker-b-us.webex.com",
            ),
            (
                "https://a.example:08443/p",
                "https://a.example:8443/p",
                "https://a.example:8443",
                "/p",
                "a.example",
            ),
        ] {
            let url = HttpUrl::parse(raw).unwrap();
            assert_eq!(url.as_str(), text, "{raw}");
            assert_eq!(url.origin(), origin, "{raw}");
            assert_eq!(url.path(), path, "{raw}");
            assert_eq!(url.host(), host, "{raw}: host without port");
            assert_eq!(
                HttpUrl::parse(text),
                Ok(url),
                "{raw}: serialised as it parses"
            );
        }
    }

    #[test]
    fn refuses_what_a_setting_should_not_be() {
        let cases = [
            ("webexapis.com/v1/authorize", UrlProblem::NotHttp),
            ("ftp://webexapis.com/", UrlProblem::NotHttp),
            ("javascript:alert(1)", UrlProblem::NotHttp),
            ("https:webexapis.com/", UrlProblem::NotHttp),
            ("https://user:pw@webexapis.com/", UrlProblem::Credentials),
            ("https://user@webexapis.com/", UrlProblem::Credentials),
            ("https://webexapis.com/#frag", UrlProblem::Fragment),
            ("https://webexapis.com/#", UrlProblem::Fragment),
            ("https:///path", UrlProblem::Host),
            ("https://wébex.com/", UrlProblem::Host),
            ("https://xn--wbex-bpa.com\u{a0}/", UrlProblem::Host),
            ("https://a.exa\tmple/", UrlProblem::Host),
            ("https://a..b/", UrlProblem::Host),
            ("https://-a.example/", UrlProblem::Host),
            ("https://a_b.example/", UrlProblem::Host),
            ("https://[zz]/", UrlProblem::Host),
            ("https://a.example:0/", UrlProblem::Port),
            ("https://a.example:65536/", UrlProblem::Port),
            ("https://a.example:/", UrlProblem::Port),
            ("https://a.example:x/", UrlProblem::Port),
            ("https://a.example/a b", UrlProblem::Character),
            ("https://a.example/a\tb", UrlProblem::Character),
            ("https://a.example/<script>", UrlProblem::Character),
            ("https://a.example/\\evil", UrlProblem::Character),
            ("https://a.example/é", UrlProblem::Character),
        ];
        for (raw, problem) in cases {
            assert_eq!(HttpUrl::parse(raw), Err(problem), "{raw}");
        }
    }

    #[test]
    fn loopback_is_exactly_this_machine() {
        for (raw, loopback) in [
            ("http://localhost:8787/", true),
            ("http://127.0.0.1/", true),
            ("http://[::1]:9400/", true),
            ("http://[0:0:0:0:0:0:0:1]/", true),
            ("http://localhost.example/", false),
            ("http://127.0.0.2/", false),
            ("https://webexapis.com/", false),
        ] {
            let url = HttpUrl::parse(raw).unwrap();
            assert_eq!(is_loopback(url.as_url()), loopback, "{raw}");
        }
    }

    #[test]
    fn appends_query_pairs_encoded() {
        let plain = HttpUrl::parse("https://a.example/authorize").unwrap();
        assert_eq!(
            plain.with_query_pairs(&[("state", "a&b=c"), ("scope", "openid email")]),
            "https://a.example/authorize?state=a%26b%3Dc&scope=openid+email"
        );
        let with_query = HttpUrl::parse("https://a.example/authorize?tenant=x").unwrap();
        assert_eq!(
            with_query.with_query_pairs(&[("a", "1")]),
            "https://a.example/authorize?tenant=x&a=1"
        );
        let empty_query = HttpUrl::parse("https://a.example/authorize?").unwrap();
        assert_eq!(
            empty_query.with_query_pairs(&[("a", "1")]),
            "https://a.example/authorize?a=1"
        );
        assert_eq!(
            plain.with_query_pairs(&[("v", "a b/é*~+")]),
            "https://a.example/authorize?v=a+b%2F%C3%A9*%7E%2B",
            "form encoding: space as +, only *-._ and alphanumerics as they are"
        );
    }
}
