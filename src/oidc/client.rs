//! The relying party as the protocol sees it: who the client is, where the provider's
//! endpoints are, which issuers it trusts. Built from settings by the app (`config.rs`).

use super::http_url::HttpUrl;

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1, OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuth {
    ClientSecretBasic,
    ClientSecretPost,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: HttpUrl,
    pub authorize_url: HttpUrl,
    pub token_url: HttpUrl,
    pub userinfo_url: HttpUrl,
    pub jwks_url: HttpUrl,
    pub issuers: Vec<String>,
    pub scopes: String,
    pub token_auth: TokenAuth,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("client_secret", &"(redacted)")
            .field("redirect_uri", &self.redirect_uri.as_str())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl Client {
    /// Webex's endpoints, client `client-1` with secret `s3cret`, callback on
    /// `https://login.example.com/oauth`.
    pub fn example() -> Self {
        let url = |s: &str| HttpUrl::parse(s).unwrap();
        Self {
            client_id: "client-1".into(),
            client_secret: "s3cret".into(),
            redirect_uri: url("https://login.example.com/oauth"),
            authorize_url: url("https://webexapis.com/v1/authorize"),
            token_url: url("https://webexapis.com/v1/access_token"),
            userinfo_url: url("https://webexapis.com/v1/userinfo"),
            jwks_url: url("https://webexapis.com/v1/verification"),
            issuers: vec!["https://idbroker.webex.com/idb".into()],
            scopes: "openid email profile".into(),
            token_auth: TokenAuth::ClientSecretBasic,
        }
    }
}
