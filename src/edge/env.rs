//! Vars and secrets: the `Settings` the app reads through `RequestConfig`.

use worker::js_sys::Reflect;
use worker::wasm_bindgen::JsValue;
use worker::Env;

use crate::config::Settings;

pub struct WorkerSettings<'a>(pub &'a Env);

impl Settings for WorkerSettings<'_> {
    /// Vars and secrets are both plain strings on `env`. Read directly: the `worker` crate's
    /// accessors build an error message for every setting that is not set, on every request.
    fn get(&self, name: &str) -> Option<String> {
        Reflect::get(self.0, &JsValue::from_str(name))
            .ok()
            .and_then(|value| value.as_string())
    }

    fn has_binding(&self, name: &str) -> bool {
        Reflect::get(self.0, &JsValue::from_str(name)).is_ok_and(|value| value.is_object())
    }
}
