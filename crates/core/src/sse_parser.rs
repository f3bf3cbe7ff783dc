//! An incremental, bounded `text/event-stream` parser (WHATWG HTML §9.2.6).
//!
//! Why not a crate: `eventsource-stream` 0.2.3 re-parses its whole pending buffer on every
//! chunk and copies the remainder after each line, which is quadratic for the multi-megabyte
//! events a webhook relay carries (the failure mode that makes pysmee take 3 s for a 1 MB event),
//! and it has no size bound. `eventsource-client` brings a second HTTP stack and its own
//! reconnect policy, where hookrelay needs its own (503 is not fatal, a watchdog on raw bytes,
//! `gap` events). The format itself is small; this parser scans each byte once, works on bytes
//! (so a chunk may split a UTF-8 sequence or a CRLF anywhere) and refuses events over a bound
//! without losing its place in the stream.
//!
//! With [`Parser::decode_body_b`], an event's first `data:` line is scanned as it arrives and
//! the base64 text of its top-level `bodyB` is decoded into the body instead of being kept
//! ([`crate::wire::StreamedBody`], read with [`crate::wire::decode_event_streamed`]): a large
//! extended event costs its body plus small buffers, not its line and then its body as well.

use crate::wire::{BodyScan, StreamedBody};

/// Unused capacity above which a dispatched event's buffer is shrunk to fit.
const SHRINK_SLACK: usize = 64 * 1024;

/// The longest event id kept. An id is copied into every later event and sent back as
/// `Last-Event-ID`; a relay's ids are short (smee.io's are numbers, hookrelay's a few dozen
/// bytes), so a longer one is ignored (reported once) rather than kept.
pub const MAX_ID_BYTES: usize = 256;

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The event type (`message` when the stream named none).
    pub event: String,
    /// The data; with [`Parser::decode_body_b`], without the text of a `bodyB` decoded on the
    /// way (see `body_b`).
    pub data: String,
    /// The last event id in force when this event was dispatched.
    pub id: Option<String>,
    /// The `bodyB` decoded while the line streamed in, cut out of `data`
    /// ([`crate::wire::decode_event_streamed`] reads both; [`SseEvent::whole_data`] puts the
    /// line back together).
    pub body_b: Option<StreamedBody>,
}

impl SseEvent {
    /// The data as the server sent it (the text of a streamed `bodyB` put back).
    pub fn whole_data(self) -> String {
        let mut data = self.data;
        if let Some(b) = self.body_b {
            b.restore(&mut data);
        }
        data
    }
}

/// What the parser produced from a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Event(SseEvent),
    /// The server asked for a reconnection delay, in milliseconds.
    Retry(u64),
    /// An event was larger than the bound and was skipped whole.
    TooLarge {
        size: usize,
        limit: usize,
    },
    /// An event's data was not UTF-8 and was skipped.
    BadUtf8 {
        id: Option<String>,
    },
    /// An `id:` field longer than [`MAX_ID_BYTES`] was ignored (the previous id stays).
    IdTooLong {
        size: usize,
    },
}

/// The parser state. Feed it chunks as they arrive.
#[derive(Debug)]
pub struct Parser {
    /// Bytes of the current, incomplete line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a leading `\n` in the next chunk belongs to it.
    pending_cr: bool,
    data: Vec<u8>,
    event: String,
    /// The id of the last event dispatched: what a new connection resumes after.
    last_id: Option<String>,
    /// The id in force for the event being read (the spec's "last event ID buffer"): it becomes
    /// `last_id` when that event is dispatched, so a connection lost inside a large event
    /// resumes before it, not after it.
    id_buffer: Option<String>,
    /// Bytes of the event being accumulated (data, current line), for the bound.
    event_size: usize,
    /// The current event went over the bound: skip to its end.
    skipping: bool,
    limit: usize,
    at_stream_start: bool,
    /// Decode `bodyB` while the first data line of an event streams in.
    stream_body_b: bool,
    /// The scanner of the current line, once it is known to be the first `data:` line.
    scan: Option<BodyScan>,
    /// The body decoded from the current event's data line.
    streamed: Option<StreamedBody>,
}

impl Parser {
    /// A parser that refuses events whose fields add up to more than `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Parser {
            line: Vec::new(),
            pending_cr: false,
            data: Vec::new(),
            event: String::new(),
            last_id: None,
            id_buffer: None,
            event_size: 0,
            skipping: false,
            limit,
            at_stream_start: true,
            stream_body_b: false,
            scan: None,
            streamed: None,
        }
    }

    /// Decode the top-level `bodyB` of each event's (first) data line while it streams in (see
    /// the module's documentation); events carry it in [`SseEvent::body_b`].
    pub fn decode_body_b(mut self) -> Self {
        self.stream_body_b = true;
        self
    }

    /// Start a new connection: keep the last event id, drop any partial event.
    pub fn reset_stream(&mut self) {
        let id = self.last_id.take();
        *self = Parser {
            stream_body_b: self.stream_body_b,
            ..Parser::new(self.limit)
        };
        self.id_buffer.clone_from(&id);
        self.last_id = id;
    }

    /// The last event id seen (sent back as `Last-Event-ID` on reconnect).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Resume after `id` (ignored when longer than [`MAX_ID_BYTES`]).
    pub fn set_last_event_id(&mut self, id: Option<String>) {
        self.last_id = id.filter(|id| id.len() <= MAX_ID_BYTES);
        self.id_buffer.clone_from(&self.last_id);
    }

    /// Parse a chunk, appending what it completes to `out`.
    pub fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Parsed>) {
        if chunk.is_empty() {
            return;
        }
        if self.pending_cr {
            self.pending_cr = false;
            if chunk.first() == Some(&b'\n') {
                chunk = &chunk[1..];
            }
        }
        if self.at_stream_start && !chunk.is_empty() {
            self.at_stream_start = false;
            if let Some(rest) = chunk.strip_prefix("\u{feff}".as_bytes()) {
                chunk = rest;
            }
        }
        while !chunk.is_empty() {
            match memchr::memchr2(b'\n', b'\r', chunk) {
                None => {
                    self.push_partial(chunk);
                    return;
                }
                Some(i) => {
                    self.push_partial(&chunk[..i]);
                    let cr = chunk[i] == b'\r';
                    chunk = &chunk[i + 1..];
                    if cr {
                        match chunk.first() {
                            Some(b'\n') => chunk = &chunk[1..],
                            None => self.pending_cr = true,
                            _ => {}
                        }
                    }
                    self.end_line(out);
                }
            }
        }
    }

    fn push_partial(&mut self, bytes: &[u8]) {
        if self.skipping {
            self.event_size += bytes.len();
            return;
        }
        self.event_size += bytes.len();
        if self.event_size > self.limit {
            self.skipping = true;
            self.line = Vec::new();
            self.data = Vec::new();
            self.scan = None;
            self.streamed = None;
            return;
        }
        if let Some(scan) = &mut self.scan {
            scan.feed(bytes, &mut self.line);
            return;
        }
        const DATA: &[u8] = b"data:";
        if self.stream_body_b && self.data.is_empty() && self.line.len() < DATA.len() {
            // is this the event's first data line? (known once its first five bytes are in)
            let take = (DATA.len() - self.line.len()).min(bytes.len());
            self.line.extend_from_slice(&bytes[..take]);
            if self.line == DATA {
                let mut scan = BodyScan::new(self.limit);
                scan.feed(&bytes[take..], &mut self.line);
                self.scan = Some(scan);
                return;
            }
            self.line.extend_from_slice(&bytes[take..]);
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self, out: &mut Vec<Parsed>) {
        let mut line = std::mem::take(&mut self.line);
        let streamed = self.scan.take().and_then(|s| s.end_line(&mut line));
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if self.skipping {
            return;
        }
        if line[0] == b':' {
            // a comment: keep-alives from some servers; it is not part of any event
            self.event_size -= line.len();
            return;
        }
        let (field, value) = match memchr::memchr(b':', &line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &b""[..]),
        };
        match field {
            b"data" => {
                if self.data.is_empty() {
                    // the common case, one data line: move it rather than copy it
                    let skip = line.len() - value.len();
                    let mut line = line;
                    line.drain(..skip);
                    line.push(b'\n');
                    self.data = line;
                    self.streamed = streamed.map(|mut s| {
                        s.shift(skip);
                        s
                    });
                    return;
                }
                if let Some(s) = self.streamed.take() {
                    // more data lines: the event is read whole
                    s.restore_bytes(&mut self.data);
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"id" if value.len() > MAX_ID_BYTES => {
                out.push(Parsed::IdTooLong { size: value.len() });
            }
            b"id" if !value.contains(&0) => {
                self.id_buffer = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" => {
                if !value.is_empty()
                    && value.iter().all(u8::is_ascii_digit)
                    && let Ok(ms) = std::str::from_utf8(value).unwrap_or("").parse()
                {
                    out.push(Parsed::Retry(ms));
                }
            }
            _ => {}
        }
        // a later event must not inherit this line's bytes
        if field != b"data" {
            self.event_size = self.event_size.saturating_sub(line.len());
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Parsed>) {
        let event = std::mem::take(&mut self.event);
        let mut data = std::mem::take(&mut self.data);
        let size = std::mem::replace(&mut self.event_size, 0);
        let body_b = self.streamed.take();
        self.last_id.clone_from(&self.id_buffer);
        if std::mem::replace(&mut self.skipping, false) {
            out.push(Parsed::TooLarge {
                size,
                limit: self.limit,
            });
            return;
        }
        if data.is_empty() {
            return; // an event with no data is not dispatched
        }
        data.pop(); // the final LF
        // The line buffer grew by doubling: give back the slack of a large event before it
        // travels on (for a big buffer this is an mremap, not a copy).
        if data.capacity() - data.len() > SHRINK_SLACK {
            data.shrink_to_fit();
        }
        let id = self.last_id.clone();
        match String::from_utf8(data) {
            Ok(data) => out.push(Parsed::Event(SseEvent {
                event: if event.is_empty() {
                    "message".into()
                } else {
                    event
                },
                data,
                id,
                body_b,
            })),
            Err(_) => out.push(Parsed::BadUtf8 { id }),
        }
    }
}

#[cfg(test)]
mod tests;
