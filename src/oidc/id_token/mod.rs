//! ID token verification (OpenID Connect Core 1.0 §3.1.3.7), one named check per rule.
//!
//! The type flow makes skipping a step impossible: raw text → [`UnverifiedIdToken`] (only
//! the header is readable) → [`SignedClaims`] (signature checked, claims not yet validated)
//! → [`VerifiedIdToken`] (every rule passed; the only type whose claims can be read).
//!
//! jwt-compact parses the compact JWS (header, `alg`, `kid`) and checks `exp` and `nbf` with
//! its `TimeOptions`; the signature is verified by the platform (WebCrypto) over the signing
//! input before any claim is read, and header and claims are also read strictly
//! (`crate::oidc::json`): jwt-compact's own reading keeps the last of two members of one name.

use super::json::Object;
use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::UntrustedToken;

mod checks;
#[cfg(test)]
mod tests;

use self::checks::*;
use super::jwks::KeySet;
use super::jwks::VerifyRs256;
use super::secrets::Nonce;

pub use self::checks::check_same_identity;

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
    /// The compact JWS as jwt-compact parsed it: algorithm, `kid`, claims and signature.
    token: UntrustedToken<'a>,
    /// `header.payload`, the bytes the signature covers (RFC 7515 §5.2).
    signing_input: &'a str,
}

/// Claims under a verified signature, not yet checked against the rules.
pub struct SignedClaims {
    claims: Object,
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
    claims: Object,
    subject: String,
    expires_at: i64,
}

impl<'a> UnverifiedIdToken<'a> {
    pub fn parse(raw: &'a str) -> Result<Self, IdTokenError> {
        if raw.len() > MAX_ID_TOKEN_BYTES {
            return Err(IdTokenError::Malformed);
        }
        // The JWS Compact Serialization: exactly three base64url parts (RFC 7515 §7.1).
        // jwt-compact reads the header's `alg`, `kid` and `cty`, and enforces RFC 7515
        // §4.1.10 / RFC 7519 §5.2 itself: a `cty` other than JSON (a nested JWT, say) is not
        // an ID token and fails the parse. The header is also read strictly, for the rules
        // jwt-compact does not know.
        let token = UntrustedToken::new(raw).map_err(|_| IdTokenError::Malformed)?;
        let (signing_input, _) = raw.rsplit_once('.').ok_or(IdTokenError::Malformed)?;
        let header = strict_header(signing_input)?;
        check_algorithm(token.algorithm())?;
        check_no_crit(&header)?;
        check_kid_is_text(&header)?;
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
                return self.signed_claims();
            }
        }
        Err(IdTokenError::BadSignature)
    }

    /// The claims of a token whose signature verified (RFC 7519 §7.2 step 10), read strictly.
    fn signed_claims(&self) -> Result<SignedClaims, IdTokenError> {
        let (_, payload) = self
            .signing_input
            .split_once('.')
            .ok_or(IdTokenError::Malformed)?;
        let claims = parse_json_object(&decode_segment(payload)?)?;
        let times = TimeClaims::read(&claims)?;
        Ok(SignedClaims { claims, times })
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
    pub fn claims(&self) -> &Object {
        &self.claims
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
}

/// One base64url segment of a compact JWS, unpadded (RFC 7515 §2).
fn decode_segment(segment: &str) -> Result<Vec<u8>, IdTokenError> {
    Base64UrlUnpadded::decode_vec(segment).map_err(|_| IdTokenError::Malformed)
}

/// The header of `header.payload`, read strictly: jwt-compact's own reading keeps the last
/// of two members of one name.
fn strict_header(signing_input: &str) -> Result<Object, IdTokenError> {
    let (header, _) = signing_input
        .split_once('.')
        .ok_or(IdTokenError::Malformed)?;
    parse_json_object(&decode_segment(header)?)
}

/// A JSON object: the header, or the payload of a token whose signature verified
/// (RFC 7519 §7.2 steps 4 and 10), with no member named twice.
fn parse_json_object(json: &[u8]) -> Result<Object, IdTokenError> {
    super::json::parse_object(json).map_err(|_| IdTokenError::Malformed)
}
