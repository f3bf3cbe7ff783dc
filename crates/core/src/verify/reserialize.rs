//! Compact re-serializations of a JSON body, for signatures computed over a parsed payload
//! rather than the bytes on the wire (port-webhooks.md §1.3).
//!
//! Two forms besides the raw bytes:
//! - [`Form::JsonStringify`]: what JavaScript's `JSON.stringify(JSON.parse(body))` prints
//!   (Port's backend, smee.io): compact, keys in first-seen order, raw UTF-8, numbers as JS
//!   prints an `f64` (`1.0`→`1`, `1E2`→`100`, `12345678901234567890`→`12345678901234567000`).
//! - [`Form::JsonAscii`]: Python's `json.dumps(json.loads(body), separators=(",", ":"))`
//!   (Port's execution agent): compact, non-ASCII and DEL escaped as lower-case `\uXXXX`
//!   (surrogate pairs above U+FFFF), integers exact, floats as Python's `repr`.
//!
//! Duplicate keys keep their first position and their last value, as in both languages.
//! These forms are only ever used to compute a MAC; a forwarded body is never re-serialized.
//!
//! The verifier asks for them only when a relay already rebuilt the body (smee.io); when the
//! relay carried the exact bytes, only those are judged ([`BodyForms::exact`]). A form is
//! offered only when it means the same as the bytes ([`super::faithful`]): a body with a
//! duplicate key, or a number the form would print as another value, has no rebuilt forms.

use super::faithful;
use serde_json::Value;
use std::fmt::Write as _;

/// Bodies larger than this are only checked byte-exact.
const MAX_RESERIALIZE: usize = 16 * 1024 * 1024;

/// Which bytes a signature was checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The body bytes as received.
    Raw,
    /// JavaScript's `JSON.stringify` of the parsed body.
    JsonStringify,
    /// Python's compact `json.dumps` with `ensure_ascii` (non-ASCII as `\uXXXX`).
    JsonAscii,
}

impl Form {
    /// Machine name recorded in [`super::Verification::matched_form`].
    pub fn name(self) -> &'static str {
        match self {
            Form::Raw => "raw",
            Form::JsonStringify => "json-stringify",
            Form::JsonAscii => "json-ascii",
        }
    }

    /// The phrase used in reasons.
    pub fn describe(self) -> &'static str {
        match self {
            Form::Raw => "the raw body",
            Form::JsonStringify => "the body re-serialized as JSON.stringify prints it",
            Form::JsonAscii => {
                "the body re-serialized compactly with non-ASCII escaped as \\uXXXX (as Port's execution agent signs it)"
            }
        }
    }
}

/// The raw body plus its re-serialized forms, computed once and only when asked for.
pub struct BodyForms<'a> {
    raw: &'a [u8],
    extra: Option<Vec<(Form, Vec<u8>)>>,
}

impl<'a> BodyForms<'a> {
    /// The raw body and its faithful re-serialized forms.
    pub fn new(raw: &'a [u8]) -> Self {
        BodyForms { raw, extra: None }
    }

    /// The raw body only: the bytes the sender sent are known, so only they are judged.
    pub fn exact(raw: &'a [u8]) -> Self {
        BodyForms {
            raw,
            extra: Some(Vec::new()),
        }
    }

    /// The raw body.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Every distinct form in order: raw, JSON.stringify, ASCII-escaped. A body that is not
    /// JSON (or too large) has only its raw form.
    pub fn all(&mut self) -> Vec<(Form, &[u8])> {
        let raw = self.raw;
        let extra = self.extra.get_or_insert_with(|| reserialized_forms(raw));
        let mut out = vec![(Form::Raw, raw)];
        out.extend(extra.iter().map(|(f, b)| (*f, b.as_slice())));
        out
    }
}

fn reserialized_forms(raw: &[u8]) -> Vec<(Form, Vec<u8>)> {
    if raw.is_empty() || raw.len() > MAX_RESERIALIZE || !faithful::has_unique_keys(raw) {
        return Vec::new();
    }
    let Ok(v) = serde_json::from_slice::<Value>(raw) else {
        return Vec::new();
    };
    let mut out: Vec<(Form, Vec<u8>)> = Vec::new();
    for (form, print) in [
        (Form::JsonStringify, js_number as fn(&str) -> String),
        (Form::JsonAscii, py_number),
    ] {
        if !faithful::numbers_round_trip(&v, print) {
            continue;
        }
        let bytes = match form {
            Form::JsonAscii => json_ascii(&v),
            _ => json_stringify(&v),
        }
        .into_bytes();
        if bytes != raw && out.iter().all(|(_, b)| *b != bytes) {
            out.push((form, bytes));
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Js,
    PyAscii,
}

/// `JSON.stringify(value)` as JavaScript prints it.
pub fn json_stringify(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v, Style::Js);
    s
}

/// `json.dumps(value, separators=(",", ":"))` as Python prints it (`ensure_ascii=True`).
pub fn json_ascii(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v, Style::PyAscii);
    s
}

fn write_value(out: &mut String, v: &Value, st: Style) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&match st {
            Style::Js => js_number(n.as_str()),
            Style::PyAscii => py_number(n.as_str()),
        }),
        Value::String(s) => write_string(out, s, st),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x, st);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k, st);
                out.push(':');
                write_value(out, x, st);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str, st: Style) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if st == Style::PyAscii && (c as u32) >= 0x7f => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Shortest round-trip decimal digits of a finite, non-zero `f` and the position of the
/// decimal point: `f = 0.d1d2…dk × 10^n`.
fn digits_and_point(f: f64) -> (String, i32) {
    let e = format!("{:e}", f.abs()); // "1.2345e2": shortest round-trip digits
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// A JSON number's source text as JavaScript's `Number.prototype.toString` prints it.
pub fn js_number(text: &str) -> String {
    let Ok(f) = text.parse::<f64>() else {
        return text.to_string();
    };
    if !f.is_finite() {
        return "null".into(); // JSON.stringify(Infinity)
    }
    if f == 0.0 {
        return "0".into(); // also -0
    }
    let sign = if f < 0.0 { "-" } else { "" };
    let (d, n) = digits_and_point(f);
    let k = d.len() as i32;
    let body = if k <= n && n <= 21 {
        format!("{d}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &d[..n as usize], &d[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{d}", "0".repeat((-n) as usize))
    } else {
        let e = n - 1;
        let (first, rest) = d.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{first}{frac}e{}{}", if e < 0 { '-' } else { '+' }, e.abs())
    };
    format!("{sign}{body}")
}

/// A JSON number's source text as Python's `json.dumps(json.loads(text))` prints it:
/// integers exactly, floats as `repr(float)`.
pub fn py_number(text: &str) -> String {
    let is_int = !text.contains(['.', 'e', 'E']);
    if is_int {
        let digits = text.trim_start_matches('-');
        return if digits.bytes().all(|b| b == b'0') {
            "0".into()
        } else {
            text.to_string()
        };
    }
    let Ok(f) = text.parse::<f64>() else {
        return text.to_string();
    };
    if f.is_infinite() {
        return if f < 0.0 { "-Infinity" } else { "Infinity" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    let (d, n) = digits_and_point(f);
    let k = d.len() as i32;
    let body = if !(-3..=16).contains(&n) {
        let e = n - 1;
        let (first, rest) = d.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!(
            "{first}{frac}e{}{:02}",
            if e < 0 { '-' } else { '+' },
            e.abs()
        )
    } else if n <= 0 {
        format!("0.{}{d}", "0".repeat((-n) as usize))
    } else if n >= k {
        format!("{d}{}.0", "0".repeat((n - k) as usize))
    } else {
        format!("{}.{}", &d[..n as usize], &d[n as usize..])
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_numbers_print_as_javascript_does() {
        for (src, js) in [
            ("1.0", "1"),
            ("1E2", "100"),
            ("-0.0", "0"),
            ("-0", "0"),
            ("12345678901234567890", "12345678901234567000"),
            ("1e21", "1e+21"),
            ("1e-7", "1e-7"),
            ("1e-6", "0.000001"),
            ("0.5", "0.5"),
            ("-123.456", "-123.456"),
            ("1.5e300", "1.5e+300"),
            ("2432232314", "2432232314"),
            ("1e400", "null"),
            ("123e-20", "1.23e-18"),
            ("100000000000000000000", "100000000000000000000"),
        ] {
            assert_eq!(js_number(src), js, "{src}");
        }
    }

    #[test]
    fn python_numbers_print_as_python_does() {
        for (src, py) in [
            ("1.0", "1.0"),
            ("1E2", "100.0"),
            ("-0.0", "-0.0"),
            ("-0", "0"),
            ("12345678901234567890", "12345678901234567890"),
            ("1e16", "1e+16"),
            ("1e15", "1000000000000000.0"),
            ("0.0001", "0.0001"),
            ("1e-5", "1e-05"),
            ("1.5e-7", "1.5e-07"),
            ("0.5", "0.5"),
        ] {
            assert_eq!(py_number(src), py, "{src}");
        }
    }

    #[test]
    fn strings_escape_per_style() {
        let v: Value = serde_json::from_str(r#"{"t":"café ✓\u0001\n\u007f😀/"}"#).unwrap();
        assert_eq!(json_stringify(&v), "{\"t\":\"café ✓\\u0001\\n\u{7f}😀/\"}");
        assert_eq!(
            json_ascii(&v),
            r#"{"t":"caf\u00e9 \u2713\u0001\n\u007f\ud83d\ude00/"}"#
        );
    }

    #[test]
    fn unfaithful_bodies_have_no_rebuilt_forms() {
        for body in [
            r#"{ "amount": 1, "to": "mallory", "to": "alice" }"#,
            r#"{ "id": 12345678901234567890 }"#,
            "100.000000000000001",
        ] {
            let mut f = BodyForms::new(body.as_bytes());
            let names: Vec<_> = f.all().iter().map(|(f, _)| f.name()).collect();
            assert!(!names.contains(&"json-stringify"), "{body}: {names:?}");
        }
        // Python prints big integers exactly: that form is still offered.
        let mut f = BodyForms::new(br#"{ "id": 12345678901234567890 }"#);
        let names: Vec<_> = f.all().iter().map(|(f, _)| f.name()).collect();
        assert_eq!(names, ["raw", "json-ascii"]);
        let mut f = BodyForms::exact(b"{ \"a\": 1 }");
        assert_eq!(f.all().len(), 1);
    }

    #[test]
    fn duplicate_keys_keep_first_position_and_last_value() {
        let v: Value = serde_json::from_str(r#"{"dup":1,"a":0,"dup":2}"#).unwrap();
        assert_eq!(json_stringify(&v), r#"{"dup":2,"a":0}"#);
    }

    #[test]
    fn forms_skip_duplicates_and_non_json() {
        let mut f = BodyForms::new(br#"{"a":1}"#);
        assert_eq!(f.all().len(), 1, "compact ASCII JSON is already every form");
        let mut f = BodyForms::new("{ \"a\": \"é\" }".as_bytes());
        let names: Vec<_> = f.all().iter().map(|(f, _)| f.name()).collect();
        assert_eq!(names, ["raw", "json-stringify", "json-ascii"]);
        let mut f = BodyForms::new(b"not json");
        assert_eq!(f.all().len(), 1);
    }
}
