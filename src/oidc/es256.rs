//! ES256 (ECDSA P-256 with SHA-256, RFC 7518 §3.4) signing keys as JWKs, and compact JWS
//! signing with them: what the gateway signs its identity assertion with.

use super::json::{Object, Value};
use base64ct::{Base64UrlUnpadded, Encoding};
use futures_util::future::LocalBoxFuture;

use super::secrets::sha256_b64url;

/// ES256 signatures, done by whoever embeds the protocol core (WebCrypto in the Worker).
pub trait SignEs256 {
    /// The 64-byte `r || s` signature over `message` (the JWS form), or `None` if the platform
    /// failed.
    fn sign_es256<'a>(
        &'a self,
        key: &'a EcSigningKey,
        message: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>>;
}

/// A P-256 public key and its `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcPublicKey {
    pub x: [u8; 32],
    pub y: [u8; 32],
    /// The key's id: the JWK's own `kid`, or its RFC 7638 thumbprint.
    pub kid: String,
}

/// A P-256 private key, redacted in `Debug`.
#[derive(Clone)]
pub struct EcSigningKey {
    d: [u8; 32],
    pub public: EcPublicKey,
}

impl std::fmt::Debug for EcSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcSigningKey")
            .field("kid", &self.public.kid)
            .finish_non_exhaustive()
    }
}

fn coordinate(jwk: &Object, name: &str) -> Result<[u8; 32], String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or(format!("has no \"{name}\""))?;
    let bytes = Base64UrlUnpadded::decode_vec(text)
        .map_err(|_| format!("has a \"{name}\" that is not base64url"))?;
    bytes
        .try_into()
        .map_err(|_| format!("has a \"{name}\" that is not 32 bytes (P-256)"))
}

fn ec_jwk(text: &str) -> Result<Object, String> {
    let jwk: Object = super::json::parse_object(text.as_bytes())
        .map_err(|_| "is not a JSON Web Key".to_owned())?;
    let is = |name: &str, value: &str| jwk.get(name).and_then(Value::as_str) == Some(value);
    if !is("kty", "EC") || !is("crv", "P-256") {
        return Err("must be an EC P-256 key (\"kty\":\"EC\",\"crv\":\"P-256\")".into());
    }
    Ok(jwk)
}

impl EcPublicKey {
    /// The key of a JWK that must hold only the public part: one with its private `d` is
    /// refused, because a setting that takes a public key is not kept as a secret.
    pub fn from_public_jwk(text: &str) -> Result<Self, String> {
        if ec_jwk(text)?.contains_key("d") {
            return Err("must be the public part only (kty, crv, x, y and kid, without \"d\"): this setting is not a secret".into());
        }
        Self::from_jwk(text)
    }

    /// The public part of an EC P-256 JWK (private or public).
    pub fn from_jwk(text: &str) -> Result<Self, String> {
        let jwk = ec_jwk(text)?;
        let (x, y) = (coordinate(&jwk, "x")?, coordinate(&jwk, "y")?);
        let kid = match jwk.get("kid").and_then(Value::as_str) {
            Some(kid) if !kid.is_empty() => kid.to_owned(),
            _ => thumbprint(&x, &y),
        };
        Ok(Self { x, y, kid })
    }

    /// The public JWK as published in a JWKS.
    pub fn to_jwk(&self) -> Value {
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": Base64UrlUnpadded::encode_string(&self.x),
            "y": Base64UrlUnpadded::encode_string(&self.y),
            "kid": self.kid,
            "use": "sig",
            "alg": "ES256",
        })
    }
}

/// RFC 7638 §3.2: SHA-256 of the required members in lexicographic order, no whitespace.
fn thumbprint(x: &[u8; 32], y: &[u8; 32]) -> String {
    sha256_b64url(&format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        Base64UrlUnpadded::encode_string(x),
        Base64UrlUnpadded::encode_string(y)
    ))
}

impl EcSigningKey {
    /// A private EC P-256 JWK (`d`, `x`, `y`); `Err` says what is wrong with it, never the key.
    pub fn from_jwk(text: &str) -> Result<Self, String> {
        let jwk = ec_jwk(text)?;
        let d = coordinate(&jwk, "d")?;
        Ok(Self {
            d,
            public: EcPublicKey::from_jwk(text)?,
        })
    }

    /// The private scalar, for the platform's signer.
    pub fn d(&self) -> &[u8; 32] {
        &self.d
    }
}

/// A compact JWS (`header.payload.signature`) of `claims`, signed ES256 under `key` with its
/// `kid` in the header; `None` if the platform could not sign.
pub async fn sign_jwt(
    signer: &dyn SignEs256,
    key: &EcSigningKey,
    claims: &Value,
) -> Option<String> {
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": key.public.kid});
    let input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header.to_string().as_bytes()),
        Base64UrlUnpadded::encode_string(claims.to_string().as_bytes())
    );
    let signature = signer.sign_es256(key, input.as_bytes()).await?;
    (signature.len() == 64)
        .then(|| format!("{input}.{}", Base64UrlUnpadded::encode_string(&signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 Appendix A.3's P-256 key.
    pub const RFC7515_KEY: &str = r#"{"kty":"EC","crv":"P-256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "d":"jpsQnnGQmL-YBIffH1136cLF9Tw5vuTCaXfN56sOpRM"}"#;

    #[test]
    fn parses_a_private_jwk_and_names_it_by_its_thumbprint() {
        let key = EcSigningKey::from_jwk(RFC7515_KEY).unwrap();
        // The RFC 7638 thumbprint of this key, computed independently (jose's
        // calculateJwkThumbprint gives the same).
        assert_eq!(
            key.public.kid,
            "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
        );
        assert!(
            !format!("{key:?}").contains("jpsQ"),
            "Debug hides the private key"
        );
        let published = key.public.to_jwk();
        assert!(published.get("d").is_none());
        assert_eq!(
            published["x"],
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
        );
        assert_eq!(
            EcPublicKey::from_jwk(&published.to_string()).unwrap(),
            key.public
        );
    }

    #[test]
    fn refuses_other_keys_without_echoing_them() {
        for (bad, says) in [
            ("nope", "is not a JSON Web Key"),
            (r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#, "EC P-256"),
            (
                r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA","d":"AA"}"#,
                "EC P-256",
            ),
            (
                r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}"#,
                "32 bytes",
            ),
        ] {
            let err = EcSigningKey::from_jwk(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let public_only = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        assert!(EcSigningKey::from_jwk(public_only)
            .unwrap_err()
            .contains("\"d\""));
        assert!(EcPublicKey::from_jwk(public_only).is_ok());
    }
}
