//! Configuration: JSONC parsing, discovery, `extends` resolution, trust.

pub mod jsonc;
pub mod jsonpath;
pub mod load;
pub mod merge;
pub mod read;
pub mod templates;
pub mod trust;
pub mod types;

pub use load::{ConfigSource, Origin, Resolution, Resolved, resolve};
pub use types::Config;

use crate::error::{Error, Result};
use crate::output;
use jsonpath::Segment;
use read::ConfigFile;

/// Parses one config text (JSONC) strictly. `name` is how errors refer to it (a path or
/// `template NAME`), already escaped for display. Settings this build cannot enforce are
/// errors, located like syntax errors. Keys and values quoted in errors come from the
/// file: they are escaped ([`crate::output::escape`]) so that they cannot act on a terminal.
///
/// An empty text (or one with only whitespace and comments) is an error, not the empty
/// config: it is not JSON, and a file cut short to nothing must not silently deny
/// everything (or, as an `extends` base, silently grant nothing). `{}` is the empty config.
pub fn parse_text(text: &str, name: &str) -> Result<Config> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let json = jsonc::strip(text);
    if json.trim().is_empty() {
        let what = if text.trim().is_empty() {
            "is empty"
        } else {
            "has only comments"
        };
        return Err(Error::Config(format!(
            "{name}: the config {what}: it must be a JSON object (`{{}}` is a config that \
             allows nothing)"
        )));
    }
    let cfg: Config = serde_json::from_str(&json).map_err(|e| {
        if e.classify() == serde_json::error::Category::Eof {
            return Error::Config(format!("{name}:{}", end_of_file(&json)));
        }
        let key = jsonpath::render(&jsonpath::path_at(&json, e.line(), e.column()));
        let key = crate::output::escape(&key);
        let full = e.to_string();
        let msg = crate::output::escape(strip_position_suffix(&full));
        let key = if key.is_empty() {
            String::new()
        } else {
            format!("{key}: ")
        };
        let (line, column) = real_position(&json, e.line(), e.column());
        Error::Config(format!("{name}:{line}:{column}: {key}{msg}"))
    })?;
    Ok(cfg)
}

/// serde_json's position, except that column 0 (an error on the line break that ends the
/// line before: a string left open at the end of its line) becomes that line break's own
/// line and column.
fn real_position(json: &str, line: usize, column: usize) -> (usize, usize) {
    if column > 0 || line < 2 {
        return (line, column.max(1));
    }
    let previous = json.split('\n').nth(line - 2).unwrap_or_default();
    (line - 1, previous.len() + 1)
}

/// `LINE:COL: unexpected end of file: …` for a text cut short: located at its last
/// character, naming what is left open there (serde_json reports the position after the
/// last line break, column 0, and the key of the last value it read).
fn end_of_file(json: &str) -> String {
    let (line, column) = jsonpath::last_significant(json).unwrap_or((1, 1));
    let open = match jsonpath::unclosed(json) {
        Some(u) => {
            let what = match u.opener {
                '"' => "the string".to_string(),
                c => format!("the {c}"),
            };
            let key = crate::output::escape(&jsonpath::render(&u.path)).into_owned();
            let key = if key.is_empty() {
                String::new()
            } else {
                format!(" ({key})")
            };
            format!(": {what} at {}:{}{key} is not closed", u.line, u.column)
        }
        None => String::new(),
    };
    format!("{line}:{column}: unexpected end of file{open}")
}

/// An error about one config value ([`Error::ConfigValue`]) located in the first of `files`
/// that writes it: `FILE:LINE:COL: key[N]: message`, at the list entry or the key's value.
/// Other errors, and values no file writes (a template's), are returned as they are.
pub fn locate(err: Error, files: &[ConfigFile]) -> Error {
    let Error::ConfigValue {
        key,
        value,
        message,
    } = &err
    else {
        return err;
    };
    let path: Vec<Segment> = key.split('.').map(|k| Segment::Key(k.into())).collect();
    for file in files {
        let text = file.text.strip_prefix('\u{feff}').unwrap_or(&file.text);
        let json = jsonc::strip(text);
        let found = match value {
            Some(value) => jsonpath::find_element(&json, &path, value)
                .map(|(index, at)| (format!("{key}[{index}]"), at)),
            None => jsonpath::value_position(&json, &path).map(|at| (key.clone(), at)),
        };
        if let Some((key, (line, column))) = found {
            return Error::Config(format!(
                "{}:{line}:{column}: {key}: {message}",
                output::path(&file.path)
            ));
        }
    }
    err
}

/// The first of `files` that writes `value` as an element of the list at `key` (dotted):
/// where a rule came from, for messages.
pub fn written_in<'a>(files: &'a [ConfigFile], key: &str, value: &str) -> Option<&'a ConfigFile> {
    let path: Vec<Segment> = key.split('.').map(|k| Segment::Key(k.into())).collect();
    files.iter().find(|file| {
        let text = file.text.strip_prefix('\u{feff}').unwrap_or(&file.text);
        jsonpath::find_element(&jsonc::strip(text), &path, value).is_some()
    })
}

/// serde_json appends " at line L column C" to its messages; fence puts the position first.
fn strip_position_suffix(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => &msg[..i],
        _ => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_text(text, "f.json").unwrap_err().to_string()
    }

    #[test]
    fn jsonc_comments_and_trailing_commas() {
        let cfg = parse_text(
            "// comment\n{\n  /* block */ \"filesystem\": {\"allowWrite\": [\"a\", \"b\",],},\n}\n",
            "f.json",
        )
        .unwrap();
        assert_eq!(cfg.filesystem.allow_write, ["a", "b"]);
        assert_eq!(
            parse_text("\u{feff}{}", "f.json").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn values_are_located_in_the_file_that_writes_them() {
        let file = ConfigFile::in_memory;
        let files = [
            file(
                "/p/fence.json",
                "\u{feff}{\"extends\": \"./base.json\",\n \"network\": {\"socksProxyPort\": 3128}}",
            ),
            file(
                "/p/base.json",
                "// base\n{\"filesystem\": {\"allowWrite\": [\n  \".\", // here\n  \"a[\"\n]}}",
            ),
        ];
        let value = |key: &str, value: Option<&str>| Error::ConfigValue {
            key: key.into(),
            value: value.map(Into::into),
            message: "why".into(),
        };
        let cases = [
            (
                value("filesystem.allowWrite", Some("a[")),
                "/p/base.json:4:3: filesystem.allowWrite[1]: why",
            ),
            (
                value("network.socksProxyPort", None),
                "/p/fence.json:2:32: network.socksProxyPort: why",
            ),
            // Not written in any file (a template's, or a default): as it was.
            (
                value("filesystem.allowWrite", Some("b")),
                "filesystem.allowWrite: why",
            ),
            (
                value("network.httpProxyPort", None),
                "network.httpProxyPort: why",
            ),
            (Error::Config("other".into()), "other"),
        ];
        for (err, want) in cases {
            assert_eq!(locate(err, &files).to_string(), want);
        }
    }

    #[test]
    fn empty_texts_are_errors() {
        for (text, what) in [
            ("", "is empty"),
            (" \n\t\r\n", "is empty"),
            ("\u{feff}", "is empty"),
            ("// nothing\n/* here */\n", "has only comments"),
        ] {
            let got = err(text);
            assert_eq!(
                got,
                format!(
                    "f.json: the config {what}: it must be a JSON object (`{{}}` is a config \
                     that allows nothing)"
                ),
                "{text:?}"
            );
        }
        assert_eq!(parse_text("{}", "f.json").unwrap(), Config::default());
    }

    #[test]
    fn errors_name_file_line_column_and_key() {
        let cases = [
            (
                "{\n  \"filesystem\": {\n    \"allowWrit\": []\n  }\n}",
                "f.json:3:15: filesystem.allowWrit: unknown field `allowWrit`",
            ),
            (
                "{\"filesystem\": {\"allowWrite\": [\"a\", 3]}}",
                "f.json:1:37: filesystem.allowWrite[1]: invalid type: integer `3`",
            ),
            (
                "{\n\"devices\": {\"mode\": \"all\"}}",
                "f.json:2:25: devices.mode: unknown variant `all`",
            ),
            (
                "{\n  // c\n  \"command\": {\"runtimeExecPolicy\": \"args\"}}",
                "f.json:3:41: command.runtimeExecPolicy: unknown variant `args`, expected `path` or `argv`",
            ),
            ("{\"filesystem\": }", "f.json:1:16: "),
            // A check on a list entry points at that entry, not at the end of the object.
            (
                "{\n  \"network\": {\n    \"allowedDomains\": [\n      \"example.com\",\n      \
                 \"*.com\"\n    ],\n    \"deniedDomains\": []\n  }\n}\n",
                "f.json:5:13: network.allowedDomains[1]: \"*.com\": wildcard pattern too broad",
            ),
            (
                "{\"network\": {\"allowLocalOutboundPorts\": [80, 70000], \"x\": 1}}",
                "f.json:1:50: network.allowLocalOutboundPorts[1]: port 70000 is out of range",
            ),
            (
                "{\"network\": {\"allowLocalOutboundPorts\": [-1]}}",
                "f.json:1:43: network.allowLocalOutboundPorts[0]: port -1 is out of range",
            ),
            (
                "{\"network\": {\"httpProxyPort\": 65536,\n \"socksProxyPort\": 1}}",
                "f.json:1:35: network.httpProxyPort: port 65536 is out of range",
            ),
            (
                "{\"network\": {\"socksProxyPort\": \"1080\"}}",
                "f.json:1:37: network.socksProxyPort: invalid type: string \"1080\", expected a \
                 port number",
            ),
            (
                "{\"network\": {\"upstreamProxy\": \"https://p:1\"}, \"allowPty\": true}",
                "f.json:1:43: network.upstreamProxy: \"https://p:1\": scheme \"https\" is not",
            ),
            (
                "{\"filesystem\": {\"denyRead\": [\"a\",\n \"  \"], \"allowWrite\": []}}",
                "f.json:2:5: filesystem.denyRead[1]: empty entry",
            ),
            (
                "{\"ssh\": {\"allowedHosts\": [\"git@github.com\"]}}",
                "f.json:1:42: ssh.allowedHosts[0]: \"git@github.com\": host pattern cannot contain",
            ),
            (
                "{\"devices\": {\"allow\": [\"/dev/kvm\", \"/etc/x\"]}}",
                "f.json:1:43: devices.allow[1]: \"/etc/x\" must be a path under /dev/",
            ),
            (
                "{\"macos\": {\"mach\": {\"lookup\": [\"a*b\"]}}}",
                "f.json:1:36: macos.mach.lookup[0]: \"a*b\": wildcards are only allowed",
            ),
            (
                "{\"allowPty\": \"yes\"}",
                "f.json:1:18: allowPty: invalid type: string \"yes\", expected a boolean",
            ),
            // A text cut short: located at its last character, naming what is left open.
            (
                "{\n  \"filesystem\": {\n    \"allowWrite\": [\n      \"a\"\n",
                "f.json:4:9: unexpected end of file: the [ at 3:19 (filesystem.allowWrite) is \
                 not closed",
            ),
            (
                "{\"filesystem\": {\"allowWrite\": [\"a\"]",
                "f.json:1:35: unexpected end of file: the { at 1:16 (filesystem) is not closed",
            ),
            (
                "{\"filesystem\": {\"allowWrite\": [\"ab // c",
                "f.json:1:39: unexpected end of file: the string at 1:32 \
                 (filesystem.allowWrite[0]) is not closed",
            ),
            // A line break in a string is located on the line it breaks, not in column 0.
            (
                "{\"filesystem\": {\"allowWrite\": [\"ab\n\"]}}",
                "f.json:1:35: filesystem.allowWrite[0]: control character",
            ),
            (
                "{\"network\": /* x */\n\n",
                "f.json:1:11: unexpected end of file: the { at 1:1 is not closed",
            ),
            // Keys and values from the file cannot act on a terminal.
            (
                "{\"\\u001b]0;PWNED\\u0007\": 1}",
                "f.json:1:23: \\e]0;PWNED\\x07: unknown field `\\e]0;PWNED\\x07`",
            ),
            (
                "{\"devices\": {\"mode\": \"x\\u001b[2J\"}}",
                "f.json:1:33: devices.mode: unknown variant `x\\e[2J`",
            ),
        ];
        for (text, expected) in cases {
            let got = err(text);
            assert!(got.starts_with(expected), "\n got: {got}\nwant: {expected}");
        }
    }
}
