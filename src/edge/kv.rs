//! Workers KV: the `KeyValueStore` that holds login records and sessions.

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use super::{bump, call_binding, Usage};
use crate::platform::{KeyValueStore, StoreError};

/// The KV namespace binding that holds login records and sessions.
pub const KV_BINDING: &str = "AUTH_KV";

/// The KV namespace binding, called directly (`get`, `put`, `delete` of the Workers KV API):
/// the `worker` crate's builders serialise their options through serde on every call.
pub struct WorkersKv<'a> {
    pub kv: JsValue,
    pub usage: &'a Usage,
}

impl WorkersKv<'_> {
    async fn call(&self, method: &str, args: &[JsValue]) -> Result<JsValue, StoreError> {
        call_binding(&self.kv, method, args)
            .await
            .map_err(|()| StoreError("kv call failed"))
    }
}

impl KeyValueStore for WorkersKv<'_> {
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        bump(&self.usage.kv_reads);
        // `get(key)` resolves to the text, or null when the key does not exist.
        Ok(self.call("get", &[key.into()]).await?.as_string())
    }

    async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        let options = js_sys::Object::new();
        let ttl = JsValue::from_f64(ttl_secs as f64);
        Reflect::set(&options, &JsValue::from_str("expirationTtl"), &ttl)
            .map_err(|_| StoreError("kv put failed"))?;
        self.call("put", &[key.into(), value.into(), options.into()])
            .await
            .map(|_| ())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        bump(&self.usage.kv_writes);
        self.call("delete", &[key.into()]).await.map(|_| ())
    }
}
