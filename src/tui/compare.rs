//! Comparing two deliveries (bodies and headers) or two attempts' responses (status, headers,
//! body). JSON bodies are compared structurally; anything else by bytes.

use serde_json::{Map, Value};

use super::model::{CompareSection, CompareView};
use super::port_view;
use crate::delivery::{Attempt, AttemptOutcome, Delivery, Headers};

/// Bodies larger than this are compared by bytes only.
const MAX_JSON_COMPARE: usize = 2 * 1024 * 1024;

/// Compare two deliveries' requests: body, then headers.
pub fn compare_deliveries(a: &Delivery, b: &Delivery) -> CompareView {
    let mut sections = Vec::new();
    if a.request.method != b.request.method
        || a.request.path_and_query() != b.request.path_and_query()
    {
        sections.push(CompareSection {
            name: "Request line".into(),
            changes: port_view::changes(
                &Value::String(format!(
                    "{} {}",
                    a.request.method,
                    a.request.path_and_query()
                )),
                &Value::String(format!(
                    "{} {}",
                    b.request.method,
                    b.request.path_and_query()
                )),
            ),
            note: None,
        });
    }
    sections.push(body_section(&a.request.body, &b.request.body));
    sections.push(headers_section(&a.request.headers, &b.request.headers));
    CompareView {
        title: format!("{} ↔ {}", a.id, b.id),
        sections,
    }
}

/// Compare two attempts' responses: status, body, headers.
pub fn compare_attempts(label_a: &str, a: &Attempt, label_b: &str, b: &Attempt) -> CompareView {
    let parts = |x: &Attempt| -> (Value, Headers, Vec<u8>) {
        match &x.outcome {
            AttemptOutcome::Response {
                status,
                headers,
                body,
                ..
            } => (Value::from(*status), headers.clone(), body.to_vec()),
            AttemptOutcome::Error { message, .. } => {
                (Value::String(format!("error: {message}")), vec![], vec![])
            }
        }
    };
    let (sa, ha, ba) = parts(a);
    let (sb, hb, bb) = parts(b);
    let status = CompareSection {
        name: "Status".into(),
        note: (sa == sb).then(|| "identical".to_string()),
        changes: port_view::changes(&sa, &sb),
    };
    CompareView {
        title: format!("response {label_a} ↔ {label_b}"),
        sections: vec![status, body_section(&ba, &bb), headers_section(&ha, &hb)],
    }
}

fn parse_json(b: &[u8]) -> Option<Value> {
    if b.is_empty() || b.len() > MAX_JSON_COMPARE {
        return None;
    }
    serde_json::from_slice(b).ok()
}

/// The body part of a comparison.
pub fn body_section(a: &[u8], b: &[u8]) -> CompareSection {
    let (changes, note) = if a == b {
        (vec![], Some(format!("identical ({} bytes)", a.len())))
    } else {
        match (parse_json(a), parse_json(b)) {
            (Some(x), Some(y)) => {
                let c = port_view::changes(&x, &y);
                let note = c
                    .is_empty()
                    .then(|| "same JSON, different bytes (formatting or key order)".to_string());
                (c, note)
            }
            _ => (
                vec![],
                Some(format!(
                    "differ (not JSON): {} vs {} bytes",
                    a.len(),
                    b.len()
                )),
            ),
        }
    };
    CompareSection {
        name: "Body".into(),
        changes,
        note,
    }
}

/// Headers as an object of lower-cased names (repeated values joined with `, `).
fn header_object(h: &Headers) -> Value {
    let mut m = Map::new();
    for (n, v) in h {
        let key = n.to_ascii_lowercase();
        match m.get_mut(&key) {
            Some(Value::String(s)) => {
                s.push_str(", ");
                s.push_str(v);
            }
            _ => {
                m.insert(key, Value::String(v.clone()));
            }
        }
    }
    Value::Object(m)
}

/// The headers part of a comparison.
pub fn headers_section(a: &Headers, b: &Headers) -> CompareSection {
    let changes = port_view::changes(&header_object(a), &header_object(b));
    CompareSection {
        name: "Headers".into(),
        note: changes.is_empty().then(|| "identical".to_string()),
        changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_diff::Change;

    #[test]
    fn bodies_and_headers() {
        let s = body_section(br#"{"a":1,"b":2}"#, br#"{"b":2, "a":1}"#);
        assert!(s.changes.is_empty());
        assert!(s.note.unwrap().contains("same JSON"));
        let s = body_section(b"abc", b"abcd");
        assert!(s.note.unwrap().contains("3 vs 4 bytes"));
        let s = body_section(br#"{"a":1}"#, br#"{"a":2}"#);
        assert!(matches!(&s.changes[..], [Change::Changed { path, .. }] if path == "a"));
        let h = headers_section(
            &vec![("X-A".into(), "1".into()), ("x-a".into(), "2".into())],
            &vec![("x-a".into(), "1, 2".into()), ("x-b".into(), "3".into())],
        );
        assert!(matches!(&h.changes[..], [Change::Added { path, .. }] if path == "x-b"));
    }
}
