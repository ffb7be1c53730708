//! WebCrypto: RS256 verification, ES256 signatures and AES-256-GCM, native code in the
//! runtime. On web-sys: workers-rs does not wrap `SubtleCrypto`. Every byte string goes to
//! WebCrypto as a copy (`Uint8Array::from`), never as a view of the module's memory, which
//! can move while a promise is pending.

use std::cell::RefCell;

use base64ct::{Base64UrlUnpadded, Encoding};

use futures_util::future::LocalBoxFuture;
use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

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
            let Ok(promise) = subtle.verify_with_object_and_js_u8_array_and_js_u8_array(
                &rs256_algorithm(),
                &crypto_key,
                &Uint8Array::from(signature),
                &Uint8Array::from(message),
            ) else {
                return false;
            };
            JsFuture::from(promise)
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
                .sign_with_object_and_js_u8_array(&algorithm, &handle, &Uint8Array::from(message))
                .ok()?;
            let signature = JsFuture::from(promise).await.ok()?;
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
    JsFuture::from(promise).await.ok()?.dyn_into().ok()
}

#[derive(Clone, Copy)]
enum AesOperation {
    Encrypt,
    Decrypt,
}

impl AesOperation {
    /// The `SubtleCrypto` method, which is also the key's one usage.
    fn name(self) -> &'static str {
        match self {
            Self::Encrypt => "encrypt",
            Self::Decrypt => "decrypt",
        }
    }
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
    let subtle = subtle_crypto()?;
    let usages = js_sys::Array::of1(&operation.name().into());
    let imported = subtle
        .import_key_with_str(
            "raw",
            &Uint8Array::from(&key[..]),
            "AES-GCM",
            false,
            &usages,
        )
        .ok()?;
    let handle: web_sys::CryptoKey = JsFuture::from(imported).await.ok()?.dyn_into().ok()?;
    let params = web_sys::AesGcmParams::new("AES-GCM", &Uint8Array::from(&nonce[..]));
    params.set_additional_data(&Uint8Array::from(aad));
    let data = Uint8Array::from(data);
    let promise = match operation {
        AesOperation::Encrypt => {
            subtle.encrypt_with_object_and_js_u8_array(&params, &handle, &data)
        }
        AesOperation::Decrypt => {
            subtle.decrypt_with_object_and_js_u8_array(&params, &handle, &data)
        }
    }
    .ok()?;
    let result = JsFuture::from(promise).await.ok()?;
    Some(Uint8Array::new(&result).to_vec())
}
