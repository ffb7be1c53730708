//! The provider's JSON Web Key Set: which keys may verify an ID token.
//!
//! Webex publishes several RSA keys and signs ID tokens without a `kid`, so the set is
//! searched rather than indexed. Keys that cannot verify RS256 (other key types, `use: enc`,
//! other algorithms, moduli under 2048 bits) are dropped at parse time, not at use time.

use base64ct::{Base64UrlUnpadded, Encoding};
use futures_util::future::LocalBoxFuture;

use super::json::{self, Value};
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

/// The members of one JWK this Worker reads. Read from the parsed JSON object rather than
/// through a derived struct: a second typed decoder of JSON values cost 5 KB of wasm.
struct RawJwk<'a> {
    kty: &'a str,
    kid: Option<&'a str>,
    usage: Option<&'a str>,
    alg: Option<&'a str>,
    key_ops: Option<Vec<&'a str>>,
    n: Option<&'a str>,
    e: Option<&'a str>,
}

impl<'a> RawJwk<'a> {
    /// `None` (skip the key) when a member this Worker reads has the wrong JSON type.
    fn read(value: &'a Value) -> Option<Self> {
        let jwk = value.as_object()?;
        let text = |name: &str| match jwk.get(name) {
            None => Some(None),
            Some(value) => value.as_str().map(Some),
        };
        let key_ops = match jwk.get("key_ops") {
            None => None,
            Some(ops) => Some(
                ops.as_array()?
                    .iter()
                    .map(Value::as_str)
                    .collect::<Option<Vec<_>>>()?,
            ),
        };
        Some(Self {
            kty: text("kty")??,
            kid: text("kid")?,
            usage: text("use")?,
            alg: text("alg")?,
            key_ops,
            n: text("n")?,
            e: text("e")?,
        })
    }
}

impl KeySet {
    pub fn parse(body: &str) -> Result<Self, JwksError> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::Malformed);
        }
        // Read as a generic JSON object (as the keys are): no typed decoder for one member.
        let doc = json::parse_object(body.as_bytes()).map_err(|_| JwksError::Malformed)?;
        let members = doc.get("keys").and_then(Value::as_array);
        let keys: Vec<VerificationKey> = members
            .ok_or(JwksError::Malformed)?
            .iter()
            .filter_map(RawJwk::read)
            .filter(is_rs256_signing_key)
            .filter_map(|raw| rsa_key(&raw))
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

fn is_rs256_signing_key(raw: &RawJwk<'_>) -> bool {
    raw.kty == "RSA"
        && raw.usage.is_none_or(|u| u == "sig")
        && raw.alg.is_none_or(|a| a == "RS256")
        && raw
            .key_ops
            .as_ref()
            .is_none_or(|ops| ops.contains(&"verify"))
}

fn rsa_key(raw: &RawJwk<'_>) -> Option<VerificationKey> {
    let modulus = Base64UrlUnpadded::decode_vec(raw.n?).ok()?;
    let exponent = Base64UrlUnpadded::decode_vec(raw.e?).ok()?;
    let key = RsaPublicKey::new(&modulus, &exponent)?;
    Some(VerificationKey {
        kid: raw.kid.map(str::to_owned),
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
        assert_eq!(set.key_count(), 1);
        assert!(set.has_kid("good"));
        assert!(!set.has_kid("enc-key"));
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
        assert_eq!(
            KeySet::parse(r#"{"keys":[]}"#).err(),
            Some(JwksError::NoUsableKeys)
        );
        let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
        assert_eq!(KeySet::parse(&huge).err(), Some(JwksError::Malformed));
    }
}
