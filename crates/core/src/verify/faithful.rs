//! Whether a rebuilt JSON form means exactly what the bytes it was rebuilt from mean.
//!
//! A re-serialized form ([`super::reserialize`]) may only stand in for bytes when every
//! parser reads the two the same way. Two things break that:
//! - duplicate keys: `{"to":"mallory","to":"alice"}` rebuilds to `{"to":"alice"}`, but a
//!   parser that keeps the first value reads `mallory`;
//! - numbers whose printed form is a different decimal value: `12345678901234567890` prints
//!   as `12345678901234567000` in JavaScript, `100.000000000000001` as `100`; a parser that
//!   reads numbers exactly sees a value nobody signed.
//!
//! `1.0` → `1` and `1E2` → `100` are the same decimal value and stay faithful.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;

/// Whether `raw` is JSON with no object holding the same key twice (after unescaping).
pub fn has_unique_keys(raw: &[u8]) -> bool {
    serde_json::from_slice::<UniqueKeys>(raw).is_ok()
}

/// Whether every number in `v`, printed by `print` (from its source text), is the same
/// decimal value as its source text.
pub fn numbers_round_trip(v: &Value, print: fn(&str) -> String) -> bool {
    match v {
        Value::Number(n) => same_decimal(n.as_str(), &print(n.as_str())),
        Value::Array(a) => a.iter().all(|x| numbers_round_trip(x, print)),
        Value::Object(m) => m.values().all(|x| numbers_round_trip(x, print)),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

/// Whether two JSON number texts denote the same decimal value (sign of zero included).
pub fn same_decimal(a: &str, b: &str) -> bool {
    matches!((decimal(a), decimal(b)), (Some(x), Some(y)) if x == y)
}

/// A number text as (negative, significant digits, position of the decimal point):
/// `-12.50e1` → `(true, "125", 3)`. Zero has no digits. `None` for what is not a number.
fn decimal(text: &str) -> Option<(bool, String, i64)> {
    let (neg, t) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i64>().ok()?),
        None => (t, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let lead = digits.len() - digits.trim_start_matches('0').len();
    let point = (int.len() as i64)
        .checked_add(exp)?
        .checked_sub(lead as i64)?;
    let sig = digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string();
    if sig.is_empty() {
        return Some((neg, sig, 0));
    }
    Some((neg, sig, point))
}

/// Deserializes any JSON value and fails on a repeated key. With serde_json's
/// `arbitrary_precision` a number arrives as a one-entry map, which passes.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            if !seen.insert(k) {
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::reserialize::{js_number, py_number};

    #[test]
    fn duplicate_keys_are_found_at_any_depth_and_after_unescaping() {
        assert!(has_unique_keys(br#"{"a":1,"b":[{"a":2}],"n":1.5e3}"#));
        assert!(!has_unique_keys(
            br#"{"amount":1,"to":"mallory","to":"alice"}"#
        ));
        assert!(!has_unique_keys(br#"[{"x":{"k":1,"\u006b":2}}]"#));
        assert!(!has_unique_keys(b"not json"));
    }

    #[test]
    fn numbers_that_change_value_are_not_faithful() {
        for (src, ok_js, ok_py) in [
            ("1.0", true, true),
            ("1E2", true, true),
            ("-12.50e1", true, true),
            ("0.1", true, true),
            ("12345678901234567890", false, true),
            ("100.000000000000001", false, false),
            ("1e400", false, false),
            ("-0", false, false),
        ] {
            assert_eq!(same_decimal(src, &js_number(src)), ok_js, "js {src}");
            assert_eq!(same_decimal(src, &py_number(src)), ok_py, "py {src}");
        }
        let v: Value = serde_json::from_str(r#"{"a":[1,{"id":12345678901234567890}]}"#).unwrap();
        assert!(!numbers_round_trip(&v, js_number));
        assert!(numbers_round_trip(&v, py_number));
    }
}
