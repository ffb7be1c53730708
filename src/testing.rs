//! Test doubles of the platform shared by the crate's tests.

use futures_util::future::LocalBoxFuture;

use crate::oidc::test_keys::RustCrypto;
use crate::platform::Crypto;

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
