//! JSON (RFC 8259) for the documents this Worker reads and writes: provider answers (token
//! response, ID token header and claims, JWKS, userinfo), its own sealed records and log lines.
//!
//! Hand-written instead of serde + serde_json: those were a fifth of the wasm (a generic
//! parser instantiated per reader and per typed decoder, error messages, and float
//! formatting that serde's error path always links), and every document here is read as a
//! generic value anyway. What it does differently, on purpose:
//! - numbers keep their text: shown as sent, read as integers exactly, never through `f64`;
//! - a member name that appears twice in one object is refused (RFC 8259 §4 leaves it
//!   undefined; RFC 7515 §5.2 lets a JWS parser refuse), so no two readers of one document
//!   can disagree about which value counts;
//! - nesting deeper than [`MAX_DEPTH`] is refused, so hostile input cannot exhaust the stack.
//!
//! `serde_json` stays as the oracle of the tests (`tests` below and `hostile_input.rs`).

use std::fmt::Write as _;

/// Deeper nesting is refused (serde_json's default limit too).
pub const MAX_DEPTH: usize = 128;

/// An object's members, ordered by name (as shown on the profile page and written out), in a
/// sorted vector: the objects here have a few dozen members at most, and a vector is far less
/// code than a B-tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Object(Vec<(String, Value)>);

impl Object {
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets a member; returns the value it replaces, if any.
    pub fn insert(&mut self, name: String, value: Value) -> Option<Value> {
        match self.position(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// From members in any order, sorted once (inserting one by one into the sorted vector
    /// would move it at every member: quadratic in a hostile document's size); `None` when a
    /// name appears twice.
    fn from_distinct(mut members: Vec<(String, Value)>) -> Option<Self> {
        heapsort_by_name(&mut members);
        let repeated = members.windows(2).any(|pair| pair[0].0 == pair[1].0);
        (!repeated).then_some(Self(members))
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    /// The members in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

/// Sorts members by name in O(n log n) whatever order a document gives them. A heapsort of
/// a dozen lines: the standard library's sort adds 3.5 KB of wasm, and objects here are small.
fn heapsort_by_name(members: &mut [(String, Value)]) {
    let len = members.len();
    for root in (0..len / 2).rev() {
        sift_down(members, root, len);
    }
    for end in (1..len).rev() {
        members.swap(0, end);
        sift_down(members, 0, end);
    }
}

/// Moves `members[root]` down the max-heap `members[..end]` to where it belongs.
fn sift_down(members: &mut [(String, Value)], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && members[child].0 < members[child + 1].0 {
            child += 1;
        }
        if members[root].0 >= members[child].0 {
            return;
        }
        members.swap(root, child);
        root = child;
    }
}

/// `object["name"]` in tests: the member, which must be there.
#[cfg(test)]
impl std::ops::Index<&str> for Object {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        self.get(name).expect("no such member")
    }
}

/// Later members replace earlier ones of the same name.
impl FromIterator<(String, Value)> for Object {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(members: I) -> Self {
        let mut object = Self::new();
        for (name, value) in members {
            object.insert(name, value);
        }
        object
    }
}

impl<'a> IntoIterator for &'a Object {
    type Item = (&'a String, &'a Value);
    type IntoIter = Box<dyn ExactSizeIterator<Item = (&'a String, &'a Value)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    /// The number's text, as it appeared (valid RFC 8259 §6 syntax).
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Object),
}

/// A JSON number, kept as its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

/// Why a document is not JSON. Callers only need to know that it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError;

impl Number {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value if it is written as an integer (no fraction, no exponent) that fits i64.
    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    /// The value truncated toward zero to a whole number, exactly from the text (so
    /// `1700000000.9` and `1.7e9` read as NumericDates); `None` if it does not fit i64.
    pub fn truncated_i64(&self) -> Option<i64> {
        let text = self.0.as_str();
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
            None => (text, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        // The digits, with the decimal point after `point` of them.
        let digits: String = whole.chars().chain(fraction.chars()).collect();
        let point = (whole.len() as i64).checked_add(exponent)?;
        let kept = usize::try_from(point.clamp(0, 20)).ok()?;
        let mut integer = digits
            .get(..kept.min(digits.len()))
            .unwrap_or("")
            .to_owned();
        for _ in digits.len()..kept {
            integer.push('0');
        }
        let magnitude: i128 = if integer.is_empty() {
            0
        } else {
            integer.parse().ok()?
        };
        i64::try_from(if negative { -magnitude } else { magnitude }).ok()
    }
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Self::Object(members) => Some(members),
            _ => None,
        }
    }

    /// A member of an object (`None` for anything else).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_object()?.get(name)
    }

    /// The compact serialisation (no whitespace), as `JSON.stringify` writes it.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self, None);
        out
    }

    /// Indented by two spaces per level, for people to read.
    pub fn to_json_pretty(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self, Some(0));
        out
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Self::Number(Number(n.to_string()))
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Self::Number(Number(n.to_string()))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<Object> for Value {
    fn from(members: Object) -> Self {
        Self::Object(members)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Null, Into::into)
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The compact serialisation.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// Builds an object from `(name, value)` pairs.
pub fn object<const N: usize>(members: [(&str, Value); N]) -> Object {
    members
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// Parses one JSON document (surrounding whitespace allowed).
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|_| JsonError)?;
    let mut parser = Parser { text, at: 0 };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.at == text.len() {
        Ok(value)
    } else {
        Err(JsonError)
    }
}

/// Parses a document that must be a JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Object, JsonError> {
    match parse(bytes)? {
        Value::Object(members) => Ok(members),
        _ => Err(JsonError),
    }
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next unread character (always on a character boundary).
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> Result<(), JsonError> {
        if self.text[self.at..].starts_with(literal) {
            self.at += literal.len();
            Ok(())
        } else {
            Err(JsonError)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.skip_whitespace();
        match self.peek().ok_or(JsonError)? {
            b'{' => self.object(depth + 1).map(Value::Object),
            b'[' => self.array(depth + 1).map(Value::Array),
            b'"' => self.string().map(Value::String),
            b't' => self.eat("true").map(|()| Value::Bool(true)),
            b'f' => self.eat("false").map(|()| Value::Bool(false)),
            b'n' => self.eat("null").map(|()| Value::Null),
            b'-' | b'0'..=b'9' => self.number().map(Value::Number),
            _ => Err(JsonError),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Object, JsonError> {
        let mut members = Vec::new();
        self.items(depth, b'}', |p| {
            p.skip_whitespace();
            if p.peek() != Some(b'"') {
                return Err(JsonError);
            }
            let name = p.string()?;
            p.skip_whitespace();
            p.eat(":")?;
            members.push((name, p.value(depth)?));
            Ok(())
        })?;
        Object::from_distinct(members).ok_or(JsonError) // a duplicate name
    }

    fn array(&mut self, depth: usize) -> Result<Vec<Value>, JsonError> {
        let mut items = Vec::new();
        self.items(depth, b']', |p| {
            items.push(p.value(depth)?);
            Ok(())
        })?;
        Ok(items)
    }

    /// The comma-separated items of the object or array opening at `self.at`, up to its
    /// `close`, each read by `item`.
    fn items(
        &mut self,
        depth: usize,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError);
        }
        self.at += 1; // the opening bracket
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(c) if c == close => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(JsonError),
            }
        }
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(JsonError),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.required_digits()?;
        }
        Ok(Number(self.text[start..self.at].to_owned()))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), JsonError> {
        let start = self.at;
        self.digits();
        if self.at == start {
            Err(JsonError)
        } else {
            Ok(())
        }
    }

    /// RFC 8259 §7. Unescaped control characters and lone surrogates are refused.
    fn string(&mut self) -> Result<String, JsonError> {
        self.at += 1; // '"'
        let mut out = String::new();
        loop {
            let rest = &self.text[self.at..];
            let plain = rest
                .bytes()
                .position(|b| b == b'"' || b == b'\\' || b < 0x20)
                .ok_or(JsonError)?;
            out.push_str(&rest[..plain]);
            self.at += plain;
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                _ => return Err(JsonError), // a control character
            }
        }
    }

    fn escape(&mut self) -> Result<char, JsonError> {
        let c = self.peek().ok_or(JsonError)?;
        self.at += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => return Err(JsonError),
        })
    }

    /// `\uXXXX`, or a surrogate pair `\uD8xx\uDCxx`.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                self.eat("\\u")?;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(JsonError);
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(JsonError),
            _ => first,
        };
        char::from_u32(code).ok_or(JsonError)
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let digits = self.text.get(self.at..self.at + 4).ok_or(JsonError)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(JsonError);
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).map_err(|_| JsonError)
    }
}

/// Appends `s` as a JSON string: quotes, backslashes and control characters escaped, the rest
/// as is (UTF-8), as `JSON.stringify` does.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain_from..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escaped);
        }
        plain_from = i + 1;
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

/// `indent`: `None` for compact output, `Some(level)` for pretty output at that level.
fn write_value(out: &mut String, value: &Value, indent: Option<usize>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&n.0),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            write_container(out, ('[', ']'), items.iter().map(|v| (None, v)), indent)
        }
        Value::Object(members) => write_container(
            out,
            ('{', '}'),
            members.iter().map(|(k, v)| (Some(k.as_str()), v)),
            indent,
        ),
    }
}

fn write_container<'a>(
    out: &mut String,
    (open, close): (char, char),
    entries: impl ExactSizeIterator<Item = (Option<&'a str>, &'a Value)>,
    indent: Option<usize>,
) {
    out.push(open);
    let empty = entries.len() == 0;
    for (i, (name, value)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(level) = indent {
            new_line(out, level + 1);
        }
        if let Some(name) = name {
            write_string(out, name);
            out.push_str(if indent.is_some() { ": " } else { ":" });
        }
        write_value(out, value, indent.map(|level| level + 1));
    }
    if let (Some(level), false) = (indent, empty) {
        new_line(out, level);
    }
    out.push(close);
}

fn new_line(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

#[cfg(test)]
mod tests;

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// `value["name"]`: the member, or `null` when absent or not an object (as serde_json does).
impl std::ops::Index<&str> for Value {
    type Output = Value;

    fn index(&self, name: &str) -> &Value {
        const NULL: Value = Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

/// `value["name"] = ...` in tests: sets a member of an object.
#[cfg(test)]
impl std::ops::IndexMut<&str> for Value {
    fn index_mut(&mut self, name: &str) -> &mut Value {
        match self {
            Value::Object(members) => {
                if !members.contains_key(name) {
                    members.insert(name.to_owned(), Value::Null);
                }
                let at = members.position(name).unwrap_or_default();
                &mut members.0[at].1
            }
            other => panic!("not an object: {other}"),
        }
    }
}

#[cfg(test)]
impl Value {
    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Self::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Self::String(_))
    }
}

/// Test code writes JSON with serde_json's `json!` and gets our [`Value`].
#[cfg(test)]
impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Self {
        parse(value.to_string().as_bytes()).expect("serde_json writes JSON")
    }
}

/// Lets tests put our values inside serde_json's `json!`.
#[cfg(test)]
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::from_str::<serde_json::Value>(&self.to_json())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// `json!({...})` for tests: serde_json's macro, converted to our [`Value`].
#[cfg(test)]
macro_rules! json {
    ($($json:tt)+) => {
        $crate::oidc::json::Value::from(serde_json::json!($($json)+))
    };
}
#[cfg(test)]
pub(crate) use json;
