//! A request as a curl command: the one builder behind the UI's `c` copy and
//! `hookrelay export --curl`.
//!
//! Two promises:
//! - **Safe to paste as shown.** The command holds only printable characters (and the newlines
//!   between its lines). Every word from the payload is quoted: plain text in single quotes;
//!   text with a control, bidi, zero-width or other format character (or bytes that are not
//!   UTF-8) in ANSI-C `$'…'` quoting with `\xHH` escapes (bash, zsh, ksh; not plain `dash`).
//!   So the text a terminal shows is the text that runs: a CR cannot hide `; touch x #` behind
//!   a line start, U+202E cannot reorder it, ESC cannot rewrite the screen.
//! - **Byte-exact when run.** `-X METHOD`, the URL as received (`--globoff` and
//!   `--path-as-is` stop curl from reading `[]{}` as globs and from folding `/../`), every
//!   header forwarding sends in order (curl's own defaults removed), and the body with
//!   `--data-binary` (inline, from a file, or from `printf` for what no shell word can hold).
//!
//! Hand-written rather than `shlex`: shlex quotes for POSIX `sh` and leaves CR, ESC and bidi
//! characters raw inside its quotes, which is exactly what must not reach the terminal.

use std::fmt::Write as _;
use std::path::Path;

use crate::delivery::{Headers, WebhookRequest};
use crate::sanitize::needs_escape;

/// The longest quoted body that goes inline. Linux refuses a single argument above 128 KiB,
/// so larger bodies go through a file or `printf`.
pub const MAX_INLINE_BODY: usize = 64 * 1024;

/// Headers curl adds on its own unless told otherwise; when the request had none, an empty
/// `-H 'Name:'` removes curl's.
const CURL_DEFAULTS: &[&str] = &["User-Agent", "Accept", "Content-Type"];

/// The headers [`command`] puts in the command, in order: what forwarding sends
/// ([`crate::headers::forwarded_headers`]: no `Host`, `Content-Length` or hop-by-hop headers)
/// minus `Expect` (curl manages it) and any header that is not valid HTTP (a name that is not a
/// token, a value with control characters).
pub fn exported_headers(req: &WebhookRequest) -> Headers {
    crate::headers::forwarded_headers(req)
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

/// The target URL for `req` under `base` (scheme, host and optional base path): the request's
/// path and query appended.
pub fn url_for(req: &WebhookRequest, base: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), req.path_and_query())
}

/// A shell command (bash, zsh, ksh) that sends `req` to `url` the way it was received.
///
/// The body goes inline when its quoted form fits ([`MAX_INLINE_BODY`]), holds no NUL (no
/// shell word can) and does not start with `@` (curl would read a file); otherwise from
/// `body_file` (`--data-binary @FILE`, the caller writes the bytes there); otherwise from a
/// `printf` of octal escapes piped into `--data-binary @-`. Headers that are not valid HTTP
/// are left out and said so in a leading `#` comment line.
pub fn command(req: &WebhookRequest, url: &str, body_file: Option<&Path>) -> String {
    command_with(req, url, &crate::headers::forwarded_headers(req), body_file)
}

/// [`command`] with the headers forwarding sends given (a target's `-H` rules applied, or an
/// attempt's headers as sent): only `Expect` and headers that are not valid HTTP are left out.
pub fn command_with(
    req: &WebhookRequest,
    url: &str,
    sent: &Headers,
    body_file: Option<&Path>,
) -> String {
    let headers: Headers = sent
        .iter()
        .filter(|(n, v)| valid_header(n, v) && !n.eq_ignore_ascii_case("expect"))
        .cloned()
        .collect();
    let skipped = sent.iter().filter(|(n, v)| !valid_header(n, v)).count();
    let mut args: Vec<String> = vec![
        "curl".into(),
        "-sS".into(),
        "--globoff".into(),
        "--path-as-is".into(),
        format!("-X {}", quote(req.method.as_bytes())),
        quote(escape_url(url).as_bytes()),
    ];
    for (name, value) in &headers {
        // `Name;` is curl's way to send a header with an empty value (`Name:` removes it).
        let h = if value.is_empty() {
            format!("{name};")
        } else {
            format!("{name}: {value}")
        };
        args.push(format!("-H {}", quote(h.as_bytes())));
    }
    for default in CURL_DEFAULTS {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(default)) {
            args.push(format!("-H {}", quote(format!("{default}:").as_bytes())));
        }
    }
    args.push(format!("-H {}", quote(b"Expect:")));
    let mut pipe_from = None;
    if !req.body.is_empty() {
        match inline_body(&req.body) {
            Some(word) => args.push(format!("--data-binary {word}")),
            None => match body_file {
                Some(file) => {
                    let at = format!("@{}", file.to_string_lossy());
                    args.push(format!("--data-binary {}", quote(at.as_bytes())));
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

/// The body as one quoted word, when it can be one.
fn inline_body(body: &[u8]) -> Option<String> {
    if body.starts_with(b"@") || body.contains(&0) || body.len() > MAX_INLINE_BODY {
        return None;
    }
    let word = quote(body);
    (word.len() <= 2 * MAX_INLINE_BODY).then_some(word)
}

/// One shell word holding exactly `b` (which must not contain NUL: no shell word can).
///
/// Single quotes when `b` is UTF-8 with nothing [`needs_escape`] flags; otherwise `$'…'`,
/// where every such character, every byte that is not UTF-8 and `'` is a `\xHH` escape and
/// `\` is doubled. Either way the word is printable text.
pub fn quote(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if !s.chars().any(needs_escape) => format!("'{}'", s.replace('\'', r"'\''")),
        _ => ansi_c_quote(b),
    }
}

fn ansi_c_quote(b: &[u8]) -> String {
    let mut out = String::from("$'");
    let push_hex = |out: &mut String, bytes: &[u8]| {
        for byte in bytes {
            let _ = write!(out, "\\x{byte:02x}");
        }
    };
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                // `\x27`, not `\'`: bash's history expansion would see `\'` end a quote.
                '\'' => out.push_str("\\x27"),
                c if needs_escape(c) => {
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

/// Percent-encode what curl would refuse in a URL: controls and spaces. (A request line
/// cannot carry them raw, so this is what was received.)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote(b"plain"), "'plain'");
        assert_eq!(quote(b"it's"), r"'it'\''s'");
        assert_eq!(quote(b"\x1b]0;x\x07"), r"$'\x1b]0;x\x07'");
        assert_eq!(quote("a\u{202e}b".as_bytes()), r"$'a\xe2\x80\xaeb'");
        assert_eq!(quote(b"\xff'\\"), r"$'\xff\x27\\'");
        assert_eq!(quote(b"a\r; touch x #"), r"$'a\x0d; touch x #'");
        assert_eq!(quote("\u{9b}".as_bytes()), r"$'\xc2\x9b'");
    }

    #[test]
    fn command_has_only_printable_characters() {
        let req = WebhookRequest {
            method: "POST".into(),
            path: "/h\u{202e}".into(),
            query: "q=\u{200b}".into(),
            headers: vec![("X-A".into(), "v\u{2066}\tw".into())],
            body: b"a\r\n\x1b[2J\xe2\x80\xae\xff".to_vec().into(),
        };
        let cmd = command(&req, &url_for(&req, "http://h"), None);
        assert!(
            !cmd.chars().any(|c| c != '\n' && needs_escape(c)),
            "{cmd:?}"
        );
        assert!(cmd.contains("-sS") && cmd.contains("--globoff") && cmd.contains("--path-as-is"));
    }
}
