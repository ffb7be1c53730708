//! Absolute `http(s)` URLs from settings: the provider's endpoints, the redirect URI, the
//! logout target.
//!
//! A strict validator, not a WHATWG parser: these URLs are written by the operator, so
//! anything unusual (credentials, a fragment, a non-ASCII host, a character that should have
//! been percent-encoded) is refused with a message naming the problem instead of being
//! silently normalised. The `url` crate's full parser and host tables were a fifth of the Worker's wasm.

use std::fmt;

use super::form::Form;

/// Normalised: lowercase scheme and host, no default port, a path of at least `/`.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpUrl {
    text: String,
    /// `text[..origin_end]` is the origin (`scheme://host[:port]`).
    origin_end: usize,
    /// `text[origin_end..path_end]` is the path; a query follows if `path_end < text.len()`.
    path_end: usize,
    /// `text[host_start..host_end]` is the host name or address, without the port.
    host_start: usize,
    host_end: usize,
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
}

impl HttpUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlProblem> {
        let (scheme, rest) = raw.split_once("://").ok_or(UrlProblem::NotHttp)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => "443",
            "http" => "80",
            _ => return Err(UrlProblem::NotHttp),
        };
        if rest.contains('#') {
            return Err(UrlProblem::Fragment);
        }
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(UrlProblem::Credentials);
        }
        let (host, port) = split_port(authority)?;
        let host = checked_host(host)?;
        if !tail.bytes().all(is_url_byte) {
            return Err(UrlProblem::Character);
        }

        let mut text = format!("{scheme}://");
        let host_start = text.len();
        text.push_str(&host);
        let host_end = text.len();
        if let Some(port) = port.filter(|p| *p != default_port) {
            text.push(':');
            text.push_str(port);
        }
        let origin_end = text.len();
        if !tail.starts_with('/') {
            text.push('/');
        }
        text.push_str(tail);
        let path_end = text[origin_end..]
            .find('?')
            .map_or(text.len(), |i| origin_end + i);
        Ok(Self {
            text,
            origin_end,
            path_end,
            host_start,
            host_end,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `scheme://host[:port]`, as browsers serialise an origin.
    pub fn origin(&self) -> &str {
        &self.text[..self.origin_end]
    }

    pub fn host(&self) -> &str {
        &self.text[self.host_start..self.host_end]
    }

    pub fn path(&self) -> &str {
        &self.text[self.origin_end..self.path_end]
    }

    /// This URL with `pairs` appended to its query, form-encoded.
    pub fn with_query_pairs(&self, pairs: &[(&str, &str)]) -> String {
        let mut out = self.text.clone();
        let query = &self.text[self.path_end..];
        match query {
            "" => out.push('?'),
            "?" => {}
            _ => out.push('&'),
        }
        out.push_str(
            &pairs
                .iter()
                .fold(&mut Form::new(), |form, (k, v)| form.append_pair(k, v))
                .finish(),
        );
        out
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpUrl({})", self.text)
    }
}

/// `host[:port]` or `[v6]:port`; the port, if any, must be a number from 1 to 65535.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), UrlProblem> {
    let port_colon = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => Some(i),
        _ => None,
    };
    let Some(i) = port_colon else {
        return Ok((authority, None));
    };
    let port = &authority[i + 1..];
    let valid = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    if !valid {
        return Err(UrlProblem::Port);
    }
    Ok((&authority[..i], Some(port.trim_start_matches('0'))))
}

/// A DNS name (LDH labels), an IPv4 address, or a bracketed IPv6 address; lowercased.
fn checked_host(host: &str) -> Result<String, UrlProblem> {
    let valid = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|v6| {
            v6.contains(':')
                && v6
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        })
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    };
    if valid {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(UrlProblem::Host)
    }
}

/// Bytes allowed as they are in a path or query (RFC 3986 `pchar`, `/`, `?`, `%`, plus the
/// characters browsers leave alone); everything else must arrive percent-encoded.
fn is_url_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_the_url_crate() {
        for raw in [
            "https://webexapis.com/v1/authorize",
            "HTTPS://WebexAPIs.com/v1/authorize?x=1&y=%20",
            "https://webexapis.com",
            "https://webexapis.com?x",
            "https://webexapis.com:443/v1",
            "http://127.0.0.1:9400/v1/access_token",
            "http://localhost:80/oauth",
            "http://[::1]:8787/oauth",
            "https://idbroker-b-us.webex.com/idb/oauth2/v1/logout",
            "https://a.example:08443/p",
        ] {
            let ours = HttpUrl::parse(raw).unwrap();
            let theirs = url::Url::parse(raw).unwrap();
            assert_eq!(ours.as_str(), theirs.as_str(), "{raw}");
            assert_eq!(
                ours.origin(),
                theirs.origin().ascii_serialization(),
                "{raw}"
            );
            assert_eq!(ours.path(), theirs.path(), "{raw}");
            assert_eq!(
                Some(ours.host()),
                theirs.host_str(),
                "{raw}: host without port"
            );
        }
    }

    #[test]
    fn refuses_what_a_setting_should_not_be() {
        let cases = [
            ("webexapis.com/v1/authorize", UrlProblem::NotHttp),
            ("ftp://webexapis.com/", UrlProblem::NotHttp),
            ("javascript:alert(1)", UrlProblem::NotHttp),
            ("https://user:pw@webexapis.com/", UrlProblem::Credentials),
            ("https://webexapis.com/#frag", UrlProblem::Fragment),
            ("https:///path", UrlProblem::Host),
            ("https://wébex.com/", UrlProblem::Host),
            ("https://a..b/", UrlProblem::Host),
            ("https://-a.example/", UrlProblem::Host),
            ("https://a_b.example/", UrlProblem::Host),
            ("https://[zz]/", UrlProblem::Host),
            ("https://a.example:0/", UrlProblem::Port),
            ("https://a.example:65536/", UrlProblem::Port),
            ("https://a.example:/", UrlProblem::Port),
            ("https://a.example:x/", UrlProblem::Port),
            ("https://a.example/a b", UrlProblem::Character),
            ("https://a.example/<script>", UrlProblem::Character),
            ("https://a.example/\\evil", UrlProblem::Character),
            ("https://a.example/é", UrlProblem::Character),
        ];
        for (raw, problem) in cases {
            assert_eq!(HttpUrl::parse(raw), Err(problem), "{raw}");
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
    }
}
