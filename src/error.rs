//! Every way a request can fail, mapped in one place to an HTTP status, a reason code for
//! the log and the words on the error page. Nothing here ever includes a token, a code or a
//! secret: the variants do not carry them.

use crate::config::ConfigError;
use crate::oidc::authorization_response::{CallbackError, ShownAuthorizationError};
use crate::oidc::id_token::IdTokenError;
use crate::oidc::jwks::JwksError;
use crate::oidc::outbound::TransportError;
use crate::oidc::token::TokenError;
use crate::oidc::userinfo::UserinfoError;
use crate::pending_login::PendingLoginError;
use crate::platform::StoreError;
use crate::provider_api::ProviderError;
use crate::seal::SealError;
use crate::session::ticket::SessionError;

/// Why a refresh ended the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEndCause {
    /// The session holds no refresh token to renew with.
    NoRefreshToken,
    /// The refresh grant, or the refreshed ID token, failed.
    Provider(ProviderError),
}

impl SessionEndCause {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoRefreshToken => "no_refresh_token",
            Self::Provider(e) => e.code(),
        }
    }
}

/// The period of the `LOGIN_RATE_LIMITER` binding in wrangler.toml (`simple.period`), in
/// seconds, as `Retry-After` carries it.
pub const LOGIN_RATE_PERIOD: &str = "60";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    Config(ConfigError),
    /// Workers KV failed to read or write.
    Storage,
    /// The platform's random number generator failed.
    Randomness,
    /// The platform's cipher failed to seal a record.
    Sealing,
    /// The callback carries `error` (e.g. the user declined). What of it may be shown
    /// depends on whether the callback belongs to a login this browser started.
    ProviderDenied(ShownAuthorizationError),
    Callback(CallbackError),
    /// The browser-binding cookie is absent: another browser, or cookies blocked.
    LoginCookieMissing,
    /// The browser sent the login cookie's name twice (one planted by a sibling subdomain).
    LoginCookieAmbiguous,
    /// No login record for this state: expired, already used, or never issued.
    LoginUnknown,
    /// The browser-binding cookie belongs to another login.
    LoginMismatch,
    /// A call to the provider failed (token, keys, ID token or userinfo).
    Provider(ProviderError),
    /// The session could not be renewed (refresh failed).
    SessionEnded(SessionEndCause),
    /// A state-changing request from another site.
    CrossSite,
    #[cfg(feature = "gateway")]
    /// Gateway mode: signed in, but the access policy does not admit this account.
    PolicyDenied {
        account: String,
    },
    #[cfg(feature = "gateway")]
    /// Gateway mode: the upstream could not be reached (or answered nothing usable).
    UpstreamUnreachable,
    #[cfg(feature = "gateway")]
    /// Gateway mode: the upstream did not answer in time.
    UpstreamTimeout,
    #[cfg(feature = "gateway")]
    /// Gateway mode: the platform could not sign the identity assertion.
    AssertionFailed,
    /// Too many logins started from this client address in the rate limit's period.
    RateLimited,
    NotFound,
    MethodNotAllowed,
}

/// How an error shows: its HTTP status, its log reason code and the page's title.
struct Shown {
    status: u16,
    reason: &'static str,
    title: &'static str,
}

const fn shown(status: u16, reason: &'static str, title: &'static str) -> Shown {
    Shown {
        status,
        reason,
        title,
    }
}

const UNAVAILABLE: &str = "Sign-in is unavailable right now";
const LINK_INVALID: &str = "This sign-in link is no longer valid";
const PROVIDER_ANSWER: &str = "Webex sent an answer we could not accept";

impl AppError {
    /// The one table from error to status, reason code and title.
    fn shown(&self) -> Shown {
        match self {
            Self::Config(_) => shown(
                500,
                "config_invalid",
                "This sign-in is not set up correctly",
            ),
            Self::Storage => shown(503, "kv_unavailable", UNAVAILABLE),
            Self::Randomness => shown(500, "rng_unavailable", UNAVAILABLE),
            Self::Sealing => shown(500, "seal_failed", UNAVAILABLE),
            Self::ProviderDenied(_) => shown(400, "provider_error", "Sign-in was not completed"),
            Self::Callback(e) => shown(400, e.code(), LINK_INVALID),
            Self::LoginCookieMissing => shown(400, "login_cookie_missing", LINK_INVALID),
            Self::LoginCookieAmbiguous => shown(
                400,
                "login_cookie_ambiguous",
                "A conflicting cookie blocks sign-in",
            ),
            Self::LoginUnknown => shown(400, "state_unknown", LINK_INVALID),
            Self::LoginMismatch => shown(400, "state_mismatch", LINK_INVALID),
            Self::Provider(ProviderError::Token(TokenError::InvalidGrant)) => {
                shown(502, TokenError::InvalidGrant.code(), "This sign-in expired")
            }
            Self::Provider(e) => shown(502, e.code(), PROVIDER_ANSWER),
            Self::SessionEnded(cause) => shown(401, cause.code(), "Please sign in again"),
            Self::CrossSite => shown(403, "cross_site_request", "Request refused"),
            #[cfg(feature = "gateway")]
            Self::PolicyDenied { .. } => shown(403, "policy_denied", "Access denied"),
            #[cfg(feature = "gateway")]
            Self::UpstreamUnreachable => {
                shown(502, "upstream_unreachable", "The site is unavailable")
            }
            #[cfg(feature = "gateway")]
            Self::UpstreamTimeout => shown(504, "upstream_timeout", "The site is unavailable"),
            #[cfg(feature = "gateway")]
            Self::AssertionFailed => shown(500, "assertion_failed", UNAVAILABLE),
            Self::RateLimited => shown(429, "rate_limited", "Too many sign-in attempts"),
            Self::NotFound => shown(404, "not_found", "Page not found"),
            Self::MethodNotAllowed => shown(405, "method_not_allowed", "Method not allowed"),
        }
    }

    pub fn status(&self) -> u16 {
        self.shown().status
    }

    pub fn reason(&self) -> &'static str {
        self.shown().reason
    }

    pub fn title(&self) -> &'static str {
        self.shown().title
    }

    /// A sentence or two for a person; details for the site owner follow on the page.
    pub fn explanation(&self) -> String {
        match self {
            Self::Config(e) => format!("The setting {} {}. The site owner needs to fix it.", e.setting, e.problem),
            Self::Storage => "Session storage did not answer. Please try again in a moment.".into(),
            Self::Randomness => "The server could not generate secure random values. Please try again.".into(),
            Self::Sealing => "The server could not encrypt your sign-in state. Please try again.".into(),
            Self::ProviderDenied(shown) => match shown.error.as_deref() {
                Some("access_denied") => {
                    "You declined the request, or Webex did not allow it. Nothing was shared.".into()
                }
                Some(error) => format!("The sign-in ended with the error “{error}”."),
                None => "The sign-in ended with an error. No session was opened.".into(),
            },
            Self::LoginCookieAmbiguous => {
                "Your browser sent this site's sign-in cookie twice: another site on this domain has set a cookie of the same name. Clear the cookies of this domain, then start again.".into()
            }
            Self::Callback(CallbackError::IssuerMismatch) => {
                "The answer named an identity provider this site does not trust.".into()
            }
            Self::Callback(_) => "The address is incomplete or was altered.".into(),
            Self::LoginCookieMissing => {
                "This browser did not start this sign-in, or it blocks cookies. Start again from this browser.".into()
            }
            Self::LoginUnknown => {
                "It was already used, is older than 10 minutes, or was never issued by this site.".into()
            }
            Self::LoginMismatch => "It was started in another browser or another tab.".into(),
            Self::Provider(ProviderError::Token(TokenError::InvalidGrant)) => {
                "Webex no longer accepts this sign-in code (codes expire after a short time and work once).".into()
            }
            Self::Provider(ProviderError::Token(TokenError::InvalidClient)) => {
                "Webex refused this site's client credentials. The site owner needs to check WEBEX_CLIENT_ID and WEBEX_CLIENT_SECRET.".into()
            }
            Self::Provider(ProviderError::Token(TokenError::Transport(TransportError::Timeout))) => {
                "Webex's token service did not answer in time. Please try again.".into()
            }
            Self::Provider(ProviderError::Token(TokenError::Transport(TransportError::TooLarge))) => {
                "Webex's token service sent an answer far larger than any real one.".into()
            }
            Self::Provider(ProviderError::Token(TokenError::Transport(TransportError::Redirected))) => {
                "Webex's token service answered with a redirect; this site never follows one with your sign-in code.".into()
            }
            Self::Provider(ProviderError::Token(TokenError::Transport(_))) => "Webex's token service could not be reached.".into(),
            Self::Provider(ProviderError::Token(_)) => "Webex's token service answered with an error or an unreadable response.".into(),
            Self::Provider(ProviderError::Jwks(_)) => "Webex's signing keys could not be loaded, so your identity could not be checked.".into(),
            Self::Provider(ProviderError::IdToken(e)) => format!("Your identity token failed a security check ({}).", e.rule()),
            Self::Provider(ProviderError::Userinfo(UserinfoError::SubjectMismatch)) => {
                "Webex returned a profile for a different user than the one who signed in.".into()
            }
            Self::Provider(ProviderError::Userinfo(_)) => "Webex's profile service answered with an error or an unreadable response.".into(),
            #[cfg(feature = "gateway")]
            Self::Provider(ProviderError::People(_)) => "Webex did not say which organisation your account belongs to, which this site needs to let you in.".into(),
            #[cfg(feature = "gateway")]
            Self::PolicyDenied { account } => format!("The account {account} is not allowed to use this site. Sign out, then sign in with another account."),
            #[cfg(feature = "gateway")]
            Self::UpstreamUnreachable => "The site behind this sign-in could not be reached. Please try again in a moment.".into(),
            #[cfg(feature = "gateway")]
            Self::UpstreamTimeout => "The site behind this sign-in did not answer in time. Please try again.".into(),
            #[cfg(feature = "gateway")]
            Self::AssertionFailed => "The server could not sign your identity for the site. Please try again.".into(),
            Self::SessionEnded(_) => {
                "Your session could not be renewed with Webex, so it has ended. Sign in again to continue.".into()
            }
            Self::CrossSite => "This action must come from this site's own pages.".into(),
            Self::RateLimited => {
                "Too many sign-ins were started from your network in the last minute. Please wait a minute and try again.".into()
            }
            Self::NotFound => "There is nothing at this address.".into(),
            Self::MethodNotAllowed => "This address does not accept that kind of request.".into(),
        }
    }

    /// For `Retry-After`: the rate limit's period (wrangler.toml's `[[ratelimits]]`).
    pub fn retry_after(&self) -> Option<&'static str> {
        match self {
            Self::RateLimited => Some(LOGIN_RATE_PERIOD),
            _ => None,
        }
    }

    /// Extra text from the provider worth showing (already shortened by the callback parser).
    pub fn provider_description(&self) -> Option<&str> {
        match self {
            Self::ProviderDenied(shown) => shown.description.as_deref(),
            _ => None,
        }
    }
}

impl From<CallbackError> for AppError {
    fn from(e: CallbackError) -> Self {
        Self::Callback(e)
    }
}
impl From<TokenError> for AppError {
    fn from(e: TokenError) -> Self {
        Self::Provider(e.into())
    }
}
impl From<JwksError> for AppError {
    fn from(e: JwksError) -> Self {
        Self::Provider(e.into())
    }
}
impl From<IdTokenError> for AppError {
    fn from(e: IdTokenError) -> Self {
        Self::Provider(e.into())
    }
}
impl From<UserinfoError> for AppError {
    fn from(e: UserinfoError) -> Self {
        Self::Provider(e.into())
    }
}
impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}
impl From<StoreError> for AppError {
    fn from(_: StoreError) -> Self {
        Self::Storage
    }
}
impl From<SealError> for AppError {
    fn from(error: SealError) -> Self {
        match error {
            SealError::Randomness => Self::Randomness,
            SealError::Cipher => Self::Sealing,
        }
    }
}
impl From<ProviderError> for AppError {
    fn from(e: ProviderError) -> Self {
        Self::Provider(e)
    }
}
impl From<SessionError> for AppError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Storage => Self::Storage,
            SessionError::Seal(e) => e.into(),
        }
    }
}
impl From<PendingLoginError> for AppError {
    fn from(e: PendingLoginError) -> Self {
        match e {
            PendingLoginError::CookieMissing => Self::LoginCookieMissing,
            PendingLoginError::Unknown => Self::LoginUnknown,
            PendingLoginError::Mismatch => Self::LoginMismatch,
            PendingLoginError::Storage => Self::Storage,
            PendingLoginError::Seal(e) => e.into(),
        }
    }
}

impl From<getrandom::Error> for AppError {
    fn from(_: getrandom::Error) -> Self {
        Self::Randomness
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_problems_are_400_provider_problems_502_config_500() {
        assert_eq!(AppError::LoginUnknown.status(), 400);
        assert_eq!(
            AppError::Callback(CallbackError::MissingParam("code")).status(),
            400
        );
        assert_eq!(
            AppError::ProviderDenied(ShownAuthorizationError {
                error: Some("access_denied".into()),
                description: None
            })
            .status(),
            400
        );
        assert_eq!(AppError::from(TokenError::InvalidGrant).status(), 502);
        assert_eq!(AppError::from(IdTokenError::BadSignature).status(), 502);
        assert_eq!(AppError::from(UserinfoError::SubjectMismatch).status(), 502);
        let config = ConfigError {
            setting: "WEBEX_CLIENT_ID",
            problem: "is not set".into(),
        };
        let err = AppError::Config(config);
        assert_eq!(err.status(), 500);
        assert!(err.explanation().contains("WEBEX_CLIENT_ID"));
    }

    #[test]
    fn a_redirect_from_each_provider_endpoint_has_its_own_reason_code() {
        let redirected = TransportError::Redirected;
        for (err, reason) in [
            (
                AppError::from(TokenError::Transport(redirected)),
                "token_redirect",
            ),
            (
                AppError::from(UserinfoError::Transport(redirected)),
                "userinfo_redirect",
            ),
            (
                AppError::from(JwksError::Transport(redirected)),
                "jwks_redirect",
            ),
        ] {
            assert_eq!((err.status(), err.reason()), (502, reason));
        }
        assert_eq!(
            AppError::from(JwksError::Status(500)).reason(),
            "jwks_unavailable"
        );
        // Each transport failure says what happened, so a dashboard can tell them apart.
        for (err, reason) in [
            (
                AppError::from(JwksError::Transport(TransportError::Timeout)),
                "jwks_timeout",
            ),
            (
                AppError::from(JwksError::Transport(TransportError::TooLarge)),
                "jwks_response_too_large",
            ),
            (
                AppError::from(JwksError::Transport(TransportError::Network)),
                "jwks_unavailable",
            ),
            (
                AppError::from(UserinfoError::Transport(TransportError::TooLarge)),
                "userinfo_response_too_large",
            ),
            (
                AppError::from(UserinfoError::Transport(TransportError::Timeout)),
                "userinfo_timeout",
            ),
            (
                AppError::from(UserinfoError::Transport(TransportError::Network)),
                "userinfo_unreachable",
            ),
        ] {
            assert_eq!((err.status(), err.reason()), (502, reason));
        }
    }

    #[test]
    fn reason_codes_name_the_rule() {
        assert_eq!(
            AppError::from(IdTokenError::NonceMismatch).reason(),
            "id_token_nonce"
        );
        assert_eq!(AppError::LoginMismatch.reason(), "state_mismatch");
        assert_eq!(
            AppError::from(TokenError::Status {
                status: 500,
                error: None
            })
            .reason(),
            "token_endpoint_error"
        );
    }
}
