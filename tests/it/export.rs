//! `export::curl` run by a real curl through `sh -c` against a recording server, and the JSON and
//! HAR exports.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::*;
use hookrelay::delivery::WebhookRequest;
use hookrelay::export;

/// What the recording server saw, byte for byte.
#[derive(Debug)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Start a one-shot HTTP/1.1 server on 127.0.0.1:0 that records the raw request.
fn recording_server() -> (String, std::thread::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).unwrap();
        let line = String::from_utf8(line).unwrap();
        let mut parts = line.trim_end_matches("\r\n").splitn(3, ' ');
        let method = parts.next().unwrap().to_string();
        let target = parts.next().unwrap().to_string();
        let mut headers = Vec::new();
        loop {
            let mut raw = Vec::new();
            reader.read_until(b'\n', &mut raw).unwrap();
            let raw = String::from_utf8(raw).expect("headers are UTF-8 here");
            let raw = raw.strip_suffix("\r\n").expect("CRLF line ending");
            if raw.is_empty() {
                break;
            }
            let (n, v) = raw.split_once(':').unwrap();
            headers.push((n.to_string(), v.trim_matches(' ').to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        assert!(
            !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding")),
            "curl sends a length, not chunks"
        );
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .unwrap();
        Seen {
            method,
            target,
            headers,
            body,
        }
    });
    (base, handle)
}

/// Run the exported command with `sh` and return what the server saw.
fn run_curl(req: &WebhookRequest, body_file: Option<&Path>) -> (String, Seen) {
    let (base, server) = recording_server();
    let cmd = export::curl(req, &base, body_file);
    // A script file rather than `sh -c`: a 128 KiB command does not fit in one argument.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("replay.sh");
    std::fs::write(&script, format!("{} -sS -o /dev/null\n", cmd.trim_end())).unwrap();
    let out = Command::new("sh").arg(&script).output().expect("sh runs");
    assert!(
        out.status.success(),
        "curl failed: {}\n{cmd}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cmd, server.join().unwrap())
}

/// The request arrived as it was captured: method, path and query, the exported headers in
/// order with their case, and the body bytes.
fn assert_reproduced(req: &WebhookRequest, seen: &Seen, cmd: &str) {
    assert_eq!(seen.method, req.method, "{cmd}");
    assert_eq!(seen.target, req.path_and_query(), "{cmd}");
    let got: Vec<(String, String)> = seen
        .headers
        .iter()
        .filter(|(n, _)| !["host", "content-length"].contains(&n.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    assert_eq!(got, export::exported_headers(req), "{cmd}");
    assert_eq!(seen.body, &req.body[..], "{cmd}");
}

#[test]
fn hostile_text_body_and_headers_arrive_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("pwned");
    let c = canary.display();
    let body = format!(
        "{{\"msg\": \"it's a 'quote' and \\\"dq\\\"\",\n \"cmd\": \"$(touch {c}) `touch {c}` ${{HOME}}\",\r\n\
         \t\"uni\": \"é ✓ 🎉 \u{202e}rtl\", \"misc\": \"! ^ % \\\\ ; & | < > * ? [x] {{a,b}} ~ #\"}}\n"
    );
    let mut req = request(
        "PUT",
        "/hooks/a b/../x[1]{2}",
        &[
            ("Host", "example.com"),
            ("Content-Type", "application/json"),
            ("X-Quote", "it's \"quoted\" $(touch CANARY) `x`"),
            ("x-lower", "v"),
            ("X-Repeat", "1"),
            ("X-REPEAT", "2"),
            ("X-Empty", ""),
            ("User-Agent", "GitHub-Hookshot/abc"),
            ("Accept", "*/*"),
            ("Content-Length", "999"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "dropped"),
            ("Transfer-Encoding", "chunked"),
            ("X-Utf8", "héllo"),
        ],
        body.as_bytes(),
    );
    req.headers[2].1 = req.headers[2].1.replace("CANARY", &c.to_string());
    req.path = "/hooks/a%20b/../x[1]{2}".into();
    req.query = "a=1&a=2&q=%27%22&b[]=x&c={d}".into();
    let (cmd, seen) = run_curl(&req, None);
    assert_reproduced(&req, &seen, &cmd);
    assert!(!canary.exists(), "nothing in the payload ran:\n{cmd}");
    assert!(!cmd.starts_with("printf"), "text goes inline:\n{cmd}");
    let exported = export::exported_headers(&req);
    assert!(exported.iter().all(|(n, _)| n != "X-Hop" && n != "Host"));
    assert_eq!(exported.len(), 9);
}

#[test]
fn binary_body_goes_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body with space's.bin");
    let body: Vec<u8> = (0..=255u8).rev().chain([0, 0, b'\'', 0xc3]).collect();
    std::fs::write(&file, &body).unwrap();
    let req = request(
        "POST",
        "/bin",
        &[("Content-Type", "application/octet-stream")],
        &body,
    );
    let (cmd, seen) = run_curl(&req, Some(&file));
    assert!(
        cmd.contains("--data-binary ") && cmd.contains("@/"),
        "{cmd}"
    );
    assert_reproduced(&req, &seen, &cmd);
}

#[test]
fn bodies_curl_cannot_take_inline_are_piped_from_printf() {
    let binary: Vec<u8> = (0..=255u8).chain(*b"%s %% \\n '\x1b[31m").collect();
    let at = b"@/etc/passwd".to_vec();
    let big = "x'".repeat(export::MAX_INLINE_BODY).into_bytes();
    for body in [binary, at, big] {
        let req = request("POST", "/p", &[("Content-Type", "text/plain")], &body);
        let (cmd, seen) = run_curl(&req, None);
        assert!(cmd.starts_with("printf '"), "{}", &cmd[..80]);
        assert!(!cmd.contains('\x1b') && !cmd.contains('\0'));
        assert_reproduced(&req, &seen, &cmd);
    }
}

#[test]
fn curl_defaults_are_removed_and_an_empty_body_sends_none() {
    let req = request("GET", "", &[("X-Only", "this")], b"");
    let (cmd, seen) = run_curl(&req, None);
    assert_reproduced(&req, &seen, &cmd);
    assert!(!cmd.contains("--data-binary"));
    let names: Vec<&str> = seen.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Host", "X-Only"]);
}

#[test]
fn curl_command_snapshot() {
    let mut req = request(
        "POST",
        "/hook",
        &[
            ("Content-Type", "application/json"),
            ("X-Hub-Signature-256", "sha256=abc"),
            ("X-Note", "it's"),
            ("X-Bad\r\nInjected", "x"),
        ],
        br#"{"text":"it's $(x)"}"#,
    );
    req.query = "a=1&b=[2]".into();
    insta::assert_snapshot!(export::curl(&req, "http://localhost:3000/", None));
}

fn sample_delivery() -> hookrelay::delivery::Delivery {
    let mut req = request(
        "POST",
        "/gh",
        &[
            ("X-GitHub-Event", "push"),
            ("Content-Type", "application/json"),
        ],
        br#"{"ref":"main"}"#,
    );
    req.query = "a=1&b=two%20words".into();
    let mut d = delivery("k2m9x4abcd", 1_700_000_000_000, req);
    d.attempts = vec![response(200, b"ok"), error("connection refused")];
    d
}

#[test]
fn json_export_keeps_everything() {
    let mut d = sample_delivery();
    let v = export::json(&d);
    insta::assert_snapshot!(serde_json::to_string_pretty(&v).unwrap());
    // Binary bodies: base64 only, and it decodes to the bytes.
    d.request.body = bytes::Bytes::from_static(&[0xff, 0, 1]);
    let v = export::json(&d);
    let body = &v["request"]["body"];
    assert!(body.get("text").is_none());
    let b64 = body["base64"].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(decoded, [0xff, 0, 1]);
}

#[test]
fn har_export_has_one_entry_per_attempt() {
    let d = sample_delivery();
    let mut har = export::har(&d);
    assert_eq!(har["log"]["creator"]["version"], env!("CARGO_PKG_VERSION"));
    // Keep the snapshot stable across releases.
    har["log"]["creator"]["version"] = "VERSION".into();
    insta::assert_snapshot!(serde_json::to_string_pretty(&har).unwrap());
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["response"]["status"], 200);
    assert_eq!(entries[1]["response"]["status"], 0);
    assert_eq!(entries[1]["response"]["_error"], "connection refused");
    let never = delivery("n", 0, request("POST", "/x", &[], &[0xff]));
    let har = export::har(&never);
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["request"]["postData"]["encoding"], "base64");
    assert_eq!(entries[0]["request"]["url"], "https://smee.io/chan/x");
}
