//! `Webex-Assertion`: the identity the gateway vouches for, as a short-lived ES256 JWT that the
//! origin verifies against `<AUTH_PREFIX>/jwks.json` with any JWT library.

use serde_json::{json, Value};

use super::policy::Identity;
use super::settings::GatewayConfig;
use crate::oidc::es256::{sign_jwt, SignEs256};

/// An assertion is good for one request: a minute covers clock skew and slow origins.
pub const ASSERTION_LIFETIME_SECS: i64 = 60;

/// The claims: `iss` this Worker's origin, `aud` the upstream's, the person, and a minute of
/// validity.
pub fn claims(who: &Identity, issuer: &str, audience: &str, now: i64) -> Value {
    let mut claims = json!({
        "iss": issuer,
        "aud": audience,
        "sub": who.subject,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    for (name, value) in [
        ("email", &who.email),
        ("name", &who.name),
        ("org_id", &who.org_id),
    ] {
        if let Some(value) = value {
            claims[name] = value.as_str().into();
        }
    }
    claims
}

/// The signed assertion, or `None` if the platform could not sign.
pub async fn sign(
    signer: &dyn SignEs256,
    config: &GatewayConfig,
    who: &Identity,
    issuer: &str,
    now: i64,
) -> Option<String> {
    let claims = claims(who, issuer, config.audience(issuer), now);
    sign_jwt(signer, &config.signing_key, &claims).await
}

/// The JWKS an origin verifies assertions with: the current key, and the previous one while
/// a rotation is under way.
pub fn jwks(config: &GatewayConfig) -> Value {
    let mut keys = vec![config.signing_key.public.to_jwk()];
    if let Some(previous) = &config.previous_key {
        keys.push(previous.to_jwk());
    }
    json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_carry_who_for_whom_and_one_minute() {
        let who = Identity {
            subject: "u1".into(),
            email: Some("ada@example.com".into()),
            name: Some("Ada".into()),
            org_id: None,
        };
        let claims = claims(
            &who,
            "https://app.example.com",
            "https://origin.example.com",
            1000,
        );
        assert_eq!(
            claims,
            json!({"iss": "https://app.example.com", "aud": "https://origin.example.com",
                   "sub": "u1", "email": "ada@example.com", "name": "Ada",
                   "iat": 1000, "exp": 1060})
        );
    }
}
