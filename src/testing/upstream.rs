//! The origin behind the gateway: records what it was sent (as the runtime would send it) and
//! answers with a status, or fails like an origin that is down or slow.

use std::cell::{Cell, RefCell};

use super::YieldOnce;
use crate::oidc::outbound::TransportError;
use crate::platform::{ForwardPlan, Forwarded, Upstream};

/// One request as the origin received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub url: String,
    pub via_binding: bool,
    /// The headers after the plan: the client's minus the dropped ones, plus the set ones.
    pub headers: Vec<(String, String)>,
}

impl Received {
    #[allow(dead_code)] // read by the gateway tests, which only the gateway build has
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct FakeUpstream {
    /// The headers every incoming request carries, as a client sent them.
    pub client_headers: RefCell<Vec<(String, String)>>,
    pub received: RefCell<Vec<Received>>,
    pub status: Cell<u16>,
    pub failure: Cell<Option<TransportError>>,
    /// `Set-Cookie` values the origin answers with, and which of them reach the browser.
    pub set_cookies: RefCell<Vec<String>>,
    pub passed_set_cookies: RefCell<Vec<String>>,
}

impl Default for FakeUpstream {
    fn default() -> Self {
        Self {
            client_headers: RefCell::default(),
            received: RefCell::default(),
            status: Cell::new(200),
            failure: Cell::new(None),
            set_cookies: RefCell::default(),
            passed_set_cookies: RefCell::default(),
        }
    }
}

impl Upstream for FakeUpstream {
    async fn forward(&self, plan: ForwardPlan) -> Result<Forwarded, TransportError> {
        YieldOnce(false).await;
        let mut headers: Vec<(String, String)> = self
            .client_headers
            .borrow()
            .iter()
            .filter(|(name, _)| !(plan.drop_header)(&name.to_ascii_lowercase()))
            .cloned()
            .collect();
        for (name, value) in &plan.set_headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push(((*name).to_owned(), value.clone()));
        }
        self.received.borrow_mut().push(Received {
            url: plan.url,
            via_binding: plan.via_binding,
            headers,
        });
        if let Some(failure) = self.failure.get() {
            return Err(failure);
        }
        *self.passed_set_cookies.borrow_mut() = self
            .set_cookies
            .borrow()
            .iter()
            .filter(|c| !(plan.drop_set_cookie)(c))
            .cloned()
            .collect();
        Ok(Forwarded {
            status: self.status.get(),
        })
    }
}
