//! The protocol's HTTP messages as plain values: what a request builder in this module tree
//! produces and what a response parser reads. Sending them is the platform's job.

use super::http_url::HttpUrl;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A request to the provider. Headers may carry credentials: never log this.
pub struct OutboundRequest {
    pub method: Method,
    pub url: HttpUrl,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub body: String,
}

/// No usable HTTP response at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// DNS, TLS, connection reset: the request did not complete.
    Network,
    /// No response within the subrequest time limit.
    Timeout,
    /// The body exceeded the read limit; the rest was not read.
    TooLarge,
    /// The answer was a redirect (3xx). Subrequests never follow one: a redirected token
    /// request would re-send the code, the PKCE verifier, a refresh token or the client
    /// secret to wherever `Location` points.
    Redirected,
}

/// The one place that decides what a subrequest's status means before its body is read: any
/// 3xx is a failure, never a hop to follow.
pub fn refuse_redirect(status: u16) -> Result<(), TransportError> {
    if (300..400).contains(&status) {
        Err(TransportError::Redirected)
    } else {
        Ok(())
    }
}

#[cfg(test)]
impl OutboundResponse {
    /// A response as a provider sends it, for tests.
    pub fn answer(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }
}

impl OutboundResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_3xx_is_a_refused_redirect_and_nothing_else_is() {
        for status in [300, 301, 302, 303, 304, 307, 308, 399] {
            assert_eq!(
                refuse_redirect(status),
                Err(TransportError::Redirected),
                "{status}"
            );
        }
        for status in [100, 200, 204, 299, 400, 401, 404, 500, 503] {
            assert_eq!(refuse_redirect(status), Ok(()), "{status}");
        }
    }
}
