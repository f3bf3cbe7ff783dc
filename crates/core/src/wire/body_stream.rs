//! Decoding an extended event's `bodyB` while its `data:` line streams in.
//!
//! Whole, a large event costs its line (the body as base64, 1.33 × the body) plus the decoded
//! body at once. [`BodyScan`] is fed the line's bytes as they arrive: it copies everything but
//! the base64 text of the top-level `"bodyB"` string to the line buffer (leaving `"bodyB":""`),
//! and decodes that text, one whole 4-character quantum at a time, into the body. What the
//! decoder later reads is the small rest of the line plus a [`StreamedBody`].
//!
//! It is a lexer of JSON's strings and nesting only, enough to find the top-level key; whatever
//! it does not expect (an escaped key, a second `bodyB`, a value that is not a string, an escape
//! or any other byte outside the base64 alphabet inside it, a quantum left incomplete, the line
//! ending inside it) puts the original text back and copies the rest of the line as it is: the
//! whole-line decode then reads it as before, or refuses it with its usual error. Whole unpadded
//! quanta decode one to one, so the text put back is the relay's own.
//!
//! Why the line stays JSON with an empty `bodyB`: every other field is then read by the one
//! decoder, and the line is valid JSON exactly when the relay's was (only the inside of one
//! string changed, and it held base64 characters only).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// The key whose string value is decoded as it streams.
const KEY: &[u8] = b"bodyB";

/// The top-level key (a header in smee's flat shape, before `bodyB`) whose string value, all
/// digits, sizes the body's buffer up front: growing it by doubling kept a 1 MB body in a
/// 1.5 MiB buffer, copied at each step (issue 16). Only a hint: the buffer still grows or
/// shrinks to what is decoded, and the reservation is bounded by the parser's event limit
/// (untouched reserved pages cost no memory).
const LEN_KEY: &[u8] = b"content-length";

/// A `bodyB` decoded while its line streamed in, cut out of the event's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamedBody {
    /// Where its base64 text was in the data: between the quotes of `"bodyB":""`.
    pub(crate) at: usize,
    pub(crate) body: Vec<u8>,
}

impl StreamedBody {
    /// The decoded body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Put the base64 text back into the data it was cut from: the line as the relay sent it.
    /// (Given other data than its own, it never panics: the text goes at the end, and that
    /// line then fails to decode.)
    pub fn restore(self, data: &mut String) {
        let at = if data.is_char_boundary(self.at) {
            self.at
        } else {
            data.len()
        };
        data.insert_str(at, &B64.encode(&self.body));
    }

    /// [`StreamedBody::restore`] on bytes.
    pub(crate) fn restore_bytes(self, data: &mut Vec<u8>) {
        let text = B64.encode(&self.body);
        let at = self.at.min(data.len());
        data.splice(at..at, text.bytes());
    }

    /// The offset moves left by `n` (the line's `data:` prefix was cut off).
    pub(crate) fn shift(&mut self, n: usize) {
        self.at -= n;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the top-level `{`.
    Start,
    /// Inside the line's JSON, outside the body string.
    Scan,
    /// After the top-level key `"bodyB"`, before its colon.
    AfterKey,
    /// After that colon, before the value.
    AfterColon,
    /// Inside the body string: base64 text.
    InBody,
    /// Copying the rest of the line as it is.
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// The string being read is not a top-level key.
    No,
    /// A top-level key; this many bytes of [`KEY`] matched so far.
    Matched(usize),
    /// A top-level key other than [`KEY`].
    Other,
    /// A top-level key with an escape: it could spell [`KEY`].
    Escaped,
}

/// The scanner of one `data:` line (see the module's documentation).
#[derive(Debug)]
pub(crate) struct BodyScan {
    state: State,
    depth: usize,
    /// At depth 1, the next string is a key.
    expect_key: bool,
    in_str: bool,
    escape: bool,
    key: Key,
    /// Base64 characters not yet a whole quantum (padding included).
    pending: [u8; 4],
    npend: usize,
    /// The final, padded quantum was decoded: only the closing quote may follow.
    padded: bool,
    /// The body string's offset in the output (after its opening quote).
    at: usize,
    body: Vec<u8>,
    /// A body string was decoded whole and closed.
    streamed: bool,
    /// While a top-level key is read: how much of [`LEN_KEY`] it matches so far.
    len_key: Option<usize>,
    /// The last top-level key was [`LEN_KEY`]: the next string value is the size hint.
    len_next: bool,
    /// While that value is read: its number so far (`None` once a byte is not a digit).
    len_digits: Option<usize>,
    /// The body's size, when the line said it ([`LEN_KEY`]); at most `limit`.
    size_hint: usize,
    limit: usize,
}

impl BodyScan {
    /// A scanner for a line whose event may be `limit` bytes at most.
    pub(crate) fn new(limit: usize) -> Self {
        BodyScan {
            state: State::Start,
            depth: 0,
            expect_key: false,
            in_str: false,
            escape: false,
            key: Key::No,
            pending: [0; 4],
            npend: 0,
            padded: false,
            at: 0,
            body: Vec::new(),
            streamed: false,
            len_key: None,
            len_next: false,
            len_digits: None,
            size_hint: 0,
            limit,
        }
    }

    /// Feed the next bytes of the line; what is kept of them is appended to `out`, the buffer
    /// of the whole line (the same buffer on every call).
    pub(crate) fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        while !bytes.is_empty() {
            match self.state {
                State::Off => {
                    out.extend_from_slice(bytes);
                    return;
                }
                State::InBody => {
                    let n = self.body_bytes(bytes, out);
                    bytes = &bytes[n..];
                }
                _ => {
                    let mut i = 0;
                    while i < bytes.len() && !matches!(self.state, State::InBody | State::Off) {
                        self.step(bytes[i], out);
                        i += 1;
                    }
                    out.extend_from_slice(&bytes[..i]);
                    bytes = &bytes[i..];
                    if self.state == State::InBody {
                        self.at = out.len();
                    }
                }
            }
        }
    }

    /// The body buffer's capacity so far (what the size hint saves, in tests).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.body.capacity()
    }

    /// The line ended: the body it carried, when one was decoded whole.
    pub(crate) fn end_line(mut self, out: &mut Vec<u8>) -> Option<StreamedBody> {
        if self.state == State::InBody {
            self.give_up(out);
        }
        if !self.streamed {
            return None;
        }
        let mut body = std::mem::take(&mut self.body);
        if body.capacity() - body.len() > 64 * 1024 {
            body.shrink_to_fit();
        }
        Some(StreamedBody { at: self.at, body })
    }

    /// One structural byte (any state but `InBody` and `Off`). A restore here happens before
    /// the bytes being stepped over are appended, so `out` ends at or after the body.
    fn step(&mut self, b: u8, out: &mut Vec<u8>) {
        let ws = matches!(b, b' ' | b'\t');
        match self.state {
            State::Start if ws => {}
            State::Start if b == b'{' => {
                self.state = State::Scan;
                self.depth = 1;
                self.expect_key = true;
            }
            State::AfterKey | State::AfterColon if ws => {}
            State::AfterKey if b == b':' => {
                self.state = State::AfterColon;
                self.expect_key = false;
            }
            // the opening quote of the body; `feed` records where its text starts
            State::AfterColon if b == b'"' => {
                self.state = State::InBody;
                if self.body.is_empty() {
                    self.body.reserve_exact(self.size_hint.min(self.limit));
                }
            }
            State::Scan => self.scan(b, out),
            // not the form expected (the value of `bodyB` is not a string, say): leave the line
            // whole to the whole-line decode
            _ => self.state = State::Off,
        }
    }

    fn scan(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.in_str {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
                if self.key != Key::No {
                    self.key = Key::Escaped;
                }
                (self.len_key, self.len_digits) = (None, None);
            } else if b == b'"' {
                self.in_str = false;
                if self.key != Key::No {
                    self.len_next = self.len_key == Some(LEN_KEY.len());
                    self.len_key = None;
                    self.end_key(out);
                } else if let Some(n) = self.len_digits.take() {
                    self.size_hint = n;
                }
            } else {
                self.key = match self.key {
                    Key::Matched(n) if KEY.get(n) == Some(&b) => Key::Matched(n + 1),
                    Key::Matched(_) => Key::Other,
                    k => k,
                };
                if let Some(n) = self.len_key {
                    self.len_key = (LEN_KEY.get(n) == Some(&b)).then_some(n + 1);
                }
                if let Some(v) = self.len_digits {
                    self.len_digits = b
                        .is_ascii_digit()
                        .then(|| v.saturating_mul(10).saturating_add(usize::from(b - b'0')));
                }
            }
            return;
        }
        match b {
            b'"' => {
                self.in_str = true;
                let top = self.depth == 1;
                self.key = if top && self.expect_key {
                    Key::Matched(0)
                } else {
                    Key::No
                };
                if top && self.expect_key {
                    self.len_key = Some(0);
                } else if top && std::mem::take(&mut self.len_next) {
                    self.len_digits = Some(0);
                }
            }
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            b',' if self.depth == 1 => {
                self.expect_key = true;
                self.len_next = false;
            }
            b':' if self.depth == 1 => self.expect_key = false,
            _ => {}
        }
    }

    /// A string closed: act on it if it was a top-level key that is, or may be, [`KEY`].
    fn end_key(&mut self, out: &mut Vec<u8>) {
        let key = std::mem::replace(&mut self.key, Key::No);
        let maybe_body = match key {
            Key::Matched(n) => n == KEY.len(),
            Key::Escaped => true,
            Key::No | Key::Other => false,
        };
        if !maybe_body {
            return;
        }
        if self.streamed {
            // a second `bodyB` (the last one is the value): decode the line whole
            let body = std::mem::take(&mut self.body);
            self.streamed = false;
            StreamedBody { at: self.at, body }.restore_bytes(out);
            self.state = State::Off;
        } else if key == Key::Escaped {
            self.state = State::Off;
        } else {
            self.state = State::AfterKey;
        }
    }

    /// Bytes inside the body string: decode the base64 run at their start. Returns how many
    /// bytes were consumed.
    fn body_bytes(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> usize {
        // The run to decode ends at a quote, an escape or padding; any other byte outside the
        // alphabet makes its decode fail, and that gives up too.
        let run = if self.padded || self.pending[..self.npend].contains(&b'=') {
            0
        } else {
            memchr::memchr3(b'"', b'\\', b'=', bytes).unwrap_or(bytes.len())
        };
        let mut chars = &bytes[..run];
        while self.npend > 0 && self.npend < 4 && !chars.is_empty() {
            self.pending[self.npend] = chars[0];
            self.npend += 1;
            chars = &chars[1..];
        }
        if self.npend == 4 && !self.decode_pending() {
            // a byte outside the alphabet
            self.give_up(out);
            out.extend_from_slice(chars);
            return run;
        }
        if self.npend == 0 {
            let whole = chars.len() / 4 * 4;
            let before = self.body.len();
            if B64.decode_vec(&chars[..whole], &mut self.body).is_err() {
                // a byte outside the alphabet: put it all back
                self.body.truncate(before);
                self.give_up(out);
                out.extend_from_slice(chars);
                return run;
            }
            let rest = &chars[whole..];
            self.pending[..rest.len()].copy_from_slice(rest);
            self.npend = rest.len();
        }
        if run == bytes.len() {
            return run;
        }
        // the byte that stopped the run
        let b = bytes[run];
        match b {
            b'"' if self.npend == 0 => {
                out.push(b'"');
                self.streamed = true;
                self.state = State::Scan;
                return run + 1;
            }
            b'=' if !self.padded && self.npend >= 2 => {
                self.pending[self.npend] = b'=';
                self.npend += 1;
                if self.npend == 4 {
                    if self.decode_pending() {
                        self.padded = true;
                    } else {
                        self.give_up(out); // puts the `=` back with the rest
                    }
                }
                return run + 1;
            }
            // an escape, a quantum cut short, padding out of place, any other byte
            _ => self.give_up(out),
        }
        run
    }

    /// Decode the four pending characters (the final quantum may be padded; STANDARD refuses
    /// non-canonical padding and trailing bits, as the whole-line decode does).
    fn decode_pending(&mut self) -> bool {
        let mut buf = [0u8; 3];
        match B64.decode_slice(&self.pending[..4], &mut buf) {
            Ok(n) => {
                self.body.extend_from_slice(&buf[..n]);
                self.npend = 0;
                true
            }
            Err(_) => false,
        }
    }

    /// Inside the body string, at the end of `out`: put back the text decoded so far and copy
    /// the rest of the line as it is.
    fn give_up(&mut self, out: &mut Vec<u8>) {
        debug_assert_eq!(out.len(), self.at, "the body text ends the line so far");
        let body = std::mem::take(&mut self.body);
        let start = out.len();
        out.resize(
            start + base64::encoded_len(body.len(), true).unwrap_or(0),
            0,
        );
        let n = B64.encode_slice(&body, &mut out[start..]).unwrap_or(0);
        out.truncate(start + n);
        out.extend_from_slice(&self.pending[..self.npend]);
        self.npend = 0;
        self.state = State::Off;
    }
}
