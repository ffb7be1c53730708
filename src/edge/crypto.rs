//! WebCrypto: RS256 verification and AES-256-GCM, native code in the runtime.

use std::cell::RefCell;

use base64ct::{Base64UrlUnpadded, Encoding};

use futures_util::future::LocalBoxFuture;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

use super::promise::settled;
use crate::oidc::es256::{EcSigningKey, SignEs256};
use crate::oidc::jwks::{RsaPublicKey, VerifyRs256};
use crate::platform::Crypto;

thread_local! {
    /// The gateway's ES256 signing key, imported once per isolate (by `kid`).
    static SIGNING: RefCell<Option<(String, web_sys::CryptoKey)>> = const { RefCell::new(None) };
    /// WebCrypto handles of the JWKS keys, imported once per isolate (found again by the
    /// whole key: modulus and exponent).
    static IMPORTED: RefCell<Vec<(RsaPublicKey, web_sys::CryptoKey)>> = const { RefCell::new(Vec::new()) };
}

/// At most this many imported keys are kept; a JWKS holds at most 16 usable keys.
const MAX_IMPORTED_KEYS: usize = 32;

/// The runtime's WebCrypto: native RSA and AES-GCM; imported RSA keys are reused.
pub struct WebCrypto;

impl VerifyRs256 for WebCrypto {
    fn verify_rs256<'a>(
        &'a self,
        key: &'a RsaPublicKey,
        message: &'a [u8],
        signature: &'a [u8],
    ) -> LocalBoxFuture<'a, bool> {
        Box::pin(async move {
            let (Some(subtle), Some(crypto_key)) = (subtle_crypto(), imported_key(key).await)
            else {
                return false;
            };
            let Ok(promise) = subtle.verify_with_object_and_u8_array_and_u8_array(
                &rs256_algorithm(),
                &crypto_key,
                signature,
                message,
            ) else {
                return false;
            };
            settled(&promise)
                .await
                .is_ok_and(|valid| valid.as_bool() == Some(true))
        })
    }
}

impl SignEs256 for WebCrypto {
    fn sign_es256<'a>(
        &'a self,
        key: &'a EcSigningKey,
        message: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let handle = signing_key(key).await?;
            let algorithm = js_sys::Object::new();
            Reflect::set(&algorithm, &"name".into(), &"ECDSA".into()).ok()?;
            Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into()).ok()?;
            let promise = subtle_crypto()?
                .sign_with_object_and_u8_array(&algorithm, &handle, message)
                .ok()?;
            let signature = settled(&promise).await.ok()?;
            Some(Uint8Array::new(&signature).to_vec())
        })
    }
}

/// `{ name: "ECDSA", namedCurve: "P-256" }`
fn p256_algorithm() -> js_sys::Object {
    let algorithm = js_sys::Object::new();
    let _ = Reflect::set(&algorithm, &"name".into(), &"ECDSA".into());
    let _ = Reflect::set(&algorithm, &"namedCurve".into(), &"P-256".into());
    algorithm
}

/// The isolate's imported handle for the signing key, imported (sign only) on first use and
/// again when the key changes.
async fn signing_key(key: &EcSigningKey) -> Option<web_sys::CryptoKey> {
    let cached = SIGNING.with(|slot| {
        slot.borrow()
            .as_ref()
            .filter(|(kid, _)| *kid == key.public.kid)
            .map(|(_, handle)| handle.clone())
    });
    if cached.is_some() {
        return cached;
    }
    let jwk = [
        ("kty", "EC".to_owned()),
        ("crv", "P-256".to_owned()),
        ("x", Base64UrlUnpadded::encode_string(&key.public.x)),
        ("y", Base64UrlUnpadded::encode_string(&key.public.y)),
        ("d", Base64UrlUnpadded::encode_string(key.d())),
    ];
    let handle = import_jwk(&jwk, &p256_algorithm(), "sign").await?;
    SIGNING.with(|slot| *slot.borrow_mut() = Some((key.public.kid.clone(), handle.clone())));
    Some(handle)
}

impl Crypto for WebCrypto {
    fn aes256gcm_seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        nonce: &'a [u8; 12],
        aad: &'a [u8],
        plaintext: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(aes_gcm(AesOperation::Encrypt, key, nonce, aad, plaintext))
    }

    fn aes256gcm_open<'a>(
        &'a self,
        key: &'a [u8; 32],
        nonce: &'a [u8; 12],
        aad: &'a [u8],
        sealed: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(aes_gcm(AesOperation::Decrypt, key, nonce, aad, sealed))
    }
}

fn subtle_crypto() -> Option<web_sys::SubtleCrypto> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    global.crypto().ok().map(|crypto| crypto.subtle())
}

/// `{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }`
fn rs256_algorithm() -> js_sys::Object {
    let algorithm = js_sys::Object::new();
    let _ = Reflect::set(&algorithm, &"name".into(), &"RSASSA-PKCS1-v1_5".into());
    let _ = Reflect::set(&algorithm, &"hash".into(), &"SHA-256".into());
    algorithm
}

/// The isolate's imported handle for `key`, importing it (as a JWK, verify only) on first use.
async fn imported_key(key: &RsaPublicKey) -> Option<web_sys::CryptoKey> {
    let cached = IMPORTED.with(|imported| {
        imported
            .borrow()
            .iter()
            .find(|(imported, _)| imported == key)
            .map(|(_, handle)| handle.clone())
    });
    if cached.is_some() {
        return cached;
    }
    let jwk = [
        ("kty", "RSA".to_owned()),
        ("n", Base64UrlUnpadded::encode_string(key.modulus())),
        ("e", Base64UrlUnpadded::encode_string(key.exponent())),
        ("alg", "RS256".to_owned()),
    ];
    let handle = import_jwk(&jwk, &rs256_algorithm(), "verify").await?;
    IMPORTED.with(|imported| {
        let mut imported = imported.borrow_mut();
        if imported.len() >= MAX_IMPORTED_KEYS {
            imported.clear();
        }
        imported.push((key.clone(), handle.clone()));
    });
    Some(handle)
}

/// Imports a key given as JWK members, not extractable, for the one `usage`.
async fn import_jwk(
    members: &[(&str, String)],
    algorithm: &js_sys::Object,
    usage: &str,
) -> Option<web_sys::CryptoKey> {
    let jwk = js_sys::Object::new();
    for (name, value) in members {
        Reflect::set(&jwk, &(*name).into(), &value.into()).ok()?;
    }
    let usages = js_sys::Array::of1(&usage.into());
    let promise = subtle_crypto()?
        .import_key_with_object("jwk", &jwk, algorithm, false, &usages)
        .ok()?;
    settled(&promise).await.ok()?.dyn_into().ok()
}

#[derive(Clone, Copy)]
enum AesOperation {
    Encrypt,
    Decrypt,
}

#[wasm_bindgen(inline_js = "
export function aesGcm(op, key, iv, aad, data) {
  // The arguments are views of the module's memory: copied before anything can move it.
  const [k, n, a, d] = [key.slice(), iv.slice(), aad.slice(), data.slice()];
  const subtle = crypto.subtle;
  return subtle.importKey('raw', k, 'AES-GCM', false, [op])
    .then((handle) => subtle[op]({ name: 'AES-GCM', iv: n, additionalData: a }, handle, d))
    .then((result) => new Uint8Array(result));
}")]
extern "C" {
    /// Import, then encrypt or decrypt, in one call from wasm (instead of some twenty calls
    /// to build the key, the parameters and the two promises piece by piece).
    #[wasm_bindgen(catch, js_name = aesGcm)]
    fn aes_gcm_js(
        operation: &str,
        key: &[u8],
        iv: &[u8],
        aad: &[u8],
        data: &[u8],
    ) -> Result<js_sys::Promise, JsValue>;
}

/// One AES-256-GCM operation (128-bit tag appended to the ciphertext, as RustCrypto does).
/// The key is imported per call: each browser's records have their own key.
async fn aes_gcm(
    operation: AesOperation,
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    data: &[u8],
) -> Option<Vec<u8>> {
    let operation = match operation {
        AesOperation::Encrypt => "encrypt",
        AesOperation::Decrypt => "decrypt",
    };
    let promise = aes_gcm_js(operation, key, nonce, aad, data).ok()?;
    let result: Uint8Array = settled(&promise).await.ok()?.dyn_into().ok()?;
    Some(result.to_vec())
}
