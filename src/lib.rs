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
//! - `edge/`: the only code that touches the runtime (workers-rs: the `fetch` event, `Env`
//!   and its bindings), one file per binding.

pub mod app;
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
