//! `bodyB` decoded while the line streams in: through the SSE parser, at every split, against
//! the whole-line decode (the same outcome, event for event), and what it keeps in memory.

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::delivery::WebhookRequest;
use crate::sse_parser::{Parsed, Parser};

/// Every byte value, and a length that is not a multiple of 3 (a padded final quantum).
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}

fn request(body: Vec<u8>) -> WebhookRequest {
    WebhookRequest {
        method: "POST".into(),
        path: "/hook".into(),
        query: "a=1&a=2".into(),
        headers: vec![
            ("Content-Type".into(), "application/octet-stream".into()),
            ("X-Body".into(), "\"bodyB\":\"QUJD\"".into()),
        ],
        body: Bytes::from(body),
    }
}

/// The relay's extended line for `body`.
fn extended(body: &[u8]) -> String {
    encode_event(&request(body.to_vec()), 1_700_000_000_000, true)
}

/// `data` moved around: the same JSON with `bodyB` last (the shape a streaming relay writes).
fn body_last(body: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    format!(
        r#"{{"content-type":"application/octet-stream","query":{{}},"timestamp":5,"hookrelay":{{"v":1,"method":"PATCH","path":"/p","query":"","headers":[["content-type","application/octet-stream"]]}},"bodyB":"{b64}"}}"#
    )
}

/// What one event's decode gives: each parsed item, webhook events decoded.
#[derive(Debug, PartialEq)]
enum Seen {
    Decoded(Result<DecodedEvent, DecodeError>),
    Other(Parsed),
}

/// Parse `stream` in `chunks`; with `streaming`, decode `bodyB` on the way. Also returns
/// whether any event carried a streamed body.
fn run(stream: &[u8], cuts: &[usize], streaming: bool, limit: usize) -> (Vec<Seen>, bool) {
    let mut p = Parser::new(limit);
    if streaming {
        p = p.decode_body_b();
    }
    let mut out = Vec::new();
    let mut from = 0;
    for &c in cuts.iter().chain([stream.len()].iter()) {
        let c = c.clamp(from, stream.len());
        p.feed(&stream[from..c], &mut out);
        from = c;
    }
    let mut any = false;
    let seen = out
        .into_iter()
        .map(|x| match x {
            Parsed::Event(e) if e.event == "message" => {
                any |= e.body_b.is_some();
                Seen::Decoded(decode_event_streamed(&e.data, e.body_b, limit))
            }
            Parsed::Event(e) => Seen::Other(Parsed::Event(crate::sse_parser::SseEvent {
                event: e.event.clone(),
                id: e.id.clone(),
                data: e.whole_data(),
                body_b: None,
            })),
            other => Seen::Other(other),
        })
        .collect();
    (seen, any)
}

fn sse(data: &str) -> Vec<u8> {
    format!("id: 1\ndata: {data}\n\nid: 2\ndata: {{\"x-after\":\"1\",\"query\":{{}}}}\n\n")
        .into_bytes()
}

/// Streamed and whole give the same outcome; returns whether the body was streamed.
fn same(stream: &[u8], cuts: &[usize], limit: usize) -> bool {
    let (whole, any) = run(stream, cuts, false, limit);
    assert!(!any);
    let (streamed, any) = run(stream, cuts, true, limit);
    assert_eq!(streamed, whole, "cuts {cuts:?}");
    any
}

#[test]
fn an_extended_event_decodes_the_same_at_every_split() {
    for len in [0, 1, 2, 3, 4, 5, 47] {
        let body = binary(len);
        for data in [extended(&body), body_last(&body)] {
            let s = sse(&data);
            let (whole, _) = run(&s, &[], false, 1 << 20);
            let Seen::Decoded(Ok(d)) = &whole[0] else {
                panic!("{whole:?}")
            };
            assert_eq!(&d.request.body[..], &body[..]);
            for i in 0..=s.len() {
                assert!(same(&s, &[i], 1 << 20), "len {len}, split {i}");
            }
            // one byte at a time
            let every: Vec<usize> = (1..s.len()).collect();
            assert!(same(&s, &every, 1 << 20));
        }
    }
}

#[test]
fn two_splits_inside_the_key_and_the_quanta() {
    let body = binary(10);
    let s = sse(&extended(&body));
    let key = s.windows(7).position(|w| w == b"\"bodyB\"").unwrap();
    for i in key..key + 20 {
        for j in i..key + 30 {
            assert!(same(&s, &[i, j], 1 << 20), "{i} {j}");
        }
    }
}

/// Lines the streaming path does not take, or gives up on half way: the outcome is the
/// whole-line decode's (a body, or its error), at every split.
#[test]
fn unexpected_forms_fall_back_to_the_whole_line() {
    let b = r#""hookrelay":{"v":1,"method":"POST","path":"","query":"","headers":[]}"#;
    let cases = [
        // an escape inside the base64: valid JSON, the whole-line decode reads it
        format!(r#"{{"bodyB":"QU\/D",{b}}}"#),
        format!(r#"{{"bodyB":"QUJD\u0041AAA",{b}}}"#),
        // not base64
        format!(r#"{{"bodyB":"QUJ!",{b}}}"#),
        format!(r#"{{"bodyB":"QQ",{b}}}"#),
        format!(r#"{{"bodyB":"QR==",{b}}}"#),
        format!(r#"{{"bodyB":"QQ==QUJD",{b}}}"#),
        format!(r#"{{"bodyB":"QQ=A",{b}}}"#),
        format!(r#"{{"bodyB":"Q===",{b}}}"#),
        format!(r#"{{"bodyB":"QUJD=",{b}}}"#),
        format!(r#"{{"bodyB":"QUJDé",{b}}}"#),
        // not a string
        format!(r#"{{"bodyB":null,{b}}}"#),
        format!(r#"{{"bodyB":[1],{b}}}"#),
        // twice: the last one counts
        format!(r#"{{"bodyB":"QUJD","bodyB":"REVG",{b}}}"#),
        format!(r#"{{"bodyB":"QUJD",{b},"bodyB":""}}"#),
        // a key that spells bodyB with an escape
        format!(r#"{{"bodyB":"QUJD","body\u0042":"REVG",{b}}}"#),
        format!(r#"{{"body\u0042":"REVG",{b}}}"#),
        // nested: not the top-level key
        format!(r#"{{"x":{{"bodyB":"QUJD"}},"bodyB":"REVG",{b}}}"#),
        r#"{"hookrelay":{"v":1,"method":"POST","path":"","query":"","headers":[],"bodyB":"QUJD"}}"#
            .to_string(),
        // not a JSON object, or not JSON after the body
        r#"["bodyB","QUJD"]"#.to_string(),
        r#"{"bodyB":"QUJD"} x"#.to_string(),
        r#"{"bodyB":"QUJD"}{"bodyB":"REVG"}"#.to_string(),
        r#"{"bodyB":"QUJD","#.to_string(),
        r#"{"bodyB":"QUJD"#.to_string(),
        r#"{"bodyB":"QUJD","hookrelay":{"v":2}}"#.to_string(),
        // keys that only start like it
        r#"{"bodyBB":"QUJD","body":"x","bodyB":"REVG"}"#.to_string(),
        // gosmee's shape: bodyB and flat headers only
        r#"{"x-gosmee":"1","bodyB":"QUJD","query":{"a":"1"},"timestamp":"17"}"#.to_string(),
        // smee.io's: no bodyB
        r#"{"x-smee":"1","body":{"bodyB":"QUJD"},"query":{},"timestamp":17}"#.to_string(),
    ];
    for data in &cases {
        let s = sse(data);
        for i in 0..=s.len() {
            same(&s, &[i], 1 << 20);
        }
        let every: Vec<usize> = (1..s.len()).collect();
        same(&s, &every, 1 << 20);
    }
}

#[test]
fn more_data_lines_put_the_first_one_back() {
    // JSON across two data lines (the newline between them is whitespace)
    let data = extended(&binary(100));
    let cut = data.find(",\"hookrelay\"").unwrap();
    let s = format!("data: {}\ndata: {}\n\n", &data[..cut], &data[cut..]);
    assert!(!same(s.as_bytes(), &[], 1 << 20));
    let (seen, _) = run(s.as_bytes(), &[], true, 1 << 20);
    assert!(matches!(&seen[0], Seen::Decoded(Ok(d)) if d.request.body == binary(100)));
    // a line that ends inside the body string
    let cut = data.find("bodyB").unwrap() + 20;
    let s = format!("data: {}\ndata: {}\n\n", &data[..cut], &data[cut..]);
    assert!(!same(s.as_bytes(), &[], 1 << 20));
}

#[test]
fn the_bound_still_holds_and_the_stream_goes_on() {
    let body = binary(3000);
    let data = extended(&body);
    let s = format!(
        "id: 1\ndata: {data}\n\nid: 2\ndata: {}\n\n",
        extended(b"small")
    );
    // the bound counts the base64 text, not what is kept of it
    let limit = data.len() - 10;
    let (seen, any) = run(s.as_bytes(), &[100, 2000], true, limit);
    assert!(
        matches!(seen[0], Seen::Other(Parsed::TooLarge { .. })),
        "{seen:?}"
    );
    assert!(matches!(&seen[1], Seen::Decoded(Ok(d)) if &d.request.body[..] == b"small"));
    assert!(any);
    same(s.as_bytes(), &[100, 2000], limit);
    // the decoder's own bound counts the text as well
    let mut p = Parser::new(1 << 20).decode_body_b();
    let mut out = Vec::new();
    p.feed(format!("data: {data}\n\n").as_bytes(), &mut out);
    let Some(Parsed::Event(e)) = out.pop() else {
        panic!()
    };
    assert_eq!(
        decode_event_streamed(&e.data, e.body_b, data.len() - 1),
        Err(DecodeError::TooLarge {
            size: data.len(),
            limit: data.len() - 1
        })
    );
}

#[test]
fn a_new_connection_drops_the_half_event_and_keeps_the_id() {
    let data = extended(&binary(5000));
    let mut p = Parser::new(1 << 20).decode_body_b();
    let mut out = Vec::new();
    p.feed(b"id: 7\ndata: {\"x\":\"1\",\"query\":{}}\n\n", &mut out);
    let half = format!("id: 8\ndata: {}", &data[..data.len() / 2]);
    p.feed(half.as_bytes(), &mut out);
    p.reset_stream();
    assert_eq!(p.last_event_id(), Some("7"));
    p.feed(format!("id: 9\ndata: {data}\n\n").as_bytes(), &mut out);
    let ids: Vec<_> = out
        .iter()
        .map(|x| match x {
            Parsed::Event(e) => e.id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [Some("7".into()), Some("9".into())]);
    let Parsed::Event(e) = out.pop().unwrap() else {
        unreachable!()
    };
    // still streaming after the reset
    assert!(e.body_b.is_some());
    let d = decode_event_streamed(&e.data, e.body_b, 1 << 20).unwrap();
    assert_eq!(d.request.body, binary(5000));
}

#[test]
fn a_large_body_is_never_kept_as_text() {
    let body = binary(3 << 20);
    let s = format!("data: {}\n\n", extended(&body));
    let mut p = Parser::new(8 << 20).decode_body_b();
    let mut out = Vec::new();
    for c in s.as_bytes().chunks(16 * 1024) {
        p.feed(c, &mut out);
    }
    let Some(Parsed::Event(e)) = out.pop() else {
        panic!()
    };
    assert!(e.data.len() < 1024, "{}", e.data.len());
    assert!(e.data.contains(r#""bodyB":"""#));
    let streamed = e.body_b.clone().unwrap();
    assert!(streamed.body().len() == body.len());
    let d = decode_event_streamed(&e.data, e.body_b.clone(), 8 << 20).unwrap();
    assert_eq!(d.request.body, body);
    // and the line is the relay's again when put back together
    assert_eq!(e.whole_data(), extended(&body));
}

/// The scanner's buffer while `line` streams in (16 KiB at a time, all but its last bytes),
/// and the body it gives at the end.
fn scanned(line: &str, limit: usize) -> (usize, StreamedBody) {
    let (most, last) = line.as_bytes().split_at(line.len() - 4);
    let mut scan = BodyScan::new(limit);
    let mut out = Vec::new();
    for c in most.chunks(16 * 1024) {
        scan.feed(c, &mut out);
    }
    let capacity = scan.capacity();
    scan.feed(last, &mut out);
    (capacity, scan.end_line(&mut out).unwrap())
}

#[test]
fn the_senders_content_length_sizes_the_body_up_front() {
    let body = binary(1_000_000);
    let mut req = request(body.clone());
    req.headers
        .push(("Content-Length".into(), body.len().to_string()));
    let (capacity, b) = scanned(&encode_event(&req, 5, true), 8 << 20);
    assert_eq!(b.body(), &body[..]);
    assert_eq!(capacity, body.len(), "one buffer of the body's size");

    // without it the buffer grows by doubling on the way (what the hint saves)
    let (capacity, b) = scanned(&extended(&body), 8 << 20);
    assert_eq!(b.body(), &body[..]);
    assert!(capacity > body.len() + 64 * 1024, "{capacity}");

    // a hint that lies (too large, or not a number) decodes the same body, a large one is
    // bounded by the limit, and the buffer is cut back to the body at the end
    for claimed in ["900000000", "12x", "-1", "", "1e6"] {
        let mut req = request(binary(70_000));
        req.headers.push(("content-length".into(), claimed.into()));
        let (capacity, b) = scanned(&encode_event(&req, 5, true), 1 << 20);
        assert!(capacity <= 1 << 20, "claimed {claimed:?}: {capacity}");
        assert_eq!(b.body(), &binary(70_000)[..], "claimed {claimed:?}");
        assert!(
            b.body.capacity() < 70_000 + 64 * 1024,
            "claimed {claimed:?}"
        );
    }
    // a nested key of that name is not the sender's header
    let line = r#"{"x":{"content-length":"999999"},"bodyB":"QUJDREVG"}"#;
    assert!(scanned(line, 1 << 20).0 < 1000);
}

#[test]
fn other_events_are_given_whole() {
    let s = b"event: gap\ndata: {\"bodyB\":\"QUJD\",\"n\":1}\n\n";
    let mut p = Parser::new(1024).decode_body_b();
    let mut out = Vec::new();
    p.feed(s, &mut out);
    let Some(Parsed::Event(e)) = out.pop() else {
        panic!()
    };
    assert_eq!(e.whole_data(), "{\"bodyB\":\"QUJD\",\"n\":1}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any body, any chunking, bodyB in either place: the body arrives exact, streamed.
    #[test]
    fn any_body_any_chunks(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        last in any::<bool>(),
        cuts in proptest::collection::vec(0usize..1200, 0..12),
    ) {
        let data = if last { body_last(&body) } else { extended(&body) };
        let s = sse(&data);
        let mut cuts = cuts;
        cuts.sort_unstable();
        let (seen, any) = run(&s, &cuts, true, 1 << 20);
        prop_assert!(any);
        prop_assert!(matches!(&seen[0], Seen::Decoded(Ok(d)) if d.request.body == body));
        prop_assert!(same(&s, &cuts, 1 << 20));
    }

    /// Any text in place of the base64, any chunking: the same outcome as the whole line.
    #[test]
    fn any_text_in_the_body_string(
        text in "[A-Za-z0-9+/=\\\\\"é!]{0,24}",
        cuts in proptest::collection::vec(0usize..200, 0..6),
    ) {
        let data = format!(r#"{{"bodyB":"{text}","x-a":"1","query":{{}}}}"#);
        let s = sse(&data);
        let mut cuts = cuts;
        cuts.sort_unstable();
        same(&s, &cuts, 1 << 20);
    }
}

#[test]
fn escapes_inside_the_base64_are_valid_json_and_decode_whole() {
    let hr = r#""hookrelay":{"v":1,"method":"POST","path":"","query":"","headers":[]}"#;
    let data = format!(r#"{{"bodyB":"QUJD\/w\u003d\u003d",{hr}}}"#);
    let d = decode_event(&data, 1 << 20).unwrap();
    assert_eq!(&d.request.body[..], b"ABC\xff");
    let (seen, any) = run(&sse(&data), &[20, 21], true, 1 << 20);
    assert!(!any);
    assert!(matches!(&seen[0], Seen::Decoded(Ok(d)) if &d.request.body[..] == b"ABC\xff"));
    // and an error about a value that is not a string does not quote it
    let e = decode_event(
        &format!(r#"{{"bodyB":{{"x":"{}"}}}}"#, "y".repeat(500)),
        1 << 20,
    );
    assert!(e.unwrap_err().to_string().len() < 100);
}

#[test]
fn a_body_given_with_the_wrong_data_is_never_taken() {
    let mut p = Parser::new(1 << 20).decode_body_b();
    let mut out = Vec::new();
    p.feed(
        format!("data: {}\n\n", extended(&binary(300))).as_bytes(),
        &mut out,
    );
    let Some(Parsed::Event(e)) = out.pop() else {
        panic!()
    };
    let other = r#"{"x-é":"é","bodyB":"QUJD","query":{}}"#;
    let d = decode_event_streamed(other, e.body_b.clone(), 1 << 20);
    assert_ne!(d.map(|d| d.request.body), Ok(Bytes::from(binary(300))));
    decode_event_streamed("é", e.body_b, 1 << 20).unwrap_err();
}
