//! The redirect back from the provider (RFC 6749 §4.1.2, OIDC Core §3.1.2.5–3.1.2.6).

use super::secrets::State;

/// Real codes and states are well under 1 kB; anything longer is not from the provider.
pub const MAX_PARAM_BYTES: usize = 2048;
/// Provider error descriptions are shown to the user; keep them short.
pub const MAX_DESCRIPTION_CHARS: usize = 300;

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
    },
    Error {
        state: Option<State>,
        error: String,
        description: Option<String>,
    },
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
                error: truncate(&error, 64),
                description: params
                    .error_description
                    .map(|d| truncate(&d, MAX_DESCRIPTION_CHARS)),
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
        })
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

fn truncate(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
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
    fn code_and_state() {
        match parse("code=abc&state=xyz&extra=1").unwrap() {
            Callback::Code { state, code } => {
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

    #[test]
    fn provider_error_is_reported_with_short_description() {
        let long = "<b>".repeat(400);
        match parse(&format!(
            "error=access_denied&error_description={long}&state=s"
        ))
        .unwrap()
        {
            Callback::Error {
                state,
                error,
                description,
            } => {
                assert_eq!(state.unwrap().secret(), "s");
                assert_eq!(error, "access_denied");
                let description = description.unwrap();
                assert_eq!(description.chars().count(), MAX_DESCRIPTION_CHARS + 1);
                assert!(description.ends_with('…'));
            }
            other => panic!("{other:?}"),
        }
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
}
