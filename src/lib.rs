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
pub mod platform;
pub mod provider;
pub mod routes;
pub mod sessions;

#[cfg(test)]
mod hostile_input;

#[cfg(target_arch = "wasm32")]
mod edge;

#[cfg(target_arch = "wasm32")]
#[worker::event(fetch)]
async fn fetch(
    req: worker::Request,
    env: worker::Env,
    _ctx: worker::Context,
) -> worker::Result<worker::Response> {
    edge::serve(req, env).await
}
