//! Exports of a stored delivery: a curl command that replays it byte for byte, the whole delivery
//! as JSON, and a HAR 1.2 log.
//!
//! Bodies are exported from their bytes: nothing here parses or re-serializes a body.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::delivery::{Attempt, AttemptOutcome, Delivery, Headers, WebhookRequest, event_label};

/// Bodies up to this size (valid text, see [`curl`]) go inline in the command. Linux refuses a
/// single argument above 128 KiB, so larger bodies go through a file or `printf`.
pub const MAX_INLINE_BODY: usize = 64 * 1024;

/// Headers curl adds on its own unless told otherwise; when the request had none, an empty
/// `-H 'Name:'` removes curl's.
const CURL_DEFAULTS: &[&str] = &["User-Agent", "Accept", "Content-Type"];

/// The headers [`curl`] puts in the command, in order: what forwarding sends
/// ([`crate::forward::forwarded_headers`]: no `Host`, `Content-Length` or hop-by-hop headers)
/// minus `Expect` (curl manages it) and any header that is not valid HTTP (a name that is not a
/// token, a value with control characters).
pub fn exported_headers(req: &WebhookRequest) -> Headers {
    crate::forward::forwarded_headers(req)
        .into_iter()
        .filter(|(n, v)| valid_header(n, v) && !n.eq_ignore_ascii_case("expect"))
        .collect()
}

fn valid_header(name: &str, value: &str) -> bool {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    !name.is_empty()
        && name.bytes().all(token)
        && value.chars().all(|c| c == '\t' || !c.is_control())
}

/// A POSIX shell command that sends `req` to `target_base` (scheme, host and optional base path;
/// the request's path and query are appended) the way it was received: `-X METHOD`, every
/// exported header as `-H` in order, and the body with `--data-binary`.
///
/// Every argument is quoted for a POSIX shell (`shlex`), so quotes, `$(...)`, backticks and
/// newlines in headers or body stay data. The body goes:
/// - inline, `--data-binary '...'`, when it is UTF-8 text without control characters other than
///   tab/CR/LF, does not start with `@` (curl would read a file) and is at most
///   [`MAX_INLINE_BODY`] bytes;
/// - otherwise from `body_file` (`--data-binary @file`; the caller writes the bytes there);
/// - otherwise, with no file given, from `printf` with octal escapes piped into
///   `--data-binary @-`, so the command stays self-contained.
///
/// `-H 'Expect:'` stops curl's `100-continue`; `--globoff` and `--path-as-is` keep the URL as is.
/// Headers that are not valid HTTP are left out and said so in a leading `#` comment line.
pub fn curl(req: &WebhookRequest, target_base: &str, body_file: Option<&Path>) -> String {
    let headers = exported_headers(req);
    let skipped = req
        .headers
        .iter()
        .filter(|(n, v)| !valid_header(n, v))
        .count();
    let url = format!(
        "{}{}",
        target_base.trim_end_matches('/'),
        req.path_and_query()
    );
    let mut args: Vec<String> = vec![
        "curl".into(),
        "--globoff".into(),
        "--path-as-is".into(),
        format!("-X {}", quote(&req.method)),
        quote(&escape_url(&url)),
    ];
    for (name, value) in &headers {
        // `Name;` is curl's way to send a header with an empty value (`Name:` removes it).
        let h = if value.is_empty() {
            format!("{name};")
        } else {
            format!("{name}: {value}")
        };
        args.push(format!("-H {}", quote(&h)));
    }
    for default in CURL_DEFAULTS {
        if req.header(default).is_none() {
            args.push(format!("-H {}", quote(&format!("{default}:"))));
        }
    }
    args.push(format!("-H {}", quote("Expect:")));
    let mut pipe_from = None;
    if !req.body.is_empty() {
        match std::str::from_utf8(&req.body) {
            Ok(text) if inline_ok(text) => args.push(format!("--data-binary {}", quote(text))),
            _ => match body_file {
                Some(file) => {
                    let at = format!("@{}", file.to_string_lossy());
                    args.push(format!("--data-binary {}", quote(&at)));
                }
                None => {
                    pipe_from = Some(printf_command(&req.body));
                    args.push("--data-binary @-".into());
                }
            },
        }
    }
    let mut out = String::new();
    if skipped > 0 {
        let _ = writeln!(
            out,
            "# {skipped} header(s) left out: not valid HTTP (bad name or control characters)"
        );
    }
    if let Some(printf) = pipe_from {
        out.push_str(&printf);
        out.push_str(" |\n");
    }
    out.push_str(&args.join(" \\\n  "));
    out.push('\n');
    out
}

/// A body curl can take inline without surprises.
fn inline_ok(text: &str) -> bool {
    text.len() <= MAX_INLINE_BODY
        && !text.starts_with('@')
        && text
            .chars()
            .all(|c| matches!(c, '\t' | '\n' | '\r') || !c.is_control())
}

/// Quote one word for a POSIX shell. Callers never pass NUL (headers with control characters
/// are left out; bodies with them go through a file or `printf`; URLs are escaped).
fn quote(s: &str) -> String {
    match shlex::try_quote(s) {
        Ok(q) => q.into_owned(),
        // Unreachable by construction; never produce an unquoted word.
        Err(_) => quote(&s.replace('\0', "")),
    }
}

/// Percent-encode what curl would refuse or a terminal would act on: controls and spaces.
fn escape_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_control() || c == ' ' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `printf '...'` writing exactly `body`: printable ASCII as is (but `%`, `\` and `'`), every
/// other byte as a three-digit octal escape, which POSIX printf understands in its format.
fn printf_command(body: &[u8]) -> String {
    let mut fmt = String::with_capacity(body.len() * 2);
    for &b in body {
        if (0x20..0x7f).contains(&b) && !matches!(b, b'%' | b'\\' | b'\'') {
            fmt.push(b as char);
        } else {
            let _ = write!(fmt, "\\{b:03o}");
        }
    }
    format!("printf '{fmt}'")
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

fn iso_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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
        "received_at": iso_time(d.received_at_ms),
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
        "started_at": iso_time(a.started_at_ms),
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

/// A HAR 1.2 log with one entry per attempt (the request as received, the target's answer). A
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
        let mut e = json!({
            "startedDateTime": iso_time(started),
            "time": latency,
            "request": har_request(&d.request, &url),
            "response": har_response(a),
            "cache": {},
            "timings": { "send": 0, "wait": latency, "receive": 0 },
            "_hookrelayId": d.id,
        });
        if let Some(a) = a {
            e["_replay"] = json!(a.replay);
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
