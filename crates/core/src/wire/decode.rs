//! Reading an SSE event's `data` back into the request it carries, in any of the three
//! dialects (hookrelay's, gosmee's, smee.io's), with every size bounded before it is held.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{SMEE_FIELDS, StreamedBody, WIRE_VERSION};
use crate::delivery::{BodyOrigin, Headers, WebhookRequest};

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

/// The most headers one event may carry: Node's default `maxHeadersCount` (smee.io), above
/// hyper's 100 (hookrelay's relay). More is a hostile or broken relay, refused before the
/// headers are held in memory.
pub const MAX_HEADERS: usize = 2000;
/// The most header bytes (names and values) one event may carry: Go's `DefaultMaxHeaderBytes`
/// (gosmee), above Node's 16 KiB.
pub const MAX_HEADER_BYTES: usize = 1 << 20;
/// The largest smee.io `query` object read (a URL is at most 64 KiB at hyper).
pub const MAX_QUERY_BYTES: usize = 64 << 10;

/// Why an event could not be decoded (the stream goes on; the reason is shown once).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("event data is not JSON: {0}")]
    NotJson(String),
    #[error("event data is not a JSON object")]
    NotObject,
    #[error("event field `{field}` is malformed: {why}")]
    BadField { field: &'static str, why: String },
    #[error("event is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("event carries more than {limit} headers")]
    TooManyHeaders { limit: usize },
    #[error("event headers are over {limit} bytes")]
    HeadersTooLarge { limit: usize },
}

#[derive(Deserialize)]
struct Ext<'a> {
    v: u64,
    method: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    query: String,
    /// Read with [`HeadersSeed`], which stops at the bounds.
    #[serde(borrow)]
    headers: &'a RawValue,
}

/// Counts headers against [`MAX_HEADERS`] and [`MAX_HEADER_BYTES`] while they are parsed, so a
/// hostile event is refused before its headers are in memory. serde's errors are strings; the
/// typed reason is left in `over`.
#[derive(Default)]
struct HeaderBudget {
    count: usize,
    bytes: usize,
    over: std::cell::Cell<Option<DecodeError>>,
}

impl HeaderBudget {
    fn take<E: serde::de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        self.count += 1;
        self.bytes += bytes;
        let over = if self.count > MAX_HEADERS {
            DecodeError::TooManyHeaders { limit: MAX_HEADERS }
        } else if self.bytes > MAX_HEADER_BYTES {
            DecodeError::HeadersTooLarge {
                limit: MAX_HEADER_BYTES,
            }
        } else {
            return Ok(());
        };
        let msg = over.to_string();
        self.over.set(Some(over));
        Err(E::custom(msg))
    }

    /// The typed reason when the budget stopped a parse, else `other()`.
    fn error_or(&self, other: impl FnOnce() -> DecodeError) -> DecodeError {
        self.over.take().unwrap_or_else(other)
    }
}

/// `hookrelay.headers`: `[[name, value], ...]`, bounded.
struct HeadersSeed<'b>(&'b mut HeaderBudget);

impl<'de> serde::de::DeserializeSeed<'de> for HeadersSeed<'_> {
    type Value = Headers;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Headers, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for HeadersSeed<'_> {
    type Value = Headers;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of [name, value] pairs")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Headers, A::Error> {
        let mut out = Headers::new();
        while let Some((n, v)) = seq.next_element::<(String, String)>()? {
            self.0.take(n.len() + v.len())?;
            out.push((n, v));
        }
        Ok(out)
    }
}

/// The top-level object as `(key, raw value)` in the relay's order (a repeated key keeps its
/// first place and its last value, as before), bounded: every key but the smee fields may be a
/// header.
struct TopSeed<'b>(&'b mut HeaderBudget);

type Top<'a> = Vec<(String, &'a RawValue)>;

impl<'de> serde::de::DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Top<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Top<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TopSeed<'_> {
    type Value = Top<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut out: Top<'de> = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            let v: &'de RawValue = map.next_value()?;
            if !SMEE_FIELDS.contains(&k.as_str()) {
                // counted whether or not it turns out to be a string header
                self.0.take(k.len() + v.get().len())?;
            }
            match out.iter_mut().find(|(n, _)| *n == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        Ok(out)
    }
}

fn field<'a>(top: &Top<'a>, name: &str) -> Option<&'a RawValue> {
    top.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

/// Decode one webhook event's `data`. `limit` bounds the data size; [`MAX_HEADERS`] and
/// [`MAX_HEADER_BYTES`] bound its headers.
///
/// ```
/// use hookrelay_core::delivery::BodyOrigin;
/// use hookrelay_core::wire::{Dialect, decode_event};
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
    decode_with(data, None).map_err(|e| e.unwrap_or_else(|| unreachable!("no streamed body")))
}

/// [`decode_event`] for an event whose `bodyB` the SSE parser decoded while the line streamed
/// in ([`crate::sse_parser::Parser::decode_body_b`]): `data` is the line with `"bodyB":""`
/// and `streamed` the body cut out of it (`None`: `data` is whole).
///
/// The outcome is always what [`decode_event`] gives for the whole line: when the body is not
/// the `bodyB` value the whole-line decode reads, or the event is refused, the line is put back
/// together and decoded whole. A relay that sends what the parser does not expect costs memory,
/// never a wrong body.
pub fn decode_event_streamed(
    data: &str,
    streamed: Option<StreamedBody>,
    limit: usize,
) -> Result<DecodedEvent, DecodeError> {
    let Some(streamed) = streamed else {
        return decode_event(data, limit);
    };
    let text_len = base64::encoded_len(streamed.body.len(), true).unwrap_or(usize::MAX);
    let size = data.len().saturating_add(text_len);
    if size > limit {
        return Err(DecodeError::TooLarge { size, limit });
    }
    match decode_with(data, Some(streamed.at)) {
        Ok(mut d) if d.dialect != Dialect::Smee => {
            d.request.body = Bytes::from(streamed.body);
            Ok(d)
        }
        _ => {
            let mut whole = data.to_string();
            streamed.restore(&mut whole);
            decode_event(&whole, limit)
        }
    }
}

/// Decode `data`. With `streamed_at`, the top-level `bodyB` must be the empty string at that
/// offset (the request's body is left empty for the caller to fill); anything else is
/// `Err(None)`: decode the whole line instead.
fn decode_with(
    data: &str,
    streamed_at: Option<usize>,
) -> Result<DecodedEvent, Option<DecodeError>> {
    use serde::de::DeserializeSeed as _;
    // Borrow every value as raw text: the smee `body` must stay exactly as the relay wrote it.
    let mut budget = HeaderBudget::default();
    let mut de = serde_json::Deserializer::from_str(data);
    let top = match TopSeed(&mut budget)
        .deserialize(&mut de)
        .and_then(|t| de.end().map(|_| t))
    {
        Ok(t) => t,
        Err(e) => {
            return Err(Some(budget.error_or(|| {
                if serde_json::from_str::<serde::de::IgnoredAny>(data).is_ok() {
                    DecodeError::NotObject
                } else {
                    DecodeError::NotJson(e.to_string())
                }
            })));
        }
    };
    let relay_timestamp_ms = field(&top, "timestamp")
        .filter(|r| r.get().len() <= 64) // a number or a string of one; nothing bigger is read
        .and_then(|r| {
            let v: Value = serde_json::from_str(r.get()).ok()?;
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        });
    let body_b = match (field(&top, "bodyB"), streamed_at) {
        (Some(raw), Some(at)) => {
            // the value read is the very string the parser cut the body out of
            let offset = raw.get().as_ptr() as usize - data.as_ptr() as usize;
            if raw.get() != "\"\"" || offset + 1 != at {
                return Err(None);
            }
            Some(Vec::new())
        }
        (None, Some(_)) => return Err(None),
        (None, None) => None,
        (Some(raw), None) => {
            let bad = |why: String| DecodeError::BadField {
                field: "bodyB",
                why,
            };
            // Borrowed when it can be (no escapes: base64 needs none), so a large body's text
            // is not copied; a string with escapes is valid JSON all the same.
            let owned;
            let s: &str = match serde_json::from_str(raw.get()) {
                Ok(s) => s,
                Err(_) if raw.get().starts_with('"') => {
                    owned = serde_json::from_str::<String>(raw.get())
                        .map_err(|e| bad(e.to_string()))?;
                    &owned
                }
                // not serde's message: it would quote the whole value
                Err(_) => return Err(Some(bad("not a string".into()))),
            };
            Some(
                B64.decode(s.as_bytes())
                    .map_err(|e| bad(format!("bad base64: {e}")))?,
            )
        }
    };

    if let Some(raw) = field(&top, "hookrelay") {
        let bad = |why: String| DecodeError::BadField {
            field: "hookrelay",
            why,
        };
        let ext: Ext = serde_json::from_str(raw.get()).map_err(|e| bad(e.to_string()))?;
        if ext.v != WIRE_VERSION {
            return Err(Some(bad(format!("unknown version {}", ext.v))));
        }
        let mut budget = HeaderBudget::default();
        let mut de = serde_json::Deserializer::from_str(ext.headers.get());
        let headers = HeadersSeed(&mut budget)
            .deserialize(&mut de)
            .map_err(|e| budget.error_or(|| bad(e.to_string())))?;
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
                headers,
                body: Bytes::from(body),
            },
            origin: BodyOrigin::Exact,
            relay_timestamp_ms,
            dialect: Dialect::Hookrelay,
        });
    }

    // Flat dialects: headers are the top-level string keys, in the order the relay wrote them
    // (already counted against the bounds).
    let headers: Headers = top
        .iter()
        .filter(|(k, v)| !SMEE_FIELDS.contains(&k.as_str()) && v.get().starts_with('"'))
        .filter_map(|(k, v)| Some((k.clone(), serde_json::from_str::<String>(v.get()).ok()?)))
        .collect();
    let query = match field(&top, "query") {
        Some(raw) if raw.get().len() > MAX_QUERY_BYTES => {
            return Err(Some(DecodeError::BadField {
                field: "query",
                why: format!("over {MAX_QUERY_BYTES} bytes"),
            }));
        }
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(q)) => query_string(&q),
            Ok(Value::Null) => String::new(),
            _ => {
                return Err(Some(DecodeError::BadField {
                    field: "query",
                    why: "not an object".into(),
                }));
            }
        },
        None => String::new(),
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
    let body = match field(&top, "body") {
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
