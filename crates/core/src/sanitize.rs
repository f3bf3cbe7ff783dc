//! The one sanitizer for untrusted text on its way to a screen or a log line.
//!
//! Anything from a payload (headers, bodies, paths, Slack's answers, relay messages) is untrusted.
//! ratatui drops control characters but prints the rest of an escape sequence as text, and lets
//! bidi overrides and zero-width characters through; plain log output gets no protection at all.
//! [`display_safe`] escapes them visibly instead (as atuin does), so a payload can neither drive
//! the terminal nor reorder what is shown, and the user still sees that something was there:
//!
//! - C0 controls and DEL become caret forms: ESC is `^[`, NUL `^@`, CR `^M`, LF `^J`, DEL `^?`;
//! - C1 controls, format characters (category Cf: bidi controls, zero-width joiners, BOM, ...)
//!   and the line/paragraph separators become `<U+202E>`-style forms;
//! - tabs are expanded to spaces (tab stops every [`TAB_WIDTH`] columns).
//!
//! The result is made of printable characters only, so sanitizing twice changes nothing. Raw bytes
//! (forwarding, export, signatures, clipboard copies of a body) never go through here.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Tab stops are this many columns apart.
pub const TAB_WIDTH: usize = 4;

/// Format (Cf) characters, plus U+2028/U+2029, as inclusive ranges (Unicode 16).
const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` is a format (Cf) character or a line/paragraph separator: invisible characters
/// that can reorder or hide text.
pub fn is_invisible(c: char) -> bool {
    let u = c as u32;
    INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
}

/// Whether `c` must not reach a terminal as is: C0 and C1 controls (U+0085, U+009B …), DEL,
/// format characters (bidi controls, zero-width characters, BOM) and U+2028/U+2029.
pub fn needs_escape(c: char) -> bool {
    c.is_control() || is_invisible(c)
}

/// `s` made safe to show: controls, DEL, C1, format and zero-width characters escaped visibly,
/// tabs expanded. Borrowed when there was nothing to change.
pub fn display_safe(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(needs_escape) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    let mut col = s[..first].chars().count();
    for c in s[first..].chars() {
        let before = out.len();
        match c {
            '\t' => {
                let n = TAB_WIDTH - col % TAB_WIDTH;
                out.extend(std::iter::repeat_n(' ', n));
            }
            '\x00'..='\x1f' => {
                out.push('^');
                out.push((c as u8 + 0x40) as char);
            }
            '\x7f' => out.push_str("^?"),
            c if needs_escape(c) => {
                let _ = write!(out, "<U+{:04X}>", c as u32);
            }
            c => out.push(c),
        }
        col += out[before..].chars().count();
    }
    Cow::Owned(out)
}

/// [`display_safe`] on at most `max_chars` characters of `s`, with `…` when cut.
pub fn display_safe_bounded(s: &str, max_chars: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max_chars) {
        None => display_safe(s),
        Some((cut, _)) => Cow::Owned(format!("{}…", display_safe(&s[..cut]))),
    }
}

/// [`display_safe`] on bytes that may not be UTF-8: invalid sequences become U+FFFD.
pub fn display_safe_bytes(b: &[u8]) -> String {
    display_safe(&String::from_utf8_lossy(b)).into_owned()
}

/// A writer for diagnostics (stderr, `hookrelay.log`): each write (tracing writes one event at
/// a time) goes through [`display_safe`], its final newline kept, so a logged payload can
/// neither drive the terminal nor fake a line of its own.
pub struct SafeLines<W>(pub W);

impl<W: std::io::Write> std::io::Write for SafeLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (line, end) = match text.strip_suffix('\n') {
            Some(line) => (line, "\n"),
            None => (&*text, ""),
        };
        self.0.write_all(display_safe(line).as_bytes())?;
        self.0.write_all(end.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `v` as compact JSON text that is inert on a terminal: every character [`needs_escape`]
/// flags is written as a `\uXXXX` escape (a surrogate pair above U+FFFF), so the text is the
/// same JSON value and holds no raw control or format character. The one writer for every
/// JSON output (`--json` log lines, `list --json`, `show --json`, `export --json`, HAR).
pub fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    json_inert(serde_json::to_string(v).unwrap_or_else(|_| "null".into()))
}

/// [`json_text`], pretty-printed.
pub fn json_pretty<T: serde::Serialize + ?Sized>(v: &T) -> String {
    json_inert(serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into()))
}

/// serde_json already escapes C0 controls inside strings, and outside strings JSON text is
/// ASCII punctuation, digits, letters, spaces and (pretty) newlines. So every character here at
/// or above DEL that needs escaping sits inside a string, where `\uXXXX` means the same thing.
fn json_inert(text: String) -> String {
    if !text.chars().any(|c| c >= '\x7f' && needs_escape(c)) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c >= '\x7f' && needs_escape(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(
            display_safe("héllo wörld ✓ 日本"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn table() {
        let cases = [
            ("\x1b[31mred\x1b[0m", "^[[31mred^[[0m"),
            ("\x1b]0;pwned\x07", "^[]0;pwned^G"),
            ("\x1b]52;c;aGk=\x1b\\", "^[]52;c;aGk=^[\\"),
            ("\x1b]8;;http://x\x1b\\l", "^[]8;;http://x^[\\l"),
            ("a\u{9b}31m", "a<U+009B>31m"),
            ("evil\u{202e}txt.exe", "evil<U+202E>txt.exe"),
            ("zero\u{200b}width\u{200d}", "zero<U+200B>width<U+200D>"),
            ("bom\u{feff}", "bom<U+FEFF>"),
            ("a\tb", "a   b"),
            ("abcd\te", "abcd    e"),
            ("\tx", "    x"),
            ("line\r\nnext", "line^M^Jnext"),
            ("nul\0del\x7f", "nul^@del^?"),
            ("sep\u{2028}", "sep<U+2028>"),
        ];
        for (input, want) in cases {
            assert_eq!(display_safe(input), want, "input {input:?}");
        }
    }

    #[test]
    fn tab_after_escape_counts_escape_width() {
        // `^[` takes two columns, so the next tab stop is two spaces away.
        assert_eq!(display_safe("\x1b\tx"), "^[  x");
    }

    #[test]
    fn bounded_cuts_and_marks() {
        assert_eq!(display_safe_bounded("abcdef", 3), "abc…");
        assert_eq!(display_safe_bounded("abc", 3), "abc");
        assert_eq!(display_safe_bytes(b"a\xffb\x1b"), "a\u{fffd}b^[");
    }

    #[test]
    fn diagnostics_writer_sanitizes_each_event() {
        use std::io::Write;
        let mut w = SafeLines(Vec::new());
        w.write_all(b"WARN not forwarded \x1b[2J\xe2\x80\xae: x\nfake line\n")
            .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert_eq!(out, "WARN not forwarded ^[[2J<U+202E>: x^Jfake line\n");
    }

    #[test]
    fn json_escapes_what_a_terminal_would_act_on() {
        let v = serde_json::json!({
            "s": "\u{1b}[31m\r\n\u{85}\u{9b}\u{7f}\u{2028}\u{2029}\u{200b}\u{202e}\u{2066}\u{feff}\u{e0001}é✓",
            "k\u{202e}": [1, "x"],
        });
        for text in [json_text(&v), json_pretty(&v)] {
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, v);
            assert!(
                !text.chars().any(|c| c != '\n' && needs_escape(c)),
                "{text:?}"
            );
        }
        assert_eq!(
            json_text(&v),
            r#"{"s":"\u001b[31m\r\n\u0085\u009b\u007f\u2028\u2029\u200b\u202e\u2066\ufeff\udb40\udc01é✓","k\u202e":[1,"x"]}"#
        );
    }

    proptest! {
        #[test]
        fn json_stays_the_same_value_and_inert(s in any::<String>(), k in any::<String>()) {
            let v = serde_json::json!({ k.clone(): [s.clone(), {"n": 1}] });
            let text = json_text(&v);
            prop_assert!(!text.chars().any(needs_escape), "{text:?}");
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, v);
        }

        #[test]
        fn output_has_no_control_or_format_chars(s in any::<String>()) {
            let out = display_safe(&s);
            prop_assert!(!out.chars().any(|c| c.is_control() || is_invisible(c)), "{out:?}");
        }

        #[test]
        fn idempotent(s in any::<String>()) {
            let once = display_safe(&s).into_owned();
            let twice = display_safe(&once);
            prop_assert!(matches!(twice, Cow::Borrowed(_)));
            prop_assert_eq!(twice.as_ref(), once.as_str());
        }

        #[test]
        fn printable_text_is_untouched(s in "[a-zA-Z0-9 {}\\[\\]\":,.é✓日]*") {
            prop_assert!(matches!(display_safe(&s), Cow::Borrowed(_)));
        }
    }
}
