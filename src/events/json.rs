//! `--log-format json`: one JSON object per line, with stable fields:
//!
//! ```text
//! {"time":"2026-11-30T06:01:02.345Z","kind":"fs","action":"write","op":"openat O_WRONLY",
//!  "target":"/home/u/.npmrc","pid":4242,"comm":"node","rule":"outside allowWrite",
//!  "decision":"denied","count":1}
//! ```
//!
//! `pid` and `comm` are `null` when unknown. `count` is how often the event had happened
//! when the line was written: a denied event is written when it first happens (count 1)
//! and, if it happened again, once more at exit with its total. Debug notes that are not
//! decisions are `{"time":…,"kind":"http","note":"…"}`.
//!
//! Strings are escaped beyond what JSON requires: every control character (C0, DEL, C1)
//! and the invisible formatting characters [`crate::output::escape`] escapes become
//! `\uXXXX`, so a line shown on a terminal can neither act on it nor look like another.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use super::event::Event;

/// The JSON line of `event` (without the newline).
pub fn event_line(event: &Event<'_>, count: u64, time: SystemTime) -> String {
    let mut line = String::with_capacity(160);
    line.push_str("{\"time\":");
    string(&mut line, &rfc3339(time));
    line.push_str(",\"kind\":");
    string(&mut line, event.kind.name());
    for (name, value) in [
        ("action", event.action),
        ("op", event.op),
        ("target", event.target),
    ] {
        let _ = write!(line, ",\"{name}\":");
        string(&mut line, value);
    }
    line.push_str(",\"pid\":");
    match event.pid {
        Some(pid) => {
            let _ = write!(line, "{pid}");
        }
        None => line.push_str("null"),
    }
    line.push_str(",\"comm\":");
    match event.comm {
        Some(comm) => string(&mut line, comm),
        None => line.push_str("null"),
    }
    line.push_str(",\"rule\":");
    string(&mut line, event.rule);
    line.push_str(",\"decision\":");
    string(&mut line, event.decision.name());
    let _ = write!(line, ",\"count\":{count}}}");
    line
}

/// The JSON line of a debug note from `source` (`http`, `socks`, `net`).
pub fn note_line(source: &str, text: &str, time: SystemTime) -> String {
    let mut line = String::from("{\"time\":");
    string(&mut line, &rfc3339(time));
    line.push_str(",\"kind\":");
    string(&mut line, source);
    line.push_str(",\"note\":");
    string(&mut line, text);
    line.push('}');
    line
}

/// Appends `text` as a JSON string.
pub fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || crate::output::is_invisible_format(c) => {
                // All of them are in the Basic Multilingual Plane: one \u escape each.
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `time` in RFC 3339, UTC, with milliseconds: `2026-11-30T06:01:02.345Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01, counting in 400-year eras
/// (146 097 days each) from 0000-03-01 so that the leap day ends a year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of the era, 0..146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of the era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year, from March 1
    let mp = (5 * doy + 2) / 153; // month from March, 0..11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::events::{Decision, Kind};

    #[test]
    fn dates() {
        let at = |secs: u64, ms: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(951_868_799, 999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(1_798_761_599, 0), "2026-12-31T23:59:59.000Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn strings_from_the_sandbox_stay_inert() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\nd\u{1b}]0;x\u{7}\u{9b}\u{202e}é*/");
        assert_eq!(out, r#""a\"b\\c\nd\u001b]0;x\u0007\u009b\u202eé*/""#);
        let parsed: String = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "a\"b\\c\nd\u{1b}]0;x\u{7}\u{9b}\u{202e}é*/");
    }

    #[test]
    fn every_field_is_there() {
        let event = Event {
            kind: Kind::Fs,
            action: "write",
            op: "openat O_WRONLY",
            target: "/home/u/.npmrc",
            pid: Some(4242),
            comm: Some("node"),
            rule: "outside allowWrite",
            decision: Decision::Denied,
        };
        let line = event_line(&event, 3, UNIX_EPOCH);
        assert_eq!(
            line,
            r#"{"time":"1970-01-01T00:00:00.000Z","kind":"fs","action":"write","op":"openat O_WRONLY","target":"/home/u/.npmrc","pid":4242,"comm":"node","rule":"outside allowWrite","decision":"denied","count":3}"#
        );
        let bare = Event {
            pid: None,
            comm: None,
            ..event
        };
        let value: serde_json::Value =
            serde_json::from_str(&event_line(&bare, 1, SystemTime::now())).unwrap();
        assert!(value["pid"].is_null() && value["comm"].is_null());
        assert_eq!(value["count"], 1);
        let note: serde_json::Value =
            serde_json::from_str(&note_line("http", "x\ny", UNIX_EPOCH)).unwrap();
        assert_eq!(note["note"], "x\ny");
    }
}
