//! Sessions stored by an earlier release, as that release wrote them: they still open after
//! an upgrade, or are refused cleanly as signed out, never with an error page.
//!
//! The fixtures were written by the release whose JSON module was hand-written (records
//! written member by member, numbers kept as their text), through a full login with the fake
//! provider at [`NOW`]: the cookie, the KV key and the sealed record it left.

use super::*;

const COOKIE: &str =
    "MTrqU00nPlBNTqTMvLoWXTKux5am1p9So-rdQVYbViE.zsFx0KP1sDJboMlw_6pvWUC7X5jWdzgJFUZtFRd6pD8";
const KV_KEY: &str = "session:vE9RmIXF90i1ujnLCQnnNLQ3lnKt_6FZhruIdkwSm0Y";
const SEALED: &str = "t_DF1g6_WFVmaPXXC0B2U67lj0S-hfthxTTsgVZd0iKMWmQc0FLA8pJrN4BRA_sSCs_R-EESwNKL-URZKR8QzcyKxKiaZ55nmZM0RufdMzvSJVQ-9Ue2HR-C-VhoOBLHCOFgJjeYoMjOuELAe5WyUM5uh7Ry7yu3C1qyLQZASRIjUWzBTQBTLXIgwFdWTteZ1C8DdZcmxBWWqZmorKy2rkZJBx7sEW5bnTcIzKLJjR5nUxiOD8EI7BNjn8pIVEkMAbDnLgOPUwAjRAHQcYV8O4UL3GIDZAJ0094gG90JxO-XZqFU0o0pPkmJV-0wav-Y07y4YQEFagpuuNcT_uLqCrKa0tHmRhQ58KyeS--n35PPt4yzZpoZQvNR5N2O7HhEORLP0_OV9u5wBDQw-ENgvjAxNJOIQ381-BoBg_tvfpm4aapURojou3J1bPf-et8_gx0w1BhUEuZLW0Ad_vKgpbVvXphkk7_NPbqkMSS1wRDBbHkniKLqKvArUhe70pBmb1Iu_zr-sJ-Mr3VxbFwxrkJR1rpm3vejqbgEvZds7oTwcQ5hoXxXoJltqbTpLeq0YZPwMblZ7ta2F781CIRdxQ9uqaBiOX8QEjjXmqRYW5Rv5VmUdEO1Bqtamo5NEnJE2xT_GY0ZLeHPWR1XNOMJjP-lDY4fTLB4Hde2amEmLKcRAYv865kG2rlaED8KM-vaHX3YLTJxglY3JeYFviN5xgZRVSh4fT67P_ccTVeQI9HOYhkL965SOsz0PaobzdzoFiZT0GznlBGtlM1ZZRAl6s_5rlTYrubMd76YfM6yXRUFOSc64n_8cEzwKK5ZFI3-isaYlhIKnWa-SrDG_tYkeh6zlEUm_NItPTFm-_u2sDyar0HJIPjO-ttoA3F3ZAoZ-rbnPHT_C9li35zqljHyEJ-d2wZoeuLxcD87JhHZ8sR_-bZxAePQWB3IWaij75XiQKP-ybBqo5nxYp87Af0";

/// What [`SEALED`] holds, as that release wrote it (members sorted by name, `v` among them).
const PLAINTEXT: &str = r#"{"created_at":1800000000,"expires_at":1800028800,"id_token_claims":{"address":{"country":"<FR>","locality":"Zoë 🚀"},"amr":["pwd","mfa"],"aud":"client-1","auth_time":1799999990,"big":12345678901234567890,"email":"ada@example.com","email_verified":true,"empty":{},"exp":1800007200,"iat":1800000000,"iss":"https://idbroker.webex.com/idb","neg":-42,"nonce":"9BRV__lzW65pK_zi0J5fn625ERLptQj__xitK9_018A","none":null,"ratio":1.5,"sub":"user-1"},"last_seen_at":1800000000,"subject":"user-1","tokens":{"access_expires_at":1800000600,"access_token":"AT-123","refresh_token":"RT-456"},"userinfo":{"email":"ada@example.com","email_verified":"true","name":"Ada <b>Lovelace</b> (first token)","sub":"user-1"},"v":2}"#;

/// A browser holding the session cookie of the earlier release, and KV holding `sealed`
/// under its key.
fn world_with_stored_session(sealed: &str) -> World {
    let world = World::new();
    block_on(world.kv.put(KV_KEY, sealed, 3600)).unwrap();
    world
        .cookies
        .borrow_mut()
        .insert(SESSION_COOKIE.into(), COOKIE.into());
    world
}

/// `plaintext` sealed as the earlier release sealed its records: under the cookie's key,
/// bound to the KV key.
fn sealed_like_the_earlier_release(plaintext: &str) -> String {
    let cookie = crate::session::ticket::SessionCookie::parse(COOKIE).unwrap();
    assert_eq!(cookie.id.kv_key(), KV_KEY);
    block_on(crate::seal::seal(
        &RustCrypto,
        &cookie.key,
        KV_KEY,
        plaintext.as_bytes(),
    ))
    .unwrap()
}

#[test]
fn the_fixture_is_what_the_earlier_release_sealed() {
    let cookie = crate::session::ticket::SessionCookie::parse(COOKIE).unwrap();
    let opened = block_on(crate::seal::open(&RustCrypto, &cookie.key, KV_KEY, SEALED)).unwrap();
    assert_eq!(String::from_utf8(opened).unwrap(), PLAINTEXT);
}

#[test]
fn a_session_stored_by_the_earlier_release_still_shows_the_profile_and_me() {
    for sealed in [
        SEALED.to_owned(),
        sealed_like_the_earlier_release(PLAINTEXT),
    ] {
        let world = world_with_stored_session(&sealed);
        let page = world.get("/");
        assert_eq!((page.status, page.reason), (200, "profile"));
        assert!(page.body.contains("Zoë 🚀") && page.body.contains("&lt;FR&gt;"));
        assert!(page
            .body
            .contains("Ada &lt;b&gt;Lovelace&lt;/b&gt; (first token)"));

        let me = world.get("/me");
        assert_eq!(me.status, 200);
        let body: Value = serde_json::from_str(&me.body).unwrap();
        assert_eq!(body["sub"], "user-1");
        let claims = &body["id_token_claims"];
        assert_eq!(claims["address"]["locality"], "Zoë 🚀");
        assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
        assert_eq!(claims["auth_time"], NOW - 10);
        assert_eq!(claims["big"], json!(12_345_678_901_234_567_890u64));
        assert_eq!(claims["neg"], -42);
        assert_eq!(claims["ratio"], 1.5);
        assert_eq!(claims["empty"], json!({}));
        assert_eq!(claims["none"], Value::Null);
        assert_eq!(claims["exp"], NOW + 7200);
        assert_eq!(body["userinfo"]["email_verified"], "true");
        assert_eq!(body["session"]["created_at"], NOW);
        assert_eq!(body["session"]["expires_at"], NOW + 8 * 3600);
        assert_eq!(body["session"]["idle_expires_at"], NOW + 3600);
    }
}

#[test]
fn a_session_stored_by_the_earlier_release_still_refreshes() {
    let world = world_with_stored_session(SEALED);
    world.now.set(NOW + 600);
    let reply = world.post("/refresh");
    assert_eq!((reply.status, reply.reason), (302, "profile_refreshed"));
    assert_eq!(world.get("/").reason, "profile");
    assert_eq!(world.kv.count("session:"), 1);
}

/// The earlier release kept every number as its text and so wrote back whatever number a
/// provider sent, in any JSON form. Such a record opens (numbers read as serde_json reads
/// them), or, with a number beyond what a double holds, which serde_json refuses, is refused
/// as signed out: never an error page.
#[test]
fn numbers_in_any_json_form_open_or_sign_out_cleanly() {
    for (claims, opens) in [
        (
            r#""fraction":1.50,"kilo":1e3,"huge":123456789012345678901234567890"#,
            true,
        ),
        (r#""tiny":1e-400,"updated_at":1.8e9"#, true),
        (r#""far":1e400"#, false),
    ] {
        let plaintext = PLAINTEXT.replacen(
            r#""id_token_claims":{"#,
            &format!(r#""id_token_claims":{{{claims},"#),
            1,
        );
        let world = world_with_stored_session(&sealed_like_the_earlier_release(&plaintext));
        let me = world.get("/me");
        let page = world_with_stored_session(&sealed_like_the_earlier_release(&plaintext)).get("/");
        if opens {
            assert_eq!((me.status, page.reason), (200, "profile"), "{claims}");
            let body: Value = serde_json::from_str(&me.body).unwrap();
            assert!(body["id_token_claims"]
                .get("tiny")
                .is_none_or(|tiny| tiny == 0.0));
            assert!(body["id_token_claims"]
                .get("kilo")
                .is_none_or(|kilo| kilo == 1000.0));
        } else {
            assert_eq!((me.status, me.reason), (401, "signed_out"), "{claims}");
            assert!(me
                .headers
                .iter()
                .any(|(k, v)| *k == "Set-Cookie" && v.starts_with(SESSION_COOKIE)));
            assert_eq!((page.status, page.reason), (200, "session_unknown"));
        }
    }
}
