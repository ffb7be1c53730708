//! The origin behind the gateway: forwards the request being served (its body streamed, never
//! buffered) with `fetch` or through the `UPSTREAM` service binding, and keeps the answer so
//! that its body streams back to the client untouched.

use std::cell::RefCell;
use std::pin::pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

use super::timer::Delay;
use super::{bump, call_binding, Usage};
use crate::oidc::outbound::TransportError;
use crate::platform::{ForwardPlan, Forwarded, Upstream};

/// How long the origin has to start answering (its body may then take as long as it needs).
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// The origin's response, and the test of which of its `Set-Cookie`s to hold back.
type Answer = (web_sys::Response, fn(&str) -> bool);

pub struct WorkersUpstream<'a> {
    /// The request being served; its body is what gets forwarded.
    pub request: &'a web_sys::Request,
    /// The `UPSTREAM` service binding, or undefined.
    pub binding: JsValue,
    pub usage: &'a Usage,
    /// The origin's answer, and which of its `Set-Cookie`s to hold back.
    answer: RefCell<Option<Answer>>,
}

impl<'a> WorkersUpstream<'a> {
    pub fn new(request: &'a web_sys::Request, binding: JsValue, usage: &'a Usage) -> Self {
        Self {
            request,
            binding,
            usage,
            answer: RefCell::new(None),
        }
    }

    /// The origin's response as the client gets it: its status, headers (minus the held-back
    /// cookies, plus `extra`) and body stream. A WebSocket upgrade goes back as it is, with its
    /// socket, unless it tries to set one of our cookies: then without those.
    pub fn response(&self, extra: &[(&'static str, String)]) -> Option<web_sys::Response> {
        let (answer, drop_set_cookie) = self.answer.borrow_mut().take()?;
        let pairs = header_pairs(&answer.headers());
        let held_back =
            |(name, value): &(String, String)| name == "set-cookie" && drop_set_cookie(value);
        let socket = Reflect::get(&answer, &"webSocket".into())
            .ok()
            .filter(JsValue::is_object);
        let upgraded = socket.is_some() || answer.status() == 101;
        if upgraded && !pairs.iter().any(held_back) {
            return Some(answer);
        }
        let headers = web_sys::Headers::new().ok()?;
        for pair in pairs.iter().filter(|pair| !held_back(pair)) {
            headers.append(&pair.0, &pair.1).ok()?;
        }
        if !upgraded {
            for (name, value) in extra {
                headers.set(name, value).ok()?;
            }
        }
        let init = web_sys::ResponseInit::new();
        init.set_status(answer.status());
        init.set_status_text(&answer.status_text());
        init.set_headers(&headers);
        if let Some(socket) = socket {
            Reflect::set(&init, &"webSocket".into(), &socket).ok()?;
            return web_sys::Response::new_with_opt_str_and_init(None, &init).ok();
        }
        web_sys::Response::new_with_opt_readable_stream_and_init(answer.body().as_ref(), &init).ok()
    }

    fn outgoing(&self, plan: &ForwardPlan) -> Result<web_sys::Request, TransportError> {
        let headers = web_sys::Headers::new().map_err(|_| TransportError::Network)?;
        for (name, value) in header_pairs(&self.request.headers()) {
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
        let init = web_sys::RequestInit::new();
        init.set_method(&self.request.method());
        init.set_headers(&headers);
        if let Some(body) = self.request.body() {
            init.set_body(&body);
        }
        // A 3xx goes back to the client as the origin sent it.
        Reflect::set(&init, &"redirect".into(), &"manual".into())
            .map_err(|_| TransportError::Network)?;
        if plan.bypass_cache && !plan.via_binding {
            Reflect::set(&init, &"cache".into(), &"no-store".into())
                .map_err(|_| TransportError::Network)?;
        }
        web_sys::Request::new_with_str_and_init(&plan.url, &init)
            .map_err(|_| TransportError::Network)
    }
}

/// The header list as (lower-case name, value) pairs; `Set-Cookie`s come one by one.
fn header_pairs(headers: &web_sys::Headers) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let Ok(Some(entries)) = js_sys::try_iter(headers) else {
        return pairs;
    };
    for entry in entries.flatten() {
        let entry: js_sys::Array = entry.unchecked_into();
        if let (Some(name), Some(value)) = (entry.get(0).as_string(), entry.get(1).as_string()) {
            pairs.push((name, value));
        }
    }
    pairs
}

impl Upstream for WorkersUpstream<'_> {
    async fn forward(&self, plan: ForwardPlan) -> Result<Forwarded, TransportError> {
        bump(&self.usage.subrequests);
        let outgoing = self.outgoing(&plan)?;
        let exchange = async {
            let answer = if plan.via_binding {
                call_binding(&self.binding, "fetch", &[outgoing.into()])
                    .await
                    .map_err(|()| TransportError::Network)?
            } else {
                let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
                super::promise::settled(&global.fetch_with_request(&outgoing))
                    .await
                    .map_err(|_| TransportError::Network)?
            };
            answer
                .dyn_into::<web_sys::Response>()
                .map_err(|_| TransportError::Network)
        };
        let exchange = pin!(exchange);
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
