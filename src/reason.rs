//! The reason codes the log line carries for answers that are not failures. Failures carry
//! theirs from their error (`error.rs`, and each layer's `code()`). Dashboards and alerts key
//! on these: they are part of the interface, so each is written once, here.

/// The plain-http request was sent to https.
pub const HTTPS_REDIRECT: &str = "https_redirect";
/// `POST /logout` ended the session.
pub const LOGGED_OUT: &str = "logged_out";
/// The callback opened a session.
pub const LOGIN_COMPLETE: &str = "login_complete";
/// `GET /login` sent the browser to the provider.
pub const LOGIN_STARTED: &str = "login_started";
/// `GET /me` answered with the signed-in user.
pub const ME: &str = "me";
/// `GET /` showed the profile.
pub const PROFILE: &str = "profile";
/// `POST /refresh` stored a fresh profile (and tokens).
pub const PROFILE_REFRESHED: &str = "profile_refreshed";
/// A refresh waited for another refresh of the same session.
pub const REFRESH_JOINED: &str = "refresh_joined";
/// A failed refresh found that another request had already refreshed.
pub const REFRESH_SUPERSEDED: &str = "refresh_superseded";
/// The session cookie's name appeared twice: treated as signed out.
pub const SESSION_COOKIE_AMBIGUOUS: &str = "session_cookie_ambiguous";
/// The session cookie names no live session: cleared.
pub const SESSION_UNKNOWN: &str = "session_unknown";
/// No session cookie.
pub const SIGNED_OUT: &str = "signed_out";
/// Gateway mode: a request was forwarded with the signed-in identity.
pub const FORWARDED: &str = "forwarded";
/// Gateway mode: a request to a public path was forwarded without identity.
pub const FORWARDED_PUBLIC: &str = "forwarded_public";
/// Gateway mode: signed out; a page load was sent to sign in, an API call got a 401.
pub const SIGN_IN_REQUIRED: &str = "sign_in_required";
/// Gateway mode: forward-auth admitted the request.
pub const CHECK_ALLOWED: &str = "check_allowed";
/// Gateway mode: the assertion keys were served.
pub const JWKS: &str = "jwks";
/// The pages' stylesheet was served.
pub const STYLESHEET: &str = "stylesheet";
