//! Login with Webex on Cloudflare Workers: an OpenID Connect relying party.
//!
//! Layers, each depending only on the ones before it (the README draws the tree):
//! - `oidc/`: the protocol core (authorize URL, callback, token, ID token, JWKS, userinfo),
//!   pure and natively tested; it imports nothing from the rest of the crate.
//! - `platform.rs`: the traits for what the runtime lends (KV, Fetch, timer, rate limiter,
//!   crypto); `cookies.rs`, `seal.rs`: how cookies are read and records sealed.
//! - `session/` (the session ticket and record) and `pending_login.rs` (a login in progress):
//!   each concept end to end, cookie to KV.
//! - `provider_api/`: calls to the provider; `config.rs`: the settings both modes build on
//!   (where they come from, how a problem is named) and the relying party's own;
//!   `gateway/`'s plain parts: its settings, access policy, public paths, what the origin
//!   receives and the assertion. `error.rs` maps every failure to a status, a page and a
//!   reason code; `pages/`: the HTML; `http.rs`: request and reply.
//! - `app/`'s shared parts: the `Context` every handler gets, this request's settings
//!   (`RequestConfig`, loaded once), `error_reply`, the one `signed_in` lookup.
//! - The handlers: `routes/` (the sign-in routes) and `gateway/mod.rs` (sign in first,
//!   forward, forward-auth, JWKS). Each depends on `app`'s shared parts, never on the other.
//! - `app/mod.rs`: the one request path, the only code that knows both: the dispatcher (the
//!   sign-in routes at the root, or nested below `AUTH_PREFIX` with the gateway as the
//!   fallback) and the outer wrapping every answer leaves through (`serve`, `unavailable`).
//! - `edge/`: the only code that touches the runtime, one file per binding (`await_slots.rs`:
//!   the plain bookkeeping behind its awaits).

pub mod app;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod await_slots;
pub mod config;
pub mod cookies;
pub mod error;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod http;
pub mod oidc;
pub mod pages;
pub mod pending_login;
pub mod platform;
pub mod provider_api;
pub mod reason;
pub mod routes;
pub mod seal;
pub mod session;

#[cfg(test)]
mod hostile_input;
#[cfg(test)]
mod testing;

#[cfg(target_arch = "wasm32")]
mod edge;

/// talc in place of the standard library's dlmalloc: a seventh of the code, which every cold
/// start compiles. An isolate runs one thread, which is what this allocator assumes.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// The Worker's `fetch` export, which worker-build's JavaScript entry point calls with the
/// request, `env` and the execution context. Written with wasm-bindgen directly rather than
/// the `worker` crate, whose event macro formats `worker::Error`s and whose exported classes
/// (and their JavaScript glue) would ship in every build.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub async fn fetch(
    req: web_sys::Request,
    env: wasm_bindgen::JsValue,
    _ctx: wasm_bindgen::JsValue,
) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue> {
    edge::serve(req, env).await
}
