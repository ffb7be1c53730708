//! ID token verification, rule by rule, with real RS256 signatures.
use super::*;
use crate::oidc::test_keys::*;
use futures::executor::block_on;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

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
        verified.claims().iter().len(),
        good_claims().as_object().unwrap().iter().len()
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
    for odd in [
        json!([CLIENT, 5]),
        json!([CLIENT, null]),
        json!([CLIENT, [CLIENT]]),
    ] {
        assert_eq!(
            verify_claims(with("aud", odd.clone())).unwrap_err(),
            IdTokenError::AudienceMismatch,
            "{odd}: not one audience with an entry skipped"
        );
    }
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
fn numeric_dates_in_any_json_number_form_are_read_exactly() {
    // 1.8000072e9 is NOW + 7200; written with a fraction or an exponent it means the same.
    for exp in ["1800007200", "1800007200.75", "1.8000072e9", "18000072E+2"] {
        let claims = good_claims().to_string().replace(
            &format!("\"exp\":{}", NOW + 7200),
            &format!("\"exp\":{exp}"),
        );
        let token = sign_rs256(TestKey::get(0), &json!({"alg": "RS256"}), &claims);
        assert_eq!(
            verify_with(&token, &default_keys()).unwrap().expires_at(),
            NOW + 7200,
            "{exp}"
        );
    }
}

/// NumericDates with a fraction or an exponent (read by serde_json as doubles) truncate
/// toward zero; integers are read exactly; anything beyond i64 is no date.
#[test]
fn numeric_dates_truncate_toward_zero_and_stay_within_i64() {
    let secs = |text: &str| match serde_json::from_str::<Value>(text).unwrap() {
        Value::Number(n) => checks::whole_seconds(&n),
        other => panic!("{other:?}"),
    };
    for (text, truncated) in [
        ("1700000000", Some(1_700_000_000)),
        ("9007199254740993", Some(9_007_199_254_740_993)),
        ("-9223372036854775808", Some(i64::MIN)),
        ("9223372036854775807", Some(i64::MAX)),
        ("9223372036854775808", None),
        ("1700000000.999", Some(1_700_000_000)),
        ("1.7e9", Some(1_700_000_000)),
        ("17E+8", Some(1_700_000_000)),
        ("170000000000e-2", Some(1_700_000_000)),
        ("-1.5", Some(-1)),
        ("-0.5", Some(0)),
        ("0", Some(0)),
        ("5e-1", Some(0)),
        ("1e-999999", Some(0)),
        ("9.223372036854775807e18", Some(i64::MAX)),
        ("9.3e18", None),
        ("1e19", None),
        ("-1e19", None),
        ("18446744073709551616", None),
    ] {
        assert_eq!(secs(text), truncated, "{text}");
    }
}

#[test]
fn time_claims_far_beyond_any_date_do_not_panic() {
    let l = CLOCK_LEEWAY_SECS;
    assert_eq!(
        check_expiry(&times(Some(i64::MAX), None, None), NOW),
        Ok(i64::MAX)
    );
    assert_eq!(
        check_expiry(&times(Some(i64::MIN), None, None), NOW),
        Err(IdTokenError::Expired)
    );
    assert!(check_not_before(&times(None, Some(i64::MIN), None), NOW).is_ok());
    assert_eq!(
        check_not_before(&times(None, Some(i64::MAX), None), NOW),
        Err(IdTokenError::NotYetValid)
    );
    for now in [i64::MIN, i64::MAX, 0] {
        let _ = check_expiry(&times(Some(NOW - l), None, None), now);
        let _ = check_not_before(&times(None, Some(NOW + l), None), now);
    }
    let mut claims = with("exp", json!(1e300));
    claims["nbf"] = json!(-1e300);
    assert_eq!(verify_claims(claims).unwrap_err(), IdTokenError::Malformed);
    let mut claims = with("exp", json!(u64::MAX));
    claims["nbf"] = json!(i64::MIN);
    assert_eq!(verify_claims(claims).unwrap_err(), IdTokenError::Malformed);
    let mut claims = with("exp", json!(i64::MAX));
    claims["nbf"] = json!(i64::MIN);
    assert_eq!(verify_claims(claims).unwrap().expires_at(), i64::MAX);
}

/// Header and claims nested deeper than the JSON limit are refused, as any document is.
#[test]
fn deeply_nested_headers_and_claims_are_malformed() {
    use crate::oidc::json::MAX_DEPTH;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let claims = good_claims().to_string();
    let with_nested =
        |depth: usize| claims.replacen('{', &format!(r#"{{"deep":{},"#, nested(depth)), 1);
    let token = sign_rs256(
        TestKey::get(0),
        &json!({"alg": "RS256"}),
        &with_nested(MAX_DEPTH - 1),
    );
    assert!(
        verify_with(&token, &default_keys()).is_ok(),
        "the object is one level"
    );
    let token = sign_rs256(
        TestKey::get(0),
        &json!({"alg": "RS256"}),
        &with_nested(MAX_DEPTH),
    );
    assert_eq!(
        verify_with(&token, &default_keys()).unwrap_err(),
        IdTokenError::Malformed
    );
    let header = format!(r#"{{"alg":"RS256","x":{}}}"#, nested(MAX_DEPTH));
    let token = sign_rs256(TestKey::get(0), &header, &good_claims());
    assert_eq!(
        verify_with(&token, &default_keys()).unwrap_err(),
        IdTokenError::Malformed
    );
}

/// A claim named twice could be read one way here and another way elsewhere (RFC 7515 §5.2
/// allows refusing it; so does RFC 8259 §4's warning): refused outright.
#[test]
fn a_claim_given_twice_is_malformed() {
    let claims = good_claims()
        .to_string()
        .replacen('{', r#"{"sub":"someone-else","#, 1);
    let token = sign_rs256(TestKey::get(0), &json!({"alg": "RS256"}), &claims);
    assert_eq!(
        verify_with(&token, &default_keys()).unwrap_err(),
        IdTokenError::Malformed
    );
    let header = r#"{"alg":"RS256","kid":"a","kid":"b"}"#;
    let token = sign_rs256(TestKey::get(0), &header, &good_claims());
    assert_eq!(
        verify_with(&token, &default_keys()).unwrap_err(),
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
fn header_fields_of_the_wrong_shape_are_malformed() {
    for header in [
        json!({"alg": 256}),
        json!({"typ": "JWT"}),
        json!({"alg": "RS256", "kid": 7}),
        json!({"alg": "RS256", "kid": null}),
        json!({"alg": "RS256", "cty": "JWT"}),
        json!({"alg": "RS256", "cty": 1}),
        json!({"alg": "RS256", "typ": 5}),
        json!({"alg": "RS256", "jku": ["x"]}),
        json!(["RS256"]),
    ] {
        let token = sign_rs256(TestKey::get(0), &header, &good_claims());
        assert_eq!(
            verify_with(&token, &default_keys()).unwrap_err(),
            IdTokenError::Malformed,
            "{header}"
        );
    }
    let header = json!({"alg": "RS256", "cty": "json", "typ": "JWT"});
    let token = sign_rs256(TestKey::get(0), &header, &good_claims());
    assert!(verify_with(&token, &default_keys()).is_ok(), "cty JSON");
}

#[test]
fn only_three_part_tokens_parse() {
    let token = sign_rs256(TestKey::get(0), &json!({"alg": "RS256"}), &good_claims());
    assert!(verify_with(&token, &default_keys()).is_ok());
    for tampered in [
        format!("{token}."),
        format!(".{token}"),
        format!("{token}.e30"),
        token.replacen('.', "..", 1),
    ] {
        assert_eq!(
            verify_with(&tampered, &default_keys()).unwrap_err(),
            IdTokenError::Malformed,
            "{tampered:.30}"
        );
    }
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
fn a_token_with_many_claims_is_not_too_long() {
    // Real ID tokens are 1–2 kB; one with many claims (groups, say) can reach several. The
    // limit is there against garbage, not against them.
    for length in [2_000, 8_000, 15_000] {
        assert!(
            UnverifiedIdToken::parse(&token_of_length(length)).is_ok(),
            "{length}"
        );
    }
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
