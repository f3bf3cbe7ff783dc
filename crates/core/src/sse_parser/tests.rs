//! The parser: every split point, the bounds, ids and resuming.

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
        body_b: None,
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
fn a_connection_lost_inside_an_event_resumes_before_it() {
    let mut p = Parser::new(1024);
    let mut out = Vec::new();
    p.feed(b"id: 7\ndata: seven\n\nid: 8\ndata: half of ei", &mut out);
    assert_eq!(p.last_event_id(), Some("7"));
    p.reset_stream();
    assert_eq!(p.last_event_id(), Some("7"));
    p.feed(b"id: 8\ndata: eight\n\n", &mut out);
    assert_eq!(
        out,
        vec![
            ev("message", "seven", Some("7")),
            ev("message", "eight", Some("8"))
        ]
    );
    assert_eq!(p.last_event_id(), Some("8"));
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
