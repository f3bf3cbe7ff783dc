//! Which of a request's headers belong to one connection rather than to the message: the one
//! hop-by-hop list, and the headers that go on to a target.

use crate::delivery::{Headers, WebhookRequest};

/// Headers that describe one connection (RFC 9110 §7.6.1, with the names RFC 2616 §13.5.1
/// listed and the de-facto `proxy-connection`). A relay never passes them on: not to a target,
/// not in the smee event shape (undici refuses to send some of them), not back to a sender.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` (any case) is a hop-by-hop header.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Hop-by-hop headers, plus the names a `Connection` header lists, in `headers`. Those named
/// by `Connection` are connection-specific too.
fn connection_named(headers: &Headers) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `headers` without the hop-by-hop ones and those `Connection` names, in order: what a relay
/// passes on (a response to its sender, for one).
pub fn end_to_end(headers: &Headers) -> Headers {
    let named = connection_named(headers);
    headers
        .iter()
        .filter(|(n, _)| !is_hop_by_hop(n) && !named.iter().any(|c| c.eq_ignore_ascii_case(n)))
        .cloned()
        .collect()
}

/// Headers from (name, raw value) pairs, in order; a value that is not UTF-8 is read lossily.
/// How a parsed head (hyper's map, httparse's list) becomes a [`Headers`] list.
pub fn from_raw<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Headers {
    pairs
        .into_iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

/// Where an HTTP/1 head ends, while its bytes arrive in pieces: given the head's bytes so far
/// (`before`) and the next piece (`more`), how many of `more`'s bytes complete it (through its
/// blank line `\r\n\r\n`, which may straddle the two), or `None` when it goes on.
pub fn head_end(before: &[u8], more: &[u8]) -> Option<usize> {
    const BLANK: &[u8] = b"\r\n\r\n";
    let kept = before.len().min(3);
    let mut seam = [0u8; 6];
    let tail = &before[before.len() - kept..];
    let head = &more[..more.len().min(3)];
    seam[..kept].copy_from_slice(tail);
    seam[kept..kept + head.len()].copy_from_slice(head);
    match memchr::memmem::find(&seam[..kept + head.len()], BLANK) {
        Some(i) => Some(i + 4 - kept),
        None => memchr::memmem::find(more, BLANK).map(|i| i + 4),
    }
}

/// The headers that go to the target, in order: the end-to-end ones without `Host` and
/// `Content-Length`, which the client sets itself for the target's address and the body.
pub fn forwarded_headers(req: &WebhookRequest) -> Headers {
    end_to_end(&req.headers)
        .into_iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("host") && !n.eq_ignore_ascii_case("content-length")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_head_ends_at_its_blank_line_even_across_pieces() {
        assert_eq!(head_end(b"", b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\r", b"\n\r\nbody"), Some(3));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r", b"\nbody"), Some(1));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n", b"X: 1\r\n"), None);
        assert_eq!(head_end(b"", b""), None);
        assert_eq!(head_end(b"\r\n", b"\r"), None);
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_stay_behind_in_order() {
        let headers = h(&[
            ("X-A", "1"),
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("Transfer-Encoding", "chunked"),
            ("x-secret-hop", "no"),
            ("Proxy-Authorization", "Basic x"),
            ("X-A", "2"),
        ]);
        assert_eq!(end_to_end(&headers), h(&[("X-A", "1"), ("X-A", "2")]));
    }

    #[test]
    fn host_and_length_are_set_by_the_client() {
        let req = WebhookRequest {
            method: "POST".into(),
            path: String::new(),
            query: String::new(),
            headers: h(&[("Host", "relay"), ("content-length", "2"), ("x-b", "1")]),
            body: bytes::Bytes::from_static(b"{}"),
        };
        assert_eq!(forwarded_headers(&req), h(&[("x-b", "1")]));
    }
}
