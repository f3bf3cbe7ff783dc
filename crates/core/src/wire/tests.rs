//! Encode and decode together: round trips, each dialect, the bounds.

use super::encode::RAW_JSON_BYTES;
use super::*;
use bytes::Bytes;
use serde_json::Value;

use crate::delivery::{BodyOrigin, WebhookRequest};

fn sample() -> WebhookRequest {
    WebhookRequest {
        method: "PUT".into(),
        path: "/a/b".into(),
        query: "foo=bar&foo=baz&flag".into(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Multi".into(), "one".into()),
            ("X-Multi".into(), "two".into()),
            ("Body".into(), "a header named body".into()),
        ],
        body: Bytes::from_static(b"{ \"a\" : 1.0, \"b\": \"caf\\u00e9\" }\n"),
    }
}

#[test]
fn extended_round_trip_is_exact() {
    let req = sample();
    let data = encode_event(&req, 42, true);
    let d = decode_event(&data, usize::MAX).unwrap();
    assert_eq!(d.request, req);
    assert_eq!(d.origin, BodyOrigin::Exact);
    assert_eq!(d.dialect, Dialect::Hookrelay);
    assert_eq!(d.relay_timestamp_ms, Some(42));
}

#[test]
fn the_extended_shape_in_parts_is_the_whole_event_with_body_b_last() {
    let mut r = sample();
    // a header needing the line-separator escape, and a body that is not UTF-8
    r.headers.push(("X-Evil".into(), "a\u{2028}b\u{85}".into()));
    r.body = Bytes::from(
        (0..100_000u32)
            .map(|i| (i * 7 % 256) as u8)
            .collect::<Vec<u8>>(),
    );
    let whole = encode_event(&r, 9, true);
    for piece in [3, 6, 3 * 1024, 99_999, 200_000] {
        let mut parts = String::new();
        extended_head_into(&mut parts, &r, 9);
        assert!(parts.ends_with(",\"bodyB\":\""), "bodyB is opened last");
        assert!(!parts.contains(['\u{85}', '\u{2028}', '\n', '\r']));
        for chunk in r.body.chunks(piece) {
            push_body_b64(&mut parts, chunk);
        }
        parts.push_str(EXTENDED_END);
        assert_eq!(parts, whole, "pieces of {piece} bytes");
    }
    let d = decode_event(&whole, usize::MAX).unwrap();
    assert_eq!(d.request, r);
    assert_eq!(d.dialect, Dialect::Hookrelay);
    // an empty body: `"bodyB":""` last
    r.body = Bytes::new();
    assert!(encode_event(&r, 9, true).ends_with(",\"bodyB\":\"\"}"));
}

#[test]
fn smee_shape_matches_smee_io() {
    let data = encode_event(&sample(), 7, false);
    let v: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["x-multi"], "one, two");
    assert_eq!(v["content-type"], "application/json");
    assert_eq!(v["query"]["foo"], serde_json::json!(["bar", "baz"]));
    assert_eq!(v["query"]["flag"], "");
    assert_eq!(v["timestamp"], 7);
    assert!(v.get("bodyB").is_none() && v.get("hookrelay").is_none());
    // numbers keep their source text; the object is compact
    assert!(data.contains(r#""body":{"a":1.0,"b":"café"}"#), "{data}");
}

#[test]
fn the_flat_shape_leaves_out_connection_headers_the_exact_one_keeps_them() {
    let mut r = sample();
    r.headers
        .push(("Transfer-Encoding".into(), "chunked".into()));
    r.headers.push(("Connection".into(), "keep-alive".into()));
    let v: Value = serde_json::from_str(&encode_event(&r, 1, true)).unwrap();
    assert!(v.get("transfer-encoding").is_none() && v.get("connection").is_none());
    let d = decode_event(&encode_event(&r, 1, true), usize::MAX).unwrap();
    assert_eq!(d.request.header("transfer-encoding"), Some("chunked"));
}

#[test]
fn compact_json_bodies_are_embedded_as_sent() {
    let mut r = sample();
    r.body = Bytes::from_static(br#"{"a":1.0,"s":"caf\u00e9 \/","big":12345678901234567890}"#);
    let data = encode_event(&r, 1, false);
    assert!(
        data.contains(r#""body":{"a":1.0,"s":"caf\u00e9 \/","big":12345678901234567890}"#),
        "{data}"
    );
    let v: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["body"]["s"], "café /");
    // invalid JSON on one line is not embedded raw
    r.body = Bytes::from_static(b"{\"a\":");
    let v: Value = serde_json::from_str(&encode_event(&r, 1, false)).unwrap();
    assert_eq!(v["body"], "{\"a\":");
}

#[test]
fn line_separators_are_escaped_and_large_pretty_json_kept_raw() {
    let mut r = sample();
    r.headers = vec![("x-evil".into(), "a\u{85}id: x".into())];
    r.body = Bytes::from("{\"s\":\"\u{2028}\u{2029}\u{85}ą\"}".to_string());
    for extended in [false, true] {
        let data = encode_event(&r, 1, extended);
        assert!(!data.contains(['\u{85}', '\u{2028}', '\u{2029}']), "{data}");
        let v: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(v["x-evil"], "a\u{85}id: x");
        if extended {
            // the body travels as bodyB only
            assert_eq!(decode_event(&data, usize::MAX).unwrap().request, r);
        } else {
            assert!(data.contains("\\u2028\\u2029\\u0085ą"), "{data}");
            assert_eq!(v["body"]["s"], "\u{2028}\u{2029}\u{85}ą");
        }
    }
    let pretty = format!("{{\n  \"pad\": \"{}\"\r\n}}\n", "x".repeat(RAW_JSON_BYTES));
    r.body = Bytes::from(pretty);
    let data = encode_event(&r, 1, false);
    assert!(!data.contains(['\n', '\r']));
    assert!(
        data.contains("\"body\":{   \"pad\": \""),
        "kept as sent, breaks as spaces"
    );
    let v: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["body"]["pad"].as_str().unwrap().len(), RAW_JSON_BYTES);
}

#[test]
fn smee_body_for_non_json() {
    let mut r = sample();
    r.headers = vec![(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    )];
    r.body = Bytes::from_static(b"a=1&a=2&b=x+y");
    let v: Value = serde_json::from_str(&encode_event(&r, 0, false)).unwrap();
    assert_eq!(v["body"], serde_json::json!({"a": ["1", "2"], "b": "x y"}));
    r.headers.clear();
    r.body = Bytes::from_static(b"plain text");
    let v: Value = serde_json::from_str(&encode_event(&r, 0, false)).unwrap();
    assert_eq!(v["body"], "plain text");
    r.body = Bytes::from_static(&[0xff, 0xfe]);
    let v: Value = serde_json::from_str(&encode_event(&r, 0, false)).unwrap();
    assert_eq!(v["body"], Value::Null);
}

#[test]
fn malformed_events_have_reasons() {
    assert!(matches!(
        decode_event("nope", 100),
        Err(DecodeError::NotJson(_))
    ));
    assert_eq!(decode_event("[1]", 100), Err(DecodeError::NotObject));
    assert!(matches!(
        decode_event(r#"{"bodyB":"!!!"}"#, 100),
        Err(DecodeError::BadField { field: "bodyB", .. })
    ));
    assert!(matches!(
        decode_event(
            r#"{"hookrelay":{"v":1,"method":"PO ST","headers":[]},"bodyB":""}"#,
            1000
        ),
        Err(DecodeError::BadField { .. })
    ));
    assert!(matches!(
        decode_event(
            r#"{"hookrelay":{"v":9,"method":"POST","headers":[]},"bodyB":""}"#,
            1000
        ),
        Err(DecodeError::BadField { .. })
    ));
    assert!(matches!(
        decode_event("{}", 1),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn headers_are_bounded_while_parsed() {
    // smee.io's flat shape: every other key is a header, repeated keys counted too
    let flat = |n: usize, key: &dyn Fn(usize) -> String| {
        let mut d = String::from("{");
        for i in 0..n {
            d.push_str(&format!("\"{}\":\"v\",", key(i)));
        }
        d + "\"body\":{},\"timestamp\":1}"
    };
    let ok = decode_event(&flat(MAX_HEADERS, &|i| format!("h{i}")), usize::MAX).unwrap();
    assert_eq!(ok.request.headers.len(), MAX_HEADERS);
    let too_many = DecodeError::TooManyHeaders { limit: MAX_HEADERS };
    let distinct = flat(MAX_HEADERS + 1, &|i| format!("h{i}"));
    assert_eq!(decode_event(&distinct, usize::MAX), Err(too_many.clone()));
    let repeated = flat(MAX_HEADERS + 1, &|_| "a".into());
    assert_eq!(decode_event(&repeated, usize::MAX), Err(too_many.clone()));
    // hookrelay's exact shape
    let mut r = sample();
    r.headers = vec![("a".into(), "b".into()); MAX_HEADERS + 1];
    let mut exact =
        String::from("{\"bodyB\":\"\",\"hookrelay\":{\"v\":1,\"method\":\"POST\",\"headers\":");
    exact.push_str(&serde_json::to_string(&r.headers).unwrap());
    exact.push_str("}}");
    assert_eq!(decode_event(&exact, usize::MAX), Err(too_many));
    // bytes
    let big = format!("{{\"x-big\":\"{}\"}}", "v".repeat(MAX_HEADER_BYTES));
    assert_eq!(
        decode_event(&big, usize::MAX),
        Err(DecodeError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES
        })
    );
    r.headers = vec![("x-big".into(), "v".repeat(MAX_HEADER_BYTES))];
    assert_eq!(
        decode_event(&encode_event(&r, 1, true), usize::MAX),
        Err(DecodeError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES
        })
    );
    // still told apart: not JSON, not an object, trailing bytes
    assert!(matches!(
        decode_event("{} x", 100),
        Err(DecodeError::NotJson(_))
    ));
    assert_eq!(decode_event("\"s\"", 100), Err(DecodeError::NotObject));
}

#[test]
fn a_repeated_key_keeps_its_first_place_and_last_value() {
    let d = decode_event(r#"{"x-a":"1","x-b":"2","x-a":"3","body":null}"#, 1000).unwrap();
    assert_eq!(
        d.request.headers,
        vec![
            ("x-a".to_string(), "3".to_string()),
            ("x-b".into(), "2".into())
        ]
    );
}

#[test]
fn gosmee_dialect_keeps_raw_body() {
    let data = r#"{"accept":"*/*","bodyB":"eyAiYSIgOiAxLjAgfQo=","content-type":"application/json","timestamp":"1795551125660","x-multi":"one"}"#;
    let d = decode_event(data, usize::MAX).unwrap();
    assert_eq!(d.dialect, Dialect::Gosmee);
    assert_eq!(&d.request.body[..], b"{ \"a\" : 1.0 }\n");
    assert_eq!(d.relay_timestamp_ms, Some(1795551125660));
    assert_eq!(d.request.header("x-multi"), Some("one"));
    assert!(d.origin.is_exact());
}

#[test]
fn the_extended_shape_carries_the_body_once() {
    let mut req = sample();
    req.body = Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(100_000)));
    let plain = encode_event(&req, 1, false);
    let exact = encode_event(&req, 1, true);
    let v: Value = serde_json::from_str(&exact).unwrap();
    assert!(v.get("body").is_none(), "no smee `body` beside `bodyB`");
    // base64 is 4/3 of the body; with the body twice it would be 7/3
    assert!(exact.len() < req.body.len() * 3 / 2, "{}", exact.len());
    assert!(plain.len() < req.body.len() + 1024);
    assert!(encoded_len_hint(&req, true) >= exact.len());
    assert_eq!(decode_event(&exact, usize::MAX).unwrap().request, req);
}
