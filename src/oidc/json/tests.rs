//! The strict reading: what serde_json reads, it reads the same, except that it refuses a
//! repeated member name and nesting past [`MAX_DEPTH`]. serde_json itself is the parser
//! here, so these are properties of the strict layer on top of it.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    parse_strict(bytes)
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::String),
        "[\\x00-\\x7f]{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// serde_json's own, lenient reading of `bytes`.
fn lenient(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever serde_json writes (compact and pretty), the strict reading reads as
    /// serde_json does.
    #[test]
    fn reads_what_serde_json_writes(value in arbitrary_json()) {
        let compact = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(parse(compact.as_bytes()).ok(), lenient(compact.as_bytes()).ok());
        prop_assert!(parse(compact.as_bytes()).is_ok());
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        prop_assert_eq!(parse(pretty.as_bytes()).ok(), lenient(pretty.as_bytes()).ok());
    }

    /// Any bytes: no panic, and what the strict reading accepts serde_json accepts as the
    /// same document.
    #[test]
    fn accepts_nothing_serde_json_refuses(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(strict) = parse(&bytes) {
            prop_assert_eq!(Some(strict), lenient(&bytes).ok());
        }
    }

    /// JSON-looking text (brackets, quotes, escapes, digits): the strict reading and
    /// serde_json agree on whether it is JSON, except for repeated names, which only the
    /// strict reading refuses.
    #[test]
    fn agrees_with_serde_json_on_json_like_text(text in "[\\[\\]{}\":,0-9eE.+\\-tfnrul \\\\/aA]{0,24}") {
        match (parse(text.as_bytes()), lenient(text.as_bytes())) {
            (Ok(strict), Ok(theirs)) => prop_assert_eq!(strict, theirs),
            (Err(_), Err(_)) => {}
            (Err(_), Ok(_)) => prop_assert!(has_duplicate_names(&text), "refused {text:?}"),
            (Ok(_), Err(e)) => prop_assert!(false, "accepted {text:?}; serde_json: {e}"),
        }
    }
}

/// Whether serde_json's reading differs from a duplicate-free one (only then may we refuse
/// what it accepts).
fn has_duplicate_names(text: &str) -> bool {
    struct Strict;
    impl<'de> serde::de::Visitor<'de> for Strict {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON without duplicate names")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key) {
                    return Err(serde::de::Error::custom("duplicate"));
                }
                map.next_value::<StrictValue>()?;
            }
            Ok(())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<StrictValue>()?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    struct StrictValue;
    impl<'de> serde::Deserialize<'de> for StrictValue {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Strict).map(|()| StrictValue)
        }
    }
    serde_json::from_str::<StrictValue>(text).is_err()
}

#[test]
fn refuses_what_rfc_8259_refuses() {
    for text in [
        "",
        " ",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "0x10",
        "NaN",
        "Infinity",
        "'a'",
        "\"a",
        "[1 2]",
        "{\"a\" 1}",
        "{a:1}",
        "tru",
        "nul",
        "[1]x",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"a\u{1}b\"",
        "\"\t\"",
    ] {
        assert_eq!(parse(text.as_bytes()), Err(JsonError), "{text:?}");
        assert!(
            lenient(text.as_bytes()).is_err(),
            "serde_json too refuses {text:?}"
        );
    }
    assert_eq!(parse(b"\"\xff\""), Err(JsonError), "not UTF-8");
}

#[test]
fn reads_escapes_and_surrogate_pairs() {
    let value = parse(br#" ["\"\\\/\b\f\n\r\t", "\u00e9\ud83d\ude00", "\u0000"] "#).unwrap();
    assert_eq!(value, json!(["\"\\/\u{8}\u{c}\n\r\t", "é😀", "\0"]));
    assert_eq!(value.to_string(), r#"["\"\\/\b\f\n\r\t","é😀","\u0000"]"#);
}

#[test]
fn a_name_given_twice_is_refused() {
    assert_eq!(parse(br#"{"sub":"a","sub":"b"}"#), Err(JsonError));
    assert_eq!(parse(br#"{"x":{"sub":"a","sub":"a"}}"#), Err(JsonError));
    assert_eq!(
        parse(br#"[{"a":1,"a":1}]"#),
        Err(JsonError),
        "inside an array"
    );
    assert!(
        parse(br#"{"sub":"a","x":{"sub":"b"}}"#).is_ok(),
        "one per object"
    );
    // What serde_json alone would do: keep the last one.
    assert_eq!(lenient(br#"{"sub":"a","sub":"b"}"#).unwrap()["sub"], "b");
}

#[test]
fn nesting_is_limited() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
    assert_eq!(parse(nested(MAX_DEPTH + 1).as_bytes()), Err(JsonError));
    let objects = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    assert!(parse(objects(MAX_DEPTH).as_bytes()).is_ok());
    assert_eq!(parse(objects(MAX_DEPTH + 1).as_bytes()), Err(JsonError));
    assert_eq!(
        parse("[".repeat(100_000).as_bytes()),
        Err(JsonError),
        "no stack overflow"
    );
    assert_eq!(
        parse(format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes()),
        Err(JsonError),
        "no stack overflow on a complete document either"
    );
    assert!(from_strict::<Object>(objects(MAX_DEPTH).as_bytes()).is_ok());
    assert_eq!(
        from_strict::<Object>(objects(MAX_DEPTH + 1).as_bytes()),
        Err(JsonError)
    );
}

#[test]
fn integers_are_read_exactly() {
    let n = |text: &str| match parse(text.as_bytes()).unwrap() {
        Value::Number(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(n("9007199254740993").as_i64(), Some(9_007_199_254_740_993));
    assert_eq!(n("-9223372036854775808").as_i64(), Some(i64::MIN));
    assert_eq!(n("9223372036854775808").as_i64(), None);
    assert_eq!(n("18446744073709551615").as_u64(), Some(u64::MAX));
    assert_eq!(n("1.0").as_i64(), None, "a fraction is not an integer");
    assert_eq!(n("1e3").as_i64(), None);
    // Without `arbitrary_precision`, other numbers are doubles: their value, not their text.
    assert_eq!(n("1.50").as_f64(), Some(1.5));
    assert_eq!(n("1.50").to_string(), "1.5");
    assert_eq!(parse(b"1e400"), Err(JsonError), "beyond a double: refused");
}

#[test]
fn writes_control_characters_as_json_stringify_does() {
    let out = serde_json::to_string("a\u{1f}\u{7f}\"é").unwrap();
    assert_eq!(out, "\"a\\u001f\u{7f}\\\"é\"");
}

#[test]
fn objects_are_written_in_name_order() {
    let members = json!({
        "s": "x",
        "n": -3i64,
        "u": 3u64,
        "b": true,
        "none": None::<String>,
        "some": Some("y"),
    });
    assert_eq!(
        members.to_string(),
        r#"{"b":true,"n":-3,"none":null,"s":"x","some":"y","u":3}"#
    );
    assert_eq!(serde_json::to_string_pretty(&json!({})).unwrap(), "{}");
    assert_eq!(serde_json::to_string_pretty(&json!([])).unwrap(), "[]");
}

#[test]
fn objects_and_typed_documents_must_be_objects() {
    assert!(parse_object(b"[1]").is_err());
    assert!(parse_object(b" {} ").is_ok());
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Pair {
        a: String,
        b: i64,
    }
    assert_eq!(
        from_strict::<Pair>(br#"{"b":2,"a":"x","c":null}"#),
        Ok(Pair {
            a: "x".into(),
            b: 2
        })
    );
    assert!(
        serde_json::from_str::<Pair>(r#"["x",2]"#).is_ok(),
        "serde takes an array"
    );
    assert_eq!(
        from_strict::<Pair>(br#"["x",2]"#),
        Err(JsonError),
        "member by position"
    );
    assert_eq!(
        from_strict::<Pair>(br#"{"a":"x","b":2,"b":3}"#),
        Err(JsonError)
    );
    assert_eq!(from_strict::<Pair>(br#"{"a":"x","b":2.5}"#), Err(JsonError));
}

#[test]
fn lenient_and_present_members() {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Doc {
        #[serde(default, deserialize_with = "string_or_absent")]
        lenient: Option<String>,
        #[serde(default, deserialize_with = "present")]
        kid: Option<String>,
    }
    let read = |text: &str| from_strict::<Doc>(text.as_bytes());
    assert_eq!(
        read(r#"{"lenient":"x","kid":"k"}"#),
        Ok(Doc {
            lenient: Some("x".into()),
            kid: Some("k".into())
        })
    );
    for odd in ["5", "null", "[\"x\"]", "{}"] {
        let doc = read(&format!(r#"{{"lenient":{odd}}}"#)).unwrap();
        assert_eq!(doc.lenient, None, "{odd}");
    }
    assert_eq!(read("{}").unwrap().kid, None, "absent");
    assert_eq!(read(r#"{"kid":null}"#), Err(JsonError), "null is no string");
    assert_eq!(read(r#"{"kid":7}"#), Err(JsonError));
}

#[test]
fn members_come_in_any_order_and_a_name_repeated_far_apart_is_refused() {
    let names: Vec<String> = (0..5000).rev().map(|i| format!("m{i:05}")).collect();
    let members: Vec<String> = names.iter().map(|n| format!("\"{n}\":\"{n}\"")).collect();
    let text = format!("{{{}}}", members.join(","));
    let object = parse_object(text.as_bytes()).unwrap();
    assert_eq!(object.len(), 5000);
    assert_eq!(object.get("m00000").and_then(Value::as_str), Some("m00000"));
    assert_eq!(object.get("m04999").and_then(Value::as_str), Some("m04999"));
    let repeated = text.replacen("\"m04999\":", "\"m00000\":", 1);
    assert_eq!(parse_object(repeated.as_bytes()), Err(JsonError));
}

#[test]
fn members_are_found_whatever_their_order() {
    let names = ["b", "a", "e", "c", "d", "ab", ""];
    // Every rotation and its reverse.
    for start in 0..names.len() {
        let mut order: Vec<&str> = names
            .iter()
            .cycle()
            .skip(start)
            .take(names.len())
            .copied()
            .collect();
        for _ in 0..2 {
            let members: Vec<String> = order.iter().map(|n| format!("\"{n}\":\"{n}!\"")).collect();
            let object = parse_object(format!("{{{}}}", members.join(",")).as_bytes()).unwrap();
            let listed: Vec<&str> = object.iter().map(|(k, _)| k.as_str()).collect();
            let mut sorted = names.to_vec();
            sorted.sort_unstable();
            assert_eq!(listed, sorted, "{order:?}");
            for name in names {
                assert_eq!(
                    object.get(name).and_then(Value::as_str),
                    Some(format!("{name}!").as_str())
                );
            }
            order.reverse();
        }
    }
}
