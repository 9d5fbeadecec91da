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
use jsonpath::Segment;

/// Parses one config text (JSONC) strictly. `name` is how errors refer to it (a path or
/// `template NAME`), already escaped for display. An empty or whitespace-only text is the
/// empty config. Settings this build cannot enforce are errors, located like syntax
/// errors. Keys and values quoted in errors come from the file: they are escaped
/// ([`crate::output::escape`]) so that they cannot act on a terminal.
pub fn parse_text(text: &str, name: &str) -> Result<Config> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let json = jsonc::strip(text);
    if json.trim().is_empty() {
        return Ok(Config::default());
    }
    let cfg: Config = serde_json::from_str(&json).map_err(|e| {
        let key = jsonpath::render(&jsonpath::path_at(&json, e.line(), e.column()));
        let key = crate::output::escape(&key);
        let full = e.to_string();
        let msg = crate::output::escape(strip_position_suffix(&full));
        let key = if key.is_empty() {
            String::new()
        } else {
            format!("{key}: ")
        };
        Error::Config(format!("{name}:{}:{}: {key}{msg}", e.line(), e.column()))
    })?;
    if let Some((key, why)) = merge::unsupported(&cfg).into_iter().next() {
        let path: Vec<Segment> = key
            .split('.')
            .map(|k| Segment::Key(k.to_string()))
            .collect();
        let (line, col) = jsonpath::position_of(&json, &path).unwrap_or((1, 1));
        return Err(Error::Config(format!("{name}:{line}:{col}: {key}: {why}")));
    }
    Ok(cfg)
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
        assert_eq!(parse_text("  \n", "f.json").unwrap(), Config::default());
        assert_eq!(
            parse_text("\u{feff}{}", "f.json").unwrap(),
            Config::default()
        );
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
                "{\n  // c\n  \"command\": {\"deny\": [\"x\"]}}",
                "f.json:3:15: command.deny: command policy is not supported yet",
            ),
            ("{\"filesystem\": }", "f.json:1:16: "),
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
