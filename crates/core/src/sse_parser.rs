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
    pub data: String,
    /// The last event id in force when this event was dispatched.
    pub id: Option<String>,
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
    last_id: Option<String>,
    /// Bytes of the event being accumulated (data, current line), for the bound.
    event_size: usize,
    /// The current event went over the bound: skip to its end.
    skipping: bool,
    limit: usize,
    at_stream_start: bool,
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
            event_size: 0,
            skipping: false,
            limit,
            at_stream_start: true,
        }
    }

    /// Start a new connection: keep the last event id, drop any partial event.
    pub fn reset_stream(&mut self) {
        let id = self.last_id.take();
        *self = Parser::new(self.limit);
        self.last_id = id;
    }

    /// The last event id seen (sent back as `Last-Event-ID` on reconnect).
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Resume after `id` (ignored when longer than [`MAX_ID_BYTES`]).
    pub fn set_last_event_id(&mut self, id: Option<String>) {
        self.last_id = id.filter(|id| id.len() <= MAX_ID_BYTES);
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
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self, out: &mut Vec<Parsed>) {
        let line = std::mem::take(&mut self.line);
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
                    return;
                }
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => self.event = String::from_utf8_lossy(value).into_owned(),
            b"id" if value.len() > MAX_ID_BYTES => {
                out.push(Parsed::IdTooLong { size: value.len() });
            }
            b"id" if !value.contains(&0) => {
                self.last_id = Some(String::from_utf8_lossy(value).into_owned());
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
            })),
            Err(_) => out.push(Parsed::BadUtf8 { id }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]], limit: usize) -> Vec<Parsed> {
        let mut p = Parser::new(limit);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        out
    }

    fn ev(event: &str, data: &str, id: Option<&str>) -> Parsed {
        Parsed::Event(SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
        })
    }

    #[test]
    fn smee_stream() {
        let s = b"id: 0\nevent: ready\ndata: {}\n\nid: 1\ndata: {\"a\":1}\n\nid: 2\nevent: ping\ndata: {}\n\n";
        assert_eq!(
            parse_all(&[s], 1024),
            vec![
                ev("ready", "{}", Some("0")),
                ev("message", "{\"a\":1}", Some("1")),
                ev("ping", "{}", Some("2")),
            ]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let s: &[u8] = "\u{feff}: hi\r\nid: é-1\r\ndata: line one\r\ndata:two\r\r\nevent: x\ndata\n\nretry: 1500\n\ndata: 😀\n\n".as_bytes();
        let whole = parse_all(&[s], 1024);
        assert_eq!(
            whole,
            vec![
                ev("message", "line one\ntwo", Some("é-1")),
                ev("x", "", Some("é-1")),
                Parsed::Retry(1500),
                ev("message", "😀", Some("é-1")),
            ]
        );
        for i in 0..=s.len() {
            for j in i..=s.len() {
                assert_eq!(
                    parse_all(&[&s[..i], &s[i..j], &s[j..]], 1024),
                    whole,
                    "split {i} {j}"
                );
            }
        }
    }

    #[test]
    fn oversized_event_is_skipped_and_the_stream_goes_on() {
        let big = format!("data: {}\n\n", "x".repeat(100));
        let s = format!("id: 1\ndata: small\n\n{big}id: 3\ndata: after\n\n");
        let out = parse_all(&[s.as_bytes()], 50);
        assert_eq!(out[0], ev("message", "small", Some("1")));
        assert!(matches!(out[1], Parsed::TooLarge { limit: 50, .. }));
        assert_eq!(out[2], ev("message", "after", Some("3")));
        // the same, byte by byte
        let bytes: Vec<&[u8]> = s.as_bytes().chunks(1).collect();
        assert_eq!(parse_all(&bytes, 50), out);
    }

    #[test]
    fn many_small_lines_do_not_count_toward_the_bound_of_later_events() {
        let mut s = String::new();
        for i in 0..100 {
            s.push_str(&format!("event: ping\nid: {i}\ndata: {{}}\n\n"));
        }
        let out = parse_all(&[s.as_bytes()], 40);
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|p| matches!(p, Parsed::Event(_))));
    }

    #[test]
    fn an_overlong_id_is_reported_and_never_kept() {
        let long = "i".repeat(MAX_ID_BYTES + 1);
        let ok = "k".repeat(MAX_ID_BYTES);
        let s = format!("id: 1\ndata: a\n\nid: {long}\ndata: b\n\nid: {ok}\ndata: c\n\n");
        let mut p = Parser::new(1 << 20);
        let mut out = Vec::new();
        for c in s.as_bytes().chunks(7) {
            p.feed(c, &mut out);
        }
        assert_eq!(
            out,
            vec![
                ev("message", "a", Some("1")),
                Parsed::IdTooLong {
                    size: MAX_ID_BYTES + 1
                },
                ev("message", "b", Some("1")),
                ev("message", "c", Some(&ok)),
            ]
        );
        p.set_last_event_id(Some(long));
        assert_eq!(p.last_event_id(), None);
    }

    #[test]
    fn invalid_utf8_is_reported() {
        let out = parse_all(&[b"id: 7\ndata: \xff\xfe\n\ndata: ok\n\n"], 1024);
        assert_eq!(
            out[0],
            Parsed::BadUtf8 {
                id: Some("7".into())
            }
        );
        assert_eq!(out[1], ev("message", "ok", Some("7")));
    }

    #[test]
    fn reset_keeps_last_id_and_drops_partial_event() {
        let mut p = Parser::new(1024);
        let mut out = Vec::new();
        p.feed(b"id: 5\ndata: done\n\ndata: half", &mut out);
        p.reset_stream();
        p.feed(b"data: next\n\n", &mut out);
        assert_eq!(
            out,
            vec![
                ev("message", "done", Some("5")),
                ev("message", "next", Some("5"))
            ]
        );
        assert_eq!(p.last_event_id(), Some("5"));
    }

    #[test]
    fn large_event_in_small_chunks_is_linear() {
        // 4 MiB in 4 KiB chunks: arrives whole, as one event
        let payload = "y".repeat(4 << 20);
        let s = format!("data: {payload}\n\n");
        let mut p = Parser::new(8 << 20);
        let mut out = Vec::new();
        for c in s.as_bytes().chunks(4096) {
            p.feed(c, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], Parsed::Event(e) if e.data.len() == 4 << 20));
    }
}
