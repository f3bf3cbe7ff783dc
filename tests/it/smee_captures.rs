//! The verbatim SSE bytes smee.io streamed (tests/fixtures/smee/sse) decode into the request the
//! sender made, as far as smee.io kept it: method, headers, query, and the body exactly as
//! `JSON.stringify` rebuilt it (what the real smee-client delivered), marked re-serialized.

use crate::common;

use common::fixture;
use hookrelay::delivery::BodyOrigin;
use hookrelay::sse::{Parsed, Parser};
use hookrelay::wire::{Dialect, decode_event, decode_event_streamed};

/// Parse a capture in uneven chunks, as a network would deliver it.
fn events(name: &str) -> Vec<hookrelay::sse::SseEvent> {
    events_with(name, Parser::new(64 << 20))
}

/// [`events`] with the parser `forward` uses (it decodes `bodyB` as the line streams in).
fn events_with(name: &str, mut p: Parser) -> Vec<hookrelay::sse::SseEvent> {
    let bytes = std::fs::read(fixture(&format!("smee/sse/{name}.sse"))).unwrap();
    let mut out = Vec::new();
    for chunk in bytes.chunks(1000) {
        p.feed(chunk, &mut out);
    }
    out.into_iter()
        .map(|e| match e {
            Parsed::Event(e) => e,
            other => panic!("{name}: unexpected {other:?}"),
        })
        .collect()
}

fn meta(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture(&format!("smee/sent/{name}/meta.json"))).unwrap())
        .unwrap()
}

fn webhook(name: &str) -> hookrelay::wire::DecodedEvent {
    let evs = events(name);
    assert_eq!(evs[0].event, "ready", "{name}: smee.io says ready first");
    let msgs: Vec<_> = evs.iter().filter(|e| e.event == "message").collect();
    assert_eq!(msgs.len(), 1, "{name}: one webhook per capture");
    let d = decode_event(&msgs[0].data, 64 << 20).unwrap();
    // the client's streaming parser reads smee.io's shape as it is
    let streamed = events_with(name, Parser::new(64 << 20).decode_body_b());
    let m = streamed.into_iter().find(|e| e.event == "message").unwrap();
    assert_eq!(m.data, msgs[0].data, "{name}");
    assert_eq!(
        decode_event_streamed(&m.data, m.body_b, 64 << 20),
        Ok(d.clone())
    );
    d
}

fn pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

#[test]
fn every_capture_decodes_with_the_senders_headers_and_a_reserialized_body() {
    for name in [
        "a0-json-compact-ascii",
        "a1-json-unusual-format",
        "d-query-string",
        "e1-json-1mb",
        "j-chunked-json",
    ] {
        let d = webhook(name);
        let m = meta(name);
        assert_eq!(d.dialect, Dialect::Smee);
        assert_eq!(d.request.method, "POST", "{name}: smee.io only relays POST");
        assert_eq!(
            d.origin,
            BodyOrigin::Reserialized {
                relay: "smee.io".into()
            },
            "{name}"
        );
        assert!(
            d.relay_timestamp_ms.unwrap() > 1_700_000_000_000,
            "{name}: relay time kept"
        );
        // every header the sender set is there (Node joins repeats with ", ")
        let mut expected: Vec<(String, String)> = Vec::new();
        for h in m["headers"].as_array().unwrap() {
            let n = h[0].as_str().unwrap().to_ascii_lowercase();
            let v = h[1].as_str().unwrap().to_string();
            if v.is_empty() {
                continue; // `Expect:` with no value tells curl to send no such header
            }
            match expected.iter_mut().find(|(en, _)| *en == n) {
                Some(e) => e.1 = format!("{}, {v}", e.1),
                None => expected.push((n, v)),
            }
        }
        for (n, v) in &expected {
            assert_eq!(d.request.header(n), Some(v.as_str()), "{name}: header {n}");
        }
        // the body parses to the same JSON the sender sent
        let sent: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixture(&format!("smee/sent/{name}/body"))).unwrap(),
        )
        .unwrap();
        let got: serde_json::Value = serde_json::from_slice(&d.request.body).unwrap();
        assert_eq!(
            got.as_object().map(|o| o.len()),
            sent.as_object().map(|o| o.len()),
            "{name}"
        );
    }
}

#[test]
fn the_body_is_exactly_what_smee_client_delivered() {
    for name in [
        "a0-json-compact-ascii",
        "a1-json-unusual-format",
        "e1-json-1mb",
    ] {
        let d = webhook(name);
        let delivered =
            std::fs::read(fixture(&format!("smee/smee-client-delivered/{name}.body"))).unwrap();
        assert_eq!(d.request.body.len(), delivered.len(), "{name}");
        assert!(
            d.request.body.as_ref() == &delivered[..],
            "{name}: body differs"
        );
    }
    // compact ASCII JSON survives smee.io byte for byte; the unusual one cannot
    let a0 = webhook("a0-json-compact-ascii");
    assert_eq!(
        a0.request.body.as_ref(),
        &std::fs::read(fixture("smee/sent/a0-json-compact-ascii/body")).unwrap()[..]
    );
    let a1 = webhook("a1-json-unusual-format");
    assert_eq!(a1.request.body.len(), 168);
    assert_ne!(a1.request.body.len(), 233);
}

#[test]
fn the_query_object_becomes_the_senders_pairs() {
    let d = webhook("d-query-string");
    let sent = meta("d-query-string")["query"]
        .as_str()
        .unwrap()
        .to_string();
    // repeated keys stay repeated (smee-client joins them with a comma); order kept
    assert_eq!(pairs(&d.request.query), pairs(&sent));
    assert!(
        d.request.query.contains("foo=bar&foo=baz"),
        "{}",
        d.request.query
    );
}

#[test]
fn gosmee_server_events_keep_the_raw_body() {
    let bytes = std::fs::read(fixture("smee/gosmee-0.18.0-server.sse")).unwrap();
    let mut p = Parser::new(1 << 20);
    let mut out = Vec::new();
    p.feed(&bytes, &mut out);
    let data = out
        .iter()
        .find_map(|e| match e {
            Parsed::Event(e) if e.data.contains("bodyB") => Some(e.data.clone()),
            _ => None,
        })
        .unwrap();
    let d = decode_event(&data, 1 << 20).unwrap();
    // the same through the client's streaming parser, which cuts the body out on the way
    let mut p = Parser::new(1 << 20).decode_body_b();
    let mut out = Vec::new();
    for chunk in bytes.chunks(7) {
        p.feed(chunk, &mut out);
    }
    let e = out
        .into_iter()
        .find_map(|e| match e {
            Parsed::Event(e) if e.body_b.is_some() => Some(e),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        decode_event_streamed(&e.data, e.body_b, 1 << 20),
        Ok(d.clone())
    );
    assert_eq!(d.dialect, Dialect::Gosmee);
    assert_eq!(
        &d.request.body[..],
        "{ \"a\" : 1.0, \"b\": \"caf\\u00e9 é\" }\n".as_bytes()
    );
    assert!(d.origin.is_exact());
}
