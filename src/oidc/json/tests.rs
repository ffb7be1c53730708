//! The JSON module against serde_json as the oracle.

use proptest::prelude::*;

use super::*;

/// Our reading of `text`, written back compactly (numbers keep their text).
fn round_trip(text: &str) -> Result<String, JsonError> {
    parse(text.as_bytes()).map(|v| v.to_json())
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever serde_json writes, we read, and write back byte for byte (compact and pretty).
    #[test]
    fn reads_and_writes_what_serde_json_writes(value in arbitrary_json()) {
        let compact = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(round_trip(&compact), Ok(compact.clone()));
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let ours = parse(pretty.as_bytes()).unwrap();
        prop_assert_eq!(ours.to_json_pretty(), pretty);
    }

    /// Any bytes: no panic, and what we accept serde_json accepts as the same document.
    #[test]
    fn accepts_nothing_serde_json_refuses(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(ours) = parse(&bytes) {
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(theirs) => prop_assert_eq!(as_serde_reads_it(&ours), theirs),
                // Numbers beyond f64's range are fine here: they keep their text.
                Err(e) => prop_assert!(e.to_string().starts_with("number out of range"), "serde_json: {e}"),
            }
        }
    }

    /// JSON-looking text (brackets, quotes, escapes, digits): we and serde_json agree on
    /// whether it is JSON, except for duplicate names, which only we refuse.
    #[test]
    fn agrees_with_serde_json_on_json_like_text(text in "[\\[\\]{}\":,0-9eE.+\\-tfnrul \\\\/aA]{0,24}") {
        let ours = parse(text.as_bytes());
        let theirs = serde_json::from_str::<serde_json::Value>(&text);
        match (&ours, &theirs) {
            (Ok(o), Ok(t)) => prop_assert_eq!(&as_serde_reads_it(o), t),
            (Err(_), Err(_)) => {}
            (Err(_), Ok(_)) => prop_assert!(has_duplicate_names(&text), "we refused {text:?}"),
            // Numbers beyond f64's range are fine here: they keep their text.
            (Ok(_), Err(e)) => prop_assert!(
                e.to_string().starts_with("number out of range"),
                "we accepted {text:?}; serde_json: {e}"
            ),
        }
    }
}

/// Our document as serde_json reads what we write. Compared as values, not as text: numbers
/// keep their text here (`0e0` stays `0e0`, which serde_json writes `0.0`).
fn as_serde_reads_it(ours: &Value) -> serde_json::Value {
    serde_json::from_str(&ours.to_json()).unwrap()
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
            serde_json::from_str::<serde_json::Value>(text).is_err(),
            "serde_json too refuses {text:?}"
        );
    }
    assert_eq!(parse(b"\"\xff\""), Err(JsonError), "not UTF-8");
}

#[test]
fn reads_escapes_and_surrogate_pairs() {
    let value = parse(br#" ["\"\\\/\b\f\n\r\t", "\u00e9\ud83d\ude00", "\u0000"] "#).unwrap();
    assert_eq!(
        value,
        Value::Array(vec![
            Value::from("\"\\/\u{8}\u{c}\n\r\t"),
            Value::from("é😀"),
            Value::from("\0"),
        ])
    );
    assert_eq!(value.to_json(), r#"["\"\\/\b\f\n\r\t","é😀","\u0000"]"#);
}

#[test]
fn a_name_given_twice_is_refused() {
    assert_eq!(parse(br#"{"sub":"a","sub":"b"}"#), Err(JsonError));
    assert_eq!(parse(br#"{"x":{"sub":"a","sub":"a"}}"#), Err(JsonError));
    assert!(
        parse(br#"{"sub":"a","x":{"sub":"b"}}"#).is_ok(),
        "one per object"
    );
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
}

#[test]
fn numbers_keep_their_text_and_read_exactly() {
    let n = |text: &str| match parse(text.as_bytes()).unwrap() {
        Value::Number(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(n("1.50").as_str(), "1.50");
    assert_eq!(n("9007199254740993").as_i64(), Some(9_007_199_254_740_993));
    assert_eq!(n("-9223372036854775808").as_i64(), Some(i64::MIN));
    assert_eq!(n("9223372036854775808").as_i64(), None);
    assert_eq!(n("1.0").as_i64(), None, "a fraction is not an integer");
    assert_eq!(n("1e3").as_i64(), None);
    for (text, truncated) in [
        ("1700000000", Some(1_700_000_000)),
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
        ("1e999999", None),
        ("1e99999999999999999999", None),
    ] {
        assert_eq!(n(text).truncated_i64(), truncated, "{text}");
    }
}

#[test]
fn writes_control_characters_as_json_stringify_does() {
    let mut out = String::new();
    write_string(&mut out, "a\u{1f}\u{7f}\"é");
    assert_eq!(out, "\"a\\u001f\u{7f}\\\"é\"");
    assert_eq!(out, serde_json::to_string("a\u{1f}\u{7f}\"é").unwrap());
}

#[test]
fn builders_make_the_values_they_name() {
    let members = object([
        ("s", Value::from("x")),
        ("n", Value::from(-3i64)),
        ("u", Value::from(3u64)),
        ("b", Value::from(true)),
        ("none", Value::from(None::<String>)),
        ("some", Value::from(Some("y"))),
    ]);
    assert_eq!(
        Value::from(members).to_json(),
        r#"{"b":true,"n":-3,"none":null,"s":"x","some":"y","u":3}"#
    );
    assert_eq!(Value::Object(Object::new()).to_json_pretty(), "{}");
    assert_eq!(Value::Array(vec![]).to_json_pretty(), "[]");
}

#[test]
fn accessors_answer_only_for_their_type() {
    let doc = parse(br#"{"s":"x","n":7,"b":false,"a":[1],"o":{"k":null}}"#).unwrap();
    assert_eq!(doc.get("s").and_then(Value::as_str), Some("x"));
    assert_eq!(doc.get("n").and_then(Value::as_i64), Some(7));
    assert_eq!(doc.get("n").and_then(Value::as_str), None);
    assert_eq!(doc.get("s").and_then(Value::as_i64), None);
    assert_eq!(doc.get("b").and_then(Value::as_bool), Some(false));
    assert_eq!(
        doc.get("a").and_then(Value::as_array).map(Vec::len),
        Some(1)
    );
    assert_eq!(doc.get("o").and_then(|o| o.get("k")), Some(&Value::Null));
    assert_eq!(doc.get("s").and_then(|s| s.get("k")), None);
    assert!(parse_object(b"[1]").is_err());
    assert!(parse_object(b" {} ").is_ok());
}

#[test]
fn members_come_in_any_order_and_a_name_repeated_far_apart_is_refused() {
    let names: Vec<String> = (0..5000).rev().map(|i| format!("m{i:05}")).collect();
    let members: Vec<String> = names.iter().map(|n| format!("\"{n}\":\"{n}\"")).collect();
    let text = format!("{{{}}}", members.join(","));
    let object = parse_object(text.as_bytes()).unwrap();
    assert_eq!(object.iter().len(), 5000);
    assert_eq!(object.get("m00000").and_then(Value::as_str), Some("m00000"));
    assert_eq!(object.get("m04999").and_then(Value::as_str), Some("m04999"));
    let repeated = text.replacen("\"m04999\":", "\"m00000\":", 1);
    assert_eq!(parse_object(repeated.as_bytes()), Err(JsonError));
}

#[test]
fn members_are_found_whatever_their_order() {
    let names = ["b", "a", "e", "c", "d", "ab", ""];
    // Every rotation and its reverse: each order the heap may meet.
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
