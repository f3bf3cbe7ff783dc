//! The relay server's ingest: every method and body kind reaches subscribers exactly, in
//! smee.io's shape for plain subscribers and the extended shape on request; routes and limits.

use crate::server_support;

use bytes::Bytes;
use hookrelay::wire::{self, Dialect};
use server_support::*;

/// The headers a decoded event carries for the names in `names`, in order.
fn only<'a>(headers: &'a [(String, String)], names: &[&str]) -> Vec<(&'a str, &'a str)> {
    headers
        .iter()
        .filter(|(n, _)| names.contains(&n.as_str()))
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

struct Case {
    method: reqwest::Method,
    sub: &'static str,
    query: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

#[tokio::test]
async fn every_method_and_body_round_trips_exactly() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    let mut sse = subscribe_ready(&chan, &[("x-hookrelay-wire", "1")]).await;

    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let cases = vec![
        Case {
            method: reqwest::Method::POST,
            sub: "",
            query: "",
            content_type: Some("application/json"),
            body: b"{ \"a\" : 1.0, \"b\": \"caf\\u00e9 \xc3\xa9\", \"n\": 12345678901234567890 }\n"
                .to_vec(),
        },
        Case {
            method: reqwest::Method::POST,
            sub: "/hooks/github",
            query: "foo=bar&foo=baz&empty=&sp=a%20b&plus=a+b&utf=%C3%A9&flag",
            content_type: Some("application/json"),
            body: b"[1,2,3]".to_vec(),
        },
        Case {
            method: reqwest::Method::PUT,
            sub: "/a/b%2Fc/%7Bx%7D",
            query: "",
            content_type: Some("application/x-www-form-urlencoded"),
            body: b"a=1&a=2&b=x+y".to_vec(),
        },
        Case {
            method: reqwest::Method::PATCH,
            sub: "",
            query: "x=1",
            content_type: Some("text/plain; charset=utf-8"),
            body: "plain text, ünïcode\r\nsecond line".as_bytes().to_vec(),
        },
        Case {
            method: reqwest::Method::DELETE,
            sub: "/thing/42",
            query: "",
            content_type: None,
            body: Vec::new(),
        },
        Case {
            method: reqwest::Method::POST,
            sub: "/bin",
            query: "",
            content_type: Some("application/octet-stream"),
            body: binary,
        },
        Case {
            method: reqwest::Method::GET,
            sub: "",
            query: "ping=1",
            content_type: None,
            body: Vec::new(),
        },
        Case {
            method: reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            sub: "/dav",
            query: "",
            content_type: Some("application/xml"),
            body: b"<propfind/>".to_vec(),
        },
        Case {
            method: reqwest::Method::OPTIONS,
            sub: "",
            query: "",
            content_type: None,
            body: Vec::new(),
        },
    ];

    for case in cases {
        let mut url = format!("{chan}{}", case.sub);
        if !case.query.is_empty() {
            url = format!("{url}?{}", case.query);
        }
        let mut rb = c
            .request(case.method.clone(), &url)
            .header("x-multi", "one")
            .header("x-multi", "two")
            .header("body", "a header named body")
            .header("x-hub-signature-256", "sha256=00ff");
        if let Some(ct) = case.content_type {
            rb = rb.header("content-type", ct);
        }
        let resp = rb.body(case.body.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{} {url}", case.method);
        let answer: serde_json::Value =
            serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();

        let ev = sse.next_non_ping().await;
        assert_eq!(ev.event, None, "webhooks are default messages");
        assert_eq!(ev.id.as_deref(), answer["id"].as_str(), "ids agree");
        assert!(!ev.data.contains('\n'));
        let d = wire::decode_event(&ev.data, usize::MAX).expect("decodes");
        assert_eq!(d.dialect, Dialect::Hookrelay);
        assert!(d.origin.is_exact());
        let r = d.request;
        assert_eq!(r.method, case.method.as_str());
        assert_eq!(r.path, case.sub);
        assert_eq!(r.query, case.query);
        assert_eq!(
            &r.body[..],
            &case.body[..],
            "{} {url}: body bytes",
            case.method
        );
        let mut expected = vec![
            ("x-multi", "one"),
            ("x-multi", "two"),
            ("body", "a header named body"),
            ("x-hub-signature-256", "sha256=00ff"),
        ];
        if let Some(ct) = case.content_type {
            expected.push(("content-type", ct));
        }
        assert_eq!(
            only(
                &r.headers,
                &["x-multi", "body", "x-hub-signature-256", "content-type"]
            ),
            expected
        );
        let host = server.local_addr().to_string();
        assert_eq!(r.header("host"), Some(host.as_str()));
        let ts = d.relay_timestamp_ms.expect("timestamp");
        assert!(ts > 1_600_000_000_000);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn chunked_upload_is_relayed_whole() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    let mut sse = subscribe_ready(&chan, &[("x-hookrelay-wire", "1")]).await;

    let parts: Vec<Result<Bytes, std::io::Error>> = (0..50)
        .map(|i| Ok(Bytes::from(format!("{{\"part\":{i}}}\n"))))
        .collect();
    let expected: Vec<u8> = (0..50)
        .flat_map(|i| format!("{{\"part\":{i}}}\n").into_bytes())
        .collect();
    let resp = c
        .post(format!("{chan}/chunked"))
        .header("content-type", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            parts,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let d = wire::decode_event(&sse.next_non_ping().await.data, usize::MAX).unwrap();
    assert_eq!(&d.request.body[..], &expected[..]);
    assert_eq!(d.request.header("transfer-encoding"), Some("chunked"));
    assert_eq!(d.request.header("content-length"), None);
    server.shutdown().await;
}

#[tokio::test]
async fn body_limit_is_exact() {
    const LIMIT: usize = 25 * 1024 * 1024;
    let server = start(|_| {}).await; // the default limit is 25 MiB
    let chan = server.new_channel();
    let c = client();
    let mut sse = subscribe_ready(&chan, &[("x-hookrelay-wire", "1")]).await;

    let mut big = vec![0u8; LIMIT];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    let resp = c.post(&chan).body(big.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200, "exactly 25 MiB is accepted");
    let ev = sse.next_non_ping().await;
    let d = wire::decode_event(&ev.data, usize::MAX).unwrap();
    assert_eq!(d.request.body.len(), LIMIT);
    assert!(d.request.body[..] == big[..], "25 MiB body byte-identical");

    big.push(0);
    let resp = c.post(&chan).body(big.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 413, "25 MiB + 1 is refused");
    let msg = resp.text().await.unwrap();
    assert!(msg.contains(&LIMIT.to_string()), "{msg}");

    // Without a content-length (chunked), the limit holds while reading.
    let chunks: Vec<Result<Bytes, std::io::Error>> = big
        .chunks(1024 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let resp = c
        .post(&chan)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    // The relay may answer 413 before the sender finished (then the send can fail instead).
    if let Ok(r) = resp {
        assert_eq!(r.status(), 413);
    }
    // Nothing over the limit was published.
    assert!(
        sse.next_within(std::time::Duration::from_millis(300))
            .await
            .is_none_or(|e| e.event.as_deref() == Some("ping"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn plain_subscribers_get_smee_shape_and_extended_on_request() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    let mut plain = subscribe_ready(&chan, &[]).await;
    let mut by_header = subscribe_ready(&chan, &[("X-Hookrelay-Wire", "1")]).await;
    let mut by_query = subscribe_ready(&format!("{chan}?wire=hookrelay"), &[]).await;

    let body = r#"{"action":"opened","n":1.0,"nested":{"k":[1,2]}}"#;
    let resp = c
        .post(format!("{chan}?foo=bar&foo=baz&flag"))
        .header("content-type", "application/json")
        .header("x-multi", "one")
        .header("x-multi", "two")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let ev = plain.next_non_ping().await;
    let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
    let obj = v.as_object().unwrap();
    assert!(!obj.contains_key("bodyB") && !obj.contains_key("hookrelay"));
    assert_eq!(v["content-type"], "application/json");
    assert_eq!(v["x-multi"], "one, two");
    assert_eq!(
        v["body"],
        serde_json::from_str::<serde_json::Value>(body).unwrap()
    );
    assert_eq!(
        v["query"],
        serde_json::json!({"foo": ["bar", "baz"], "flag": ""})
    );
    assert!(v["timestamp"].is_i64());
    let d = wire::decode_event(&ev.data, usize::MAX).unwrap();
    assert_eq!(d.dialect, Dialect::Smee);

    for sse in [&mut by_header, &mut by_query] {
        let ev2 = sse.next_non_ping().await;
        assert_eq!(ev2.id, ev.id, "every subscriber sees the same id");
        let d = wire::decode_event(&ev2.data, usize::MAX).unwrap();
        assert_eq!(d.dialect, Dialect::Hookrelay);
        assert_eq!(&d.request.body[..], body.as_bytes());
        assert_eq!(d.request.query, "foo=bar&foo=baz&flag");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn routes_new_pages_preflight_and_bad_names() {
    let server = start(|_| {}).await;
    let c = client();
    let base = server.base_url();

    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = c
            .request(method.clone(), format!("{base}/new"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 307, "{method}");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let name = loc
            .strip_prefix(&format!("{base}/"))
            .unwrap_or_else(|| panic!("absolute location on this host: {loc}"));
        assert!(
            name.len() >= 22 && hookrelay::server::valid_channel_name(name),
            "{name}"
        );
    }
    // The location follows the Host the client used (like smee.io).
    let r = c
        .get(format!("{base}/new"))
        .header("host", "relay.example:8080")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with("https://relay.example:8080/"), "{loc}");
    assert_ne!(server.new_channel(), server.new_channel());
    assert!(server.new_channel().starts_with(&format!("{base}/")));

    let r = c
        .get(&base)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text().await.unwrap().contains(&format!("{base}/new")));
    let r = c.get(&base).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("hookrelay forward"));

    // A browser on a channel gets a help page, not a published event.
    let chan = server.new_channel();
    let mut sse = subscribe_ready(&chan, &[]).await;
    let r = c
        .get(&chan)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!("hookrelay forward {chan}")),
        "{page}"
    );
    let r = c
        .request(reqwest::Method::OPTIONS, &chan)
        .header("origin", "https://example.com")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "x-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    assert_eq!(r.headers()["access-control-allow-headers"], "x-custom");
    assert!(
        sse.next_within(std::time::Duration::from_millis(300))
            .await
            .is_none_or(|e| e.event.as_deref() == Some("ping")),
        "help page and preflight publish nothing"
    );

    for bad in ["/has.dot", "/%20", &format!("/{}", "a".repeat(129))] {
        let r = c
            .post(format!("{base}{bad}"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = c.post(format!("{base}/new")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    server.shutdown().await;
}

#[tokio::test]
async fn limits_on_channels_and_subscribers_answer_503() {
    let server = start(|cfg| {
        cfg.max_channels = 2;
        cfg.max_subscribers_per_channel = 1;
    })
    .await;
    let c = client();
    let a = server.new_channel();
    let _sub = subscribe_ready(&a, &[]).await;
    let r = c
        .get(&a)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "second subscriber over the limit");
    assert!(r.text().await.unwrap().contains("subscribers"));

    post_json(&c, &server.new_channel(), "{}").await;
    let r = c
        .post(server.new_channel())
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "third channel over the limit");
    assert!(r.text().await.unwrap().contains("channels"));
    // Existing channels keep working.
    post_json(&c, &a, "{}").await;
    server.shutdown().await;
}

#[tokio::test]
async fn retained_memory_stays_within_the_budget() {
    const BUDGET: usize = 1024 * 1024;
    let server = start(|cfg| {
        cfg.retained_bytes_total = BUDGET;
        cfg.ring_bytes = 512 * 1024;
        cfg.max_body_bytes = 128 * 1024;
    })
    .await;
    let c = client();
    let body = vec![b'x'; 100 * 1024];
    for _ in 0..8 {
        let chan = server.new_channel();
        for _ in 0..10 {
            let r = c.post(&chan).body(body.clone()).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let s = server.stats();
            assert!(
                s.retained_bytes <= BUDGET,
                "retained {} over the budget",
                s.retained_bytes
            );
        }
    }
    let s = server.stats();
    assert_eq!(s.channels, 8);
    assert!(s.retained_bytes > BUDGET / 2, "rings are used: {s:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn non_utf8_header_values_are_kept_lossily() {
    let server = start(|_| {}).await;
    let chan = server.new_channel();
    let c = client();
    let mut sse = subscribe_ready(&chan, &[("x-hookrelay-wire", "1")]).await;
    let value = reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap();
    let r = c
        .post(&chan)
        .header("x-latin1", value)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = wire::decode_event(&sse.next_non_ping().await.data, usize::MAX).unwrap();
    assert_eq!(d.request.header("x-latin1"), Some("caf\u{fffd}"));
    server.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_their_turn() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = start(|cfg| cfg.max_connections = 2).await;
    let chan = server.new_channel();
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(subscribe_ready(&chan, &[]).await);
    }
    let path = chan.strip_prefix(&server.base_url()).unwrap().to_string();
    let mut third = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    third.write_all(req.as_bytes()).await.unwrap();
    let mut buf = [0u8; 12];
    let waited =
        tokio::time::timeout(std::time::Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(waited.is_err(), "not served while two connections are open");
    drop(held.pop());
    tokio::time::timeout(WAIT, third.read_exact(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    server.shutdown().await;
}
