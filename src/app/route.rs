//! The table of the Worker's own paths: the sign-in routes and, in gateway mode, the
//! gateway's two (each path once, below `AUTH_PREFIX` in gateway mode), with the method each
//! accepts.

use crate::pages;

/// The Worker's own routes: its method and (in `app`'s dispatcher) its handler.
#[derive(Clone, Copy)]
pub enum Route {
    Home,
    Login,
    Callback,
    Me,
    Logout,
    Refresh,
    /// Gateway mode: the keys that verify `Webex-Assertion`.
    Jwks,
    /// Gateway mode: forward-auth for a proxy in front of the origin.
    Check,
    /// The pages' stylesheet.
    Stylesheet,
}

impl Route {
    pub fn at(path: &str, gateway: bool) -> Option<Self> {
        Some(match path {
            "/" => Self::Home,
            "/login" => Self::Login,
            "/oauth" => Self::Callback,
            "/me" => Self::Me,
            "/logout" => Self::Logout,
            "/refresh" => Self::Refresh,
            "/jwks.json" if gateway => Self::Jwks,
            "/check" if gateway => Self::Check,
            pages::STYLESHEET_PATH => Self::Stylesheet,
            _ => return None,
        })
    }

    fn method(self) -> &'static str {
        match self {
            Self::Home
            | Self::Login
            | Self::Callback
            | Self::Me
            | Self::Jwks
            | Self::Check
            | Self::Stylesheet => "GET",
            Self::Logout | Self::Refresh => "POST",
        }
    }

    /// Whether `HEAD` is answered as `GET`: where a `GET` changes nothing that matters
    /// (uptime checks use it). Never on `/login` or the callback: a `HEAD` there would start
    /// a login or spend one.
    fn answers_head(self) -> bool {
        matches!(self, Self::Home | Self::Jwks | Self::Stylesheet)
    }

    /// The `Allow` header of a 405.
    pub fn allowed(self) -> &'static str {
        if self.answers_head() {
            "GET, HEAD"
        } else {
            self.method()
        }
    }

    pub fn accepts(self, method: &str) -> bool {
        method == self.method() || (method == "HEAD" && self.answers_head())
    }
}

/// The path below `prefix` (`/_auth` → `/`, `/_auth/login` → `/login`), or `None` outside it.
pub fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    match path.strip_prefix(prefix)? {
        "" => Some("/"),
        rest if rest.starts_with('/') => Some(rest),
        _ => None,
    }
}
