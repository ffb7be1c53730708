//! Vars and secrets: the `Settings` the app reads through `RequestConfig`.

use std::cell::RefCell;

use wasm_bindgen::JsValue;
use worker::Env;

use crate::config::{setting_text, Settings};

thread_local! {
    /// Every setting read so far, as `env` had it. Vars and secrets are fixed for the life of
    /// an isolate (a new deployment or secret starts new isolates), so each is read from
    /// `env` once, not on every request.
    static READ: RefCell<Vec<(String, Option<String>)>> = const { RefCell::new(Vec::new()) };
}

/// The `env` the runtime passes to the `fetch` event.
pub struct WorkerSettings<'a>(pub &'a Env);

impl Settings for WorkerSettings<'_> {
    fn get(&self, name: &str) -> Option<String> {
        let known = READ.with(|read| {
            let read = read.borrow();
            read.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        });
        known.unwrap_or_else(|| {
            let value = self.read(name);
            READ.with(|read| read.borrow_mut().push((name.to_owned(), value.clone())));
            value
        })
    }

    /// Only a service binding is a binding here (the `UPSTREAM` the gateway forwards to).
    fn has_binding(&self, name: &str) -> bool {
        self.0.service(name).is_ok()
    }
}

impl WorkerSettings<'_> {
    /// Secrets are strings on `env`; so are vars written as TOML strings. A var written as a
    /// TOML number, boolean, array or table (`SESSION_TTL = 3600`) arrives as that JSON value:
    /// it is read as the text it stands for ([`setting_text`]), not dropped, which would put
    /// the default in its place without a word.
    fn read(&self, name: &str) -> Option<String> {
        // Read from `env` directly: workers-rs's `var` and `secret` refuse anything but a
        // string, `object_var` anything but a table, and all three throw on a null var.
        let value = js_sys::Reflect::get(self.0, &JsValue::from_str(name)).ok()?;
        if let Some(text) = value.as_string() {
            return Some(text);
        }
        if value.is_null() || value.is_undefined() {
            return None;
        }
        let json = js_sys::JSON::stringify(&value).ok()?.as_string()?;
        Some(setting_text(&json))
    }
}
