//! The token request (RFC 6749 §4.1.3, RFC 7636 §4.5) and its response (§5.1, §5.2).

use super::json::{self, string_or_absent, Value};
use base64ct::{Base64, Encoding};
use url::form_urlencoded::{byte_serialize, Serializer};

use super::authorization_response::AuthorizationCode;
use super::client::{Client, TokenAuth};
use super::outbound::{Method, OutboundRequest, OutboundResponse, TransportError};
use super::secrets::{AccessToken, PkceVerifier, RefreshToken};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The code was rejected: expired, already used, or issued to another redirect URI.
    InvalidGrant,
    /// The provider does not accept this client's id or secret.
    InvalidClient,
    /// Any other non-2xx answer; `error` is the RFC 6749 code or Webex's message, shortened.
    Status { status: u16, error: Option<String> },
    /// A 2xx answer that is not a token response (RFC 6749 §5.1).
    Malformed(&'static str),
    /// No usable answer at all.
    Transport(TransportError),
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidGrant => "token_invalid_grant",
            Self::InvalidClient => "token_invalid_client",
            Self::Status { .. } => "token_endpoint_error",
            Self::Malformed(_) => "token_response_invalid",
            Self::Transport(TransportError::Timeout) => "token_endpoint_timeout",
            Self::Transport(TransportError::TooLarge) => "token_response_too_large",
            Self::Transport(TransportError::Network) => "token_endpoint_unreachable",
            Self::Transport(TransportError::Redirected) => "token_redirect",
        }
    }
}

/// The tokens of a successful response. Redacted in `Debug`.
pub struct TokenSet {
    pub access_token: AccessToken,
    /// Optional after a refresh (OIDC Core §12.2).
    pub id_token: Option<String>,
    pub refresh_token: Option<RefreshToken>,
    pub expires_in: Option<i64>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// The authorization-code grant, with the client authentication the config asks for.
pub fn code_request(
    config: &Client,
    code: &AuthorizationCode,
    verifier: &PkceVerifier,
) -> OutboundRequest {
    let mut form = Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code.secret())
        .append_pair("redirect_uri", config.redirect_uri.as_str())
        .append_pair("code_verifier", verifier.secret());
    finish_request(config, form)
}

/// The refresh-token grant (RFC 6749 §6), with the same client authentication.
pub fn refresh_request(config: &Client, refresh_token: &RefreshToken) -> OutboundRequest {
    let mut form = Serializer::new(String::new());
    form.append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token.secret());
    finish_request(config, form)
}

fn finish_request(config: &Client, mut form: Serializer<'static, String>) -> OutboundRequest {
    let mut headers = vec![
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
        ("Accept", "application/json".to_owned()),
    ];
    match config.token_auth {
        TokenAuth::ClientSecretBasic => headers.push(("Authorization", basic_auth(config))),
        TokenAuth::ClientSecretPost => {
            form.append_pair("client_id", &config.client_id)
                .append_pair("client_secret", &config.client_secret);
        }
    }
    OutboundRequest {
        method: Method::Post,
        url: config.token_url.clone(),
        headers,
        body: Some(form.finish()),
    }
}

/// RFC 6749 §2.3.1: id and secret are form-encoded before being joined and base64-encoded.
fn basic_auth(config: &Client) -> String {
    let encode = |text: &str| byte_serialize(text.as_bytes()).collect::<String>();
    let pair = format!(
        "{}:{}",
        encode(&config.client_id),
        encode(&config.client_secret)
    );
    format!("Basic {}", Base64::encode_string(pair.as_bytes()))
}

/// A token response (RFC 6749 §5.1) or error response (§5.2), as far as this client reads
/// it. A member of an unexpected type counts as absent: the checks below then name what is
/// missing.
#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default, deserialize_with = "string_or_absent")]
    access_token: Option<String>,
    #[serde(default, deserialize_with = "string_or_absent")]
    token_type: Option<String>,
    #[serde(default, deserialize_with = "string_or_absent")]
    id_token: Option<String>,
    #[serde(default, deserialize_with = "string_or_absent")]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "seconds_or_absent")]
    expires_in: Option<i64>,
    #[serde(default, deserialize_with = "string_or_absent")]
    error: Option<String>,
    /// Webex's error answers carry `{"message": ...}` instead of `error`.
    #[serde(default, deserialize_with = "string_or_absent")]
    message: Option<String>,
}

impl TokenResponse {
    fn read(body: &str) -> Option<Self> {
        json::from_strict(body.as_bytes()).ok()
    }
}

/// `expires_in` arrives as a number from most providers and as a string from some; any other
/// value counts as absent.
fn seconds_or_absent<'de, D: serde::Deserializer<'de>>(value: D) -> Result<Option<i64>, D::Error> {
    let value: Value = serde::Deserialize::deserialize(value)?;
    Ok(value.as_i64().or_else(|| value.as_str()?.parse().ok()))
}

/// The code grant's answer, whose ID token is required (OIDC Core §3.1.3.3). Redacted in
/// `Debug`.
pub struct CodeGrantTokens {
    pub id_token: String,
    pub tokens: TokenSet,
}

impl std::fmt::Debug for CodeGrantTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeGrantTokens")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// A token response to the authorization-code grant: as [`parse_response`], with an ID token.
pub fn parse_code_response(response: &OutboundResponse) -> Result<CodeGrantTokens, TokenError> {
    let mut tokens = parse_response(response)?;
    let id_token = tokens
        .id_token
        .take()
        .ok_or(TokenError::Malformed("id_token is missing"))?;
    Ok(CodeGrantTokens { id_token, tokens })
}

/// A successful token response (RFC 6749 §5.1), or the error it names (§5.2).
pub fn parse_response(response: &OutboundResponse) -> Result<TokenSet, TokenError> {
    if !response.is_success() {
        return Err(classify_failure(response));
    }
    let body = TokenResponse::read(&response.body)
        .ok_or(TokenError::Malformed("the body is not a JSON object"))?;
    let access_token = body
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Malformed("access_token is missing"))?;
    // RFC 6749 §7.1 / §5.1: only bearer tokens are understood; the type is case-insensitive.
    if !body
        .token_type
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        return Err(TokenError::Malformed("token_type is not Bearer"));
    }
    Ok(TokenSet {
        access_token: AccessToken::from_untrusted(&access_token),
        id_token: body.id_token.filter(|t| !t.is_empty()),
        refresh_token: body.refresh_token.map(|t| RefreshToken::from_untrusted(&t)),
        expires_in: body.expires_in,
    })
}

/// RFC 6749 §5.2 `error`, or Webex's `{"message": ...}`, or nothing usable.
fn classify_failure(response: &OutboundResponse) -> TokenError {
    let (error, message) =
        TokenResponse::read(&response.body).map_or((None, None), |body| (body.error, body.message));
    match error.as_deref() {
        Some("invalid_grant") => TokenError::InvalidGrant,
        Some("invalid_client" | "unauthorized_client") => TokenError::InvalidClient,
        _ if response.status == 401 => TokenError::InvalidClient,
        _ => TokenError::Status {
            status: response.status,
            error: error
                .or(message)
                .map(|e| e.chars().filter(|c| !c.is_control()).take(80).collect()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(auth: Option<&str>) -> Client {
        let token_auth = match auth {
            Some("client_secret_post") => TokenAuth::ClientSecretPost,
            _ => TokenAuth::ClientSecretBasic,
        };
        Client {
            client_secret: "s3cr:et&".into(),
            token_auth,
            ..Client::example()
        }
    }

    fn response(status: u16, body: &str) -> OutboundResponse {
        OutboundResponse::answer(status, body)
    }

    fn form(request: &OutboundRequest) -> Vec<(String, String)> {
        url::form_urlencoded::parse(request.body.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect()
    }

    fn code() -> AuthorizationCode {
        match super::super::authorization_response::Callback::parse("code=the-code&state=s", &[])
            .unwrap()
        {
            super::super::authorization_response::Callback::Code { code, .. } => code,
            _ => unreachable!(),
        }
    }

    fn parse_response_code(response: &OutboundResponse) -> Result<CodeGrantTokens, TokenError> {
        parse_code_response(response)
    }

    #[test]
    fn refresh_grant_may_omit_the_id_token_and_authenticates_the_client() {
        let request = refresh_request(&config(None), &RefreshToken::from_untrusted("RT-1"));
        let form = form(&request);
        assert!(form.contains(&("grant_type".into(), "refresh_token".into())));
        assert!(form.contains(&("refresh_token".into(), "RT-1".into())));
        assert!(request
            .headers
            .iter()
            .any(|(k, v)| *k == "Authorization" && v.starts_with("Basic ")));
        let tokens = parse_response(&response(
            200,
            r#"{"access_token":"a2","token_type":"bearer","expires_in":"60"}"#,
        ))
        .unwrap();
        assert_eq!((tokens.id_token, tokens.expires_in), (None, Some(60)));
        // Members of another type count as absent.
        let tokens = parse_response(&response(
            200,
            r#"{"access_token":"a3","token_type":"Bearer","refresh_token":7,"expires_in":[60]}"#,
        ))
        .unwrap();
        assert!(tokens.refresh_token.is_none() && tokens.expires_in.is_none());
    }

    #[test]
    fn basic_auth_request_carries_code_verifier_and_redirect_uri() {
        let request = code_request(
            &config(None),
            &code(),
            &PkceVerifier::from_untrusted("verif"),
        );
        assert_eq!(request.method, Method::Post);
        assert_eq!(
            request.url.as_str(),
            "https://webexapis.com/v1/access_token"
        );
        let form = form(&request);
        assert!(form.contains(&("grant_type".into(), "authorization_code".into())));
        assert!(form.contains(&("code".into(), "the-code".into())));
        assert!(form.contains(&("code_verifier".into(), "verif".into())));
        assert!(form.contains(&(
            "redirect_uri".into(),
            "https://login.example.com/oauth".into()
        )));
        assert!(!form.iter().any(|(k, _)| k == "client_secret"));
        assert_eq!(
            request.body.as_deref(),
            Some(
                "grant_type=authorization_code&code=the-code\
                 &redirect_uri=https%3A%2F%2Flogin.example.com%2Foauth&code_verifier=verif"
            ),
            "the exact body sent"
        );
        let auth = request
            .headers
            .iter()
            .find(|(k, _)| *k == "Authorization")
            .unwrap();
        // base64("client-1:s3cr%3Aet%26")
        assert_eq!(
            auth.1,
            format!("Basic {}", Base64::encode_string(b"client-1:s3cr%3Aet%26"))
        );
    }

    #[test]
    fn post_auth_puts_credentials_in_the_body_only() {
        let request = code_request(
            &config(Some("client_secret_post")),
            &code(),
            &PkceVerifier::from_untrusted("v"),
        );
        let form = form(&request);
        assert!(form.contains(&("client_id".into(), "client-1".into())));
        assert!(form.contains(&("client_secret".into(), "s3cr:et&".into())));
        assert!(request
            .body
            .as_deref()
            .unwrap()
            .ends_with("&code_verifier=v&client_id=client-1&client_secret=s3cr%3Aet%26"));
        assert!(!request.headers.iter().any(|(k, _)| *k == "Authorization"));
    }

    #[test]
    fn parses_a_webex_shaped_success() {
        let body = r#"{"access_token":"at","expires_in":1209600,"refresh_token":"rt",
            "refresh_token_expires_in":7776000,"token_type":"Bearer","id_token":"a.b.c"}"#;
        let grant = parse_response_code(&response(200, body)).unwrap();
        assert_eq!(grant.id_token, "a.b.c");
        let tokens = grant.tokens;
        assert_eq!(tokens.access_token.secret(), "at");
        assert_eq!(
            tokens.refresh_token.as_ref().map(RefreshToken::secret),
            Some("rt")
        );
        assert_eq!(tokens.expires_in, Some(1_209_600));
        assert!(!format!("{tokens:?}").contains("at\""));
    }

    #[test]
    fn success_without_required_fields_is_malformed() {
        for body in [
            r#"{"token_type":"Bearer","id_token":"x"}"#,
            r#"{"access_token":"a","token_type":"Bearer"}"#,
            r#"{"access_token":"a","token_type":"mac","id_token":"x"}"#,
            "<html>oops</html>",
            "",
            "[]",
            r#"["a","Bearer","x"]"#,
            r#"{"access_token":"a","token_type":"Bearer","id_token":"x","access_token":"b"}"#,
        ] {
            assert!(
                matches!(
                    parse_response_code(&response(200, body)),
                    Err(TokenError::Malformed(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn classifies_errors() {
        assert_eq!(
            parse_response_code(&response(400, r#"{"error":"invalid_grant"}"#)).unwrap_err(),
            TokenError::InvalidGrant
        );
        assert_eq!(
            parse_response_code(&response(401, r#"{"error":"invalid_client"}"#)).unwrap_err(),
            TokenError::InvalidClient
        );
        assert_eq!(
            parse_response_code(&response(401, "")).unwrap_err(),
            TokenError::InvalidClient
        );
        assert_eq!(
            parse_response_code(&response(500, r#"{"message":"boom","trackingId":"t"}"#))
                .unwrap_err(),
            TokenError::Status {
                status: 500,
                error: Some("boom".into())
            }
        );
        assert_eq!(
            parse_response_code(&response(502, "<html>")).unwrap_err(),
            TokenError::Status {
                status: 502,
                error: None
            }
        );
    }
}
