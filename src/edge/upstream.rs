//! The origin behind the gateway: forwards the request being served (its body streamed, never
//! buffered) with `fetch` or through the `UPSTREAM` service binding, and keeps the answer so
//! that its body streams back to the client untouched.
//!
//! The answer stays the runtime's own `Response` (web-sys) from end to end: workers-rs's
//! `Response` has no `statusText`, so passing the origin's answer through it would change it.

use std::cell::RefCell;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::worker_sys::ext::{ResponseExt, ResponseInitExt};
use worker::{CacheMode, Delay, Env, Fetcher, Headers, Request, RequestInit, RequestRedirect};

use super::{bump, Usage};
use crate::config::UPSTREAM_BINDING;
use crate::oidc::outbound::TransportError;
use crate::platform::{ForwardPlan, Forwarded, Upstream};

/// How long the origin has to start answering (its body may then take as long as it needs).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// The origin's response, and the test of which of its `Set-Cookie`s to hold back.
type Answer = (web_sys::Response, fn(&str) -> bool);

pub struct WorkersUpstream<'a> {
    /// The request being served; its body is what gets forwarded.
    request: &'a Request,
    /// The `UPSTREAM` service binding, if bound.
    service: Option<Fetcher>,
    usage: &'a Usage,
    /// The origin's answer, and which of its `Set-Cookie`s to hold back.
    answer: RefCell<Option<Answer>>,
}

impl<'a> WorkersUpstream<'a> {
    pub fn new(request: &'a Request, env: &Env, usage: &'a Usage) -> Self {
        Self {
            request,
            service: env.service(UPSTREAM_BINDING).ok(),
            usage,
            answer: RefCell::new(None),
        }
    }

    /// The origin's response as the client gets it: its status and status text, headers
    /// (minus the held-back cookies, plus `extra`) and body stream. A WebSocket upgrade goes
    /// back as it is, with its socket, unless it tries to set one of our cookies: then without
    /// those.
    pub fn response(&self, extra: &[(&'static str, String)]) -> Option<web_sys::Response> {
        let (answer, drop_set_cookie) = self.answer.borrow_mut().take()?;
        let held_back =
            |(name, value): &(String, String)| name == "set-cookie" && drop_set_cookie(value);
        let pairs: Vec<_> = Headers(answer.headers()).entries().collect();
        let socket = answer.websocket();
        let upgraded = socket.is_some() || answer.status() == 101;
        if upgraded && !pairs.iter().any(held_back) {
            return Some(answer);
        }
        let headers = Headers::new();
        for (name, value) in pairs.iter().filter(|pair| !held_back(pair)) {
            headers.append(name, value).ok()?;
        }
        if !upgraded {
            for (name, value) in extra {
                headers.set(name, value).ok()?;
            }
        }
        let mut init = web_sys::ResponseInit::new();
        init.set_status(answer.status());
        init.set_status_text(&answer.status_text());
        init.set_headers(&headers.0);
        if let Some(socket) = socket {
            init.websocket(&socket).ok()?;
            return web_sys::Response::new_with_opt_str_and_init(None, &init).ok();
        }
        web_sys::Response::new_with_opt_readable_stream_and_init(answer.body().as_ref(), &init).ok()
    }

    /// The request to forward: the incoming one's method, headers as the plan says, and its
    /// body as a stream.
    fn outgoing(&self, plan: &ForwardPlan) -> Result<web_sys::Request, TransportError> {
        let headers = Headers::new();
        for (name, value) in self.request.headers() {
            if !(plan.drop_header)(&name) {
                headers
                    .append(&name, &value)
                    .map_err(|_| TransportError::Network)?;
            }
        }
        for (name, value) in &plan.set_headers {
            headers
                .set(name, value)
                .map_err(|_| TransportError::Network)?;
        }
        let incoming = self.request.inner();
        let mut init = RequestInit::new();
        init.with_headers(headers)
            // A 3xx goes back to the client as the origin sent it.
            .with_redirect(RequestRedirect::Manual)
            .with_body(incoming.body().map(Into::into));
        if plan.bypass_cache && !plan.via_binding {
            init.with_cache(CacheMode::NoStore);
        }
        let init = web_sys::RequestInit::from(&init);
        // The method as sent: workers-rs's `Method` turns an extension method (PROPFIND) into GET.
        init.set_method(&incoming.method());
        web_sys::Request::new_with_str_and_init(&plan.url, &init)
            .map_err(|_| TransportError::Network)
    }

    /// Sends `outgoing` through the service binding or `fetch`, and awaits the runtime's own
    /// `Response` (workers-rs's `Fetch` and `Fetcher` answer with theirs, without `statusText`).
    async fn send(
        &self,
        outgoing: &web_sys::Request,
        via_binding: bool,
    ) -> Result<web_sys::Response, TransportError> {
        let promise = if via_binding {
            let service = self.service.clone().ok_or(TransportError::Network)?;
            let service: worker::worker_sys::Fetcher = service.into_rpc();
            service
                .fetch(outgoing)
                .map_err(|_| TransportError::Network)?
        } else {
            let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
            global.fetch_with_request(outgoing)
        };
        let answer = JsFuture::from(promise)
            .await
            .map_err(|_| TransportError::Network)?;
        answer.dyn_into().map_err(|_| TransportError::Network)
    }
}

impl Upstream for WorkersUpstream<'_> {
    async fn forward(&self, plan: ForwardPlan) -> Result<Forwarded, TransportError> {
        bump(&self.usage.subrequests);
        let outgoing = self.outgoing(&plan)?;
        let exchange = pin!(self.send(&outgoing, plan.via_binding));
        let deadline = pin!(Delay::from(UPSTREAM_TIMEOUT));
        let answer = match select(exchange, deadline).await {
            Either::Left((answer, _)) => answer?,
            Either::Right(_) => return Err(TransportError::Timeout),
        };
        let status = answer.status();
        *self.answer.borrow_mut() = Some((answer, plan.drop_set_cookie));
        Ok(Forwarded { status })
    }
}
