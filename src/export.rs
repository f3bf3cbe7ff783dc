//! Exports of a stored delivery: a curl command that replays it byte for byte, the whole delivery
//! as JSON, and a HAR 1.2 log.
//!
//! Bodies are exported from their bytes: nothing here parses or re-serializes a body.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::delivery::{Attempt, AttemptOutcome, Delivery, Headers, WebhookRequest, event_label};

pub use crate::curl::{MAX_INLINE_BODY, exported_headers};

/// A shell command that sends `req` to `target_base` (scheme, host and optional base path; the
/// request's path and query are appended) the way it was received; see [`crate::curl`], the one
/// builder behind this and the UI's copy.
pub fn curl(req: &WebhookRequest, target_base: &str, body_file: Option<&Path>) -> String {
    crate::curl::command(req, &crate::curl::url_for(req, target_base), body_file)
}

/// A body as JSON: base64 always, the text too when it is UTF-8.
fn body_json(body: &[u8]) -> Value {
    let mut v = json!({ "size": body.len(), "base64": B64.encode(body) });
    if let Ok(text) = std::str::from_utf8(body) {
        v["text"] = Value::String(text.to_string());
    }
    v
}

fn headers_json(headers: &Headers) -> Value {
    headers.iter().map(|(n, v)| json!([n, v])).collect()
}

/// The whole delivery as JSON (`hookrelay export --json`): request with headers in order and the
/// body as base64 (and as text when it is UTF-8), origin, verification, attempts, Slack.
pub fn json(d: &Delivery) -> Value {
    let r = &d.request;
    json!({
        "id": d.id,
        "channel": d.channel,
        "relay_event_id": d.relay_event_id,
        "received_at_ms": d.received_at_ms,
        "received_at": crate::human::iso_utc(d.received_at_ms),
        "event": event_label(r),
        "request": {
            "method": r.method,
            "path": r.path,
            "query": r.query,
            "headers": headers_json(&r.headers),
            "body": body_json(&r.body),
        },
        "origin": d.origin,
        "verification": d.verification,
        "attempts": d.attempts.iter().map(attempt_json).collect::<Vec<_>>(),
        "slack": d.slack,
    })
}

fn attempt_json(a: &Attempt) -> Value {
    let mut v = json!({
        "target": a.target,
        "started_at_ms": a.started_at_ms,
        "started_at": crate::human::iso_utc(a.started_at_ms),
        "replay": a.replay,
        "latency_ms": a.latency_ms,
    });
    match &a.outcome {
        AttemptOutcome::Response {
            status,
            headers,
            body,
            body_size,
        } => {
            let mut b = body_json(body);
            b["full_size"] = json!(body_size);
            b["truncated"] = json!(*body_size > body.len() as u64);
            v["response"] =
                json!({ "status": status, "headers": headers_json(headers), "body": b });
        }
        AttemptOutcome::Error { message, .. } => v["error"] = json!(message),
    }
    if let Some(s) = &a.sent {
        // the request as it was sent (a replay; -H / --drop-header)
        v["sent"] = json!({
            "headers": headers_json(&s.headers),
            "resigned": s.resigned,
            "body_edited": s.body.is_some(),
        });
    }
    v
}

fn har_headers(headers: &Headers) -> Value {
    headers
        .iter()
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect()
}

/// HAR content: text when UTF-8, base64 (with `encoding`) otherwise.
fn har_text(body: &[u8]) -> (String, Option<&'static str>) {
    match std::str::from_utf8(body) {
        Ok(t) => (t.to_string(), None),
        Err(_) => (B64.encode(body), Some("base64")),
    }
}

fn har_request(r: &WebhookRequest, url: &str) -> Value {
    let query: Vec<Value> = form_urlencoded::parse(r.query.as_bytes())
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect();
    let mut req = json!({
        "method": r.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": har_headers(&r.headers),
        "queryString": query,
        "headersSize": -1,
        "bodySize": r.body.len(),
    });
    if !r.body.is_empty() {
        let (text, encoding) = har_text(&r.body);
        let mut post = json!({
            "mimeType": r.header("content-type").unwrap_or("application/octet-stream"),
            "text": text,
        });
        if let Some(e) = encoding {
            // Not in HAR 1.2 for postData; tools that know `content.encoding` read it the same way.
            post["encoding"] = json!(e);
        }
        req["postData"] = post;
    }
    req
}

fn har_response(a: Option<&Attempt>) -> Value {
    let empty = || {
        json!({
            "status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
            "content": { "size": 0, "mimeType": "" }, "redirectURL": "",
            "headersSize": -1, "bodySize": -1,
        })
    };
    let Some(a) = a else { return empty() };
    match &a.outcome {
        AttemptOutcome::Response {
            status,
            headers,
            body,
            body_size,
        } => {
            let (text, encoding) = har_text(body);
            let mime = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            let mut content = json!({ "size": body_size, "mimeType": mime, "text": text });
            if let Some(e) = encoding {
                content["encoding"] = json!(e);
            }
            if *body_size > body.len() as u64 {
                content["comment"] =
                    json!(format!("body cut at {} of {} bytes", body.len(), body_size));
            }
            json!({
                "status": status,
                "statusText": http::StatusCode::from_u16(*status).ok()
                    .and_then(|s| s.canonical_reason()).unwrap_or(""),
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": har_headers(headers),
                "content": content,
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": body_size,
            })
        }
        AttemptOutcome::Error { message, .. } => {
            let mut v = empty();
            v["_error"] = json!(message);
            v
        }
    }
}

/// A HAR 1.2 log with one entry per attempt (the request as received, or for a replay as sent,
/// and the target's answer). A
/// delivery never forwarded gives one entry with status 0 and its channel URL as the URL; an
/// attempt without a response has status 0 and its error in `_error`.
pub fn har(d: &Delivery) -> Value {
    let entry = |a: Option<&Attempt>| {
        let (started, url, latency) = match a {
            Some(a) => (a.started_at_ms, a.target.clone(), a.latency_ms.max(0.0)),
            None => (
                d.received_at_ms,
                format!(
                    "{}{}",
                    d.channel.trim_end_matches('/'),
                    d.request.path_and_query()
                ),
                0.0,
            ),
        };
        // the request as it was sent (a replay: re-signed, marked, the target's host; -H)
        let sent = a.and_then(|a| a.sent.as_deref()).map(|s| WebhookRequest {
            headers: s.headers.clone(),
            body: s.body.clone().unwrap_or_else(|| d.request.body.clone()),
            ..d.request.clone()
        });
        let mut e = json!({
            "startedDateTime": crate::human::iso_utc(started),
            "time": latency,
            "request": har_request(sent.as_ref().unwrap_or(&d.request), &url),
            "response": har_response(a),
            "cache": {},
            "timings": { "send": 0, "wait": latency, "receive": 0 },
            "_hookrelayId": d.id,
        });
        if let Some(a) = a {
            e["_replay"] = json!(a.replay);
            if let Some(s) = &a.sent {
                e["_resigned"] = json!(s.resigned);
            }
        }
        e
    };
    let entries: Vec<Value> = if d.attempts.is_empty() {
        vec![entry(None)]
    } else {
        d.attempts.iter().map(|a| entry(Some(a))).collect()
    };
    json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "hookrelay", "version": env!("CARGO_PKG_VERSION") },
            "entries": entries,
        }
    })
}
