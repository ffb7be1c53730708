//! Workers KV: the `KeyValueStore` that holds login records and sessions.

use worker::KvStore;

use super::{bump, Usage};
use crate::platform::{KeyValueStore, StoreError};

/// The KV namespace binding that holds login records and sessions.
pub const KV_BINDING: &str = "AUTH_KV";

const FAILED: StoreError = StoreError("kv call failed");

pub struct WorkersKv<'a> {
    pub kv: KvStore,
    pub usage: &'a Usage,
}

impl KeyValueStore for WorkersKv<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        bump(&self.usage.kv_reads);
        self.kv.get(key).text().await.map_err(|_| FAILED)
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        let put = self.kv.put(key, value).map_err(|_| FAILED)?;
        put.expiration_ttl(ttl_secs)
            .execute()
            .await
            .map_err(|_| FAILED)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        self.kv.delete(key).await.map_err(|_| FAILED)
    }
}
