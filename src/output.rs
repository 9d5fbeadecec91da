//! fence's own output: lines that never panic, and escaping for text fence did not write.
//!
//! Two rules hold for everything fence prints or logs:
//! - **Writing never panics.** `println!`/`eprintln!` panic when the stream is closed (a
//!   broken pipe), and with `panic = "abort"` that would kill fence mid-run: the sandbox torn
//!   down, the exit status lost, a raw terminal left behind. Every line goes through
//!   [`stderr_line`] or [`stdout`], which drop write errors.
//! - **Untrusted text is data.** Config keys and values, paths, host names, URLs and messages
//!   from inside the sandbox may hold terminal control sequences (`ESC ] 0 ; … BEL` retitles a
//!   terminal, others can hide or rewrite earlier lines) or newlines that forge a line of
//!   fence's own. [`escape`], [`escape_bytes`] and [`path`] render them visibly and
//!   unambiguously: `\e`, `\n`, `\xNN`, `\u{…}`, and `\\` for a backslash.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// `text` with every character that could control a terminal or split a line escaped.
/// Text that needs nothing is returned as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Bytes (a path, a header, a request line) as escaped text: valid UTF-8 as [`escape`] does
/// it, every byte of an invalid sequence as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// A path for a message, escaped (its bytes are kept exactly, not replaced lossily).
pub fn path(path: &Path) -> String {
    escape_bytes(path.as_os_str().as_encoded_bytes())
}

fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control() || is_invisible_format(c)
}

/// Bidirectional overrides and isolates reorder what a terminal shows (a path could appear
/// to be another); the line and paragraph separators split lines in some consumers.
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{1b}' => out.push_str("\\e"),
        c if (c as u32) < 0x80 && c.is_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if c.is_control() || is_invisible_format(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// Writes `fence: {message}` and a newline to stderr, ignoring write errors.
pub fn stderr_line(message: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "fence: {message}");
}

/// Writes `text` (fence's own, such as the usage lines after an error line) to stderr as it
/// is, ignoring write errors.
pub fn stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Writes `text` to stdout as it is, ignoring write errors (`fence --help | head -1`).
pub fn stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_untouched() {
        for s in ["", "/home/u/proj/fence.json", "é ü 日本", "a b\"c'd"] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
            assert_eq!(escape_bytes(s.as_bytes()), s);
        }
    }

    #[test]
    fn control_characters_are_visible() {
        let cases = [
            ("\u{1b}]0;PWNED\u{7}", r"\e]0;PWNED\x07"),
            ("a\nb\rc\td", r"a\nb\rc\td"),
            ("back\\slash", r"back\\slash"),
            ("\u{9b}31m", r"\u{9b}31m"),
            ("x\u{202e}gpj.exe", r"x\u{202e}gpj.exe"),
            ("\u{7f}\u{0}", r"\x7f\x00"),
            ("line\u{2028}sep", r"line\u{2028}sep"),
        ];
        for (raw, want) in cases {
            assert_eq!(escape(raw), want, "{raw:?}");
            assert_eq!(escape_bytes(raw.as_bytes()), want, "{raw:?}");
        }
    }

    #[test]
    fn invalid_utf8_keeps_every_byte() {
        assert_eq!(escape_bytes(b"dir\xff\xfe/x\x1b"), r"dir\xff\xfe/x\e");
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xc3(\n"));
        assert_eq!(path(p), r"/tmp/\xc3(\n");
    }

    #[test]
    fn escaped_text_has_no_control_characters() {
        // Every byte value, alone and in pairs, escapes to printable text.
        for a in 0u8..=255 {
            for b in [0u8, b'a', 0x80, 0x9b, 0xc2, 0xff] {
                let out = escape_bytes(&[a, b, 0xc2, a]);
                assert!(
                    !out.chars()
                        .any(|c| c.is_control() || is_invisible_format(c)),
                    "{a:#x} {b:#x}: {out:?}"
                );
            }
        }
    }
}
