//! The rules of OIDC Core §3.1.3.7 (and RFC 7515/7519 where they apply), one function each,
//! each failing with the error that names its rule.

use chrono::{DateTime, Duration, Utc};
use jwt_compact::{Claims, Empty, TimeOptions, ValidationError};

use crate::oidc::json::{Object, Value};

use super::{IdTokenError, NonceRule, TimeClaims, VerifiedIdToken, CLOCK_LEEWAY_SECS, MAX_SUB_LEN};
use crate::oidc::secrets::constant_time_eq;

pub(super) fn check_algorithm(alg: &str) -> Result<(), IdTokenError> {
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
pub(super) fn check_no_crit(header: &Object) -> Result<(), IdTokenError> {
    if header.contains_key("crit") {
        Err(IdTokenError::CriticalHeader)
    } else {
        Ok(())
    }
}

/// RFC 7515 §4.1.4: `kid` is a string when present (jwt-compact would take `null` as absent).
pub(super) fn check_kid_is_text(header: &Object) -> Result<(), IdTokenError> {
    match header.get("kid") {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(IdTokenError::Malformed),
    }
}

pub(super) fn check_issuer(claims: &Object, allowed: &[String]) -> Result<(), IdTokenError> {
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if allowed.iter().any(|a| a == iss) => Ok(()),
        _ => Err(IdTokenError::IssuerNotAllowed),
    }
}

pub(super) fn audiences(claims: &Object) -> Vec<&str> {
    match claims.get("aud") {
        Some(Value::String(aud)) => vec![aud.as_str()],
        // A list with anything but strings is no audience at all: skipping the odd entry
        // would make `["client", 5]` one audience, which needs no `azp`.
        Some(Value::Array(list)) if list.iter().all(|aud| aud.as_str().is_some()) => {
            list.iter().filter_map(Value::as_str).collect()
        }
        _ => Vec::new(),
    }
}

pub(super) fn check_audience(claims: &Object, client_id: &str) -> Result<(), IdTokenError> {
    if audiences(claims).contains(&client_id) {
        Ok(())
    } else {
        Err(IdTokenError::AudienceMismatch)
    }
}

pub(super) fn check_authorized_party(claims: &Object, client_id: &str) -> Result<(), IdTokenError> {
    let several_audiences = audiences(claims).len() > 1;
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == client_id => Ok(()),
        Some(_) => Err(IdTokenError::AuthorizedPartyMismatch),
        None if several_audiences => Err(IdTokenError::AuthorizedPartyMissing),
        None => Ok(()),
    }
}

impl TimeClaims {
    /// A time claim that is present must be a NumericDate (RFC 7519 §2): a JSON number,
    /// possibly fractional (truncated to whole seconds).
    pub(super) fn read(claims: &Object) -> Result<Self, IdTokenError> {
        let numeric_date = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => whole_seconds(n).map(Some).ok_or(IdTokenError::Malformed),
            Some(_) => Err(IdTokenError::Malformed),
        };
        Ok(Self {
            expires: numeric_date("exp")?,
            not_before: numeric_date("nbf")?,
            issued_at: numeric_date("iat")?,
        })
    }

    /// The claims as jwt-compact checks them. Instants beyond what a date holds (years past
    /// ±262,000) stand at the far end of the range, a year inside it so that adding or
    /// subtracting the leeway cannot overflow: no clock comes near them either way.
    fn for_jwt_compact(&self) -> Claims<Empty> {
        let date = |secs: i64| {
            let far = Duration::days(365);
            let (earliest, latest) = (
                DateTime::<Utc>::MIN_UTC + far,
                DateTime::<Utc>::MAX_UTC - far,
            );
            DateTime::from_timestamp(secs, 0)
                .map_or(if secs.is_negative() { earliest } else { latest }, |date| {
                    date.clamp(earliest, latest)
                })
        };
        let mut claims = Claims::empty();
        claims.expiration = self.expires.map(date);
        claims.not_before = self.not_before.map(date);
        claims
    }
}

/// A NumericDate in whole seconds: an integer exactly; a fraction or an exponent through the
/// double serde_json read, truncated toward zero. `None` outside i64 (a double of 2^63, the
/// nearest to i64::MAX, reads as i64::MAX).
pub(super) fn whole_seconds(number: &serde_json::Number) -> Option<i64> {
    if let Some(secs) = number.as_i64() {
        return Some(secs);
    }
    if number.is_u64() {
        return None; // an integer past i64::MAX
    }
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    let secs = number.as_f64()?;
    // `as` truncates toward zero and saturates at i64's ends.
    (secs.abs() <= LIMIT).then_some(secs as i64)
}

/// The clock and leeway jwt-compact checks `exp` and `nbf` with: the request's time, and
/// [`CLOCK_LEEWAY_SECS`] either way.
fn time_options(now: i64) -> TimeOptions<impl Fn() -> DateTime<Utc>> {
    let now = DateTime::from_timestamp(now, 0).unwrap_or_default();
    TimeOptions::new(Duration::seconds(CLOCK_LEEWAY_SECS), move || now)
}

pub(super) fn check_expiry(times: &TimeClaims, now: i64) -> Result<i64, IdTokenError> {
    let exp = times.expires.ok_or(IdTokenError::Expired)?;
    match times
        .for_jwt_compact()
        .validate_expiration(&time_options(now))
    {
        Ok(_) => Ok(exp),
        Err(_) => Err(IdTokenError::Expired),
    }
}

pub(super) fn check_not_before(times: &TimeClaims, now: i64) -> Result<(), IdTokenError> {
    match times
        .for_jwt_compact()
        .validate_maturity(&time_options(now))
    {
        Err(ValidationError::NotMature) => Err(IdTokenError::NotYetValid),
        // Without `nbf` (NoClaim) the token is valid from the start.
        _ => Ok(()),
    }
}

pub(super) fn check_issued_at(times: &TimeClaims, now: i64) -> Result<(), IdTokenError> {
    let iat = times.issued_at.ok_or(IdTokenError::IssuedAtMissing)?;
    let exp = times.expires.unwrap_or(i64::MAX);
    if iat > now.saturating_add(CLOCK_LEEWAY_SECS) || iat > exp {
        return Err(IdTokenError::IssuedAtInvalid);
    }
    Ok(())
}

pub(super) fn check_subject(claims: &Object) -> Result<String, IdTokenError> {
    match claims.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() && sub.len() <= MAX_SUB_LEN => Ok(sub.to_owned()),
        _ => Err(IdTokenError::SubjectMissing),
    }
}

pub(super) fn check_nonce(claims: &Object, rule: NonceRule<'_>) -> Result<(), IdTokenError> {
    let nonce = claims.get("nonce");
    let matches = |expected: &str| {
        nonce
            .and_then(Value::as_str)
            .is_some_and(|n| constant_time_eq(n, expected))
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
    original: &Object,
    refreshed: &VerifiedIdToken,
) -> Result<(), IdTokenError> {
    let same = |name: &str| original.get(name) == refreshed.claims.get(name);
    if same("iss") && same("sub") && same("aud") {
        Ok(())
    } else {
        Err(IdTokenError::IdentityChanged)
    }
}
