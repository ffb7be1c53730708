//! `GET /login`: start an Authorization Code flow with state, nonce and PKCE.

use crate::app::Context;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::authorize::authorize_url;
use crate::oidc::secrets::{Nonce, PkceVerifier, State};
use crate::pending_login::{self, LoginRecord, PendingLogins, LOGIN_TTL_SECS};
use crate::platform::{Platform, RateLimit};
use crate::reason;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use std::net::Ipv6Addr;

const MAX_RETURN_TO_BYTES: usize = 2048;

pub async fn handle<P: Platform>(req: &Incoming, ctx: &Context<'_, P>) -> Result<Reply, AppError> {
    // First, so that a refused request costs no KV write. Fails open: sign-in keeps working
    // when the limiter is missing or fails, and the log line says so.
    let warning = match req.client_ip.as_deref().map(client_key) {
        None => Some("rate_limit_no_client_ip"),
        Some(key) => match ctx.login_limiter.limit(&key).await {
            RateLimit::Allowed => None,
            RateLimit::Exceeded => return Err(AppError::RateLimited),
            RateLimit::Unavailable(why) => Some(why),
        },
    };
    let client = ctx.config.client()?;
    let return_to = safe_return_to(requested_return_to(&req.query).as_deref());
    let state = State::generate()?;
    let nonce = Nonce::generate()?;
    let verifier = PkceVerifier::generate()?;
    let location = authorize_url(client, &state, &nonce, &verifier);

    let record = LoginRecord::new(nonce, verifier, return_to, ctx.now);
    let pending = PendingLogins::from_header(&req.cookie_header);
    let pending = pending_login::put(ctx.kv, ctx.crypto, &state, &record, pending).await?;
    Ok(Reply::redirect(location.as_str())
        .with_cookie(pending.set_cookie(LOGIN_TTL_SECS))
        .no_store()
        .with_reason(reason::LOGIN_STARTED)
        .with_warning(warning))
}

/// The rate-limit key for a client address: an IPv4 address as it is; an IPv6 address by its
/// /64 prefix, because one subscriber usually holds a whole /64 and could otherwise switch
/// address at every request. The address comes from Cloudflare, so it is well-formed.
pub fn client_key(ip: &str) -> String {
    match ip.parse::<Ipv6Addr>() {
        // An IPv4 address in IPv6 form (`::ffff:192.0.2.1`) counts as that one address.
        Ok(v6) if !ip.contains('.') => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        _ => ip.to_owned(),
    }
}

fn requested_return_to(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
}

/// A same-origin path to come back to after sign-in, or `/`. Only a path (with an optional
/// query) is accepted: it must start with exactly one `/`, and backslashes, control characters
/// and whitespace are refused outright, because browsers read `//host` and `/\host` as other
/// origins and strip tabs and newlines before they do. Other characters outside a URL's
/// plain set are percent-encoded; a fragment is dropped (it never reaches the server anyway).
pub fn safe_return_to(requested: Option<&str>) -> String {
    let Some(requested) = requested else {
        return "/".to_owned();
    };
    let path = requested.split('#').next().unwrap_or_default();
    let plausible = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= MAX_RETURN_TO_BYTES
        && !path.contains('\\')
        && !path.chars().any(|c| c.is_control() || c.is_whitespace());
    if !plausible {
        return "/".to_owned();
    }
    utf8_percent_encode(path, NOT_PLAIN).to_string()
}

/// Printable ASCII a return path may carry as it is: everything else (and every byte beyond
/// ASCII) is percent-encoded. Controls and spaces never get this far.
const NOT_PLAIN: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

#[cfg(test)]
mod tests {
    use super::{client_key, safe_return_to};

    #[test]
    fn ipv4_is_its_own_key_ipv6_counts_by_its_64_prefix() {
        assert_eq!(client_key("203.0.113.7"), "203.0.113.7");
        for same in [
            "2001:db8:1:2::1",
            "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "2001:0db8:0001:0002:0000:0000:0000:0009",
            "2001:DB8:1:2:a:b:c:d",
        ] {
            assert_eq!(client_key(same), "2001:db8:1:2::/64", "{same}");
        }
        assert_eq!(client_key("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(client_key("2001:db8::1"), "2001:db8:0:0::/64");
        assert_eq!(client_key("::1"), "0:0:0:0::/64");
        assert_eq!(client_key("::ffff:198.51.100.1"), "::ffff:198.51.100.1");
        assert_eq!(client_key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(client_key("fe80::"), "fe80:0:0:0::/64");
    }

    #[test]
    fn keeps_same_origin_paths() {
        assert_eq!(safe_return_to(Some("/some/page")), "/some/page");
        assert_eq!(safe_return_to(Some("/a?b=c&d=e")), "/a?b=c&d=e");
        assert_eq!(safe_return_to(Some("/a/../b")), "/a/../b");
        assert_eq!(
            safe_return_to(Some("/caf\u{e9}?q=<x>#frag")),
            "/caf%C3%A9?q=%3Cx%3E"
        );
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn refuses_anything_that_leaves_the_origin() {
        for bad in [
            "//evil.example",
            "//evil.example/path",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%0d%0aSet-Cookie:x",
            "",
        ] {
            let safe = safe_return_to(Some(bad));
            assert!(
                safe.starts_with('/') && !safe.starts_with("//") && !safe.contains("evil.example")
                    || safe == "/%0d%0aSet-Cookie:x",
                "{bad:?} -> {safe}"
            );
            assert!(!safe.chars().any(char::is_control));
        }
        assert_eq!(safe_return_to(Some("//evil.example")), "/");
        assert_eq!(safe_return_to(Some("/\\evil.example")), "/");
        assert_eq!(safe_return_to(Some("https://evil.example")), "/");
        assert_eq!(safe_return_to(Some(&format!("/{}", "a".repeat(3000)))), "/");
    }
}
