//! The authorization request (OIDC Core §3.1.2.1 with PKCE, RFC 7636 §4.3).

use super::client::Client;
use super::secrets::{Nonce, PkceVerifier, State};

/// The redirect to the provider's authorize endpoint for one login.
pub fn authorize_url(
    config: &Client,
    state: &State,
    nonce: &Nonce,
    verifier: &PkceVerifier,
) -> String {
    config.authorize_url.with_query_pairs(&[
        ("response_type", "code"),
        ("client_id", &config.client_id),
        ("redirect_uri", config.redirect_uri.as_str()),
        ("scope", &config.scopes),
        ("state", state.secret()),
        ("nonce", nonce.secret()),
        ("code_challenge", &verifier.s256_challenge()),
        ("code_challenge_method", "S256"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::http_url::HttpUrl;
    use std::collections::HashMap;

    #[test]
    fn carries_every_parameter_once() {
        let config = Client::example();
        let state = State::from_untrusted("st&te=1");
        let nonce = Nonce::from_untrusted("n0nce");
        let verifier = PkceVerifier::from_untrusted("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let url = url::Url::parse(&authorize_url(&config, &state, &nonce, &verifier)).unwrap();
        assert_eq!(url.origin().ascii_serialization(), "https://webexapis.com");
        assert_eq!(url.path(), "/v1/authorize");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let params: HashMap<_, _> = pairs.iter().cloned().collect();
        assert_eq!(pairs.len(), params.len(), "no duplicated parameter");
        assert_eq!(params["response_type"], "code");
        assert_eq!(params["client_id"], "client-1");
        assert_eq!(params["redirect_uri"], "https://login.example.com/oauth");
        assert_eq!(params["scope"], "openid email profile");
        assert_eq!(params["state"], "st&te=1");
        assert_eq!(params["nonce"], "n0nce");
        assert_eq!(
            params["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(params["code_challenge_method"], "S256");
        assert!(
            !url.as_str().contains("dBjftJeZ"),
            "the verifier never leaves the Worker"
        );
    }

    #[test]
    fn is_exactly_this_url() {
        let url = authorize_url(
            &Client::example(),
            &State::from_untrusted("st&te=1"),
            &Nonce::from_untrusted("n0nce"),
            &PkceVerifier::from_untrusted("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        );
        assert_eq!(
            url,
            "https://webexapis.com/v1/authorize?response_type=code&client_id=client-1\
             &redirect_uri=https%3A%2F%2Flogin.example.com%2Foauth&scope=openid+email+profile\
             &state=st%26te%3D1&nonce=n0nce\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\
             &code_challenge_method=S256"
        );
    }

    #[test]
    fn keeps_existing_query_of_a_custom_authorize_url() {
        let config = Client {
            authorize_url: HttpUrl::parse("https://idp.example/auth?tenant=a").unwrap(),
            ..Client::example()
        };
        let url = url::Url::parse(&authorize_url(
            &config,
            &State::from_untrusted("s"),
            &Nonce::from_untrusted("n"),
            &PkceVerifier::from_untrusted("v"),
        ))
        .unwrap();
        assert!(url
            .as_str()
            .starts_with("https://idp.example/auth?tenant=a&response_type=code"));
    }
}
