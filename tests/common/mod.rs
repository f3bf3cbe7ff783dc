//! Shared builders for the store and export tests.
#![allow(dead_code)]

use bytes::Bytes;
use hookrelay::delivery::{Attempt, AttemptOutcome, BodyOrigin, Delivery, WebhookRequest};

pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

pub fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> WebhookRequest {
    WebhookRequest {
        method: method.into(),
        path: path.into(),
        query: String::new(),
        headers: self::headers(headers),
        body: Bytes::copy_from_slice(body),
    }
}

/// A delivery with a fixed id and time.
pub fn delivery(id: &str, at_ms: i64, req: WebhookRequest) -> Delivery {
    let mut d = Delivery::new("https://smee.io/chan", req, BodyOrigin::Exact);
    d.id = id.into();
    d.received_at_ms = at_ms;
    d
}

pub fn response(status: u16, body: &[u8]) -> Attempt {
    Attempt {
        target: "http://127.0.0.1:3000/hook".into(),
        started_at_ms: 1_700_000_000_500,
        replay: false,
        latency_ms: 12.5,
        outcome: AttemptOutcome::Response {
            status,
            headers: headers(&[("Content-Type", "text/plain"), ("X-Req", "1")]),
            body: Bytes::copy_from_slice(body),
            body_size: body.len() as u64,
        },
    }
}

pub fn error(message: &str) -> Attempt {
    Attempt {
        target: "http://127.0.0.1:9/hook".into(),
        started_at_ms: 1_700_000_000_600,
        replay: true,
        latency_ms: 0.25,
        outcome: AttemptOutcome::Error {
            message: message.into(),
        },
    }
}
