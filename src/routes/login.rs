//! `GET /login`: start an Authorization Code flow with state, nonce and PKCE.

use super::Context;
use crate::config::{Config, Settings};
use crate::cookies::PendingLogins;
use crate::error::AppError;
use crate::http::{Incoming, Reply};
use crate::oidc::authorize::authorize_url;
use crate::oidc::secrets::{Nonce, PkceVerifier, State};
use crate::platform::{HttpClient, KeyValueStore};
use crate::sessions::seal::SealKey;
use crate::sessions::{self, LoginRecord, LOGIN_TTL_SECS};

const MAX_RETURN_TO_BYTES: usize = 2048;

pub async fn start<K: KeyValueStore, H: HttpClient, S: Settings>(
    req: &Incoming,
    ctx: &Context<'_, K, H, S>,
) -> Result<Reply, AppError> {
    let config = Config::load(ctx.settings, &req.origin)?;
    let return_to = safe_return_to(requested_return_to(&req.query).as_deref());
    let state = State::generate()?;
    let nonce = Nonce::generate()?;
    let verifier = PkceVerifier::generate()?;
    let location = authorize_url(&config, &state, &nonce, &verifier);

    // The record is sealed under a key only this browser's cookie holds: it proves the
    // callback comes back to the browser that started the login, and a KV dump reveals
    // neither the PKCE verifier nor the nonce.
    let key = SealKey::generate()?;
    let record = LoginRecord::new(nonce, verifier, return_to, ctx.now);
    let sealed = sessions::seal_record(ctx.crypto, &key, &state.kv_key(), &record).await?;
    ctx.kv.put(&state.kv_key(), &sealed, LOGIN_TTL_SECS).await?;

    let pending = PendingLogins::from_header(&req.cookie_header).with_new(key);
    Ok(Reply::redirect(location.as_str())
        .with_cookie(pending.set_cookie(LOGIN_TTL_SECS))
        .no_store()
        .with_reason("login_started"))
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
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_graphic() && !b"\"<>^`{|}".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::safe_return_to;

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
