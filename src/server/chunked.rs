//! A subscriber's stream frames as chunks of HTTP/1.1's chunked encoding, gathered for one
//! vectored write (`sse_conn.rs` writes them).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::Frame;

/// Room for the chunk lines of about 20 frames (each line is at most 22 bytes).
const LINES_CAP: usize = 512;

/// Frames as chunks of the chunked encoding, for one vectored write. The frames themselves
/// are not copied: each holds its share of the memory budget until written. The chunk lines
/// between them (`\r\n`, the size in hex, `\r\n`) are cut from one small buffer per write
/// (two pieces to write per frame, not three, and no allocation per frame).
#[derive(Default)]
pub(super) struct Chunks {
    parts: VecDeque<Bytes>,
    /// Chunk-line bytes not yet in `parts`.
    lines: BytesMut,
}

impl Chunks {
    /// Add one frame; false at the end of the stream (or on its error).
    pub(super) fn add(&mut self, frame: Option<Result<Frame<Bytes>, axum::Error>>) -> bool {
        let data = match frame {
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => d,
                Err(_) => return true, // trailers: none are sent
            },
            Some(Err(e)) => {
                tracing::debug!(error = %e, "subscriber stream failed");
                return false;
            }
            None => return false,
        };
        if data.is_empty() {
            return true;
        }
        if self.lines.capacity() - self.lines.len() < 24 {
            let mut fresh = BytesMut::with_capacity(LINES_CAP);
            fresh.extend_from_slice(&self.lines); // the previous chunk's end, if any
            self.lines = fresh;
        }
        write!(self.lines, "{:x}\r\n", data.len()).expect("a BytesMut grows");
        self.parts.push_back(self.lines.split().freeze());
        self.parts.push_back(data);
        self.lines.extend_from_slice(b"\r\n"); // this chunk's end, written before what follows
        true
    }

    /// Add bytes after the frames (the last chunk).
    pub(super) fn push_small(&mut self, bytes: &[u8]) {
        self.lines.extend_from_slice(bytes);
    }

    /// Bytes gathered so far.
    pub(super) fn len(&self) -> usize {
        self.remaining() + self.lines.len()
    }

    /// Move the last chunk line into the parts to write (before writing).
    pub(super) fn seal(&mut self) {
        if !self.lines.is_empty() {
            self.parts.push_back(self.lines.split().freeze());
        }
    }
}

impl Buf for Chunks {
    fn remaining(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |b| &b[..])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [io::IoSlice<'a>]) -> usize {
        let n = dst.len().min(self.parts.len());
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = io::IoSlice::new(part);
        }
        n
    }

    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 {
            let front = self.parts.front_mut().expect("advance within remaining");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks() {
        let mut out = Chunks::default();
        let frame = Frame::data(Bytes::from_static(b"0123456789abcdefg"));
        assert!(out.add(Some(Ok(frame))));
        assert!(!out.add(None));
        out.seal();
        assert_eq!(out.remaining(), 23);
        let mut flat = Vec::new();
        while out.has_remaining() {
            let c = out.chunk().to_vec();
            out.advance(c.len().min(3));
            flat.extend_from_slice(&c[..c.len().min(3)]);
        }
        assert_eq!(&flat[..], b"11\r\n0123456789abcdefg\r\n");
    }

    #[test]
    fn frames_are_written_in_place_between_chunk_lines() {
        let mut out = Chunks::default();
        let big = Bytes::from(vec![b'x'; 0x4000]);
        let frames = [
            Bytes::from_static(b"ab"),
            big.clone(),
            Bytes::from_static(b"c"),
        ];
        for data in frames.iter().chain(std::iter::repeat_n(&frames[2], 40)) {
            assert!(out.add(Some(Ok(Frame::data(data.clone())))));
        }
        out.push_small(b"0\r\n\r\n");
        out.seal();
        assert_eq!(
            out.parts.len(),
            2 * 43 + 1,
            "a line before each frame, and the end"
        );
        assert!(
            out.parts.iter().any(|p| p.as_ptr() == big.as_ptr()),
            "not copied"
        );
        let mut flat = Vec::new();
        while out.has_remaining() {
            let c = out.chunk().to_vec();
            flat.extend_from_slice(&c);
            out.advance(c.len());
        }
        let mut want = b"2\r\nab\r\n4000\r\n".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(&b"\r\n1\r\nc".repeat(41));
        want.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(flat, want);
    }
}
