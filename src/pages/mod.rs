//! Every page the Worker renders. Templates are `maud` macros: interpolated values are
//! HTML-escaped by construction. The stylesheet is a file of its own, served at
//! [`STYLESHEET_PATH`] and linked from every page.

mod claims;

use maud::{html, Markup, DOCTYPE};

use crate::error::AppError;
use crate::session::record::{SessionPolicy, SessionRecord};

/// The one stylesheet. Served at `{base}/style.css`, cached for a year, rather than inlined:
/// every page is half the bytes (less to send, compress and parse per page view), and a
/// browser fetches it once.
pub const STYLESHEET: &str = include_str!("style.css");

/// The stylesheet's SHA-256 (base64), pinned here and checked against the file by a test
/// (`openssl dgst -sha256 -binary src/pages/style.css | base64`). Pages link it with this
/// integrity, and its URL carries the start of it, so a changed stylesheet is a new URL and
/// no browser keeps the old one.
pub const STYLESHEET_SHA256: &str = "issJFgo52dDsVGKpQ+55tzPRLOBbXC6dxqk6oJDOjx8=";

/// The stylesheet's path below `base` (the router serves it whatever the query).
pub const STYLESHEET_PATH: &str = "/style.css";

/// What names this version of the stylesheet in its URL's query: the start of its hash, up
/// to 16 characters and only letters and digits (base64's `+` and `/` mean something in a URL).
fn stylesheet_version() -> &'static str {
    let end = STYLESHEET_SHA256
        .bytes()
        .take(16)
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    STYLESHEET_SHA256.get(..end).unwrap_or_default()
}

fn layout(base: &str, title: &str, content: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Login with Webex" }
                link rel="stylesheet" href={ (base) (STYLESHEET_PATH) "?v=" (stylesheet_version()) }
                    integrity={ "sha256-" (STYLESHEET_SHA256) };
            }
            body {
                header { div { span.logo aria-hidden="true" {} "Login with Webex" } }
                main { (content) }
                footer { "Signed in with OpenID Connect · Authorization Code flow with PKCE" }
            }
        }
    }
    .into_string()
}

/// The signed-out page; `just_left` after a logout. `base` is where the Worker's own routes
/// live: empty in standalone mode, `AUTH_PREFIX` in gateway mode.
pub fn login(base: &str, just_left: bool) -> String {
    layout(
        base,
        "Sign in",
        html! {
            section.card.center {
                @if just_left {
                    h1 { "You are signed out" }
                    p { "Your session has ended on this site." }
                } @else {
                    h1 { "Welcome" }
                    p { "Sign in with your Webex account to continue." }
                }
                a.button href={ (base) "/login" } { "Sign in with Webex" }
            }
        },
    )
}

pub fn profile(session: &SessionRecord, policy: &SessionPolicy, base: &str) -> String {
    let display_name = display_name(session);
    layout(
        base,
        "Your profile",
        html! {
            section.card.who {
                div {
                    h1 { "Hello, " (display_name) }
                    p {
                        "Signed in until " (claims::utc(session.expires_at))
                        ", or until " (claims::utc(session.idle_expires_at(policy))) " if idle."
                    }
                }
                div.actions {
                    form method="post" action={ (base) "/refresh" } {
                        button.button.secondary type="submit" { "Refresh profile" }
                    }
                    form method="post" action={ (base) "/logout" } {
                        button.button.secondary type="submit" { "Sign out" }
                    }
                }
            }
            section.card id="id-token-claims" {
                h2 { "ID token claims" }
                p { "Verified: RS256 signature, issuer, audience, expiry and nonce." }
                (claims::table(&session.id_token_claims))
            }
            section.card id="userinfo" {
                h2 { "UserInfo" }
                (claims::table(&session.userinfo))
            }
        },
    )
}

fn display_name(session: &SessionRecord) -> String {
    ["name", "given_name", "email", "preferred_username"]
        .iter()
        .find_map(|&field| {
            session
                .userinfo
                .get(field)
                .or_else(|| session.id_token_claims.get(field))?
                .as_str()
        })
        .unwrap_or(&session.subject)
        .chars()
        .take(100)
        .collect()
}

pub fn error(err: &AppError, base: &str) -> String {
    layout(
        base,
        err.title(),
        html! {
            section.card.center.error {
                h1 { (err.title()) }
                p { (err.explanation()) }
                @if let Some(description) = err.provider_description() {
                    p.detail { "Webex said: " (description) }
                }
                p.detail { "Reason code: " code { (err.reason()) } }
                @if offers_sign_out(err) {
                    form method="post" action={ (base) "/logout" } {
                        button.button type="submit" { "Sign out" }
                    }
                } @else {
                    a.button href={ (base) "/login" } { "Start again" }
                }
            }
        },
    )
}

/// An account the gateway refuses needs a way out (sign out), not another sign-in.
fn offers_sign_out(err: &AppError) -> bool {
    #[cfg(feature = "gateway")]
    if matches!(err, AppError::PolicyDenied { .. }) {
        return true;
    }
    let _ = err;
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::record::tests::{tokens, POLICY};
    use serde_json::json;

    fn session_with(value: &str) -> SessionRecord {
        let claims =
            json!({"sub": "u1", "name": value, "iat": 1_700_000_000, "nested": {"k": value}});
        let userinfo = json!({"sub": "u1", "name": value, "email_verified": "true"});
        SessionRecord::new(
            "u1".into(),
            claims.as_object().unwrap().clone(),
            userinfo.as_object().unwrap().clone(),
            tokens(),
            &POLICY,
            1_700_000_000,
        )
    }

    fn profile_of(session: &SessionRecord) -> String {
        profile(session, &POLICY, "")
    }

    #[test]
    fn profile_never_shows_tokens() {
        let page = profile_of(&session_with("x"));
        assert!(!page.contains("AT-secret") && !page.contains("RT-secret"));
        assert!(page.contains("action=\"/refresh\""));
    }

    #[test]
    fn markup_in_claims_is_shown_as_text() {
        let page = profile_of(&session_with("<script>alert(1)</script>\"'&"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;"));
        assert!(page.contains("&amp;"));
    }

    #[test]
    fn profile_shows_both_tables_and_a_sign_out_form() {
        let page = profile_of(&session_with("Ada Lovelace"));
        assert!(page.contains("id=\"id-token-claims\""));
        assert!(page.contains("id=\"userinfo\""));
        assert!(page.contains("Hello, Ada Lovelace"));
        assert!(
            page.contains("2023-11-14 22:13:20 UTC"),
            "iat as a UTC date"
        );
        assert!(page.contains("action=\"/logout\""));
    }

    #[test]
    fn error_page_escapes_the_provider_description_and_offers_a_restart() {
        let err = AppError::ProviderDenied(
            crate::oidc::authorization_response::ShownAuthorizationError {
                error: Some("access_denied".into()),
                description: Some("<img src=x onerror=alert(1)>".into()),
            },
        );
        let page = error(&err, "");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(!page.contains("<img"));
        assert!(page.contains("Start again"));
        assert!(page.contains("provider_error"));
    }

    /// The pinned hash is the file's, and the URL's version is the start of it: a changed
    /// stylesheet that kept the old hash would be refused by every browser (and an unchanged
    /// URL would leave browsers on the old one).
    #[test]
    fn the_stylesheet_is_linked_by_its_own_hash() {
        use base64ct::{Base64, Encoding};
        use sha2::{Digest, Sha256};
        let hash = Base64::encode_string(&Sha256::digest(STYLESHEET.as_bytes()));
        assert_eq!(
            STYLESHEET_SHA256, hash,
            "style.css changed: pin its new hash"
        );
        let version = stylesheet_version();
        assert!(version.len() >= 12 && hash.starts_with(version));
        for page in [login("", false), error(&AppError::NotFound, "")] {
            assert!(page.contains(&format!(
                "<link rel=\"stylesheet\" href=\"/style.css?v={version}\" \
                 integrity=\"sha256-{STYLESHEET_SHA256}\">"
            )));
            assert!(
                !page.contains("<style"),
                "nothing inline: the policy allows none"
            );
        }
    }

    #[test]
    fn login_page_links_to_login() {
        let page = login("", false);
        assert!(login("", true).contains("You are signed out"));
        assert!(page.contains("href=\"/login\""));
        assert!(page.contains("Sign in with Webex"));
    }

    #[cfg(feature = "gateway")]
    #[test]
    fn in_gateway_mode_every_link_and_form_is_under_the_prefix() {
        assert!(login("/_auth", false).contains("href=\"/_auth/login\""));
        assert!(login("/_auth", false).contains("href=\"/_auth/style.css?v="));
        let page = profile(&session_with("Ada"), &POLICY, "/_auth");
        assert!(page.contains("action=\"/_auth/refresh\""));
        assert!(page.contains("action=\"/_auth/logout\""));
        assert!(error(&AppError::NotFound, "/_auth").contains("href=\"/_auth/login\""));
        let denied = error(
            &AppError::PolicyDenied {
                account: "<b>eve@example.org</b>".into(),
            },
            "/_auth",
        );
        assert!(
            denied.contains("action=\"/_auth/logout\""),
            "offers sign-out"
        );
        assert!(
            denied.contains("&lt;b&gt;eve@example.org&lt;/b&gt;"),
            "names the account, escaped"
        );
        assert!(!denied.contains("Start again"));
    }
}
