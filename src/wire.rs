//! The SSE event JSON: smee.io's fields, plus (on request) the exact request.
//!
//! smee.io streams `{...lower-cased headers, body: <parsed JSON>, query: {...}, timestamp: ms}`
//! on one `data:` line. Its clients (smee-client, pysmee) turn *every* other top-level key into
//! a header, so hookrelay's server sends that shape alone by default and adds the exact request
//! only for subscribers that ask for it (header `X-Hookrelay-Wire: 1` or `?wire=hookrelay`):
//!
//! ```json
//! { "content-type": "application/json", ..., "body": {...}, "query": {...}, "timestamp": 1795550924656,
//!   "bodyB": "<base64 of the raw body>",
//!   "hookrelay": { "v": 1, "method": "PUT", "path": "/sub/path", "query": "a=1&a=2",
//!                  "headers": [["content-type", "application/json"], ["x-multi", "one"], ["x-multi", "two"]] } }
//! ```
//! `bodyB` follows gosmee's precedent (base64 of the raw bytes). `hookrelay.headers` keeps order,
//! repeats, and headers named `body`, `query` or `timestamp`, which the flat smee shape loses.
//!
//! [`decode_event`] reads all three dialects: hookrelay's (exact), gosmee's (`bodyB`: exact body,
//! no method or query) and smee.io's (body rebuilt as `JSON.stringify` made it, marked
//! re-serialized).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::delivery::{BodyOrigin, Headers, WebhookRequest};

/// The request header a subscriber sends to receive the extended event shape.
pub const WIRE_HEADER: &str = "x-hookrelay-wire";
/// The query parameter alternative (`?wire=hookrelay`), for curl and browsers.
pub const WIRE_QUERY: &str = "wire=hookrelay";
/// Version of the `hookrelay` object in events.
pub const WIRE_VERSION: u64 = 1;

/// Connection-level headers left out of the flat shape: smee.io's clients turn every key into
/// a header, and undici refuses to send these (smee-client could not deliver chunked webhooks).
/// `hookrelay.headers` keeps them.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Keys of the smee shape that are not headers.
const SMEE_FIELDS: [&str; 5] = ["body", "query", "timestamp", "bodyB", "hookrelay"];

/// Build the `data` JSON of one webhook event (one line: no CR or LF in it).
pub fn encode_event(req: &WebhookRequest, received_at_ms: i64, extended: bool) -> String {
    let mut out = String::with_capacity(encoded_len_hint(req, extended));
    encode_event_into(&mut out, req, received_at_ms, extended);
    out
}

/// About how many bytes [`encode_event`] writes (an upper estimate for ordinary requests, so
/// the buffer of a large event is allocated once and never copied to grow).
pub fn encoded_len_hint(req: &WebhookRequest, extended: bool) -> usize {
    // JSON escaping of headers can grow them; twice their size covers ordinary values
    let headers: usize = req.headers.iter().map(|(n, v)| n.len() + v.len() + 8).sum();
    let meta = 2 * (headers + req.query.len()) + req.path.len() + req.method.len() + 256;
    if extended {
        req.body.len() + req.body.len().div_ceil(3) * 4 + 2 * meta
    } else {
        req.body.len() + meta
    }
}

/// [`encode_event`], appending to `out` (e.g. after an SSE `data: ` prefix).
pub fn encode_event_into(
    out: &mut String,
    req: &WebhookRequest,
    received_at_ms: i64,
    extended: bool,
) {
    let from = out.len();
    encode_json_into(out, req, received_at_ms, extended);
    escape_line_separators(out, from);
}

fn encode_json_into(out: &mut String, req: &WebhookRequest, received_at_ms: i64, extended: bool) {
    // Flat headers, smee.io style: lower-cased, repeated values joined with ", " (as Node does).
    let mut flat: Vec<(String, String)> = Vec::with_capacity(req.headers.len());
    for (name, value) in &req.headers {
        let key = name.to_ascii_lowercase();
        if SMEE_FIELDS.contains(&key.as_str()) || HOP_BY_HOP.contains(&key.as_str()) {
            continue; // carried in `hookrelay.headers`; the flat shape cannot hold them
        }
        match flat.iter_mut().find(|(k, _)| *k == key) {
            Some((_, prev)) => {
                prev.push_str(", ");
                prev.push_str(value);
            }
            None => flat.push((key, value.clone())),
        }
    }
    out.push('{');
    for (k, v) in &flat {
        push_json_str(out, k);
        out.push(':');
        push_json_str(out, v);
        out.push(',');
    }
    out.push_str("\"body\":");
    push_smee_body(out, req);
    out.push_str(",\"query\":");
    out.push_str(&Value::Object(query_object(&req.query)).to_string());
    out.push_str(",\"timestamp\":");
    out.push_str(&received_at_ms.to_string());
    if extended {
        out.push_str(",\"bodyB\":\"");
        B64.encode_string(&req.body, out);
        out.push('"');
        let headers: Vec<Value> = req
            .headers
            .iter()
            .map(|(n, v)| Value::Array(vec![Value::String(n.clone()), Value::String(v.clone())]))
            .collect();
        let mut ext = Map::new();
        ext.insert("v".into(), Value::from(WIRE_VERSION));
        ext.insert("method".into(), Value::String(req.method.clone()));
        ext.insert("path".into(), Value::String(req.path.clone()));
        ext.insert("query".into(), Value::String(req.query.clone()));
        ext.insert("headers".into(), Value::Array(headers));
        out.push_str(",\"hookrelay\":");
        out.push_str(&Value::Object(ext).to_string());
    }
    out.push('}');
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_string()).to_string());
}

/// Bodies at least this large that are JSON with line breaks are not re-serialized (parsing
/// them into a value takes several times their size in memory): their line breaks become
/// spaces instead (in valid JSON, CR and LF can only be whitespace between tokens).
const RAW_JSON_BYTES: usize = 64 * 1024;

/// Write the smee `body`. A JSON body with no line breaks (or a large one, see
/// [`RAW_JSON_BYTES`]) is written as the sender's own bytes (validated, not re-serialized:
/// fast for large payloads); other JSON is re-serialized compactly so the event stays on one
/// line.
fn push_smee_body(out: &mut String, req: &WebhookRequest) {
    let breaks = memchr::memchr2(b'\n', b'\r', &req.body).is_some();
    let raw_ok = !req.body.is_empty()
        && (!breaks || req.body.len() >= RAW_JSON_BYTES)
        && serde_json::from_slice::<serde::de::IgnoredAny>(&req.body).is_ok();
    if raw_ok && let Ok(text) = std::str::from_utf8(&req.body) {
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if breaks {
            out.extend(text.chars().map(|c| match c {
                '\n' | '\r' => ' ',
                c => c,
            }));
        } else {
            out.push_str(text);
        }
        return;
    }
    out.push_str(&smee_body(req).to_string());
}

/// Escape U+0085, U+2028 and U+2029 (as `\u0085` etc.) in the JSON written from `from` on.
/// They are legal unescaped in JSON strings, but some SSE parsers split lines on them (pysmee
/// on U+0085), so an event could be cut short or a header value could inject a field line.
/// In JSON they can only occur inside strings, where the escape means the same character.
fn escape_line_separators(out: &mut String, from: usize) {
    let tail = &out.as_bytes()[from..];
    let suspicious = |b: &[u8]| {
        memchr::memchr2_iter(0xC2, 0xE2, b).any(|i| {
            matches!(b.get(i..i + 2), Some([0xC2, 0x85]))
                || matches!(b.get(i..i + 3), Some([0xE2, 0x80, 0xA8 | 0xA9]))
        })
    };
    if !suspicious(tail) {
        return;
    }
    let escaped: String = out[from..].chars().fold(
        String::with_capacity(out.len() - from + 64),
        |mut acc, c| {
            match c {
                '\u{0085}' => acc.push_str("\\u0085"),
                '\u{2028}' => acc.push_str("\\u2028"),
                '\u{2029}' => acc.push_str("\\u2029"),
                c => acc.push(c),
            }
            acc
        },
    );
    out.truncate(from);
    out.push_str(&escaped);
}

/// The `body` field of the smee shape: what smee.io's clients will `JSON.stringify` and send.
/// JSON bodies as their parsed value (numbers keep their source text), form bodies as an object
/// (like smee.io's old Express server), UTF-8 text as a string, anything else as `null`.
fn smee_body(req: &WebhookRequest) -> Value {
    if req.body.is_empty() {
        return Value::Null;
    }
    if let Ok(v) = serde_json::from_slice::<Value>(&req.body) {
        return v;
    }
    if req.media_type().as_deref() == Some("application/x-www-form-urlencoded") {
        return Value::Object(pairs_object(form_urlencoded::parse(&req.body)));
    }
    match std::str::from_utf8(&req.body) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => Value::Null,
    }
}

/// A raw query string as smee.io's object: repeated keys become arrays, valueless keys `""`.
pub fn query_object(raw: &str) -> Map<String, Value> {
    pairs_object(form_urlencoded::parse(raw.as_bytes()))
}

fn pairs_object<'a>(
    pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in pairs {
        let v = Value::String(v.into_owned());
        match out.get_mut(k.as_ref()) {
            Some(Value::Array(a)) => a.push(v),
            Some(prev) => {
                let first = prev.take();
                *prev = Value::Array(vec![first, v]);
            }
            None => {
                out.insert(k.into_owned(), v);
            }
        }
    }
    out
}

/// An event decoded back into the request it carries.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedEvent {
    pub request: WebhookRequest,
    pub origin: BodyOrigin,
    /// The relay's receive time, when the event carried one (ms since the epoch).
    pub relay_timestamp_ms: Option<i64>,
    /// Which dialect the event was in.
    pub dialect: Dialect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// hookrelay's extended event: every part of the request is exact.
    Hookrelay,
    /// gosmee's `bodyB`: exact body; method and query string were not carried.
    Gosmee,
    /// smee.io: body re-serialized by the relay, query rebuilt from an object.
    Smee,
}

/// Why an event could not be decoded (the stream goes on; the reason is shown once).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("event data is not JSON: {0}")]
    NotJson(String),
    #[error("event data is not a JSON object")]
    NotObject,
    #[error("event field `{field}` is malformed: {why}")]
    BadField { field: &'static str, why: String },
    #[error("event is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
}

#[derive(Deserialize)]
struct Ext {
    v: u64,
    method: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    query: String,
    headers: Vec<(String, String)>,
}

/// Decode one webhook event's `data`. `limit` bounds the data size.
///
/// ```
/// use hookrelay::delivery::BodyOrigin;
/// use hookrelay::wire::{Dialect, decode_event};
///
/// // what smee.io streams: the body was parsed and re-serialized on the way
/// let data = r#"{"content-type":"application/json","x-github-event":"push","body":{"a":1},"query":{},"timestamp":1795550924656}"#;
/// let d = decode_event(data, 1 << 20).unwrap();
/// assert_eq!(d.dialect, Dialect::Smee);
/// assert_eq!(&d.request.body[..], br#"{"a":1}"#);
/// assert_eq!(d.request.header("x-github-event"), Some("push"));
/// assert_eq!(d.origin, BodyOrigin::Reserialized { relay: "smee.io".into() });
/// ```
pub fn decode_event(data: &str, limit: usize) -> Result<DecodedEvent, DecodeError> {
    if data.len() > limit {
        return Err(DecodeError::TooLarge {
            size: data.len(),
            limit,
        });
    }
    // Borrow every value as raw text: the smee `body` must stay exactly as the relay wrote it.
    let top: std::collections::HashMap<String, &RawValue> = match serde_json::from_str(data) {
        Ok(m) => m,
        Err(e) => {
            return Err(if serde_json::from_str::<Value>(data).is_ok() {
                DecodeError::NotObject
            } else {
                DecodeError::NotJson(e.to_string())
            });
        }
    };
    let relay_timestamp_ms = top.get("timestamp").and_then(|r| {
        let v: Value = serde_json::from_str(r.get()).ok()?;
        v.as_i64()
            .or_else(|| v.as_f64().map(|f| f as i64))
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    });
    let body_b = match top.get("bodyB") {
        Some(raw) => {
            let s: &str = serde_json::from_str(raw.get()).map_err(|e| DecodeError::BadField {
                field: "bodyB",
                why: e.to_string(),
            })?;
            Some(
                B64.decode(s.as_bytes())
                    .map_err(|e| DecodeError::BadField {
                        field: "bodyB",
                        why: format!("bad base64: {e}"),
                    })?,
            )
        }
        None => None,
    };

    if let Some(raw) = top.get("hookrelay") {
        let ext: Ext = serde_json::from_str(raw.get()).map_err(|e| DecodeError::BadField {
            field: "hookrelay",
            why: e.to_string(),
        })?;
        if ext.v != WIRE_VERSION {
            return Err(DecodeError::BadField {
                field: "hookrelay",
                why: format!("unknown version {}", ext.v),
            });
        }
        let body = body_b.ok_or(DecodeError::BadField {
            field: "bodyB",
            why: "missing (required with `hookrelay`)".into(),
        })?;
        validate_method(&ext.method)?;
        return Ok(DecodedEvent {
            request: WebhookRequest {
                method: ext.method,
                path: ext.path,
                query: ext.query,
                headers: ext.headers,
                body: Bytes::from(body),
            },
            origin: BodyOrigin::Exact,
            relay_timestamp_ms,
            dialect: Dialect::Hookrelay,
        });
    }

    // Flat dialects: headers are the top-level string keys, in the order the relay wrote them.
    let ordered: serde_json::Map<String, Value> =
        serde_json::from_str(data).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    let headers: Headers = ordered
        .iter()
        .filter(|(k, _)| !SMEE_FIELDS.contains(&k.as_str()))
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    let query = match ordered.get("query") {
        Some(Value::Object(q)) => query_string(q),
        Some(Value::Null) | None => String::new(),
        Some(_) => {
            return Err(DecodeError::BadField {
                field: "query",
                why: "not an object".into(),
            });
        }
    };

    if let Some(body) = body_b {
        return Ok(DecodedEvent {
            request: WebhookRequest {
                method: "POST".into(),
                path: String::new(),
                query,
                headers,
                body: Bytes::from(body),
            },
            origin: BodyOrigin::Exact,
            relay_timestamp_ms,
            dialect: Dialect::Gosmee,
        });
    }
    // smee.io: the `body` text is Node's JSON.stringify of the parsed body: exactly what
    // smee-client would send, and all that is left of the sender's bytes.
    let body = match top.get("body") {
        Some(raw) if raw.get() != "null" => Bytes::copy_from_slice(raw.get().as_bytes()),
        _ => Bytes::new(),
    };
    Ok(DecodedEvent {
        request: WebhookRequest {
            method: "POST".into(),
            path: String::new(),
            query,
            headers,
            body,
        },
        origin: BodyOrigin::Reserialized {
            relay: "smee.io".into(),
        },
        relay_timestamp_ms,
        dialect: Dialect::Smee,
    })
}

fn validate_method(m: &str) -> Result<(), DecodeError> {
    if m.is_empty() || m.len() > 32 || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(DecodeError::BadField {
            field: "hookrelay.method",
            why: format!("not an HTTP method: {m:?}"),
        });
    }
    Ok(())
}

/// Rebuild a query string from smee.io's object (arrays become repeated keys).
/// The sender's exact encoding is gone; this is the standard form encoding.
fn query_string(q: &Map<String, Value>) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in q {
        match v {
            Value::Array(items) => {
                for item in items {
                    ser.append_pair(k, &scalar_text(item));
                }
            }
            other => {
                ser.append_pair(k, &scalar_text(other));
            }
        }
    }
    ser.finish()
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WebhookRequest {
        WebhookRequest {
            method: "PUT".into(),
            path: "/a/b".into(),
            query: "foo=bar&foo=baz&flag".into(),
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("X-Multi".into(), "one".into()),
                ("X-Multi".into(), "two".into()),
                ("Body".into(), "a header named body".into()),
            ],
            body: Bytes::from_static(b"{ \"a\" : 1.0, \"b\": \"caf\\u00e9\" }\n"),
        }
    }

    #[test]
    fn extended_round_trip_is_exact() {
        let req = sample();
        let data = encode_event(&req, 42, true);
        let d = decode_event(&data, usize::MAX).unwrap();
        assert_eq!(d.request, req);
        assert_eq!(d.origin, BodyOrigin::Exact);
        assert_eq!(d.dialect, Dialect::Hookrelay);
        assert_eq!(d.relay_timestamp_ms, Some(42));
    }

    #[test]
    fn smee_shape_matches_smee_io() {
        let data = encode_event(&sample(), 7, false);
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(v["x-multi"], "one, two");
        assert_eq!(v["content-type"], "application/json");
        assert_eq!(v["query"]["foo"], serde_json::json!(["bar", "baz"]));
        assert_eq!(v["query"]["flag"], "");
        assert_eq!(v["timestamp"], 7);
        assert!(v.get("bodyB").is_none() && v.get("hookrelay").is_none());
        // numbers keep their source text; the object is compact
        assert!(data.contains(r#""body":{"a":1.0,"b":"café"}"#), "{data}");
    }

    #[test]
    fn the_flat_shape_leaves_out_connection_headers_the_exact_one_keeps_them() {
        let mut r = sample();
        r.headers
            .push(("Transfer-Encoding".into(), "chunked".into()));
        r.headers.push(("Connection".into(), "keep-alive".into()));
        let v: Value = serde_json::from_str(&encode_event(&r, 1, true)).unwrap();
        assert!(v.get("transfer-encoding").is_none() && v.get("connection").is_none());
        let d = decode_event(&encode_event(&r, 1, true), usize::MAX).unwrap();
        assert_eq!(d.request.header("transfer-encoding"), Some("chunked"));
    }

    #[test]
    fn compact_json_bodies_are_embedded_as_sent() {
        let mut r = sample();
        r.body = Bytes::from_static(br#"{"a":1.0,"s":"caf\u00e9 \/","big":12345678901234567890}"#);
        let data = encode_event(&r, 1, false);
        assert!(
            data.contains(r#""body":{"a":1.0,"s":"caf\u00e9 \/","big":12345678901234567890}"#),
            "{data}"
        );
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(v["body"]["s"], "café /");
        // invalid JSON on one line is not embedded raw
        r.body = Bytes::from_static(b"{\"a\":");
        let v: Value = serde_json::from_str(&encode_event(&r, 1, false)).unwrap();
        assert_eq!(v["body"], "{\"a\":");
    }

    #[test]
    fn line_separators_are_escaped_and_large_pretty_json_kept_raw() {
        let mut r = sample();
        r.headers = vec![("x-evil".into(), "a\u{85}id: x".into())];
        r.body = Bytes::from("{\"s\":\"\u{2028}\u{2029}\u{85}ą\"}".to_string());
        for extended in [false, true] {
            let data = encode_event(&r, 1, extended);
            assert!(!data.contains(['\u{85}', '\u{2028}', '\u{2029}']), "{data}");
            assert!(data.contains("\\u2028\\u2029\\u0085ą"), "{data}");
            let v: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v["x-evil"], "a\u{85}id: x");
            assert_eq!(v["body"]["s"], "\u{2028}\u{2029}\u{85}ą");
        }
        let pretty = format!("{{\n  \"pad\": \"{}\"\r\n}}\n", "x".repeat(RAW_JSON_BYTES));
        r.body = Bytes::from(pretty);
        let data = encode_event(&r, 1, false);
        assert!(!data.contains(['\n', '\r']));
        assert!(
            data.contains("\"body\":{   \"pad\": \""),
            "kept as sent, breaks as spaces"
        );
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(v["body"]["pad"].as_str().unwrap().len(), RAW_JSON_BYTES);
    }

    #[test]
    fn smee_body_for_non_json() {
        let mut r = sample();
        r.headers = vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )];
        r.body = Bytes::from_static(b"a=1&a=2&b=x+y");
        let v: Value = serde_json::from_str(&encode_event(&r, 0, false)).unwrap();
        assert_eq!(v["body"], serde_json::json!({"a": ["1", "2"], "b": "x y"}));
        r.headers.clear();
        r.body = Bytes::from_static(b"plain text");
        let v: Value = serde_json::from_str(&encode_event(&r, 0, false)).unwrap();
        assert_eq!(v["body"], "plain text");
        r.body = Bytes::from_static(&[0xff, 0xfe]);
        let v: Value = serde_json::from_str(&encode_event(&r, 0, false)).unwrap();
        assert_eq!(v["body"], Value::Null);
    }

    #[test]
    fn malformed_events_have_reasons() {
        assert!(matches!(
            decode_event("nope", 100),
            Err(DecodeError::NotJson(_))
        ));
        assert_eq!(decode_event("[1]", 100), Err(DecodeError::NotObject));
        assert!(matches!(
            decode_event(r#"{"bodyB":"!!!"}"#, 100),
            Err(DecodeError::BadField { field: "bodyB", .. })
        ));
        assert!(matches!(
            decode_event(
                r#"{"hookrelay":{"v":1,"method":"PO ST","headers":[]},"bodyB":""}"#,
                1000
            ),
            Err(DecodeError::BadField { .. })
        ));
        assert!(matches!(
            decode_event(
                r#"{"hookrelay":{"v":9,"method":"POST","headers":[]},"bodyB":""}"#,
                1000
            ),
            Err(DecodeError::BadField { .. })
        ));
        assert!(matches!(
            decode_event("{}", 1),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn gosmee_dialect_keeps_raw_body() {
        let data = r#"{"accept":"*/*","bodyB":"eyAiYSIgOiAxLjAgfQo=","content-type":"application/json","timestamp":"1795551125660","x-multi":"one"}"#;
        let d = decode_event(data, usize::MAX).unwrap();
        assert_eq!(d.dialect, Dialect::Gosmee);
        assert_eq!(&d.request.body[..], b"{ \"a\" : 1.0 }\n");
        assert_eq!(d.relay_timestamp_ms, Some(1795551125660));
        assert_eq!(d.request.header("x-multi"), Some("one"));
        assert!(d.origin.is_exact());
    }
}
