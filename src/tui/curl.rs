//! Copy as curl: a shell command that sends the same request again.
//!
//! Everything from the payload is quoted so that pasting the command cannot run anything else
//! and cannot drive the terminal: plain text goes in single quotes; text with control, bidi or
//! zero-width characters (or bytes that are not UTF-8) goes in `$'...'` with `\xHH` escapes.

use crate::delivery::Delivery;
use crate::sanitize::is_invisible;

/// Headers curl sets itself (or that only describe one hop).
const SKIP_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

/// A curl command that sends `d`'s request (method, headers, exact body) to `url`.
pub fn curl_command(d: &Delivery, url: &str) -> String {
    let r = &d.request;
    let mut out = format!(
        "curl -sS -X {} {}",
        quote(r.method.as_bytes()),
        quote(url.as_bytes())
    );
    for (name, value) in &r.headers {
        if SKIP_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            continue;
        }
        out.push_str(" \\\n  -H ");
        out.push_str(&quote(format!("{name}: {value}").as_bytes()));
    }
    if !r.body.is_empty() {
        out.push_str(" \\\n  --data-binary ");
        out.push_str(&quote(&r.body));
    }
    out.push('\n');
    out
}

/// Quote bytes for a POSIX-ish shell (bash, zsh, ksh for `$'...'`).
pub fn quote(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(|c| c.is_control() || is_invisible(c)) => {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
        _ => ansi_c_quote(b),
    }
}

fn ansi_c_quote(b: &[u8]) -> String {
    let mut out = String::from("$'");
    let push_hex = |out: &mut String, bytes: &[u8]| {
        for byte in bytes {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    };
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() || is_invisible(c) => {
                    let mut buf = [0u8; 4];
                    push_hex(&mut out, c.encode_utf8(&mut buf).as_bytes());
                }
                c => out.push(c),
            }
        }
        push_hex(&mut out, chunk.invalid());
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote(b"plain"), "'plain'");
        assert_eq!(quote(b"it's"), r"'it'\''s'");
        assert_eq!(quote(b"\x1b]0;x\x07"), r"$'\x1b]0;x\x07'");
        assert_eq!(quote("a\u{202e}b".as_bytes()), r"$'a\xe2\x80\xaeb'");
        assert_eq!(quote(b"\xff'\\"), r"$'\xff\'\\'");
    }

    #[test]
    fn round_trips_through_bash() {
        // The real test of quoting: bash must give back the exact bytes.
        let Ok(out) = std::process::Command::new("bash").arg("--version").output() else {
            return; // no bash on this machine
        };
        assert!(out.status.success());
        let samples: [&[u8]; 4] = [
            b"{\"a\": \"it's\"}\n",
            b"\x1b[31mred\x1b]52;c;aGk=\x07\t\r\n",
            "bidi \u{202e} zw\u{200b}".as_bytes(),
            b"\xff\xfe\\'\"$`!\x00tail",
        ];
        for s in samples {
            let script = format!("printf %s {}", quote(s));
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            // bash strings cannot hold NUL: everything before it must survive.
            let want: Vec<u8> = s.iter().copied().take_while(|&b| b != 0).collect();
            assert_eq!(out.stdout, want, "script {script}");
        }
    }
}
