//! Login with Webex on Cloudflare Workers: an OpenID Connect relying party.
//!
//! Layout: `oidc/` is the protocol logic (pure, natively tested); `routes/` the request
//! handlers; `provider.rs` the calls to Webex; `sessions.rs` and `cookies.rs` what is
//! stored and where; `pages/` the HTML; `edge.rs` the only code that touches the runtime.

pub mod config;
pub mod cookies;
pub mod error;
pub mod http;
pub mod oidc;
pub mod pages;
pub mod pending_login;
pub mod platform;
pub mod provider_api;
pub mod routes;
pub mod seal;
pub mod session;

#[cfg(test)]
mod hostile_input;
#[cfg(test)]
mod testing;

#[cfg(target_arch = "wasm32")]
mod edge;

/// The Worker's `fetch` export, which worker-build's JavaScript entry point calls. Written out
/// instead of `#[worker::event(fetch)]`: the macro's glue formats `worker::Error`s, and that
/// alone pulls every error message of the `worker` crate into the module.
#[cfg(target_arch = "wasm32")]
#[worker::wasm_bindgen::prelude::wasm_bindgen(
    wasm_bindgen = worker::wasm_bindgen,
    wasm_bindgen_futures = worker::wasm_bindgen_futures,
    js_sys = worker::js_sys
)]
pub async fn fetch(
    req: web_sys::Request,
    env: worker::Env,
    _ctx: worker::wasm_bindgen::JsValue,
) -> Result<worker::wasm_bindgen::JsValue, worker::wasm_bindgen::JsValue> {
    edge::serve(req, env).await
}
