//! `application/x-www-form-urlencoded` (WHATWG URL §5), for query strings and token request
//! bodies. Hand-written instead of the `url` crate's `form_urlencoded`: the same few lines of
//! behaviour without its generic encoder plumbing (checked against it in the tests).

use std::borrow::Cow;

/// The name/value pairs of a query string or form body: `+` is a space, `%XX` a byte, and
/// bytes that are not UTF-8 become U+FFFD.
pub fn parse(input: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    input.split('&').filter(|s| !s.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(name), decode(value))
    })
}

fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['+', '%']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i] {
            b'+' => b' ',
            b'%' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    i += 2;
                    high << 4 | low
                }
                _ => b'%',
            },
            other => other,
        };
        out.push(byte);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(digit: Option<&u8>) -> Option<u8> {
    (*digit? as char).to_digit(16).map(|d| d as u8)
}

/// Appends `text` form-encoded: ASCII letters, digits and `*-._` as they are, space as `+`,
/// every other byte as `%XX`.
pub fn encode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text.as_bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 15)] as char);
            }
        }
    }
}

pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    encode_into(&mut out, text);
    out
}

/// A form body or query string under construction: `name=value` pairs joined by `&`.
#[derive(Default)]
pub struct Form(String);

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn append_pair(&mut self, name: &str, value: &str) -> &mut Self {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        encode_into(&mut self.0, name);
        self.0.push('=');
        encode_into(&mut self.0, value);
        self
    }

    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The `url` crate's form_urlencoded is the oracle, for any text.
        #[test]
        fn encodes_and_parses_as_form_urlencoded_does(
            pairs in proptest::collection::vec((any::<String>(), any::<String>()), 0..4),
            raw in "[a-zA-Z0-9=&+%._~ \u{e9}-]{0,40}",
        ) {
            let mut ours = Form::new();
            let mut theirs = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in &pairs {
                ours.append_pair(name, value);
                theirs.append_pair(name, value);
            }
            let body = ours.finish();
            prop_assert_eq!(&body, &theirs.finish());
            let parsed: Vec<(String, String)> =
                parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            prop_assert_eq!(parsed, pairs, "every pair reads back as written");
            let ours: Vec<_> = parse(&raw).collect();
            let theirs: Vec<_> = url::form_urlencoded::parse(raw.as_bytes()).collect();
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn decodes_plus_percent_and_broken_escapes() {
        let pairs: Vec<_> = parse("a=b+c&d=%41%zz%4&e&=f&&g=%FF").collect();
        assert_eq!(
            pairs,
            [
                ("a", "b c"),
                ("d", "A%zz%4"),
                ("e", ""),
                ("", "f"),
                ("g", "\u{fffd}")
            ]
            .map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)))
        );
        assert_eq!(encode("a b/é*~"), "a+b%2F%C3%A9*%7E");
    }
}
