//! The authorization response: the redirect back from the provider to the callback (RFC 6749
//! §4.1.2, OIDC Core §3.1.2.5–3.1.2.6), parsed and checked. `routes/callback.rs` handles it.

use super::secrets::State;

/// Real codes and states are well under 1 kB; anything longer is not from the provider.
pub const MAX_PARAM_BYTES: usize = 2048;
/// Provider error descriptions are shown to the user; keep them short.
pub const MAX_DESCRIPTION_CHARS: usize = 300;
const MAX_ERROR_CODE_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackError {
    /// `state` or `code` is absent or empty (RFC 6749 §4.1.2).
    MissingParam(&'static str),
    /// A parameter appears twice (RFC 6749 §3.1: parameters MUST NOT be repeated).
    DuplicateParam(&'static str),
    /// A parameter is implausibly long.
    ParamTooLong(&'static str),
    /// `iss` on the callback names another issuer (RFC 9207 §2.4, mix-up defence).
    IssuerMismatch,
}

impl CallbackError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingParam(_) => "callback_missing_param",
            Self::DuplicateParam(_) => "callback_duplicate_param",
            Self::ParamTooLong(_) => "callback_param_too_long",
            Self::IssuerMismatch => "callback_iss_mismatch",
        }
    }
}

/// What the provider sent back: either a code or an error, always with the state.
#[derive(Debug, PartialEq, Eq)]
pub enum Callback {
    Code {
        state: State,
        code: AuthorizationCode,
        /// The RFC 9207 `iss` parameter, when sent (already one of the allowed issuers).
        iss: Option<String>,
    },
    Error {
        state: Option<State>,
        error: AuthorizationError,
    },
}

/// RFC 6749 §4.1.2.1's error codes: the only ones shown when the callback cannot be tied to
/// a login this browser started.
pub const REGISTERED_ERROR_CODES: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
];

/// `error` and `error_description` from the callback query. Anyone can put a link to the
/// callback with any text in them, so none of it is shown as such: see [`Self::shown`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationError {
    error: String,
    description: Option<String>,
}

/// What the error page may show of an [`AuthorizationError`]: already shortened, with no
/// control or invisible formatting characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownAuthorizationError {
    pub error: Option<String>,
    pub description: Option<String>,
}

impl AuthorizationError {
    /// `own_login`: the callback's `state` opened a login this browser started, so the text
    /// comes from the provider this login went to. Otherwise only a registered error code is
    /// shown, and no free text (the link may come from anyone).
    pub fn shown(self, own_login: bool) -> ShownAuthorizationError {
        if own_login {
            return ShownAuthorizationError {
                error: Some(displayable(&self.error, MAX_ERROR_CODE_CHARS)),
                description: self
                    .description
                    .map(|d| displayable(&d, MAX_DESCRIPTION_CHARS))
                    .filter(|d| !d.is_empty()),
            };
        }
        ShownAuthorizationError {
            error: REGISTERED_ERROR_CODES
                .contains(&self.error.as_str())
                .then_some(self.error),
            description: None,
        }
    }
}

/// The one-time authorization code. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCode(String);

impl AuthorizationCode {
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizationCode(redacted)")
    }
}

#[derive(Default)]
struct Params {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

impl Callback {
    /// Parses the callback query. `issuers` is the allow-list for an RFC 9207 `iss`.
    pub fn parse(query: &str, issuers: &[String]) -> Result<Self, CallbackError> {
        let params = collect(query)?;
        if let Some(iss) = &params.iss {
            if !issuers.iter().any(|allowed| allowed == iss) {
                return Err(CallbackError::IssuerMismatch);
            }
        }
        let state = params
            .state
            .filter(|s| !s.is_empty())
            .map(|s| State::from_untrusted(&s));
        if let Some(error) = params.error.filter(|e| !e.is_empty()) {
            return Ok(Callback::Error {
                state,
                error: AuthorizationError {
                    error,
                    description: params.error_description,
                },
            });
        }
        let state = state.ok_or(CallbackError::MissingParam("state"))?;
        let code = params
            .code
            .filter(|c| !c.is_empty())
            .ok_or(CallbackError::MissingParam("code"))?;
        Ok(Callback::Code {
            state,
            code: AuthorizationCode(code),
            iss: params.iss,
        })
    }
}

/// RFC 9207 §2.4: an `iss` sent with the code names the issuer that answered, so it must be
/// the issuer of the ID token that code brought. The allow-list alone (checked at parsing)
/// would let one regional issuer's response pass for another's.
pub fn check_issuer_matches(
    callback_iss: Option<&str>,
    id_token_iss: Option<&str>,
) -> Result<(), CallbackError> {
    match callback_iss {
        Some(iss) if Some(iss) != id_token_iss => Err(CallbackError::IssuerMismatch),
        _ => Ok(()),
    }
}

fn collect(query: &str) -> Result<Params, CallbackError> {
    let mut params = Params::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let (slot, label, limit) = match name.as_ref() {
            "state" => (&mut params.state, "state", MAX_PARAM_BYTES),
            "code" => (&mut params.code, "code", MAX_PARAM_BYTES),
            "error" => (&mut params.error, "error", MAX_PARAM_BYTES),
            "error_description" => (
                &mut params.error_description,
                "error_description",
                4 * MAX_PARAM_BYTES,
            ),
            "iss" => (&mut params.iss, "iss", MAX_PARAM_BYTES),
            _ => continue,
        };
        if slot.is_some() {
            return Err(CallbackError::DuplicateParam(label));
        }
        if value.len() > limit {
            return Err(CallbackError::ParamTooLong(label));
        }
        *slot = Some(value.into_owned());
    }
    Ok(params)
}

/// At most `max_chars` characters of `text` without control characters or invisible
/// formatting ones (bidi overrides and isolates, zero-width characters, ...), which could
/// make a shown text read differently from what it is.
fn displayable(text: &str, max_chars: usize) -> String {
    let mut kept = text.chars().filter(|&c| !c.is_control() && !is_format(c));
    let mut out: String = kept.by_ref().take(max_chars).collect();
    if kept.next().is_some() {
        out.push('…');
    }
    out.trim().to_owned()
}

/// Unicode's format characters (general category Cf) and the line and paragraph separators.
fn is_format(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuers() -> Vec<String> {
        vec!["https://idbroker.webex.com/idb".to_owned()]
    }

    fn parse(query: &str) -> Result<Callback, CallbackError> {
        Callback::parse(query, &issuers())
    }

    #[test]
    fn the_callback_iss_must_be_the_id_tokens_issuer() {
        let [a, b] = [
            "https://idbroker.webex.com/idb",
            "https://idbroker-eu.webex.com/idb",
        ];
        assert_eq!(check_issuer_matches(None, Some(a)), Ok(()));
        assert_eq!(check_issuer_matches(Some(a), Some(a)), Ok(()));
        for token_iss in [Some(b), None] {
            assert_eq!(
                check_issuer_matches(Some(a), token_iss),
                Err(CallbackError::IssuerMismatch)
            );
        }
        let Callback::Code { iss, .. } = parse(&format!("code=c&state=s&iss={a}")).unwrap() else {
            panic!("a code");
        };
        assert_eq!(iss.as_deref(), Some(a));
    }

    #[test]
    fn code_and_state() {
        match parse("code=abc&state=xyz&extra=1").unwrap() {
            Callback::Code { state, code, .. } => {
                assert_eq!(state.secret(), "xyz");
                assert_eq!(code.secret(), "abc");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_or_empty_params() {
        assert_eq!(
            parse("code=abc").unwrap_err(),
            CallbackError::MissingParam("state")
        );
        assert_eq!(
            parse("state=x").unwrap_err(),
            CallbackError::MissingParam("code")
        );
        assert_eq!(
            parse("state=&code=c").unwrap_err(),
            CallbackError::MissingParam("state")
        );
        assert_eq!(parse("").unwrap_err(), CallbackError::MissingParam("state"));
    }

    #[test]
    fn duplicated_params_are_rejected() {
        assert_eq!(
            parse("code=a&state=x&state=y").unwrap_err(),
            CallbackError::DuplicateParam("state")
        );
        assert_eq!(
            parse("code=a&code=b&state=x").unwrap_err(),
            CallbackError::DuplicateParam("code")
        );
    }

    fn provider_error(query: &str) -> (Option<State>, AuthorizationError) {
        match parse(query).unwrap() {
            Callback::Error { state, error } => (state, error),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn provider_error_from_this_browsers_login_is_shown_short() {
        let long = "<b>".repeat(400);
        let (state, error) = provider_error(&format!(
            "error=access_denied&error_description={long}&state=s"
        ));
        assert_eq!(state.unwrap().secret(), "s");
        let shown = error.shown(true);
        assert_eq!(shown.error.as_deref(), Some("access_denied"));
        let description = shown.description.unwrap();
        assert_eq!(description.chars().count(), MAX_DESCRIPTION_CHARS + 1);
        assert!(description.ends_with('…'));
    }

    #[test]
    fn provider_error_of_an_unknown_login_shows_no_free_text() {
        let (_, error) =
            provider_error("error=access_denied&error_description=Call+support+at+%2B1+555+0100");
        let shown = error.shown(false);
        assert_eq!(shown.error.as_deref(), Some("access_denied"));
        assert_eq!(shown.description, None);
        for code in REGISTERED_ERROR_CODES {
            let (_, error) = provider_error(&format!("error={code}&error_description=x"));
            assert_eq!(error.shown(false).error.as_deref(), Some(*code));
        }
        for made_up in [
            "Call+support",
            "access_denied+",
            "ACCESS_DENIED",
            "login_required",
        ] {
            let (_, error) = provider_error(&format!("error={made_up}"));
            assert_eq!(error.shown(false).error, None, "{made_up}");
        }
    }

    #[test]
    fn shown_provider_text_has_no_invisible_formatting() {
        // RIGHT-TO-LEFT OVERRIDE, zero-width space and joiner, BOM, LEFT-TO-RIGHT ISOLATE,
        // soft hyphen, a tag character, a line separator, and control characters.
        let query = "error=server%E2%80%AE_error&error_description=\
                     pay%E2%80%8Bme%E2%80%8D%EF%BB%BF%E2%81%A6here%C2%AD%F3%A0%80%81%E2%80%A8%0A%07.";
        let (_, error) = provider_error(query);
        let shown = error.clone().shown(true);
        assert_eq!(shown.error.as_deref(), Some("server_error"));
        assert_eq!(shown.description.as_deref(), Some("paymehere."));
        assert_eq!(
            error.shown(false).error,
            None,
            "not a registered code as sent"
        );
        // Ordinary text, accents and emoji stay.
        let (_, error) =
            provider_error("error=access_denied&error_description=Zo%C3%AB+%F0%9F%9A%80");
        assert_eq!(error.shown(true).description.as_deref(), Some("Zoë 🚀"));
    }

    #[test]
    fn rfc9207_iss_must_be_allowed_when_present() {
        let ok = "code=a&state=s&iss=https%3A%2F%2Fidbroker.webex.com%2Fidb";
        assert!(parse(ok).is_ok());
        assert_eq!(
            parse("code=a&state=s&iss=https%3A%2F%2Fevil.example").unwrap_err(),
            CallbackError::IssuerMismatch
        );
    }

    #[test]
    fn oversized_and_non_utf8_input_does_not_panic() {
        let big = format!("code={}&state=s", "a".repeat(MAX_PARAM_BYTES + 1));
        assert_eq!(
            parse(&big).unwrap_err(),
            CallbackError::ParamTooLong("code")
        );
        assert!(matches!(
            parse("code=%FF%FE&state=%C3%28").unwrap(),
            Callback::Code { .. }
        ));
        assert!(parse(&"&".repeat(100_000)).is_err());
    }

    #[test]
    fn debug_never_prints_the_code() {
        let callback = parse("code=supersecretcode&state=s").unwrap();
        assert!(!format!("{callback:?}").contains("supersecretcode"));
    }

    #[test]
    fn every_callback_error_has_its_reason_code() {
        for (err, code) in [
            (
                CallbackError::MissingParam("state"),
                "callback_missing_param",
            ),
            (
                CallbackError::DuplicateParam("code"),
                "callback_duplicate_param",
            ),
            (
                CallbackError::ParamTooLong("code"),
                "callback_param_too_long",
            ),
            (CallbackError::IssuerMismatch, "callback_iss_mismatch"),
        ] {
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn the_code_never_shows_in_debug_output() {
        let Callback::Code { code, .. } = parse("code=the-secret-code&state=s").unwrap() else {
            panic!("a code");
        };
        assert_eq!(format!("{code:?}"), "AuthorizationCode(redacted)");
    }

    #[test]
    fn parameters_up_to_their_limit_are_taken_and_longer_ones_refused() {
        let code = "c".repeat(MAX_PARAM_BYTES);
        assert!(parse(&format!("code={code}&state=s")).is_ok());
        assert_eq!(
            parse(&format!("code={code}c&state=s")).unwrap_err(),
            CallbackError::ParamTooLong("code")
        );
        // The description may be four times as long (it is shortened for display).
        let long = "d".repeat(4 * MAX_PARAM_BYTES);
        assert!(parse(&format!("error=access_denied&error_description={long}")).is_ok());
        assert_eq!(
            parse(&format!("error=access_denied&error_description={long}d")).unwrap_err(),
            CallbackError::ParamTooLong("error_description")
        );
    }
}
