//! Every way a request can fail, mapped in one place to an HTTP status, a reason code for
//! the log and the words on the error page. Nothing here ever includes a token, a code or a
//! secret: the variants do not carry them.

use crate::config::ConfigError;
use crate::oidc::callback::{CallbackError, ShownAuthorizationError};
use crate::oidc::id_token::IdTokenError;
use crate::oidc::jwks::JwksError;
use crate::oidc::token::TokenError;
use crate::oidc::userinfo::UserinfoError;
use crate::platform::TransportError;

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
    Token(TokenError),
    Jwks(JwksError),
    IdToken(IdTokenError),
    Userinfo(UserinfoError),
    /// The session could not be renewed (refresh failed); carries the cause's reason code.
    SessionEnded(&'static str),
    /// A state-changing request from another site.
    CrossSite,
    /// Too many logins started from this client address in the rate limit's period.
    RateLimited,
    NotFound,
    MethodNotAllowed,
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            Self::Config(_) | Self::Randomness | Self::Sealing => 500,
            Self::Storage => 503,
            Self::ProviderDenied { .. }
            | Self::Callback(_)
            | Self::LoginCookieMissing
            | Self::LoginCookieAmbiguous
            | Self::LoginUnknown
            | Self::LoginMismatch => 400,
            Self::Token(_) | Self::Jwks(_) | Self::IdToken(_) | Self::Userinfo(_) => 502,
            Self::SessionEnded(_) => 401,
            Self::CrossSite => 403,
            Self::RateLimited => 429,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Self::Config(_) => "config_invalid",
            Self::Storage => "kv_unavailable",
            Self::Randomness => "rng_unavailable",
            Self::Sealing => "seal_failed",
            Self::ProviderDenied(_) => "provider_error",
            Self::Callback(e) => e.code(),
            Self::LoginCookieMissing => "login_cookie_missing",
            Self::LoginCookieAmbiguous => "login_cookie_ambiguous",
            Self::LoginUnknown => "state_unknown",
            Self::LoginMismatch => "state_mismatch",
            Self::Token(e) => e.code(),
            Self::Jwks(e) => e.code(),
            Self::IdToken(e) => e.code(),
            Self::Userinfo(e) => e.code(),
            Self::SessionEnded(cause) => cause,
            Self::CrossSite => "cross_site_request",
            Self::RateLimited => "rate_limited",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            Self::Config(_) => "This sign-in is not set up correctly",
            Self::Storage | Self::Randomness | Self::Sealing => "Sign-in is unavailable right now",
            Self::ProviderDenied(_) => "Sign-in was not completed",
            Self::LoginCookieAmbiguous => "A conflicting cookie blocks sign-in",
            Self::Callback(_)
            | Self::LoginCookieMissing
            | Self::LoginUnknown
            | Self::LoginMismatch => "This sign-in link is no longer valid",
            Self::Token(TokenError::InvalidGrant) => "This sign-in expired",
            Self::Token(_) | Self::Jwks(_) | Self::IdToken(_) | Self::Userinfo(_) => {
                "Webex sent an answer we could not accept"
            }
            Self::SessionEnded(_) => "Please sign in again",
            Self::CrossSite => "Request refused",
            Self::RateLimited => "Too many sign-in attempts",
            Self::NotFound => "Page not found",
            Self::MethodNotAllowed => "Method not allowed",
        }
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
            Self::Token(TokenError::InvalidGrant) => {
                "Webex no longer accepts this sign-in code (codes expire after a short time and work once).".into()
            }
            Self::Token(TokenError::InvalidClient) => {
                "Webex refused this site's client credentials. The site owner needs to check WEBEX_CLIENT_ID and WEBEX_CLIENT_SECRET.".into()
            }
            Self::Token(TokenError::Transport(TransportError::Timeout)) => {
                "Webex's token service did not answer in time. Please try again.".into()
            }
            Self::Token(TokenError::Transport(TransportError::TooLarge)) => {
                "Webex's token service sent an answer far larger than any real one.".into()
            }
            Self::Token(TokenError::Transport(TransportError::Redirected)) => {
                "Webex's token service answered with a redirect; this site never follows one with your sign-in code.".into()
            }
            Self::Token(TokenError::Transport(_)) => "Webex's token service could not be reached.".into(),
            Self::Token(_) => "Webex's token service answered with an error or an unreadable response.".into(),
            Self::Jwks(_) => "Webex's signing keys could not be loaded, so your identity could not be checked.".into(),
            Self::IdToken(e) => format!("Your identity token failed a security check ({}).", e.rule()),
            Self::Userinfo(UserinfoError::SubjectMismatch) => {
                "Webex returned a profile for a different user than the one who signed in.".into()
            }
            Self::Userinfo(_) => "Webex's profile service answered with an error or an unreadable response.".into(),
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
        Self::Token(e)
    }
}
impl From<JwksError> for AppError {
    fn from(e: JwksError) -> Self {
        Self::Jwks(e)
    }
}
impl From<IdTokenError> for AppError {
    fn from(e: IdTokenError) -> Self {
        Self::IdToken(e)
    }
}
impl From<UserinfoError> for AppError {
    fn from(e: UserinfoError) -> Self {
        Self::Userinfo(e)
    }
}
impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}
impl From<crate::platform::StoreError> for AppError {
    fn from(_: crate::platform::StoreError) -> Self {
        Self::Storage
    }
}
impl From<crate::sessions::seal::SealError> for AppError {
    fn from(error: crate::sessions::seal::SealError) -> Self {
        match error {
            crate::sessions::seal::SealError::Randomness => Self::Randomness,
            crate::sessions::seal::SealError::Cipher => Self::Sealing,
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
        assert_eq!(AppError::Token(TokenError::InvalidGrant).status(), 502);
        assert_eq!(AppError::IdToken(IdTokenError::BadSignature).status(), 502);
        assert_eq!(
            AppError::Userinfo(UserinfoError::SubjectMismatch).status(),
            502
        );
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
                AppError::Token(TokenError::Transport(redirected)),
                "token_redirect",
            ),
            (
                AppError::Userinfo(UserinfoError::Transport(redirected)),
                "userinfo_redirect",
            ),
            (
                AppError::Jwks(JwksError::Transport(redirected)),
                "jwks_redirect",
            ),
        ] {
            assert_eq!((err.status(), err.reason()), (502, reason));
        }
        assert_eq!(
            AppError::Jwks(JwksError::Status(500)).reason(),
            "jwks_unavailable"
        );
    }

    #[test]
    fn reason_codes_name_the_rule() {
        assert_eq!(
            AppError::IdToken(IdTokenError::NonceMismatch).reason(),
            "id_token_nonce"
        );
        assert_eq!(AppError::LoginMismatch.reason(), "state_mismatch");
        assert_eq!(
            AppError::Token(TokenError::Status {
                status: 500,
                error: None
            })
            .reason(),
            "token_endpoint_error"
        );
    }
}
