//! Records at rest in KV are sealed with AES-256-GCM under a key that only the browser's
//! cookie carries, so a KV dump (or a stolen record) opens nothing. The KV key is the
//! associated data: a record moved to another key no longer opens.

use base64ct::{Base64UrlUnpadded, Encoding};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::oidc::json;
use crate::oidc::secrets::{AccessToken, Nonce, PkceVerifier, RefreshToken};
use crate::platform::Crypto;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a record could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    Randomness,
    Cipher,
}

/// A 256-bit record key, carried only in a cookie. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey([u8; 32]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(redacted)")
    }
}

impl SealKey {
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key)?;
        Ok(Self(key))
    }

    /// The key from its cookie form (43 base64url characters).
    pub fn from_cookie(text: &str) -> Option<Self> {
        let bytes = Base64UrlUnpadded::decode_vec(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn to_cookie(&self) -> String {
        Base64UrlUnpadded::encode_string(&self.0)
    }
}

/// `base64url(nonce || ciphertext || tag)`, bound to `aad` (the record's KV key). The nonce
/// is random: 96 bits per record is far from the GCM limit for one key's few records.
pub async fn seal(
    crypto: &dyn Crypto,
    key: &SealKey,
    aad: &str,
    plaintext: &[u8],
) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut nonce).map_err(|_| SealError::Randomness)?;
    let ciphertext = crypto
        .aes256gcm_seal(&key.0, &nonce, aad.as_bytes(), plaintext)
        .await
        .ok_or(SealError::Cipher)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(Base64UrlUnpadded::encode_string(&out))
}

/// The plaintext, or `None` for a wrong key, another KV key, or any tampering.
pub async fn open(crypto: &dyn Crypto, key: &SealKey, aad: &str, sealed: &str) -> Option<Vec<u8>> {
    let bytes = Base64UrlUnpadded::decode_vec(sealed).ok()?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().ok()?;
    crypto
        .aes256gcm_open(&key.0, nonce, aad.as_bytes(), ciphertext)
        .await
}

/// The format version of sealed records: a future format bumps it, and records of another
/// version are refused, not misread.
pub const RECORD_VERSION: u8 = 2;

/// A record kept sealed in KV, as a JSON object of its fields. [`seal_record`] adds its
/// format version (`"v"`) and [`open_record`] refuses any other version before the record is
/// read.
pub trait Record: Serialize + DeserializeOwned {}

/// A record with its format version, as written.
#[derive(Serialize)]
struct Versioned<'a, T> {
    v: u8,
    #[serde(flatten)]
    record: &'a T,
}

/// The format version, read before the rest of the record.
#[derive(Deserialize)]
struct Version {
    v: i64,
}

/// Serialises and seals a record for KV under its KV key.
pub async fn seal_record<T: Record>(
    crypto: &dyn Crypto,
    key: &SealKey,
    kv_key: &str,
    record: &T,
) -> Result<String, SealError> {
    let versioned = Versioned {
        v: RECORD_VERSION,
        record,
    };
    seal_json(crypto, key, kv_key, &versioned).await
}

/// Seals any JSON document (a record is one).
pub async fn seal_json(
    crypto: &dyn Crypto,
    key: &SealKey,
    kv_key: &str,
    document: &impl Serialize,
) -> Result<String, SealError> {
    // Records are plain structs with string keys: serialising them cannot fail, and an empty
    // plaintext would not open as a record anyway.
    let plaintext = serde_json::to_vec(document).unwrap_or_default();
    seal(crypto, key, kv_key, &plaintext).await
}

/// Opens and decodes a record; `None` if the key is wrong, the record was tampered with, it
/// is not strict JSON, or it is of another format version (records of another version are
/// refused, not misread: a future format bumps the version).
pub async fn open_record<T: Record>(
    crypto: &dyn Crypto,
    key: &SealKey,
    kv_key: &str,
    sealed: &str,
) -> Option<T> {
    let plaintext = open(crypto, key, kv_key, sealed).await?;
    let members = json::parse_object(&plaintext).ok()?;
    let document = json::Value::Object(members);
    let Version { v } = Version::deserialize(&document).ok()?;
    if v != i64::from(RECORD_VERSION) {
        return None;
    }
    T::deserialize(document).ok()
}

/// The secrets a sealed record keeps are stored as their text. Only here: nothing else
/// serialises a secret.
macro_rules! sealed_as_text {
    ($($secret:ty),*) => {$(
        impl Serialize for $secret {
            fn serialize<S: serde::Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
                out.serialize_str(self.secret())
            }
        }

        impl<'de> Deserialize<'de> for $secret {
            fn deserialize<D: serde::Deserializer<'de>>(text: D) -> Result<Self, D::Error> {
                let text = String::deserialize(text)?;
                Ok(Self::from_untrusted(&text))
            }
        }
    )*};
}
sealed_as_text!(AccessToken, RefreshToken, Nonce, PkceVerifier);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::test_keys::RustCrypto;
    use futures::executor::block_on;

    fn seal(key: &SealKey, aad: &str, plaintext: &[u8]) -> Result<String, SealError> {
        block_on(super::seal(&RustCrypto, key, aad, plaintext))
    }

    fn open(key: &SealKey, aad: &str, sealed: &str) -> Option<Vec<u8>> {
        block_on(super::open(&RustCrypto, key, aad, sealed))
    }

    #[test]
    fn an_empty_plaintext_round_trips() {
        // The shortest sealed value: nonce and tag only.
        let key = SealKey::generate().unwrap();
        let sealed = seal(&key, "k", b"").unwrap();
        assert_eq!(
            Base64UrlUnpadded::decode_vec(&sealed).unwrap().len(),
            12 + 16
        );
        assert_eq!(open(&key, "k", &sealed), Some(Vec::new()));
        // One byte shorter is not a sealed value at all.
        let short = Base64UrlUnpadded::encode_string(&[0u8; 27]);
        assert_eq!(open(&key, "k", &short), None);
    }

    #[test]
    fn round_trip_and_nothing_readable_at_rest() {
        let key = SealKey::generate().unwrap();
        let sealed = seal(&key, "session:abc", b"{\"email\":\"ada@example.com\"}").unwrap();
        let stored = Base64UrlUnpadded::decode_vec(&sealed).unwrap();
        assert!(
            !stored.windows(3).any(|w| w == b"ada"),
            "ciphertext, not the text"
        );
        assert_eq!(
            stored.len(),
            12 + 27 + 16,
            "nonce, ciphertext of the 27 bytes, tag"
        );
        assert_eq!(
            open(&key, "session:abc", &sealed).unwrap(),
            b"{\"email\":\"ada@example.com\"}"
        );
    }

    #[test]
    fn wrong_key_other_kv_key_or_tampering_opens_nothing() {
        let key = SealKey::generate().unwrap();
        let sealed = seal(&key, "session:abc", b"secret").unwrap();
        assert!(open(&SealKey::generate().unwrap(), "session:abc", &sealed).is_none());
        assert!(open(&key, "session:xyz", &sealed).is_none());
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&key, "session:abc", &String::from_utf8(tampered).unwrap()).is_none());
        assert!(open(&key, "session:abc", "").is_none());
        assert!(open(&key, "session:abc", "!!!").is_none());
    }

    #[test]
    fn same_plaintext_seals_differently_each_time() {
        let key = SealKey::generate().unwrap();
        assert_ne!(
            seal(&key, "k", b"x").unwrap(),
            seal(&key, "k", b"x").unwrap()
        );
    }

    #[test]
    fn cookie_form_round_trips_and_rejects_bad_lengths() {
        let key = SealKey::generate().unwrap();
        assert_eq!(SealKey::from_cookie(&key.to_cookie()), Some(key.clone()));
        assert_eq!(key.to_cookie().len(), 43);
        assert!(SealKey::from_cookie("abc").is_none());
        assert!(format!("{key:?}").contains("redacted"));
    }
}
