//! The SSE event JSON: smee.io's fields, plus (on request) the exact request.
//!
//! smee.io streams `{...lower-cased headers, body: <parsed JSON>, query: {...}, timestamp: ms}`
//! on one `data:` line. Its clients (smee-client, pysmee) turn *every* other top-level key into
//! a header, so hookrelay's server sends that shape alone by default, and the exact request
//! instead of smee's `body` to subscribers that ask for it (header `X-Hookrelay-Wire: 1` or
//! `?wire=hookrelay`; the body goes once, as `bodyB`, never twice):
//!
//! ```json
//! { "content-type": "application/json", ..., "query": {...}, "timestamp": 1795550924656,
//!   "hookrelay": { "v": 1, "method": "PUT", "path": "/sub/path", "query": "a=1&a=2",
//!                  "headers": [["content-type", "application/json"], ["x-multi", "one"], ["x-multi", "two"]] },
//!   "bodyB": "<base64 of the raw body>" }
//! ```
//! `bodyB` is written last, so a relay can write a large event while it encodes it and a
//! client can decode the body while the line streams in; decoders parse JSON, so readers of
//! any order keep working.
//! `bodyB` follows gosmee's precedent (base64 of the raw bytes). `hookrelay.headers` keeps order,
//! repeats, and headers named `body`, `query` or `timestamp`, which the flat smee shape loses.
//!
//! [`decode_event`] reads all three dialects: hookrelay's (exact), gosmee's (`bodyB`: exact body,
//! no method or query) and smee.io's (body rebuilt as `JSON.stringify` made it, marked
//! re-serialized).

//!
//! `encode.rs` writes events (the relay); `decode.rs` reads them back, bounded (the client);
//! `body_stream.rs` decodes `bodyB` while the event's line streams in (the client's SSE parser),
//! so a large event is never held as base64 and as bytes at once.

mod body_stream;
mod decode;
mod encode;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

pub(crate) use body_stream::BodyScan;
pub use body_stream::StreamedBody;
pub use decode::{
    DecodeError, DecodedEvent, Dialect, MAX_HEADER_BYTES, MAX_HEADERS, MAX_QUERY_BYTES,
    decode_event, decode_event_streamed,
};
pub use encode::{
    EXTENDED_END, encode_event, encode_event_into, encoded_len_hint, extended_head_into,
    extended_head_len_hint, push_body_b64, query_object,
};

/// The request header a subscriber sends to receive the extended event shape.
pub const WIRE_HEADER: &str = "x-hookrelay-wire";
/// The query parameter alternative (`?wire=hookrelay`), for curl and browsers.
pub const WIRE_QUERY: &str = "wire=hookrelay";
/// Version of the `hookrelay` object in events.
pub const WIRE_VERSION: u64 = 1;

/// Keys of the smee shape that are not headers.
pub(crate) const SMEE_FIELDS: [&str; 5] = ["body", "query", "timestamp", "bodyB", "hookrelay"];
