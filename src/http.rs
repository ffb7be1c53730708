//! The Worker's view of an HTTP exchange, independent of the `worker` crate so that every
//! route can be tested natively: [`Incoming`] in, [`Reply`] out.

use url::Url;

/// What the routes need of a request.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub method: String,
    pub path: String,
    /// Raw query string without the `?`.
    pub query: String,
    /// This Worker's origin as the client reached it, e.g. `https://login.example.com`.
    pub origin: String,
    pub cookie_header: String,
    /// `Origin` request header, for the cross-site check on POST.
    pub origin_header: Option<String>,
    /// `Sec-Fetch-Site` request header (Fetch Metadata).
    pub sec_fetch_site: Option<String>,
    /// `CF-Connecting-IP`: the client's address, set by Cloudflare (and by `wrangler dev`).
    pub client_ip: Option<String>,
    /// `Sec-Fetch-Mode` (Fetch Metadata): `navigate` for a page load.
    pub sec_fetch_mode: Option<String>,
    /// `Accept`, for telling a page load from an API call where Fetch Metadata is missing.
    pub accept: Option<String>,
}

impl Incoming {
    /// A browser loading a page (so a redirect to sign in makes sense), as opposed to a script
    /// or an API client (which gets a 401 it can act on, never a redirect that ends in a CORS
    /// error). Fetch Metadata decides when present; otherwise `Accept` asking for HTML.
    pub fn is_navigation(&self) -> bool {
        if !matches!(self.method.as_str(), "GET" | "HEAD") {
            return false;
        }
        match self.sec_fetch_mode.as_deref() {
            Some(mode) => mode == "navigate",
            None => self
                .accept
                .as_deref()
                .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html")),
        }
    }

    /// This request's path and query at `origin`: where it goes when passed on to the
    /// upstream, or sent to https. The path is kept as it is (`//x` stays a path).
    pub fn target_at(&self, origin: &Url) -> String {
        let mut url = origin.clone();
        url.set_path(&self.path);
        url.set_query(Some(self.query.as_str()).filter(|q| !q.is_empty()));
        url.into()
    }
}

/// A response plus the reason code that the request log carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub reason: &'static str,
    /// Something the operator should see although the request succeeded (logged).
    pub warning: Option<&'static str>,
    /// Gateway mode: the upstream's response (kept by the platform) is the answer; `headers`
    /// are added to it and `body` is unused.
    pub forwarded: bool,
}

impl Reply {
    /// Every response starts here: the security headers go on all of them.
    fn new(status: u16, headers: Vec<(&'static str, String)>, body: String) -> Self {
        let mut headers = headers;
        headers.extend(security_headers());
        Self {
            status,
            headers,
            body,
            reason: "ok",
            warning: None,
            forwarded: false,
        }
    }

    /// The upstream's response, passed on as the origin sent it (none of our page headers).
    pub fn forwarded(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            reason: "forwarded",
            warning: None,
            forwarded: true,
        }
    }

    /// A JSON document anyone may cache for a while (the assertion keys).
    pub fn public_json(body: String, max_age_secs: u32) -> Self {
        Self::new(
            200,
            vec![
                ("Content-Type", "application/json".into()),
                ("Cache-Control", format!("public, max-age={max_age_secs}")),
            ],
            body,
        )
    }

    /// A static file at a URL that changes with its content (the stylesheet): the same for
    /// everyone (`public`) and never revalidated (RFC 8246 `immutable`).
    pub fn immutable(content_type: &'static str, body: String) -> Self {
        Self::new(
            200,
            vec![
                ("Content-Type", content_type.into()),
                (
                    "Cache-Control",
                    "public, max-age=31536000, immutable".into(),
                ),
            ],
            body,
        )
    }

    /// A response without a body (forward-auth answers).
    pub fn empty(status: u16) -> Self {
        Self::new(status, Vec::new(), String::new()).no_store()
    }

    /// An HTML page.
    pub fn html(status: u16, body: String) -> Self {
        Self::new(
            status,
            vec![("Content-Type", "text/html; charset=utf-8".into())],
            body,
        )
    }

    /// A JSON body (for `/me`); never cached.
    pub fn json(status: u16, body: String) -> Self {
        Self::new(
            status,
            vec![("Content-Type", "application/json".into())],
            body,
        )
        .no_store()
    }

    /// Lets this page's forms lead to `origin` too (the provider logout after `/logout`).
    pub fn allow_form_target(mut self, origin: &str) -> Self {
        for (name, value) in &mut self.headers {
            if *name == "Content-Security-Policy" {
                *value = value.replace(
                    "form-action 'self'",
                    &format!("form-action 'self' {origin}"),
                );
            }
        }
        self
    }

    /// A 302 without a body. Built by hand rather than with the runtime's redirect helper,
    /// whose headers are immutable, so that cookies can be set on it.
    pub fn redirect(location: &str) -> Self {
        Self::new(302, vec![("Location", location.to_owned())], String::new())
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn with_cookie(mut self, set_cookie: String) -> Self {
        self.headers.push(("Set-Cookie", set_cookie));
        self
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = reason;
        self
    }

    pub fn with_warning(mut self, warning: Option<&'static str>) -> Self {
        self.warning = warning;
        self
    }

    /// Personal data: no cache, shared or private, may keep this response.
    pub fn no_store(self) -> Self {
        self.with_header("Cache-Control", "no-store")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// No script at all, styles only from this origin (the one stylesheet the pages link, with its
/// integrity), no framing, forms only to this origin.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn security_headers() -> [(&'static str, String); 4] {
    [
        (
            "Content-Security-Policy",
            CONTENT_SECURITY_POLICY.to_owned(),
        ),
        ("X-Content-Type-Options", "nosniff".into()),
        ("Referrer-Policy", "no-referrer".into()),
        ("X-Frame-Options", "DENY".into()),
    ]
}

/// Splits the absolute URL the runtime gives a request into origin, path and raw query
/// (without `?`), dropping any fragment; anything without a host is refused.
pub fn split_request_url(raw: &str) -> Option<(String, String, String)> {
    let url = Url::parse(raw).ok()?;
    url.host()?;
    Some((
        url.origin().ascii_serialization(),
        url.path().to_owned(),
        url.query().unwrap_or_default().to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_carries_the_security_headers() {
        for reply in [Reply::html(200, "x".into()), Reply::redirect("/")] {
            let csp = reply.header("Content-Security-Policy").unwrap();
            assert!(csp.contains("default-src 'none'"));
            assert!(csp.contains("frame-ancestors 'none'"));
            assert!(!csp.contains("script-src"), "no script source at all");
            assert!(!csp.contains("unsafe-inline"));
            assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
            assert_eq!(reply.header("Referrer-Policy"), Some("no-referrer"));
        }
    }

    #[test]
    fn the_policy_is_exactly_this() {
        assert_eq!(
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'"
        );
    }

    #[test]
    fn request_urls_split_into_origin_path_and_query() {
        for (raw, expected) in [
            ("http://localhost:8787/", ("http://localhost:8787", "/", "")),
            (
                "http://localhost:8787/oauth?code=a%20b&state=x",
                ("http://localhost:8787", "/oauth", "code=a%20b&state=x"),
            ),
            (
                "https://login.example.com/login?return_to=%2Fme#frag",
                ("https://login.example.com", "/login", "return_to=%2Fme"),
            ),
            (
                "https://login.example.com",
                ("https://login.example.com", "/", ""),
            ),
            (
                "https://login.example.com?x=1",
                ("https://login.example.com", "/", "x=1"),
            ),
            (
                "http://127.0.0.1:8801/a/b/?",
                ("http://127.0.0.1:8801", "/a/b/", ""),
            ),
        ] {
            let (origin, path, query) = split_request_url(raw).unwrap();
            assert_eq!(
                (origin.as_str(), path.as_str(), query.as_str()),
                expected,
                "{raw}"
            );
        }
        for junk in [
            "",
            "/oauth?x",
            "localhost/oauth",
            "://host/",
            "http://",
            "mailto:someone@example.com",
            "ht tp://x/",
        ] {
            assert_eq!(split_request_url(junk), None, "{junk}");
        }
    }
}
