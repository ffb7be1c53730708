//! The provider's JSON Web Key Set: which keys may verify an ID token.
//!
//! Webex publishes several RSA keys and signs ID tokens without a `kid`, so the set is
//! searched rather than indexed. Keys that cannot verify RS256 (other key types, `use: enc`,
//! other algorithms, moduli under 2048 bits) are dropped at parse time, not at use time.

use std::borrow::Cow;

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::alg::{RsaPublicKey, StrongKey};
use jwt_compact::jwk::JsonWebKey;
use serde::Deserialize;

/// A JWKS larger than this is not a key set (Webex's is a few kB).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// More keys than this and the search for a `kid`-less token becomes a CPU sink.
const MAX_KEYS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// The JWKS could not be fetched (network, timeout or non-2xx status).
    Unavailable(String),
    /// The body is not a JWKS document (RFC 7517 §5).
    Malformed,
    /// The document holds no RSA key usable for RS256 signatures.
    NoUsableKeys,
}

impl JwksError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "jwks_unavailable",
            Self::Malformed => "jwks_malformed",
            Self::NoUsableKeys => "jwks_no_usable_keys",
        }
    }
}

/// One RSA public key that may verify RS256 signatures.
pub struct VerificationKey {
    pub kid: Option<String>,
    pub key: StrongKey<RsaPublicKey>,
}

/// The usable keys of a JWKS, parsed once and kept for the life of the isolate.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    key_ops: Option<Vec<String>>,
    n: Option<String>,
    e: Option<String>,
}

impl KeySet {
    pub fn parse(body: &str) -> Result<Self, JwksError> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Malformed);
        }
        let doc: JwksDocument = serde_json::from_str(body).map_err(|_| JwksError::Malformed)?;
        let keys: Vec<VerificationKey> = doc
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<RawJwk>(value).ok())
            .filter(is_rs256_signing_key)
            .filter_map(|raw| rsa_key(&raw))
            .take(MAX_KEYS)
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Keys to try for a token: the one named by `kid`, or every key when there is none
    /// (JWS RFC 7515 §4.1.4 makes `kid` optional; Webex omits it).
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a VerificationKey> + 'a {
        self.keys
            .iter()
            .filter(move |k| kid.is_none() || k.kid.as_deref() == kid)
    }
}

fn is_rs256_signing_key(raw: &RawJwk) -> bool {
    raw.kty == "RSA"
        && raw.usage.as_deref().is_none_or(|u| u == "sig")
        && raw.alg.as_deref().is_none_or(|a| a == "RS256")
        && raw
            .key_ops
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|op| op == "verify"))
}

fn rsa_key(raw: &RawJwk) -> Option<VerificationKey> {
    let modulus = Base64UrlUnpadded::decode_vec(raw.n.as_deref()?).ok()?;
    let exponent = Base64UrlUnpadded::decode_vec(raw.e.as_deref()?).ok()?;
    let jwk = JsonWebKey::Rsa {
        modulus: Cow::Owned(modulus),
        public_exponent: Cow::Owned(exponent),
        private_parts: None,
    };
    let key = RsaPublicKey::try_from(&jwk).ok()?;
    // StrongKey refuses moduli under 2048 bits (RFC 7518 §3.3).
    let key = StrongKey::try_from(key).ok()?;
    Some(VerificationKey {
        kid: raw.kid.clone(),
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::test_keys::{jwk_json, TestKey};

    #[test]
    fn keeps_usable_rsa_keys_and_skips_the_rest() {
        let good = TestKey::get(0);
        let doc = format!(
            r#"{{"keys":[
                {{"kty":"EC","crv":"P-256","x":"AA","y":"AA","use":"sig"}},
                {},
                {},
                {},
                {{"kty":"RSA","n":"!!notbase64","e":"AQAB"}},
                {{"kty":"oct","k":"c2VjcmV0"}},
                {}
            ]}}"#,
            jwk_json(good, Some("enc-key"), Some("enc"), None),
            jwk_json(good, Some("ps-key"), None, Some("PS256")),
            r#"{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"tiny"}"#,
            jwk_json(good, Some("good"), Some("sig"), None),
        );
        let set = KeySet::parse(&doc).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.has_kid("good"));
        assert!(!set.has_kid("enc-key"));
    }

    #[test]
    fn candidates_follow_kid_or_all() {
        let doc = format!(
            r#"{{"keys":[{},{}]}}"#,
            jwk_json(TestKey::get(0), Some("a"), Some("sig"), Some("RS256")),
            jwk_json(TestKey::get(1), None, None, None),
        );
        let set = KeySet::parse(&doc).unwrap();
        assert_eq!(set.candidates(None).count(), 2);
        assert_eq!(set.candidates(Some("a")).count(), 1);
        assert_eq!(set.candidates(Some("zzz")).count(), 0);
    }

    #[test]
    fn rejects_garbage_and_empty_sets() {
        assert_eq!(KeySet::parse("<html>").err(), Some(JwksError::Malformed));
        assert_eq!(
            KeySet::parse(r#"{"keys":"x"}"#).err(),
            Some(JwksError::Malformed)
        );
        assert_eq!(
            KeySet::parse(r#"{"keys":[]}"#).err(),
            Some(JwksError::NoUsableKeys)
        );
        let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
        assert_eq!(KeySet::parse(&huge).err(), Some(JwksError::Malformed));
    }
}
