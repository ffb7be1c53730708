//! Vars and secrets: the `Settings` the app reads through `RequestConfig`.

use std::cell::RefCell;

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use crate::config::{setting_text, Settings};

thread_local! {
    /// Every setting read so far, as `env` had it. Vars and secrets are fixed for the life of
    /// an isolate (a new deployment or secret starts new isolates), so each is read from
    /// `env` once, not on every request: three calls into JavaScript per setting saved.
    static READ: RefCell<Vec<(String, Option<String>)>> = const { RefCell::new(Vec::new()) };
}

/// The `env` object the runtime passes to `fetch`.
pub struct WorkerSettings<'a>(pub &'a JsValue);

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

    fn has_binding(&self, name: &str) -> bool {
        Reflect::get(self.0, &JsValue::from_str(name)).is_ok_and(|value| value.is_object())
    }
}

impl WorkerSettings<'_> {
    /// Secrets are strings on `env`; so are vars written as TOML strings. A var written as a
    /// TOML number, boolean, array or table (`SESSION_TTL = 3600`) arrives as that JSON value:
    /// it is read as the text it stands for ([`setting_text`]), not dropped, which would put
    /// the default in its place without a word. Read directly: the `worker` crate's accessors
    /// build an error message for every setting that is not set.
    fn read(&self, name: &str) -> Option<String> {
        let value = Reflect::get(self.0, &JsValue::from_str(name)).ok()?;
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
