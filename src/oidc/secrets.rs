//! Random per-login values as types, so a nonce cannot be passed where a state is expected
//! and none of them can be printed by accident (`Debug` is redacted).

use base64ct::{Base64UrlUnpadded, Encoding};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 256 bits from the platform CSPRNG (`crypto.getRandomValues` on Workers), base64url-encoded.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(Base64UrlUnpadded::encode_string(&bytes))
}

/// SHA-256, base64url without padding: used for PKCE challenges and for KV keys, so that a
/// KV listing never reveals a value that is also a bearer credential in a cookie or URL.
pub fn sha256_b64url(input: &str) -> String {
    Base64UrlUnpadded::encode_string(&Sha256::digest(input.as_bytes()))
}

/// Compares two secrets without an early exit on the first differing byte (only the length
/// shows, and secrets of one kind all have the same length).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// A fresh random value.
            pub fn generate() -> Result<Self, getrandom::Error> {
                $crate::oidc::secrets::random_token().map(Self)
            }

            /// Wraps a value that came from outside (a query, a cookie, a stored record).
            pub fn from_untrusted(value: &str) -> Self {
                Self(value.to_owned())
            }

            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(redacted)"))
            }
        }
    };
}
/// For secrets of other layers (the session id), with the same guarantees.
pub(crate) use secret_type;

secret_type!(
    /// OAuth `state`: correlates the callback with the login that started it (RFC 6749 §10.12).
    State
);
secret_type!(
    /// OpenID `nonce`: binds the ID token to this login (OIDC Core §3.1.2.1, §15.5.2).
    Nonce
);
secret_type!(
    /// OAuth access token: presented to userinfo as a Bearer token, never logged or shown.
    AccessToken
);
secret_type!(
    /// OAuth refresh token: presented only to the token endpoint (RFC 6749 §6).
    RefreshToken
);
secret_type!(
    /// PKCE `code_verifier` (RFC 7636 §4.1): 43 base64url characters from 32 random bytes.
    PkceVerifier
);

impl PkceVerifier {
    /// `code_challenge` for `code_challenge_method=S256` (RFC 7636 §4.2).
    pub fn s256_challenge(&self) -> String {
        sha256_b64url(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        let verifier = PkceVerifier::from_untrusted("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            verifier.s256_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn generated_values_are_43_char_base64url_and_distinct() {
        let a = State::generate().unwrap();
        let b = State::generate().unwrap();
        assert_eq!(a.secret().len(), 43);
        assert!(a
            .secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }

    #[test]
    fn debug_output_never_shows_the_value() {
        let nonce = Nonce::from_untrusted("very-secret");
        assert_eq!(format!("{nonce:?}"), "Nonce(redacted)");
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
