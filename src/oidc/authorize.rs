//! The authorization request (OIDC Core §3.1.2.1 with PKCE, RFC 7636 §4.3).

use url::Url;

use super::secrets::{Nonce, PkceVerifier, State};
use crate::config::Config;

/// The redirect to the provider's authorize endpoint for one login.
pub fn authorize_url(
    config: &Config,
    state: &State,
    nonce: &Nonce,
    verifier: &PkceVerifier,
) -> Url {
    let mut url = config.authorize_url.clone();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", config.redirect_uri.as_str())
        .append_pair("scope", &config.scopes)
        .append_pair("state", state.secret())
        .append_pair("nonce", nonce.secret())
        .append_pair("code_challenge", &verifier.s256_challenge())
        .append_pair("code_challenge_method", "S256");
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::minimal;
    use std::collections::HashMap;

    #[test]
    fn carries_every_parameter_once() {
        let config = Config::load(&minimal(), "https://login.example.com").unwrap();
        let state = State::from_untrusted("st&te=1");
        let nonce = Nonce::from_untrusted("n0nce");
        let verifier = PkceVerifier::from_untrusted("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let url = authorize_url(&config, &state, &nonce, &verifier);
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
    fn keeps_existing_query_of_a_custom_authorize_url() {
        let mut settings = minimal();
        settings.0.insert(
            "WEBEX_AUTHORIZE_URL",
            "https://idp.example/auth?tenant=a".into(),
        );
        let config = Config::load(&settings, "https://x.example").unwrap();
        let url = authorize_url(
            &config,
            &State::from_untrusted("s"),
            &Nonce::from_untrusted("n"),
            &PkceVerifier::from_untrusted("v"),
        );
        assert!(url
            .as_str()
            .starts_with("https://idp.example/auth?tenant=a&response_type=code"));
    }
}
