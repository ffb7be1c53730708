//! Webex's `GET /v1/people/me`: the signed-in person's organisation id (`orgId`), which the
//! OpenID claims do not carry. Asked only when an access policy names organisations (the
//! login then also asks for the `spark:people_read` scope).

use crate::oidc::json::{self, string_or_absent};

use crate::oidc::http_url::HttpUrl;
use crate::oidc::outbound::{Method, OutboundRequest, OutboundResponse, TransportError};
use crate::oidc::secrets::AccessToken;

/// A person record is a few kB.
const MAX_PEOPLE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeopleError {
    /// Non-2xx answer (for example 403 without `spark:people_read`).
    Status(u16),
    /// Not a JSON object with a string `orgId`.
    Malformed,
    Transport(TransportError),
}

impl PeopleError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Status(_) => "people_error",
            Self::Malformed => "people_invalid",
            Self::Transport(TransportError::Timeout) => "people_timeout",
            Self::Transport(TransportError::Redirected) => "people_redirect",
            Self::Transport(_) => "people_unreachable",
        }
    }
}

pub fn request(url: &HttpUrl, access_token: &AccessToken) -> OutboundRequest {
    OutboundRequest {
        method: Method::Get,
        url: url.clone(),
        headers: vec![
            ("Authorization", format!("Bearer {}", access_token.secret())),
            ("Accept", "application/json".to_owned()),
        ],
        body: None,
    }
}

/// The one member of a person record this Worker reads.
#[derive(serde::Deserialize)]
struct Person {
    #[serde(rename = "orgId", default, deserialize_with = "string_or_absent")]
    org_id: Option<String>,
}

/// The `orgId` of the answer.
pub fn parse_org_id(response: &OutboundResponse) -> Result<String, PeopleError> {
    if !response.is_success() {
        return Err(PeopleError::Status(response.status));
    }
    if response.body.len() > MAX_PEOPLE_BYTES {
        return Err(PeopleError::Malformed);
    }
    let person: Person =
        json::from_strict(response.body.as_bytes()).map_err(|_| PeopleError::Malformed)?;
    person
        .org_id
        .filter(|org| !org.is_empty())
        .ok_or(PeopleError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_org_id_and_nothing_else() {
        let ok = |body: &str| parse_org_id(&OutboundResponse::answer(200, body));
        assert_eq!(
            ok(r#"{"id":"p","orgId":"org-1","emails":["a@example.com"]}"#),
            Ok("org-1".into())
        );
        assert_eq!(ok(r#"{"id":"p"}"#), Err(PeopleError::Malformed));
        assert_eq!(ok(r#"{"orgId":""}"#), Err(PeopleError::Malformed));
        assert_eq!(ok("<html>"), Err(PeopleError::Malformed));
        assert_eq!(ok(r#"{"orgId":7}"#), Err(PeopleError::Malformed));
        assert_eq!(ok(r#"["org-1"]"#), Err(PeopleError::Malformed));
        assert_eq!(
            ok(r#"{"orgId":"org-1","orgId":"org-2"}"#),
            Err(PeopleError::Malformed),
            "a repeated member"
        );
        assert_eq!(
            parse_org_id(&OutboundResponse::answer(403, "{}")),
            Err(PeopleError::Status(403))
        );
        let token = AccessToken::from_untrusted("t0k");
        let url = HttpUrl::parse("https://webexapis.com/v1/people/me").unwrap();
        let request = request(&url, &token);
        assert!(!request.url.as_str().contains("t0k"));
        assert!(request
            .headers
            .contains(&("Authorization", "Bearer t0k".to_owned())));
    }
}
