//! ID token verification (OpenID Connect Core 1.0 §3.1.3.7), one named check per rule.
//!
//! The type flow makes skipping a step impossible: raw text → [`UnverifiedIdToken`] (only
//! the header is readable) → [`SignedClaims`] (signature checked, claims not yet validated)
//! → [`VerifiedIdToken`] (every rule passed; the only type whose claims can be read).

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::UntrustedToken;
use serde_json::{Map, Value};

use super::jwks::KeySet;
use super::jwks::VerifyRs256;
use super::secrets::Nonce;

/// Longer than any real ID token by an order of magnitude; bounds parsing work.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;
/// Clock skew tolerated between the provider and the edge, in seconds.
pub const CLOCK_LEEWAY_SECS: i64 = 30;
/// OIDC Core §2: `sub` is at most 255 ASCII characters.
const MAX_SUB_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdTokenError {
    /// Not a compact JWS with JSON header and claims (RFC 7515 §7.1).
    Malformed,
    /// `alg` is not RS256; `none` and HMAC are refused (OIDC Core §3.1.3.7 step 7).
    UnsupportedAlgorithm(String),
    /// The header carries `crit`: extensions that must be understood, and this client
    /// understands none (RFC 7515 §4.1.11).
    CriticalHeader,
    /// No key of the provider's JWKS verifies the signature (OIDC Core §3.1.3.7 step 6).
    BadSignature,
    /// `iss` is not an allowed issuer (OIDC Core §3.1.3.7 step 2).
    IssuerNotAllowed,
    /// `aud` is missing or does not contain this client (OIDC Core §3.1.3.7 step 3).
    AudienceMismatch,
    /// Several audiences but no `azp` (OIDC Core §3.1.3.7 step 4).
    AuthorizedPartyMissing,
    /// `azp` is present and is not this client (OIDC Core §3.1.3.7 step 5).
    AuthorizedPartyMismatch,
    /// `exp` is missing or passed (OIDC Core §3.1.3.7 step 9).
    Expired,
    /// `nbf` lies in the future (RFC 7519 §4.1.5).
    NotYetValid,
    /// `iat` is missing (OIDC Core §2, §3.1.3.7 step 10).
    IssuedAtMissing,
    /// `iat` lies in the future or after `exp` (OIDC Core §3.1.3.7 step 10).
    IssuedAtInvalid,
    /// `sub` is missing, empty or too long (OIDC Core §2).
    SubjectMissing,
    /// `nonce` is missing or differs from the one sent (OIDC Core §3.1.3.7 step 11).
    NonceMismatch,
    /// A refreshed ID token names another issuer, subject or audience (OIDC Core §12.2).
    IdentityChanged,
}

impl IdTokenError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "id_token_malformed",
            Self::UnsupportedAlgorithm(_) => "id_token_alg",
            Self::CriticalHeader => "id_token_crit",
            Self::BadSignature => "id_token_signature",
            Self::IssuerNotAllowed => "id_token_iss",
            Self::AudienceMismatch => "id_token_aud",
            Self::AuthorizedPartyMissing | Self::AuthorizedPartyMismatch => "id_token_azp",
            Self::Expired => "id_token_exp",
            Self::NotYetValid => "id_token_nbf",
            Self::IssuedAtMissing | Self::IssuedAtInvalid => "id_token_iat",
            Self::SubjectMissing => "id_token_sub",
            Self::NonceMismatch => "id_token_nonce",
            Self::IdentityChanged => "id_token_identity_changed",
        }
    }

    /// The rule broken, for the error page's details.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::Malformed => "RFC 7515 §7.1: the ID token is not a well-formed JWS",
            Self::UnsupportedAlgorithm(_) => {
                "OIDC Core §3.1.3.7(7): the signing algorithm must be RS256"
            }
            Self::CriticalHeader => {
                "RFC 7515 §4.1.11: the token names critical header extensions this site does not support"
            }
            Self::BadSignature => "OIDC Core §3.1.3.7(6): no provider key verifies the signature",
            Self::IssuerNotAllowed => "OIDC Core §3.1.3.7(2): the issuer is not allowed",
            Self::AudienceMismatch => {
                "OIDC Core §3.1.3.7(3): the token is not meant for this client"
            }
            Self::AuthorizedPartyMissing => "OIDC Core §3.1.3.7(4): several audiences but no azp",
            Self::AuthorizedPartyMismatch => "OIDC Core §3.1.3.7(5): azp is not this client",
            Self::Expired => "OIDC Core §3.1.3.7(9): the token has expired",
            Self::NotYetValid => "RFC 7519 §4.1.5: the token is not valid yet",
            Self::IssuedAtMissing => "OIDC Core §2: iat is required",
            Self::IssuedAtInvalid => "OIDC Core §3.1.3.7(10): iat is in the future",
            Self::SubjectMissing => "OIDC Core §2: sub is required",
            Self::NonceMismatch => "OIDC Core §3.1.3.7(11): the nonce does not match this login",
            Self::IdentityChanged => {
                "OIDC Core §12.2: a refreshed token must name the same iss, sub and aud"
            }
        }
    }
}

/// How the `nonce` claim is checked.
#[derive(Clone, Copy)]
pub enum NonceRule<'a> {
    /// At sign-in: must be present and equal the nonce sent (OIDC Core §3.1.3.7 step 11).
    Required(&'a Nonce),
    /// After a refresh: may be absent; if present, must equal the original (OIDC Core §12.2).
    IfPresent(Option<&'a str>),
}

/// What this login expects of its ID token.
pub struct Expectations<'a> {
    pub issuers: &'a [String],
    pub client_id: &'a str,
    pub nonce: NonceRule<'a>,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// A parsed token whose signature has not been checked: only its header can be read.
pub struct UnverifiedIdToken<'a> {
    token: UntrustedToken<'a>,
    /// `header.payload`, the bytes the signature covers (RFC 7515 §5.2).
    signing_input: &'a str,
}

/// Claims under a verified signature, not yet checked against the rules.
pub struct SignedClaims {
    claims: Map<String, Value>,
    times: TimeClaims,
}

/// The registered time claims as seconds since the epoch (RFC 7519 §4.1.4–4.1.6).
struct TimeClaims {
    expires: Option<i64>,
    not_before: Option<i64>,
    issued_at: Option<i64>,
}

/// An ID token that passed every check. Claims are only reachable through this type.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    claims: Map<String, Value>,
    subject: String,
    expires_at: i64,
}

impl<'a> UnverifiedIdToken<'a> {
    pub fn parse(raw: &'a str) -> Result<Self, IdTokenError> {
        if raw.len() > MAX_ID_TOKEN_BYTES {
            return Err(IdTokenError::Malformed);
        }
        let token = UntrustedToken::new(raw).map_err(|_| IdTokenError::Malformed)?;
        check_algorithm(token.algorithm())?;
        let signing_input = raw
            .rsplit_once('.')
            .map(|(input, _)| input)
            .ok_or(IdTokenError::Malformed)?;
        check_no_crit(signing_input)?;
        Ok(Self {
            token,
            signing_input,
        })
    }

    pub fn kid(&self) -> Option<&str> {
        self.token.header().key_id.as_deref()
    }

    /// Tries the key named by `kid`, or every key when the token names none (OIDC Core
    /// §10.1). The claims are decoded only once a signature verified.
    pub async fn verify_signature(
        &self,
        keys: &KeySet,
        crypto: &dyn VerifyRs256,
    ) -> Result<SignedClaims, IdTokenError> {
        let message = self.signing_input.as_bytes();
        let signature = self.token.signature_bytes();
        for candidate in keys.candidates(self.kid()) {
            if crypto
                .verify_rs256(&candidate.key, message, signature)
                .await
            {
                let claims = decode_claims(self.signing_input)?;
                let times = TimeClaims::read(&claims)?;
                return Ok(SignedClaims { claims, times });
            }
        }
        Err(IdTokenError::BadSignature)
    }
}

impl SignedClaims {
    /// Runs every claim check, in the order of OIDC Core §3.1.3.7.
    pub fn validate(self, expect: &Expectations<'_>) -> Result<VerifiedIdToken, IdTokenError> {
        let claims = &self.claims;
        check_issuer(claims, expect.issuers)?;
        check_audience(claims, expect.client_id)?;
        check_authorized_party(claims, expect.client_id)?;
        let expires_at = check_expiry(&self.times, expect.now)?;
        check_not_before(&self.times, expect.now)?;
        check_issued_at(&self.times, expect.now)?;
        let subject = check_subject(claims)?;
        check_nonce(claims, expect.nonce)?;
        Ok(VerifiedIdToken {
            claims: self.claims,
            subject,
            expires_at,
        })
    }
}

impl VerifiedIdToken {
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

fn check_algorithm(alg: &str) -> Result<(), IdTokenError> {
    if alg == "RS256" {
        Ok(())
    } else {
        Err(IdTokenError::UnsupportedAlgorithm(
            alg.chars().take(16).collect(),
        ))
    }
}

/// RFC 7515 §4.1.11: a recipient must refuse a JWS whose `crit` lists an extension it does
/// not understand. This client understands none, so a `crit` of any value is refused.
fn check_no_crit(signing_input: &str) -> Result<(), IdTokenError> {
    let header = signing_input.split('.').next().unwrap_or_default();
    if decode_json_object(header)?.contains_key("crit") {
        Err(IdTokenError::CriticalHeader)
    } else {
        Ok(())
    }
}

fn check_issuer(claims: &Map<String, Value>, allowed: &[String]) -> Result<(), IdTokenError> {
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if allowed.iter().any(|a| a == iss) => Ok(()),
        _ => Err(IdTokenError::IssuerNotAllowed),
    }
}

fn audiences(claims: &Map<String, Value>) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn check_audience(claims: &Map<String, Value>, client_id: &str) -> Result<(), IdTokenError> {
    if audiences(claims).contains(&client_id) {
        Ok(())
    } else {
        Err(IdTokenError::AudienceMismatch)
    }
}

fn check_authorized_party(
    claims: &Map<String, Value>,
    client_id: &str,
) -> Result<(), IdTokenError> {
    let several_audiences = audiences(claims).len() > 1;
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(_) => Err(IdTokenError::AuthorizedPartyMismatch),
        None if several_audiences => Err(IdTokenError::AuthorizedPartyMissing),
        None => Ok(()),
    }
}

/// The payload of a token whose signature verified: a JSON object (RFC 7519 §7.2 step 10).
fn decode_claims(signing_input: &str) -> Result<Map<String, Value>, IdTokenError> {
    let payload = signing_input
        .split_once('.')
        .map(|(_, payload)| payload)
        .ok_or(IdTokenError::Malformed)?;
    decode_json_object(payload)
}

/// One base64url segment of a compact JWS holding a JSON object.
fn decode_json_object(segment: &str) -> Result<Map<String, Value>, IdTokenError> {
    let json = Base64UrlUnpadded::decode_vec(segment).map_err(|_| IdTokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| IdTokenError::Malformed)
}

impl TimeClaims {
    /// A time claim that is present must be a NumericDate (RFC 7519 §2): a JSON number,
    /// possibly fractional (truncated to whole seconds).
    fn read(claims: &Map<String, Value>) -> Result<Self, IdTokenError> {
        let numeric_date = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .or_else(|| value.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or(IdTokenError::Malformed),
        };
        Ok(Self {
            expires: numeric_date("exp")?,
            not_before: numeric_date("nbf")?,
            issued_at: numeric_date("iat")?,
        })
    }
}

fn check_expiry(times: &TimeClaims, now: i64) -> Result<i64, IdTokenError> {
    let exp = times.expires.ok_or(IdTokenError::Expired)?;
    if now > exp.saturating_add(CLOCK_LEEWAY_SECS) {
        return Err(IdTokenError::Expired);
    }
    Ok(exp)
}

fn check_not_before(times: &TimeClaims, now: i64) -> Result<(), IdTokenError> {
    match times.not_before {
        Some(nbf) if nbf > now.saturating_add(CLOCK_LEEWAY_SECS) => Err(IdTokenError::NotYetValid),
        _ => Ok(()),
    }
}

fn check_issued_at(times: &TimeClaims, now: i64) -> Result<(), IdTokenError> {
    let iat = times.issued_at.ok_or(IdTokenError::IssuedAtMissing)?;
    let exp = times.expires.unwrap_or(i64::MAX);
    if iat > now.saturating_add(CLOCK_LEEWAY_SECS) || iat > exp {
        return Err(IdTokenError::IssuedAtInvalid);
    }
    Ok(())
}

fn check_subject(claims: &Map<String, Value>) -> Result<String, IdTokenError> {
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() && sub.len() <= MAX_SUB_LEN => Ok(sub.to_owned()),
        _ => Err(IdTokenError::SubjectMissing),
    }
}

fn check_nonce(claims: &Map<String, Value>, rule: NonceRule<'_>) -> Result<(), IdTokenError> {
    let nonce = claims.get("nonce");
    let matches = |expected: &str| {
        nonce
            .and_then(Value::as_str)
            .is_some_and(|n| super::secrets::constant_time_eq(n, expected))
    };
    let ok = match rule {
        NonceRule::Required(expected) => matches(expected.secret()),
        NonceRule::IfPresent(original) => nonce.is_none() || original.is_some_and(matches),
    };
    if ok {
        Ok(())
    } else {
        Err(IdTokenError::NonceMismatch)
    }
}

/// OIDC Core §12.2: a refreshed ID token keeps the `iss`, `sub` and `aud` of the original.
pub fn check_same_identity(
    original: &Map<String, Value>,
    refreshed: &VerifiedIdToken,
) -> Result<(), IdTokenError> {
    let same = |name: &str| original.get(name) == refreshed.claims.get(name);
    if same("iss") && same("sub") && same("aud") {
        Ok(())
    } else {
        Err(IdTokenError::IdentityChanged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::test_keys::*;
    use futures::executor::block_on;
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const ISS: &str = "https://idbroker.webex.com/idb";
    const CLIENT: &str = "client-1";

    fn issuers() -> Vec<String> {
        vec![
            ISS.to_owned(),
            "https://idbroker-eu.webex.com/idb".to_owned(),
        ]
    }

    fn good_claims() -> Value {
        json!({
            "iss": ISS, "sub": "user-1", "aud": CLIENT, "exp": NOW + 7200, "iat": NOW - 5,
            "auth_time": NOW - 10, "nonce": "n-0S6_WzA2Mj", "email": "a@example.com",
            "email_verified": true,
        })
    }

    fn keyset(entries: &[String]) -> KeySet {
        KeySet::parse(&jwks_json(entries)).unwrap()
    }

    /// The usual Webex shape: one key, no `kid` anywhere.
    fn default_keys() -> KeySet {
        keyset(&[jwk_json(TestKey::get(0), None, Some("sig"), None)])
    }

    fn verify_with(token: &str, keys: &KeySet) -> Result<VerifiedIdToken, IdTokenError> {
        let issuers = issuers();
        let nonce = Nonce::from_untrusted("n-0S6_WzA2Mj");
        let expect = Expectations {
            issuers: &issuers,
            client_id: CLIENT,
            nonce: NonceRule::Required(&nonce),
            now: NOW,
        };
        block_on(UnverifiedIdToken::parse(token)?.verify_signature(keys, &RustCrypto))?
            .validate(&expect)
    }

    fn token_with(claims: Value) -> String {
        sign_rs256(TestKey::get(0), &json!({"alg": "RS256"}), &claims)
    }

    fn verify_claims(claims: Value) -> Result<VerifiedIdToken, IdTokenError> {
        verify_with(&token_with(claims), &default_keys())
    }

    fn with(field: &str, value: Value) -> Value {
        let mut claims = good_claims();
        claims[field] = value;
        claims
    }

    fn without(field: &str) -> Value {
        let mut claims = good_claims();
        claims.as_object_mut().unwrap().remove(field);
        claims
    }

    #[test]
    fn accepts_a_good_token_and_exposes_every_claim() {
        let verified = verify_claims(good_claims()).unwrap();
        assert_eq!(verified.subject(), "user-1");
        assert_eq!(verified.expires_at(), NOW + 7200);
        assert_eq!(verified.claims().get("exp"), Some(&json!(NOW + 7200)));
        assert_eq!(verified.claims().get("iat"), Some(&json!(NOW - 5)));
        assert_eq!(verified.claims().get("email_verified"), Some(&json!(true)));
        assert_eq!(
            verified.claims().len(),
            good_claims().as_object().unwrap().len()
        );
    }

    #[test]
    fn accepts_any_allowed_regional_issuer() {
        assert!(verify_claims(with("iss", json!("https://idbroker-eu.webex.com/idb"))).is_ok());
    }

    #[test]
    fn rejects_issuer_not_in_allow_list() {
        let err = verify_claims(with("iss", json!("https://evil.example/idb"))).unwrap_err();
        assert_eq!(err, IdTokenError::IssuerNotAllowed);
        assert_eq!(
            verify_claims(without("iss")).unwrap_err(),
            IdTokenError::IssuerNotAllowed
        );
    }

    #[test]
    fn rejects_wrong_or_missing_audience() {
        assert_eq!(
            verify_claims(with("aud", json!("other"))).unwrap_err(),
            IdTokenError::AudienceMismatch
        );
        assert_eq!(
            verify_claims(without("aud")).unwrap_err(),
            IdTokenError::AudienceMismatch
        );
        assert_eq!(
            verify_claims(with("aud", json!(42))).unwrap_err(),
            IdTokenError::AudienceMismatch
        );
    }

    #[test]
    fn several_audiences_need_azp_equal_to_client() {
        let multi = with("aud", json!([CLIENT, "other"]));
        assert_eq!(
            verify_claims(multi.clone()).unwrap_err(),
            IdTokenError::AuthorizedPartyMissing
        );
        let mut with_azp = multi.clone();
        with_azp["azp"] = json!(CLIENT);
        assert!(verify_claims(with_azp).is_ok());
        let mut wrong_azp = multi;
        wrong_azp["azp"] = json!("other");
        assert_eq!(
            verify_claims(wrong_azp).unwrap_err(),
            IdTokenError::AuthorizedPartyMismatch
        );
    }

    #[test]
    fn single_audience_with_wrong_azp_is_rejected() {
        assert_eq!(
            verify_claims(with("azp", json!("other"))).unwrap_err(),
            IdTokenError::AuthorizedPartyMismatch
        );
    }

    #[test]
    fn rejects_wrong_or_missing_nonce() {
        assert_eq!(
            verify_claims(with("nonce", json!("other"))).unwrap_err(),
            IdTokenError::NonceMismatch
        );
        assert_eq!(
            verify_claims(without("nonce")).unwrap_err(),
            IdTokenError::NonceMismatch
        );
    }

    #[test]
    fn refreshed_tokens_may_omit_the_nonce_but_keep_the_identity() {
        let issuers = issuers();
        let refresh = |claims: Value, original_nonce: Option<&str>| {
            let expect = Expectations {
                issuers: &issuers,
                client_id: CLIENT,
                nonce: NonceRule::IfPresent(original_nonce),
                now: NOW,
            };
            block_on(
                UnverifiedIdToken::parse(&token_with(claims))?
                    .verify_signature(&default_keys(), &RustCrypto),
            )?
            .validate(&expect)
        };
        let original = verify_claims(good_claims()).unwrap();
        let refreshed = refresh(without("nonce"), Some("n-0S6_WzA2Mj")).unwrap();
        assert!(check_same_identity(original.claims(), &refreshed).is_ok());
        assert!(refresh(good_claims(), Some("n-0S6_WzA2Mj")).is_ok());
        assert_eq!(
            refresh(good_claims(), Some("other")).unwrap_err(),
            IdTokenError::NonceMismatch
        );
        assert_eq!(
            refresh(good_claims(), None).unwrap_err(),
            IdTokenError::NonceMismatch
        );
        assert_eq!(
            refresh(with("azp", json!("other")), None).unwrap_err(),
            IdTokenError::AuthorizedPartyMismatch
        );
        let other_user = refresh(with("sub", json!("user-2")), Some("n-0S6_WzA2Mj")).unwrap();
        assert_eq!(
            check_same_identity(original.claims(), &other_user).unwrap_err(),
            IdTokenError::IdentityChanged
        );
        let other_issuer = refresh(
            with("iss", json!("https://idbroker-eu.webex.com/idb")),
            Some("n-0S6_WzA2Mj"),
        )
        .unwrap();
        assert_eq!(
            check_same_identity(original.claims(), &other_issuer).unwrap_err(),
            IdTokenError::IdentityChanged
        );
    }

    #[test]
    fn rejects_missing_or_empty_sub() {
        assert_eq!(
            verify_claims(without("sub")).unwrap_err(),
            IdTokenError::SubjectMissing
        );
        assert_eq!(
            verify_claims(with("sub", json!(""))).unwrap_err(),
            IdTokenError::SubjectMissing
        );
        assert_eq!(
            verify_claims(with("sub", json!("x".repeat(256)))).unwrap_err(),
            IdTokenError::SubjectMissing
        );
    }

    #[test]
    fn rejects_missing_or_future_iat() {
        assert_eq!(
            verify_claims(without("iat")).unwrap_err(),
            IdTokenError::IssuedAtMissing
        );
        let future = with("iat", json!(NOW + CLOCK_LEEWAY_SECS + 5));
        assert_eq!(
            verify_claims(future).unwrap_err(),
            IdTokenError::IssuedAtInvalid
        );
        assert!(verify_claims(with("iat", json!(NOW + CLOCK_LEEWAY_SECS - 1))).is_ok());
    }

    #[test]
    fn rejects_expired_token_beyond_leeway() {
        assert_eq!(
            verify_claims(with("exp", json!(NOW - CLOCK_LEEWAY_SECS - 1))).unwrap_err(),
            IdTokenError::Expired
        );
        let mut within_leeway = with("exp", json!(NOW - CLOCK_LEEWAY_SECS + 1));
        within_leeway["iat"] = json!(NOW - 3600);
        assert!(verify_claims(within_leeway).is_ok());
        assert_eq!(
            verify_claims(without("exp")).unwrap_err(),
            IdTokenError::Expired
        );
    }

    #[test]
    fn rejects_iat_after_exp() {
        let mut claims = with("iat", json!(NOW));
        claims["exp"] = json!(NOW - 1);
        assert_eq!(
            verify_claims(claims).unwrap_err(),
            IdTokenError::IssuedAtInvalid
        );
    }

    #[test]
    fn rejects_token_not_yet_valid() {
        assert_eq!(
            verify_claims(with("nbf", json!(NOW + 3600))).unwrap_err(),
            IdTokenError::NotYetValid
        );
    }

    #[test]
    fn non_numeric_time_claims_are_malformed() {
        assert_eq!(
            verify_claims(with("exp", json!("tomorrow"))).unwrap_err(),
            IdTokenError::Malformed
        );
    }

    #[test]
    fn rejects_tampered_signature() {
        let token = token_with(good_claims());
        let (rest, sig) = token.rsplit_once('.').unwrap();
        let mut sig = sig.as_bytes().to_vec();
        sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{rest}.{}", String::from_utf8(sig).unwrap());
        assert_eq!(
            verify_with(&tampered, &default_keys()).unwrap_err(),
            IdTokenError::BadSignature
        );
    }

    #[test]
    fn rejects_tampered_claims() {
        let token = token_with(good_claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = b64(with("sub", json!("admin")).to_string().as_bytes());
        let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
        assert_eq!(
            verify_with(&tampered, &default_keys()).unwrap_err(),
            IdTokenError::BadSignature
        );
    }

    #[test]
    fn rejects_token_signed_by_another_key() {
        let token = sign_rs256(TestKey::get(1), &json!({"alg": "RS256"}), &good_claims());
        assert_eq!(
            verify_with(&token, &default_keys()).unwrap_err(),
            IdTokenError::BadSignature
        );
    }

    #[test]
    fn rejects_alg_none() {
        let token = format!(
            "{}.",
            signing_input(&json!({"alg": "none"}), &good_claims())
        );
        assert_eq!(
            verify_with(&token, &default_keys()).unwrap_err(),
            IdTokenError::UnsupportedAlgorithm("none".into())
        );
    }

    #[test]
    fn rejects_any_crit_header() {
        for crit in [
            json!(["exp"]),
            json!(["http://example.com/extension"]),
            json!([]),
            json!(null),
            json!("b64"),
        ] {
            let header = json!({"alg": "RS256", "crit": crit, "exp": NOW + 60});
            let token = sign_rs256(TestKey::get(0), &header, &good_claims());
            assert_eq!(
                verify_with(&token, &default_keys()).unwrap_err(),
                IdTokenError::CriticalHeader,
                "{crit}"
            );
        }
        let header = json!({"alg": "RS256", "typ": "JWT", "critical": ["x"]});
        let token = sign_rs256(TestKey::get(0), &header, &good_claims());
        assert!(
            verify_with(&token, &default_keys()).is_ok(),
            "only `crit` itself"
        );
        assert_eq!(IdTokenError::CriticalHeader.code(), "id_token_crit");
    }

    #[test]
    fn rejects_hs256_signed_with_the_public_key() {
        let key = TestKey::get(0);
        for secret in [
            jwk_json(key, None, Some("sig"), None).into_bytes(),
            key.n().to_bytes_be(),
        ] {
            let token = sign_hs256(&secret, &good_claims());
            assert_eq!(
                verify_with(&token, &default_keys()).unwrap_err(),
                IdTokenError::UnsupportedAlgorithm("HS256".into())
            );
        }
    }

    #[test]
    fn no_kid_with_several_keys_finds_the_right_one_not_first() {
        let keys = keyset(&[
            jwk_json(TestKey::get(1), Some("k1"), Some("sig"), None),
            jwk_json(TestKey::get(2), Some("k2"), Some("sig"), None),
            jwk_json(TestKey::get(0), Some("k0"), Some("sig"), None),
        ]);
        assert!(verify_with(&token_with(good_claims()), &keys).is_ok());
    }

    #[test]
    fn kid_selects_that_key_only() {
        let keys = keyset(&[
            jwk_json(TestKey::get(0), Some("k0"), Some("sig"), None),
            jwk_json(TestKey::get(1), Some("k1"), Some("sig"), None),
        ]);
        let right = sign_rs256(
            TestKey::get(0),
            &json!({"alg": "RS256", "kid": "k0"}),
            &good_claims(),
        );
        assert!(verify_with(&right, &keys).is_ok());
        let mislabelled = sign_rs256(
            TestKey::get(0),
            &json!({"alg": "RS256", "kid": "k1"}),
            &good_claims(),
        );
        assert_eq!(
            verify_with(&mislabelled, &keys).unwrap_err(),
            IdTokenError::BadSignature
        );
        let unknown = sign_rs256(
            TestKey::get(0),
            &json!({"alg": "RS256", "kid": "k9"}),
            &good_claims(),
        );
        assert_eq!(
            verify_with(&unknown, &keys).unwrap_err(),
            IdTokenError::BadSignature
        );
    }

    #[test]
    fn weak_keys_are_never_used() {
        let weak = TestKey::get(3);
        let keys = keyset(&[
            jwk_json(weak, None, Some("sig"), None),
            jwk_json(TestKey::get(0), None, Some("sig"), None),
        ]);
        assert_eq!(keys.key_count(), 1);
        let token = sign_rs256(weak, &json!({"alg": "RS256"}), &good_claims());
        assert_eq!(
            verify_with(&token, &keys).unwrap_err(),
            IdTokenError::BadSignature
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for raw in [
            "",
            ".",
            "..",
            "a.b.c",
            "eyJhbGciOiJSUzI1NiJ9.e30",
            "x".repeat(MAX_ID_TOKEN_BYTES + 1).as_str(),
        ] {
            assert_eq!(
                verify_with(raw, &default_keys()).unwrap_err(),
                IdTokenError::Malformed,
                "{raw:.20}"
            );
        }
    }

    // ---- Boundaries (each found by a mutant that survived the tests above) ----

    fn times(exp: Option<i64>, nbf: Option<i64>, iat: Option<i64>) -> TimeClaims {
        TimeClaims {
            expires: exp,
            not_before: nbf,
            issued_at: iat,
        }
    }

    #[test]
    fn time_claims_hold_up_to_the_leeway_and_not_a_second_past() {
        let l = CLOCK_LEEWAY_SECS;
        assert!(check_expiry(&times(Some(NOW - l), None, None), NOW).is_ok());
        assert_eq!(
            check_expiry(&times(Some(NOW - l - 1), None, None), NOW),
            Err(IdTokenError::Expired)
        );
        assert!(check_not_before(&times(None, Some(NOW + l), None), NOW).is_ok());
        assert!(check_not_before(&times(None, None, None), NOW).is_ok());
        assert_eq!(
            check_not_before(&times(None, Some(NOW + l + 1), None), NOW),
            Err(IdTokenError::NotYetValid)
        );
        assert!(check_issued_at(&times(Some(NOW + l), None, Some(NOW + l)), NOW).is_ok());
        assert_eq!(
            check_issued_at(&times(None, None, Some(NOW + l + 1)), NOW),
            Err(IdTokenError::IssuedAtInvalid)
        );
        assert!(
            check_issued_at(&times(Some(NOW), None, Some(NOW)), NOW).is_ok(),
            "iat = exp"
        );
        assert_eq!(
            check_issued_at(&times(Some(NOW - 1), None, Some(NOW)), NOW),
            Err(IdTokenError::IssuedAtInvalid),
            "issued after it expired"
        );
    }

    /// A structurally valid RS256 token of exactly `len` bytes (the signature part padded).
    fn token_of_length(len: usize) -> String {
        let header = b64(br#"{"alg":"RS256"}"#);
        for pad in 0..4 {
            let payload = b64(format!(r#"{{"sub":"{}"}}"#, "x".repeat(pad)).as_bytes());
            let sig_len = len - header.len() - payload.len() - 2;
            if sig_len % 4 != 1 {
                return format!("{header}.{payload}.{}", "A".repeat(sig_len));
            }
        }
        unreachable!()
    }

    #[test]
    fn tokens_up_to_the_size_limit_parse_and_longer_ones_do_not() {
        let at_limit = token_of_length(MAX_ID_TOKEN_BYTES);
        assert_eq!(at_limit.len(), MAX_ID_TOKEN_BYTES);
        assert!(UnverifiedIdToken::parse(&at_limit).is_ok());
        for over in [MAX_ID_TOKEN_BYTES + 2, MAX_ID_TOKEN_BYTES + 3] {
            let token = token_of_length(over);
            assert_eq!(token.len(), over);
            assert_eq!(
                UnverifiedIdToken::parse(&token).err(),
                Some(IdTokenError::Malformed)
            );
        }
    }

    #[test]
    fn every_rule_names_its_spec() {
        for err in [
            IdTokenError::Malformed,
            IdTokenError::Expired,
            IdTokenError::NonceMismatch,
            IdTokenError::IssuedAtInvalid,
        ] {
            let rule = err.rule();
            assert!(rule.contains('§') && rule.len() > 20, "{err:?}: {rule}");
        }
        assert!(IdTokenError::NonceMismatch.rule().contains("nonce"));
        assert!(IdTokenError::Expired.rule().contains("exp"));
    }
}
