//! JSONC (JSON with comments and trailing commas) to strict JSON.
//!
//! [`strip`] blanks out comments and trailing commas with spaces, so the
//! result has exactly the same byte length, line breaks and byte columns as
//! the input. Error positions that `serde_json` reports on the stripped text
//! (1-based line, byte-based column) therefore point at the original text.
//!
//! A leading UTF-8 byte order mark is not handled here: callers should remove
//! it before calling [`strip`] (`serde_json` rejects it).

/// Converts JSONC text into strict JSON text of the same byte length.
///
/// - `// ...` comments are replaced by spaces up to (not including) the end of
///   the line (`\n` or `\r`).
/// - `/* ... */` comments are replaced by spaces, except `\n` and `\r`, which
///   are kept so line numbers stay true. An unterminated block comment is
///   blanked to the end of the input.
/// - A trailing comma (one whose next character, skipping whitespace and
///   comments, is `}` or `]`) is replaced by a space. A comma that directly
///   follows `{`, `[`, `:` or another comma is left alone, so text such as
///   `[,]` stays invalid.
/// - String literals (including escapes such as `\"` and `\\`) are copied
///   unchanged, whatever they contain.
///
/// Nothing else is changed and nothing is validated: invalid JSON stays
/// invalid, for the JSON parser to report. Multi-byte characters inside
/// comments become one space per byte, so byte offsets are preserved.
pub fn strip(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = bytes.to_vec();
    // Last significant (non-whitespace, non-comment) byte seen, if any.
    let mut last_significant: Option<u8> = None;
    // Index of a comma that would be a trailing comma if a closer came next.
    let mut pending_comma: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let next = bytes.get(i + 1).copied();
        match byte {
            b'"' => {
                i = string_end(bytes, i);
                last_significant = Some(b'"');
                pending_comma = None;
                continue;
            }
            b'/' if next == Some(b'/') => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n' || b == b'\r')
                    .map_or(bytes.len(), |p| i + p);
                blank(&mut out[i..end]);
                i = end;
                continue;
            }
            b'/' if next == Some(b'*') => {
                let end = bytes[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(bytes.len(), |p| i + 2 + p + 2);
                blank(&mut out[i..end]);
                i = end;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b',' => {
                let follows_value =
                    !matches!(last_significant, None | Some(b'{' | b'[' | b':' | b','));
                pending_comma = follows_value.then_some(i);
                last_significant = Some(byte);
            }
            b'}' | b']' => {
                if let Some(comma) = pending_comma.take() {
                    out[comma] = b' ';
                }
                last_significant = Some(byte);
            }
            _ => {
                pending_comma = None;
                last_significant = Some(byte);
            }
        }
        i += 1;
    }
    // Only whole comments (delimited by ASCII bytes) and ASCII commas were
    // replaced, so `out` is still valid UTF-8; the fallback is never taken.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Returns the index just past the string literal whose opening quote is at
/// `start`, or the input length if the string is unterminated.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Replaces every byte by a space, except line breaks.
fn blank(bytes: &mut [u8]) {
    for b in bytes.iter_mut().filter(|b| !matches!(**b, b'\n' | b'\r')) {
        *b = b' ';
    }
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn strips_table() {
        let cases: &[(&str, &str, &str)] = &[
            ("plain json", r#"{"a": [1, 2]}"#, r#"{"a": [1, 2]}"#),
            ("empty", "", ""),
            (
                "line comment",
                "{\"a\": 1 // note\n}",
                "{\"a\": 1        \n}",
            ),
            ("line comment at eof", "1 // end", "1       "),
            ("line comment keeps crlf", "1 // x\r\n2", "1     \r\n2"),
            ("block comment", "{/* c */\"a\": 1}", "{       \"a\": 1}"),
            (
                "block comment keeps newlines",
                "[1, /* a\nb\r\nc */ 2]",
                "[1,     \n \r\n     2]",
            ),
            (
                "block comment /*/ is not closed early",
                "/*/ x */1",
                "        1",
            ),
            ("block comment with stars", "/** x **/1", "         1"),
            ("comment containing quotes", "// \"a\"\n1", "      \n1"),
            (
                "block comment containing quote",
                "/* \" */\"s\"",
                "       \"s\"",
            ),
            (
                "strings keep comment markers",
                r#"["//", "/*", "*/"]"#,
                r#"["//", "/*", "*/"]"#,
            ),
            (
                "string keeps comma before bracket",
                r#"[",]", ",}"]"#,
                r#"[",]", ",}"]"#,
            ),
            ("escaped quote", r#"["a\"//b"]"#, r#"["a\"//b"]"#),
            (
                "escaped backslash ends string",
                r#"["a\\", // c"#,
                r#"["a\\",     "#,
            ),
            (
                "escaped backslash then quote",
                r#"["a\\\"//"] // c"#,
                r#"["a\\\"//"]     "#,
            ),
            ("trailing comma object", r#"{"a": 1,}"#, r#"{"a": 1 }"#),
            ("trailing comma array", "[1, 2,]", "[1, 2 ]"),
            (
                "trailing commas nested",
                r#"{"a": [1, [2,],], "b": {"c": 3,},}"#,
                r#"{"a": [1, [2 ] ], "b": {"c": 3 } }"#,
            ),
            ("trailing comma then newline", "[1,\n  \t]", "[1 \n  \t]"),
            (
                "trailing comma then comments",
                "[1, // x\n /* y */ ]",
                "[1      \n         ]",
            ),
            ("trailing comma after string", r#"["a",]"#, r#"["a" ]"#),
            (
                "comma then comment then value kept",
                "[1, /* x */ 2]",
                "[1,         2]",
            ),
            (
                "comma then line comment then value",
                "[1, // x\n 2]",
                "[1,     \n 2]",
            ),
            (
                "unterminated block comment",
                "[1] /* open\nstill",
                "[1]        \n     ",
            ),
            ("unterminated string", "[\"a, // b", "[\"a, // b"),
            ("lone slash untouched", "[1 / 2,]", "[1 / 2 ]"),
            ("double comma stays invalid", "[1,,]", "[1,,]"),
            ("comma after open stays invalid", "[,]", "[,]"),
            (
                "comma after colon stays invalid",
                r#"{"a":,}"#,
                r#"{"a":,}"#,
            ),
            (
                "multibyte in line comment",
                "1 // é€😀\n",
                "1             \n",
            ),
            ("multibyte in block comment", "/*é*/1", "      1"),
            ("multibyte in string kept", "[\"é//\",]", "[\"é//\" ]"),
        ];
        for (name, input, want) in cases {
            assert_eq!(strip(input), *want, "case {name:?}");
        }
    }

    #[test]
    fn length_and_newlines_preserved() {
        let inputs = [
            "{\n  // comment é\n  \"a\": [1, 2,], /* multi\n line 😀 */\n  \"b\": \"//\",\n}\n",
            "/* unterminated\n\r\n é",
            "[\"a\\\"\", // x\r\n 1,\r\n]",
            "{\"k\": \"v\" /**/,\n}",
            "// only a comment",
            "\"\\\\\" /* \\ */",
        ];
        for input in inputs {
            let out = strip(input);
            assert_eq!(out.len(), input.len(), "length for {input:?}");
            let breaks = |s: &str| -> Vec<(usize, u8)> {
                s.bytes()
                    .enumerate()
                    .filter(|(_, b)| *b == b'\n' || *b == b'\r')
                    .collect()
            };
            assert_eq!(breaks(&out), breaks(input), "line breaks for {input:?}");
        }
    }

    #[test]
    fn only_blanks_are_introduced() {
        let input = "{\"a\": [1, /* c */ 2,], // é\n \"b\": {},}";
        let out = strip(input);
        for (i, (a, b)) in input.bytes().zip(out.bytes()).enumerate() {
            assert!(a == b || b == b' ', "byte {i}: {a:?} became {b:?}");
        }
    }
}
