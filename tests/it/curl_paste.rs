//! `hookrelay export ID --curl` is safe to paste as shown (issue 14).
//!
//! The real binary prints the command; a terminal emulator (`vt100`) renders it; the text the
//! screen SHOWS is what a user copies. Run with bash against a recording target on 127.0.0.1,
//! that text executes nothing the payload smuggled in (a CR-hidden `; touch FILE #`,
//! `$(...)`, backticks), and the command as printed reproduces the request byte for byte.

use crate::cli_support;
use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Recorder, delivery, request};
use hookrelay::delivery::WebhookRequest;
use hookrelay::store::Store;

/// What a terminal shows after printing `bytes` (a tty turns `\n` into CR LF).
fn shown(bytes: &[u8]) -> String {
    let mut tty = Vec::with_capacity(bytes.len() + 64);
    for &b in bytes {
        if b == b'\n' {
            tty.push(b'\r');
        }
        tty.push(b);
    }
    let n = |v: u16| std::num::NonZeroU16::new(v).unwrap();
    let mut term = vt100::Parser::new(n(200), n(2000), 0);
    term.process(&tty);
    let text = term.screen().contents();
    text.trim_end().to_string() + "\n"
}

fn bash_available() -> bool {
    let ok = Command::new("bash")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "bash is missing under CI=true"
        );
        eprintln!("SKIP: no bash on this machine");
    }
    ok
}

/// Run `script` with bash in `dir`.
fn run_bash(dir: &Path, script: &str) -> std::process::Output {
    let file = dir.join("pasted.sh");
    std::fs::write(&file, script).unwrap();
    Command::new("bash")
        .arg(&file)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn assert_reproduced(req: &WebhookRequest, got: &common::Received, cmd: &str) {
    assert_eq!(got.method, req.method, "{cmd}");
    assert_eq!(got.path, req.path, "{cmd}");
    assert_eq!(got.query.as_deref().unwrap_or(""), req.query, "{cmd}");
    let headers: Vec<(String, String)> = got
        .headers
        .iter()
        .filter(|(n, _)| !["host", "content-length"].contains(&n.as_str()))
        .cloned()
        .collect();
    let want: Vec<(String, String)> = hookrelay::export::exported_headers(req)
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    assert_eq!(headers, want, "{cmd}");
    assert_eq!(&got.body[..], &req.body[..], "{cmd}");
}

#[test]
fn the_emulator_sees_through_a_cr() {
    // The check can fail: a raw CR hides what comes before it on the screen.
    let shown = shown(b"echo 'harmless\r; touch x #'\n");
    assert!(shown.starts_with("; touch x #"), "{shown:?}");
}

#[test]
fn export_curl_is_safe_to_paste_as_shown_and_byte_exact_as_printed() {
    if !bash_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let mut body = Vec::new();
    body.extend_from_slice(
        b"{\"note\": \"it's \\\"quoted\\\" $HOME $(touch dollar) `touch tick`\",\r\n",
    );
    body.extend_from_slice(b"\"cr\": \"harmless'\r; touch pwned #\",\n");
    body.extend_from_slice(
        "\"esc\": \"\x1b[2J\x1b]0;title\x07\", \"rtl\": \"\u{202e}txt.exe\",".as_bytes(),
    );
    body.extend_from_slice(
        "\"zw\": \"a\u{200b}b\u{feff}\u{2066}\", \"c1\": \"\u{9b}31m\u{85}\"}\n".as_bytes(),
    );
    let mut req = request(
        "POST",
        "/hooks/a%20b/../x[1]{2}",
        &[
            ("Content-Type", "application/json"),
            ("X-Note", "it's $(touch header) `x` \u{202e}evil"),
            ("X-Plain", "v"),
        ],
        &body,
    );
    req.query = "a=1&b[]=2&c={d}".into();
    let store = work.join("store.sqlite");
    Store::open(&store)
        .unwrap()
        .insert_delivery(&delivery("pastetest1", 1_700_000_000_000, req.clone()))
        .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let target = rt.block_on(Recorder::start());
    let out = cli_support::run(&[
        "export",
        "pastetest1",
        "--curl",
        "--target",
        &target.url(""),
        "--store",
        store.to_str().unwrap(),
    ])
    .expect_ok();
    let printed = out.stdout;
    for c in printed.chars() {
        assert!(
            c == '\n' || !hookrelay::sanitize::needs_escape(c),
            "raw {c:?} in the printed command:\n{printed}"
        );
    }
    let seen = shown(printed.as_bytes());
    assert_eq!(
        seen.trim_end(),
        printed.trim_end(),
        "the screen shows something else than what runs"
    );

    // Paste what the screen shows.
    let ran = run_bash(work, &format!("{} -o /dev/null\n", seen.trim_end()));
    assert!(ran.status.success(), "{ran:?}\n{seen}");
    for canary in ["pwned", "dollar", "tick", "header"] {
        assert!(!work.join(canary).exists(), "{canary} ran:\n{seen}");
    }
    let got = rt.block_on(target.wait_for(1, Duration::from_secs(10)));
    assert_reproduced(&req, &got[0], &seen);

    // And the command as printed (not through the screen) sends the same bytes.
    let ran = run_bash(work, &format!("{} -o /dev/null\n", printed.trim_end()));
    assert!(ran.status.success(), "{ran:?}");
    let got = rt.block_on(target.wait_for(2, Duration::from_secs(10)));
    assert_reproduced(&req, &got[1], &printed);
    for entry in std::fs::read_dir(work).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name.starts_with("store.sqlite") || name == "pasted.sh",
            "the command created {name}"
        );
    }
}
