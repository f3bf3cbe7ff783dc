//! Writing one webhook as the `data` of an SSE event: smee.io's flat shape, and on request the
//! exact request beside it (`bodyB`, `hookrelay`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

use super::{SMEE_FIELDS, WIRE_VERSION};
use crate::delivery::WebhookRequest;

/// Build the `data` JSON of one webhook event (one line: no CR or LF in it).
pub fn encode_event(req: &WebhookRequest, received_at_ms: i64, extended: bool) -> String {
    let mut out = String::with_capacity(encoded_len_hint(req, extended));
    encode_event_into(&mut out, req, received_at_ms, extended);
    out
}

/// About how many bytes [`encode_event`] writes (an upper estimate for ordinary requests, so
/// the buffer of a large event is allocated once and never copied to grow).
pub fn encoded_len_hint(req: &WebhookRequest, extended: bool) -> usize {
    if extended {
        req.body.len().div_ceil(3) * 4 + extended_head_len_hint(req)
    } else {
        req.body.len() + meta_len_hint(req)
    }
}

/// About how many bytes [`extended_head_into`] writes (an upper estimate, as
/// [`encoded_len_hint`]).
pub fn extended_head_len_hint(req: &WebhookRequest) -> usize {
    // the headers go twice: flat, and exact in `hookrelay`
    2 * meta_len_hint(req)
}

fn meta_len_hint(req: &WebhookRequest) -> usize {
    // JSON escaping of headers can grow them; twice their size covers ordinary values
    let headers: usize = req.headers.iter().map(|(n, v)| n.len() + v.len() + 8).sum();
    2 * (headers + req.query.len()) + req.path.len() + req.method.len() + 256
}

/// [`encode_event`], appending to `out` (e.g. after an SSE `data: ` prefix).
pub fn encode_event_into(
    out: &mut String,
    req: &WebhookRequest,
    received_at_ms: i64,
    extended: bool,
) {
    if extended {
        extended_head_into(out, req, received_at_ms);
        push_body_b64(out, &req.body);
        out.push_str(EXTENDED_END);
        return;
    }
    let from = out.len();
    push_fields(out, req, received_at_ms, false);
    out.push('}');
    escape_line_separators(out, from);
}

/// The extended shape in three parts, so a relay can write a large event as it encodes it:
/// this head (every field but the body, then `"bodyB":"` opened last), base64 of the body
/// ([`push_body_b64`], in pieces of any multiple of 3 bytes), then [`EXTENDED_END`]. The
/// parts concatenated are exactly [`encode_event`]'s extended output. `bodyB` is the last
/// field, so a client can decode it while the line streams in.
pub fn extended_head_into(out: &mut String, req: &WebhookRequest, received_at_ms: i64) {
    let from = out.len();
    push_fields(out, req, received_at_ms, true);
    out.push_str(",\"bodyB\":\"");
    // base64 and the end are plain ASCII: escaping the head covers the whole line
    escape_line_separators(out, from);
}

/// What follows the base64 of the body in the extended shape (closes `bodyB` and the object).
pub const EXTENDED_END: &str = "\"}";

/// Append base64 of a piece of the body to `out` (`bodyB`). Pieces cut at multiples of 3
/// bytes (all but the last) concatenate to the base64 of the whole body.
pub fn push_body_b64(out: &mut String, piece: &[u8]) {
    B64.encode_string(piece, out);
}

/// The event's fields, the object left open (the smee shape closes it; the extended shape
/// adds `bodyB` last).
fn push_fields(out: &mut String, req: &WebhookRequest, received_at_ms: i64, extended: bool) {
    // Flat headers, smee.io style: lower-cased, repeated values joined with ", " (as Node does).
    // Hop-by-hop headers are left out: smee.io's clients turn every key into a header, and
    // undici refuses to send those (smee-client could not deliver chunked webhooks).
    // `hookrelay.headers` keeps them.
    let mut flat: Vec<(String, String)> = Vec::with_capacity(req.headers.len());
    for (name, value) in &req.headers {
        let key = name.to_ascii_lowercase();
        if SMEE_FIELDS.contains(&key.as_str()) || crate::headers::is_hop_by_hop(&key) {
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
    // The extended shape carries the body once, as `bodyB`: smee's `body` would be a second
    // copy of it (a 1 MB event was 2.4 MB on the wire and in both processes' memory).
    if !extended {
        out.push_str("\"body\":");
        push_smee_body(out, req);
        out.push(',');
    }
    out.push_str("\"query\":");
    out.push_str(&Value::Object(query_object(&req.query)).to_string());
    out.push_str(",\"timestamp\":");
    out.push_str(&received_at_ms.to_string());
    if extended {
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
}

fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_string()).to_string());
}

/// Bodies at least this large that are JSON with line breaks are not re-serialized (parsing
/// them into a value takes several times their size in memory): their line breaks become
/// spaces instead (in valid JSON, CR and LF can only be whitespace between tokens).
pub(super) const RAW_JSON_BYTES: usize = 64 * 1024;

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
