//! What worker-build's JavaScript entry point expects of the module besides `fetch`: the
//! `__worker_init_state` export, and a module that marks itself for a fresh instance after a
//! panic or a trap.
//!
//! The entry point reads `__worker_init_state()` once, when it loads, and keeps the object:
//! before each request, if `criticalError` is set, it calls `__wbg_reset_state()` (which
//! wasm-bindgen generates) to start a new instance, and bumps `instanceId`. The object
//! therefore lives in JavaScript, in an inline module that outlives any one instance. The
//! start function below is what the `worker` crate's own start function does: a panic is
//! logged as "Critical" and sets `criticalError`, and a trap schedules a reinitialisation.

use std::panic;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

#[wasm_bindgen(inline_js = "export const state = { criticalError: false, instanceId: 0 };")]
extern "C" {
    type InitState;

    #[wasm_bindgen(thread_local_v2, js_name = state)]
    static INIT_STATE: InitState;

    #[cfg(not(panic = "unwind"))]
    #[wasm_bindgen(method, setter, js_name = criticalError)]
    fn set_critical_error(this: &InitState, value: bool);

    #[wasm_bindgen(method, getter, js_name = instanceId)]
    fn instance_id(this: &InitState) -> u32;

    #[wasm_bindgen(method, setter, js_name = instanceId)]
    fn set_instance_id(this: &InitState, value: u32);
}

/// Runs when an instance starts (the first one, and each one after a reset). `private`: not
/// exported to JavaScript, where worker-build would take it for a handler.
#[wasm_bindgen(start, private)]
fn start() {
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        default_hook(info);
        let error = js_sys::Error::new(&format!("Rust panic: {info}"));
        web_sys::console::error_2(&JsValue::from_str("Critical"), &error);
        // With panic=abort (the release profile) the instance is lost; with panic=unwind the
        // panic is caught and the instance can go on.
        #[cfg(not(panic = "unwind"))]
        INIT_STATE.with(|state| state.set_critical_error(true));
    }));
    INIT_STATE.with(|state| state.set_instance_id(state.instance_id() + 1));
    // After a trap (a panic aborts with one) the glue marks the instance terminated and calls
    // this handler (worker-build passes wasm-bindgen --force-enable-abort-handler); the next
    // call into the module then starts a new instance.
    wasm_bindgen::handler::set_on_abort(wasm_bindgen::handler::schedule_reinit);
}

/// The shared state object, for the entry point.
#[wasm_bindgen(js_name = "__worker_init_state")]
pub fn init_state() -> JsValue {
    INIT_STATE.with(|state| state.into())
}
