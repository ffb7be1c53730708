//! The provider's JSON Web Key Set: which keys may verify an ID token.
//!
//! Webex publishes several RSA keys and signs ID tokens without a `kid`, so the set is
//! searched rather than indexed. Keys that cannot verify RS256 (other key types, `use: enc`,
//! other algorithms, moduli under 2048 bits) are dropped at parse time, not at use time.

use base64ct::{Base64UrlUnpadded, Encoding};
use futures_util::future::LocalBoxFuture;

use super::json::{self, present, Value};
use super::outbound::TransportError;

/// A JWKS larger than this is not a key set (Webex's is a few kB).
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// More keys than this and the search for a `kid`-less token becomes a CPU sink.
const MAX_KEYS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// The JWKS could not be fetched (network, timeout, redirect, oversized body).
    Transport(TransportError),
    /// The JWKS endpoint answered with a non-2xx, non-3xx status.
    Status(u16),
    /// The body is not a JWKS document (RFC 7517 §5).
    Malformed,
    /// The document holds no RSA key usable for RS256 signatures.
    NoUsableKeys,
}

impl JwksError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Transport(TransportError::Redirected) => "jwks_redirect",
            Self::Transport(TransportError::Timeout) => "jwks_timeout",
            Self::Transport(TransportError::TooLarge) => "jwks_response_too_large",
            Self::Transport(TransportError::Network) | Self::Status(_) => "jwks_unavailable",
            Self::Malformed => "jwks_malformed",
            Self::NoUsableKeys => "jwks_no_usable_keys",
        }
    }
}

/// One RSA public key that may verify RS256 signatures.
pub struct VerificationKey {
    pub kid: Option<String>,
    pub key: RsaPublicKey,
}

/// RSA moduli accepted for RS256: RFC 7518 §3.3 requires at least 2048 bits; the upper bound
/// keeps a hostile JWKS from making each verification expensive.
pub const RSA_MODULUS_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// RS256 signature checks (RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3), done by whoever
/// embeds the protocol core (the runtime's WebCrypto in the Worker, RustCrypto in tests).
pub trait VerifyRs256 {
    /// True only for a valid signature by `key` over `message`; any failure is false.
    fn verify_rs256<'a>(
        &'a self,
        key: &'a RsaPublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> LocalBoxFuture<'a, bool>;
}

/// An RSA public key fit for RS256: big-endian modulus and exponent, no leading zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

impl RsaPublicKey {
    /// Refuses moduli outside [`RSA_MODULUS_BITS`] and exponents that are even, below 3 or
    /// wider than 64 bits.
    pub fn new(modulus: &[u8], exponent: &[u8]) -> Option<Self> {
        let modulus = without_leading_zeros(modulus);
        let exponent = without_leading_zeros(exponent);
        let bits = |bytes: &[u8]| {
            bytes
                .first()
                .map_or(0, |top| bytes.len() * 8 - top.leading_zeros() as usize)
        };
        let exponent_ok = (1..=8).contains(&exponent.len())
            && exponent.last().is_some_and(|low| low & 1 == 1)
            && bits(exponent) >= 2;
        let modulus_ok = RSA_MODULUS_BITS.contains(&bits(modulus))
            && modulus.last().is_some_and(|low| low & 1 == 1);
        (exponent_ok && modulus_ok).then(|| Self {
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
        })
    }

    pub fn modulus(&self) -> &[u8] {
        &self.modulus
    }

    pub fn exponent(&self) -> &[u8] {
        &self.exponent
    }
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The usable keys of a JWKS, parsed once and kept for the life of the isolate.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
}

/// A JWK Set (RFC 7517 §5): its keys, each read on its own so that one odd key is skipped
/// rather than the set refused.
#[derive(serde::Deserialize)]
struct JwkSet {
    keys: Vec<Value>,
}

/// The members of one JWK this Worker reads. A member that is present must have its type
/// (`null` included): otherwise the key is skipped.
#[derive(serde::Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default, deserialize_with = "present")]
    kid: Option<String>,
    #[serde(rename = "use", default, deserialize_with = "present")]
    usage: Option<String>,
    #[serde(default, deserialize_with = "present")]
    alg: Option<String>,
    #[serde(default, deserialize_with = "present")]
    key_ops: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    n: Option<String>,
    #[serde(default, deserialize_with = "present")]
    e: Option<String>,
}

impl RawJwk {
    /// `None` (skip the key) for anything but a JSON object of the right member types.
    fn read(value: Value) -> Option<Self> {
        // A derived struct would also take an array, member by position.
        if !value.is_object() {
            return None;
        }
        serde_json::from_value(value).ok()
    }
}

impl KeySet {
    pub fn parse(body: &str) -> Result<Self, JwksError> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Malformed);
        }
        let set: JwkSet = json::from_strict(body.as_bytes()).map_err(|_| JwksError::Malformed)?;
        let keys: Vec<VerificationKey> = set
            .keys
            .into_iter()
            .filter_map(RawJwk::read)
            .filter(is_rs256_signing_key)
            .filter_map(rsa_key)
            .take(MAX_KEYS)
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys);
        }
        Ok(Self { keys })
    }

    #[cfg(test)]
    pub fn key_count(&self) -> usize {
        self.keys.len()
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
        && raw.usage.as_ref().is_none_or(|u| u == "sig")
        && raw.alg.as_ref().is_none_or(|a| a == "RS256")
        && raw
            .key_ops
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|op| op == "verify"))
}

fn rsa_key(raw: RawJwk) -> Option<VerificationKey> {
    let modulus = Base64UrlUnpadded::decode_vec(raw.n.as_ref()?).ok()?;
    let exponent = Base64UrlUnpadded::decode_vec(raw.e.as_ref()?).ok()?;
    let key = RsaPublicKey::new(&modulus, &exponent)?;
    Some(VerificationKey { kid: raw.kid, key })
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
        assert_eq!(set.key_count(), 1);
        assert!(set.has_kid("good"));
        assert!(!set.has_kid("enc-key"));
    }

    #[test]
    fn a_key_with_a_member_of_the_wrong_type_is_skipped() {
        let good = jwk_json(TestKey::get(0), Some("good"), None, None);
        let (n, e) = {
            let jwk: Value = serde_json::from_str(&good).unwrap();
            (jwk["n"].clone(), jwk["e"].clone())
        };
        for odd in [
            serde_json::json!({"kty": "RSA", "n": n, "e": e, "kid": null}),
            serde_json::json!({"kty": "RSA", "n": n, "e": e, "use": 1}),
            serde_json::json!({"kty": "RSA", "n": n, "e": e, "key_ops": ["verify", 1]}),
            serde_json::json!({"kty": "RSA", "n": n, "e": e, "key_ops": null}),
            serde_json::json!(["RSA", null, null, null, null, n, e]),
        ] {
            let doc = format!(r#"{{"keys":[{odd},{good}]}}"#);
            assert_eq!(KeySet::parse(&doc).unwrap().key_count(), 1, "{odd}");
        }
        let with_ops =
            serde_json::json!({"kty": "RSA", "n": n, "e": e, "key_ops": ["sign", "verify"]});
        assert_eq!(
            KeySet::parse(&format!(r#"{{"keys":[{with_ops}]}}"#))
                .unwrap()
                .key_count(),
            1
        );
    }

    #[test]
    fn rsa_keys_are_checked_for_size_and_exponent() {
        use rsa::traits::PublicKeyParts;
        let key = TestKey::get(0);
        let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
        let parsed = RsaPublicKey::new(&[&[0, 0][..], &n].concat(), &e).unwrap();
        assert_eq!(parsed.modulus(), &n[..], "leading zeros dropped");
        assert_eq!(parsed.exponent(), &[1, 0, 1]);
        let weak = TestKey::get(3);
        assert_eq!(
            RsaPublicKey::new(&weak.n().to_bytes_be(), &e),
            None,
            "1024 bits"
        );
        assert_eq!(RsaPublicKey::new(&[0xff; 513], &e), None, "4104 bits");
        assert_eq!(RsaPublicKey::new(&n, &[1]), None, "e = 1");
        assert_eq!(RsaPublicKey::new(&n, &[1, 0, 0]), None, "even e");
        assert_eq!(RsaPublicKey::new(&n, &[1; 9]), None, "e wider than 64 bits");
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert_eq!(RsaPublicKey::new(&even, &e), None, "even modulus");
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
        for garbage in [r#"{"keys":null}"#, r#"[[]]"#, r#"{"keys":[],"keys":[]}"#] {
            assert_eq!(
                KeySet::parse(garbage).err(),
                Some(JwksError::Malformed),
                "{garbage}"
            );
        }
        assert_eq!(
            KeySet::parse(r#"{"keys":[]}"#).err(),
            Some(JwksError::NoUsableKeys)
        );
        let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
        assert_eq!(KeySet::parse(&huge).err(), Some(JwksError::Malformed));
    }
}
