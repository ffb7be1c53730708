//! Property tests for everything that parses input from a browser or a provider: no panic,
//! bounded results, and escaping that holds for any string. CI runs proptest's default
//! number of cases; `PROPTEST_CASES=100000 cargo test --release hostile_input` runs a long pass.

use base64ct::{Base64UrlUnpadded, Encoding};
use futures::executor::block_on;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::cookies;
use crate::oidc::authorization_response::{Callback, MAX_PARAM_BYTES};
use crate::oidc::id_token::{Expectations, NonceRule, UnverifiedIdToken};
use crate::oidc::jwks::KeySet;
use crate::oidc::outbound::OutboundResponse;
use crate::oidc::secrets::Nonce;
use crate::oidc::test_keys::{b64, jwk_json, jwks_json, sign_rs256, RustCrypto, TestKey};
use crate::oidc::{token, userinfo};
use crate::pages;
use crate::pending_login::{LoginRecord, PendingLogins};
use crate::seal::{open_record, seal_json, SealKey};
use crate::session::record::SessionRecord;
use crate::session::ticket::SessionCookie;

/// Strings biased towards what breaks parsers: separators, escapes, markup, multi-byte text.
fn nasty_string(max: usize) -> impl Strategy<Value = String> {
    let atoms = prop_oneof![
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just(";".to_owned()),
        Just("%".to_owned()),
        Just("%FF".to_owned()),
        Just("%C3%28".to_owned()),
        Just("state".to_owned()),
        Just("code".to_owned()),
        Just("error".to_owned()),
        Just("iss".to_owned()),
        Just("<script>".to_owned()),
        Just("\"".to_owned()),
        Just("é🚀".to_owned()),
        Just("\u{0}".to_owned()),
        Just(".".to_owned()),
        "[a-zA-Z0-9_-]{0,8}",
        any::<String>(),
    ];
    proptest::collection::vec(atoms, 0..max).prop_map(|parts| parts.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        nasty_string(6).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(nasty_string(3), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn callback_query_never_panics_and_stays_bounded(query in nasty_string(40)) {
        let issuers = vec!["https://idbroker.webex.com/idb".to_owned()];
        if let Ok(Callback::Code { state, code, .. }) = Callback::parse(&query, &issuers) {
            prop_assert!(!state.secret().is_empty() && state.secret().len() <= MAX_PARAM_BYTES);
            prop_assert!(!code.secret().is_empty() && code.secret().len() <= MAX_PARAM_BYTES);
        }
    }

    #[test]
    fn cookie_lookup_returns_only_token_characters(header in nasty_string(40), name in "[a-zA-Z_-]{1,20}") {
        let header = format!("{header}; {name}={header}");
        let found = cookies::find(&header, &name).one();
        for value in found.into_iter().chain(cookies::candidates(&header, &name)) {
            prop_assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
            prop_assert!(value.len() <= 160);
        }
    }

    #[test]
    fn arbitrary_jwt_text_never_verifies(raw in nasty_string(30)) {
        let keys = KeySet::parse(&jwks_json(&[jwk_json(TestKey::get(0), None, None, None)])).unwrap();
        if let Ok(token) = UnverifiedIdToken::parse(&raw) {
            prop_assert!(block_on(token.verify_signature(&keys, &RustCrypto)).is_err());
        }
    }

    /// Headers that say RS256 (so the signature check is reached) with arbitrary other
    /// members, arbitrary payloads and arbitrary signatures: nothing verifies.
    #[test]
    fn arbitrary_rs256_tokens_never_verify(extra in proptest::collection::btree_map("[a-z]{1,6}", json_value(), 0..4), payload in proptest::collection::vec(any::<u8>(), 0..512), sig in proptest::collection::vec(any::<u8>(), 0..300)) {
        let keys = KeySet::parse(&jwks_json(&[jwk_json(TestKey::get(0), None, None, None)])).unwrap();
        let mut header: Map<String, Value> = extra.into_iter().collect();
        header.insert("alg".into(), json!("RS256"));
        header.remove("crit");
        let raw = format!("{}.{}.{}", b64(Value::Object(header).to_string().as_bytes()), b64(&payload), b64(&sig));
        if let Ok(token) = UnverifiedIdToken::parse(&raw) {
            prop_assert!(block_on(token.verify_signature(&keys, &RustCrypto)).is_err());
        }
    }

    #[test]
    fn jwks_documents_never_panic(doc in json_value(), keys in proptest::collection::vec(json_value(), 0..6)) {
        let _ = KeySet::parse(&doc.to_string());
        let _ = KeySet::parse(&json!({ "keys": keys }).to_string());
    }

    #[test]
    fn token_and_userinfo_responses_never_panic(status in 100u16..600, body in prop_oneof![nasty_string(20), json_value().prop_map(|v| v.to_string())]) {
        if let Ok(grant) = token::parse_code_response(&OutboundResponse::answer(status, body.clone())) {
            prop_assert!(!grant.tokens.access_token.secret().is_empty() && !grant.id_token.is_empty());
        }
        if let Ok(fields) = userinfo::parse_response(&OutboundResponse::answer(status, body), "u1") {
            prop_assert_eq!(fields.get("sub").and_then(|s| s.as_str()), Some("u1"));
        }
    }

    #[test]
    fn session_records_from_kv_never_panic(raw in prop_oneof![nasty_string(20), json_value().prop_map(|v| v.to_string())]) {
        let key = SealKey::generate().unwrap();
        prop_assert!(block_on(open_record::<SessionRecord>(&RustCrypto, &key, "session:k", &raw)).is_none());
        let _ = SessionCookie::from_header(&raw);
        let _ = PendingLogins::from_header(&raw);
        prop_assert!(block_on(open_record::<LoginRecord>(&RustCrypto, &key, "login:k", &raw)).is_none());
    }

    /// Records that open (sealed under the right key) but hold arbitrary JSON: the decoder
    /// itself is reached, and refuses anything that is not a record of this version.
    #[test]
    fn sealed_arbitrary_json_is_never_taken_for_a_record(doc in json_value(), fields in proptest::collection::btree_map("[a-z_]{1,12}", json_value(), 0..8)) {
        let key = SealKey::generate().unwrap();
        let object = Value::Object(fields.into_iter().collect());
        for value in [doc, object] {
            let sealed = block_on(seal_json(&RustCrypto, &key, "session:k", &value)).unwrap();
            let is_record = value.get("v") == Some(&json!(2)) && value.get("subject").is_some_and(Value::is_string);
            let opened = block_on(open_record::<SessionRecord>(&RustCrypto, &key, "session:k", &sealed));
            prop_assert!(opened.is_none() || is_record, "{value}");
            let sealed = block_on(seal_json(&RustCrypto, &key, "login:k", &value)).unwrap();
            let opened = block_on(open_record::<LoginRecord>(&RustCrypto, &key, "login:k", &sealed));
            prop_assert!(opened.is_none() || value.get("v") == Some(&json!(2)), "{value}");
        }
        // A real record, with one member replaced by arbitrary JSON.
        let mut record = serde_json::to_value(crate::session::record::tests::record(0)).unwrap();
        record["v"] = json!(1);
        let sealed = block_on(seal_json(&RustCrypto, &key, "session:k", &record)).unwrap();
        prop_assert!(block_on(open_record::<SessionRecord>(&RustCrypto, &key, "session:k", &sealed)).is_none(), "another version is refused");
    }

    #[test]
    fn any_claim_value_is_rendered_as_text(values in proptest::collection::btree_map("[a-z_]{1,10}", json_value(), 1..8), marker in "[a-z]{6}") {
        let mut claims: Map<String, Value> = values.into_iter().collect();
        let hostile = format!("<script>{marker}</script>\"'&");
        claims.insert("name".into(), hostile.clone().into());
        let session = SessionRecord::new("u1".into(), claims.clone(), claims, crate::session::record::tests::tokens(), &crate::session::record::tests::POLICY, 0);
        let page = pages::profile(&session, &crate::session::record::tests::POLICY, "");
        prop_assert!(!page.contains("<script>"));
        let escaped = format!("&lt;script&gt;{marker}&lt;/script&gt;");
        prop_assert!(page.contains(&escaped));
    }
}

/// Cases for the tests that sign with RSA: fewer by default to keep the CI pass short, but
/// `PROPTEST_CASES` (the long pass) decides when it is set.
fn rsa_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(rsa_cases()))]

    /// Arbitrary RS256 headers (no `crit`) and claims, signed with the published key: the
    /// signature always verifies, and one changed signature byte always breaks it.
    #[test]
    fn signed_arbitrary_headers_verify_and_tampered_ones_do_not(extra in proptest::collection::btree_map("[a-z]{1,6}", json_value(), 0..4), claims in proptest::collection::btree_map("[a-z_]{1,8}", json_value(), 0..6), at in any::<prop::sample::Index>()) {
        let keys = KeySet::parse(&jwks_json(&[jwk_json(TestKey::get(0), None, None, None)])).unwrap();
        let mut header: Map<String, Value> = extra.into_iter().collect();
        header.insert("alg".into(), json!("RS256"));
        header.remove("crit");
        header.remove("kid");
        // Registered parameters have types of their own (RFC 7515 §4.1), checked by
        // `header_fields_of_the_wrong_shape_are_malformed`; arbitrary values go elsewhere.
        for registered in ["typ", "cty", "jku"] {
            header.remove(registered);
        }
        let claims = Value::Object(claims.into_iter().collect());
        let token = sign_rs256(TestKey::get(0), &Value::Object(header), &claims);
        let parsed = UnverifiedIdToken::parse(&token);
        prop_assert!(parsed.is_ok(), "{token}");
        if let Ok(parsed) = parsed {
            prop_assert!(block_on(parsed.verify_signature(&keys, &RustCrypto)).is_ok(), "a good signature is accepted");
        }
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut sig = Base64UrlUnpadded::decode_vec(signature).unwrap();
        let i = at.index(sig.len());
        sig[i] ^= 0x01;
        let tampered = format!("{input}.{}", b64(&sig));
        if let Ok(parsed) = UnverifiedIdToken::parse(&tampered) {
            prop_assert!(block_on(parsed.verify_signature(&keys, &RustCrypto)).is_err(), "a changed signature byte is refused");
        }
    }

    #[test]
    fn signed_tokens_with_arbitrary_claims_never_panic(extra in proptest::collection::btree_map("[a-z_]{1,8}", json_value(), 0..6), flip in any::<prop::sample::Index>()) {
        let mut claims = json!({"iss": "https://i.example", "aud": "c", "sub": "s", "nonce": "n", "exp": 2_000_000_000i64, "iat": 1_000_000_000i64});
        for (k, v) in extra {
            claims[k] = v;
        }
        let token = sign_rs256(TestKey::get(0), &json!({"alg": "RS256"}), &claims);
        let keys = KeySet::parse(&jwks_json(&[jwk_json(TestKey::get(0), None, None, None)])).unwrap();
        let issuers = vec!["https://i.example".to_owned()];
        let nonce = Nonce::from_untrusted("n");
        let expect = Expectations { issuers: &issuers, client_id: "c", nonce: NonceRule::Required(&nonce), now: 1_500_000_000 };
        if let Ok(parsed) = UnverifiedIdToken::parse(&token) {
            if let Ok(signed) = block_on(parsed.verify_signature(&keys, &RustCrypto)) {
                let _ = signed.validate(&expect);
            }
        }
        // Any single-character change to a signed token breaks it.
        let mut bytes = token.into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        if let Ok(parsed) = UnverifiedIdToken::parse(&tampered) {
            if let Ok(signed) = block_on(parsed.verify_signature(&keys, &RustCrypto)) {
                prop_assert!(signed.validate(&expect).is_err(), "a tampered token passed every check");
            }
        }
    }
}
