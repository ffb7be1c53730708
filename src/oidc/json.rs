//! JSON (RFC 8259) through serde_json, with one strict reading for every document that comes
//! from outside or from storage: provider answers (token response, JWKS, userinfo, people),
//! the ID token's header and claims, and the sealed records KV holds.
//!
//! serde_json reads any JSON; the strict reading adds two refusals:
//! - a member name that appears twice in one object is refused (RFC 8259 §4 leaves it
//!   undefined and serde_json keeps the last one; RFC 7515 §5.2 lets a JWS parser refuse), so
//!   no two readers of one document can disagree about which value counts;
//! - nesting deeper than [`MAX_DEPTH`] is refused, so hostile input cannot exhaust the stack.
//!
//! Numbers are serde_json's own (no `arbitrary_precision`): integers exactly as `i64`/`u64`,
//! numbers with a fraction or an exponent as `f64`. Integers, which is what every time claim
//! and record field is, are therefore read exactly, never through a float. Objects are
//! serde_json's `Map`, a B-tree: members in name order, as the profile page lists them.

use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};

pub use serde_json::Value;

/// A JSON object: its members by name, in name order.
pub type Object = serde_json::Map<String, Value>;

/// Deeper nesting is refused: 128 levels of arrays and objects are read, the 129th is not.
pub const MAX_DEPTH: usize = 128;

/// Why a document is not (strict) JSON. Callers only need to know that it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError;

/// Parses one JSON document (surrounding whitespace allowed), refusing a repeated member
/// name and nesting deeper than [`MAX_DEPTH`].
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    // serde_json's own limit refuses the 128th level; the depth is counted here instead
    // (`Strict::depth`), one level further, as this Worker has always read JSON. The count
    // refuses before recursing, so the stack stays bounded.
    reader.disable_recursion_limit();
    let value = Strict { depth: 0 }
        .deserialize(&mut reader)
        .map_err(|_| JsonError)?;
    reader.end().map_err(|_| JsonError)?;
    Ok(value)
}

/// Parses a document that must be a JSON object, strictly.
pub fn parse_object(bytes: &[u8]) -> Result<Object, JsonError> {
    match parse_strict(bytes)? {
        Value::Object(members) => Ok(members),
        _ => Err(JsonError),
    }
}

/// A typed document, read strictly: it must be a JSON object (a derived struct would also
/// take an array, member by position), without repeated names or deep nesting.
pub fn from_strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    serde_json::from_value(Value::Object(parse_object(bytes)?)).map_err(|_| JsonError)
}

/// `deserialize_with` for a member read leniently: a string, or absent when it is missing or
/// of another type (providers add members of odd types that need not fail a response).
pub fn string_or_absent<'de, D: de::Deserializer<'de>>(
    value: D,
) -> Result<Option<String>, D::Error> {
    Ok(match de::Deserialize::deserialize(value)? {
        Value::String(text) => Some(text),
        _ => None,
    })
}

/// `deserialize_with` for an optional member that, when present, must have its type: `null`
/// is refused like any other wrong type (serde's `Option` would take it as absent).
pub fn present<'de, D: de::Deserializer<'de>, T: de::Deserialize<'de>>(
    value: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(value).map(Some)
}

/// One value at `depth` (the number of arrays and objects around it).
#[derive(Clone, Copy)]
struct Strict {
    depth: usize,
}

impl Strict {
    /// The level inside the array or object that opens here, or an error past the limit.
    fn inner<E: de::Error>(self) -> Result<Self, E> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(E::custom("nested too deeply"));
        }
        Ok(Self { depth })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, reader: D) -> Result<Value, D::Error> {
        reader.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON without repeated member names")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Value, E> {
        Ok(Value::from(number))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Value, E> {
        Ok(Value::from(number))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Value, E> {
        // serde_json refuses numbers beyond f64's range, so `number` is finite here.
        Ok(Value::from(number))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(text.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut array = Vec::new();
        while let Some(item) = items.next_element_seed(inner)? {
            array.push(item);
        }
        Ok(Value::Array(array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Value, A::Error> {
        let inner = self.inner()?;
        let mut object = Object::new();
        while let Some(name) = members.next_key::<String>()? {
            let value = members.next_value_seed(inner)?;
            if object.insert(name, value).is_some() {
                return Err(de::Error::custom("a member name is repeated"));
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests;
