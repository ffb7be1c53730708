//! The UserInfo request and response (OIDC Core §5.3).

use super::json::{Object, Value};

use super::client::Client;
use super::outbound::{Method, OutboundRequest, OutboundResponse, TransportError};
use super::secrets::AccessToken;

pub const MAX_USERINFO_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserinfoError {
    /// Non-2xx answer (OIDC Core §5.3.3).
    Status(u16),
    /// Not a JSON object, or larger than any real profile.
    Malformed,
    /// `sub` differs from the ID token's: the response is for someone else (OIDC Core §5.3.2).
    SubjectMismatch,
    Transport(TransportError),
}

impl UserinfoError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Status(_) => "userinfo_error",
            Self::Malformed => "userinfo_invalid",
            Self::SubjectMismatch => "userinfo_sub_mismatch",
            Self::Transport(TransportError::Timeout) => "userinfo_timeout",
            Self::Transport(TransportError::Redirected) => "userinfo_redirect",
            Self::Transport(TransportError::TooLarge) => "userinfo_response_too_large",
            Self::Transport(TransportError::Network) => "userinfo_unreachable",
        }
    }
}

/// The access token goes in the `Authorization` header only, never in the URL
/// (RFC 6750 §2.1; §2.3 query tokens leak into logs).
pub fn request(config: &Client, access_token: &AccessToken) -> OutboundRequest {
    OutboundRequest {
        method: Method::Get,
        url: config.userinfo_url.clone(),
        headers: vec![
            ("Authorization", format!("Bearer {}", access_token.secret())),
            ("Accept", "application/json".to_owned()),
        ],
        body: None,
    }
}

/// The userinfo fields, accepted only for the subject of the verified ID token.
pub fn parse_response(
    response: &OutboundResponse,
    id_token_sub: &str,
) -> Result<Object, UserinfoError> {
    if !response.is_success() {
        return Err(UserinfoError::Status(response.status));
    }
    if response.body.len() > MAX_USERINFO_BYTES {
        return Err(UserinfoError::Malformed);
    }
    let fields: Object = super::json::parse_object(response.body.as_bytes())
        .map_err(|_| UserinfoError::Malformed)?;
    check_subject(&fields, id_token_sub)?;
    Ok(fields)
}

fn check_subject(fields: &Object, id_token_sub: &str) -> Result<(), UserinfoError> {
    match fields.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == id_token_sub => Ok(()),
        _ => Err(UserinfoError::SubjectMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> OutboundResponse {
        OutboundResponse::answer(200, body)
    }

    #[test]
    fn token_only_in_the_authorization_header() {
        let config = Client::example();
        let request = request(&config, &AccessToken::from_untrusted("tok123"));
        assert_eq!(request.method, Method::Get);
        assert!(!request.url.as_str().contains("tok123"));
        assert!(request
            .headers
            .contains(&("Authorization", "Bearer tok123".to_owned())));
        assert!(request.body.is_none());
    }

    #[test]
    fn accepts_matching_sub_with_webex_string_email_verified() {
        let fields = parse_response(
            &ok(r#"{"sub":"u1","email_verified":"true","name":"A"}"#),
            "u1",
        )
        .unwrap();
        assert_eq!(fields["email_verified"], "true");
    }

    #[test]
    fn rejects_other_or_missing_sub() {
        assert_eq!(
            parse_response(&ok(r#"{"sub":"u2"}"#), "u1").unwrap_err(),
            UserinfoError::SubjectMismatch
        );
        assert_eq!(
            parse_response(&ok(r#"{"name":"x"}"#), "u1").unwrap_err(),
            UserinfoError::SubjectMismatch
        );
        assert_eq!(
            parse_response(&ok(r#"{"sub":1}"#), "u1").unwrap_err(),
            UserinfoError::SubjectMismatch
        );
    }

    #[test]
    fn rejects_errors_and_non_json() {
        let unauthorized = OutboundResponse::answer(401, "");
        assert_eq!(
            parse_response(&unauthorized, "u1").unwrap_err(),
            UserinfoError::Status(401)
        );
        assert_eq!(
            parse_response(&ok("<html>"), "u1").unwrap_err(),
            UserinfoError::Malformed
        );
        assert_eq!(
            parse_response(&ok("[1]"), "u1").unwrap_err(),
            UserinfoError::Malformed
        );
        assert_eq!(
            parse_response(&ok(r#"{"sub":"u1","sub":"u2"}"#), "u1").unwrap_err(),
            UserinfoError::Malformed,
            "a repeated member"
        );
        let huge = format!(r#"{{"sub":"u1","x":"{}"}}"#, "a".repeat(MAX_USERINFO_BYTES));
        assert_eq!(
            parse_response(&ok(&huge), "u1").unwrap_err(),
            UserinfoError::Malformed
        );
    }
}
