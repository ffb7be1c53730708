//! Test doubles of the platform, shared by the crate's tests: KV, the provider, the rate
//! limiter, AES-GCM, and a future that yields once like a network call.

pub mod kv;
pub mod limiter;
pub mod provider;
pub mod upstream;

use futures_util::future::LocalBoxFuture;

use crate::oidc::test_keys::RustCrypto;
use crate::platform::Crypto;

/// The issuer the fake provider signs as (Webex's default).
pub const ISSUER: &str = "https://idbroker.webex.com/idb";
/// The test clock's start, in seconds since the epoch.
pub const NOW: i64 = 1_800_000_000;

/// A future that is pending once, like a real network call.
pub struct YieldOnce(pub bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// AES-256-GCM by the `aes-gcm` crate, as WebCrypto does it in the Worker.
impl Crypto for RustCrypto {
    fn aes256gcm_seal<'a>(
        &'a self,
        key: &'a [u8; 32],
        nonce: &'a [u8; 12],
        aad: &'a [u8],
        plaintext: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        let sealed = aes_gcm::Aes256Gcm::new(key.into())
            .encrypt(nonce.into(), payload)
            .ok();
        Box::pin(async move { sealed })
    }

    fn aes256gcm_open<'a>(
        &'a self,
        key: &'a [u8; 32],
        nonce: &'a [u8; 12],
        aad: &'a [u8],
        sealed: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let payload = Payload { msg: sealed, aad };
        let opened = aes_gcm::Aes256Gcm::new(key.into())
            .decrypt(nonce.into(), payload)
            .ok();
        Box::pin(async move { opened })
    }
}

/// ECDSA P-256 by the `p256` crate, as WebCrypto does it in the Worker (`r || s`).
impl crate::oidc::es256::SignEs256 for RustCrypto {
    fn sign_es256<'a>(
        &'a self,
        key: &'a crate::oidc::es256::EcSigningKey,
        message: &'a [u8],
    ) -> LocalBoxFuture<'a, Option<Vec<u8>>> {
        use p256::ecdsa::{signature::Signer, Signature, SigningKey};
        let signed = SigningKey::from_bytes(key.d().into()).ok().map(|signer| {
            Signer::<Signature>::sign(&signer, message)
                .to_bytes()
                .to_vec()
        });
        Box::pin(async move { signed })
    }
}
