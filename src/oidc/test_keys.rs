//! Test-only RSA keys (pre-generated: generating 2048-bit keys in a debug build is slow)
//! and a JWT builder that can produce any header, including hostile ones.

use base64ct::{Base64UrlUnpadded, Encoding};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const PEMS: [&str; 4] = [
    include_str!("../../tests/fixtures/rsa-0.pem"),
    include_str!("../../tests/fixtures/rsa-1.pem"),
    include_str!("../../tests/fixtures/rsa-2.pem"),
    include_str!("../../tests/fixtures/rsa-weak.pem"),
];

pub struct TestKey;

impl TestKey {
    /// Keys 0..=2 are 2048-bit; key 3 is a weak 1024-bit key.
    pub fn get(index: usize) -> &'static RsaPrivateKey {
        static KEYS: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();
        &KEYS.get_or_init(|| {
            PEMS.iter()
                .map(|pem| RsaPrivateKey::from_pkcs8_pem(pem).expect("fixture key"))
                .collect()
        })[index]
    }
}

pub fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// A public JWK for `key`, with optional `kid`, `use` and `alg` members.
pub fn jwk_json(
    key: &RsaPrivateKey,
    kid: Option<&str>,
    usage: Option<&str>,
    alg: Option<&str>,
) -> String {
    let mut jwk = serde_json::json!({
        "kty": "RSA",
        "n": b64(&key.n().to_bytes_be()),
        "e": b64(&key.e().to_bytes_be()),
    });
    for (name, value) in [("kid", kid), ("use", usage), ("alg", alg)] {
        if let Some(value) = value {
            jwk[name] = value.into();
        }
    }
    jwk.to_string()
}

pub fn jwks_json(keys: &[String]) -> String {
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

/// `header.payload` in compact form, unsigned.
/// Header and claims: any JSON value, or JSON text as is.
pub fn signing_input(header: &impl std::fmt::Display, claims: &impl std::fmt::Display) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An RS256 JWT with exactly the header given.
pub fn sign_rs256(
    key: &RsaPrivateKey,
    header: &impl std::fmt::Display,
    claims: &impl std::fmt::Display,
) -> String {
    let input = signing_input(header, claims);
    let digest = Sha256::digest(input.as_bytes());
    let signature = key
        .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
        .expect("signing with a fixture key");
    format!("{input}.{}", b64(&signature))
}

/// An HS256 JWT keyed with `secret` (for the RSA-public-key-as-HMAC-secret confusion attack).
pub fn sign_hs256(secret: &[u8], claims: &impl std::fmt::Display) -> String {
    use hmac::{Hmac, Mac};
    let input = signing_input(&serde_json::json!({"alg": "HS256", "typ": "JWT"}), claims);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

/// The native stand-in for the Worker's WebCrypto: the `rsa` crate here, `aes-gcm` for the
/// platform's sealing (in `crate::testing`).
pub struct RustCrypto;

impl super::jwks::VerifyRs256 for RustCrypto {
    fn verify_rs256<'a>(
        &'a self,
        key: &'a super::jwks::RsaPublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> futures_util::future::LocalBoxFuture<'a, bool> {
        let public = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(key.modulus()),
            rsa::BigUint::from_bytes_be(key.exponent()),
        );
        let valid = public.is_ok_and(|public| {
            public
                .verify(
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(message),
                    signature,
                )
                .is_ok()
        });
        Box::pin(async move { valid })
    }
}
