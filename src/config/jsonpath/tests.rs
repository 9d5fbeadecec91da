//! Tests of the position and key-path mapping.
use super::{
    Segment, Unclosed, find_element, last_significant, path_at, position_of, render, unclosed,
    value_position,
};

/// Parses a rendered test path such as `a.b[1].c` (keys without `.`/`[`).
fn p(s: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in s.split('.').filter(|part| !part.is_empty()) {
        let mut pieces = part.split('[');
        let key = pieces.next().unwrap_or_default();
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        for index in pieces {
            let index = index.trim_end_matches(']').parse().expect("test index");
            out.push(Segment::Index(index));
        }
    }
    out
}

fn key(s: &str) -> Segment {
    Segment::Key(s.to_string())
}

/// 1-based (line, byte column) of the last byte of the first `needle`.
fn last_byte_of(json: &str, needle: &str) -> (usize, usize) {
    let start = json.find(needle).expect("needle in document");
    let last = start + needle.len() - 1;
    let line_start = json[..last].rfind('\n').map_or(0, |i| i + 1);
    (
        1 + json[..last].matches('\n').count(),
        last - line_start + 1,
    )
}

const CONFIG: &str = r#"{
  "network": {
    "allowedDomains": [
      "example.com",
      42
    ],
    "mode": "stric"
  },
  "filesystem": {
    "denyRead": ["~/.ssh", {"path": "/x", "deep": {"k": null}}],
    "allowWrite": "x"
  }
}
"#;

#[test]
fn render_table() {
    let cases = [
        (vec![], ""),
        (p("filesystem"), "filesystem"),
        (p("network.allowedDomains[1]"), "network.allowedDomains[1]"),
        (vec![Segment::Index(0)], "[0]"),
        (
            vec![Segment::Index(0), Segment::Index(2), key("a")],
            "[0][2].a",
        ),
        (vec![key("a.b"), key("c d")], "a.b.c d"),
    ];
    for (path, want) in cases {
        assert_eq!(render(&path), want, "{path:?}");
    }
}

#[test]
fn path_at_needle_table() {
    // (document, needle whose last byte is the position, expected path)
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"network": {"allowedDomainz": []}}"#,
            r#""allowedDomainz""#,
            "network.allowedDomainz",
        ),
        (
            r#"{"filesystem": {"allowWrite": "x"}}"#,
            r#""x""#,
            "filesystem.allowWrite",
        ),
        (r#"{"a": [1, 2, "x"]}"#, r#""x""#, "a[2]"),
        (r#"{"a": {"b": {"c": 1}}, "d": 2}"#, "1}", "a.b"),
        (r#"{"a": {"b": {"c": 1}}, "d": 2}"#, "1}}", "a"),
        (r#"{"a": {"b": {"c": true}}}"#, "true", "a.b.c"),
        (r#"{"a": [{"b": 1}, {"b": 2}]}"#, "2", "a[1].b"),
        (r#"{"a": [{"b": 1}, {"b": 2}]}"#, "2}", "a[1]"),
        (r#"{"a": [{"b": 1}, {"b": 2}]}"#, "2}]", "a"),
        (r#"{"a": 1,   "b": 2}"#, "1,  ", "a"),
        (r#"{"a": 1,   "b": 2}"#, r#"1,   ""#, "b"),
        (r#"{"a": 1,   "b": 2}"#, r#""b":"#, "b"),
        (r#"{"a": 1,   "b": 2}"#, "2}", ""),
        (r#"{"a": 1}"#, "{", ""),
        (r#"{"a": 1}"#, r#"{""#, "a"),
        (r#"{"a": [1, 2], "b": 3}"#, "2]", "a"),
        (r#"{"a": [1, 2], "b": 3}"#, "[", "a"),
        (r#"{"a": [ 1, 2], "b": 3}"#, "[ ", "a"),
        (r#"{"a": [1, 2], "b": 3}"#, "1", "a[0]"),
        (r#"{"a": [1, 2], "b": 3}"#, "1,", "a[0]"),
        (r#"{"a": "}", "b": "]"}"#, r#"]""#, "b"),
        (r#"[1, [2, 3]]"#, "3", "[1][1]"),
        (r#""x""#, r#""x""#, ""),
        (r#"{"é": {"ü": 1}}"#, "1", "é.ü"),
        (CONFIG, "42", "network.allowedDomains[1]"),
        (CONFIG, "42\n    ]", "network.allowedDomains"),
        (CONFIG, r#""stric""#, "network.mode"),
        (CONFIG, "  },", "network"),
        (CONFIG, r#""~/.ssh""#, "filesystem.denyRead[0]"),
        (CONFIG, r#""/x""#, "filesystem.denyRead[1].path"),
        (CONFIG, "null", "filesystem.denyRead[1].deep.k"),
        (CONFIG, "null}}", "filesystem.denyRead[1]"),
        (CONFIG, r#""denyRead""#, "filesystem.denyRead"),
        (CONFIG, r#"allowWrite": "x""#, "filesystem.allowWrite"),
    ];
    for (json, needle, want) in cases {
        let (line, column) = last_byte_of(json, needle);
        assert_eq!(
            path_at(json, line, column),
            p(want),
            "{json:?} at {needle:?} ({line}:{column})"
        );
    }
}

#[test]
fn path_at_explicit_positions() {
    // (document, line, column, expected path)
    let cases: &[(&str, usize, usize, Vec<Segment>)] = &[
        (r#"{"a": {"b": [1, 2"#, 1, 100, p("a.b[1]")),
        (r#"{"a": {"b": [1, 2"#, 50, 1, p("a.b[1]")),
        (r#"{"a": {"bc"#, 1, 11, p("a.bc")),
        (r#"{"a": {"b":"#, 1, 11, p("a.b")),
        ("{\"a\": 1,\n\"b\": 2}", 2, 0, p("a")),
        ("{\"a\": 1,\n\"b\": 2}", 2, 1, p("b")),
        ("{\"a\": 1,\n\"b\": 2}", 1, 0, p("")),
        ("{\"a\": 1,\n\"b\": 2}", 0, 3, p("a")),
        ("", 1, 1, p("")),
        ("   ", 3, 9, p("")),
        (r#"{"a": 1 "b": 2}"#, 1, 9, p("a")),
        (r#"{"a": [1}"#, 1, 9, p("a[0]")),
        ("]]]", 1, 3, p("")),
        (r#"{"a": 1} {"b": 2}"#, 1, 17, p("")),
        (
            r#"{"a\"b": {"c\\d": 1, "e\u0041\n": 2}}"#,
            1,
            35,
            vec![key("a\"b"), key("eA\n")],
        ),
        (
            r#"{"a\"b": {"c\\d": 1}}"#,
            1,
            14,
            vec![key("a\"b"), key("c\\d")],
        ),
        (
            r#"{"\/\t\b\f\r\ud83d\ude00\u00e9": 0}"#,
            1,
            34,
            vec![key("/\t\u{8}\u{c}\r😀é")],
        ),
        (
            r#"{"\ud83d\u0041\uZZ\q": 0}"#,
            1,
            24,
            vec![key("\u{fffd}A\u{fffd}ZZq")],
        ),
        (r#"{"a\"#, 1, 5, vec![key("a\\")]),
    ];
    for (json, line, column, want) in cases {
        assert_eq!(
            &path_at(json, *line, *column),
            want,
            "{json:?} at {line}:{column}"
        );
    }
}

#[test]
fn position_of_table() {
    type Position = Option<(usize, usize)>;
    let cases: &[(&str, &str, Position)] = &[
        (CONFIG, "", Some((1, 1))),
        (CONFIG, "network", Some((2, 3))),
        (CONFIG, "network.allowedDomains", Some((3, 5))),
        (CONFIG, "network.allowedDomains[0]", Some((4, 7))),
        (CONFIG, "network.allowedDomains[1]", Some((5, 7))),
        (CONFIG, "network.allowedDomains[2]", None),
        (CONFIG, "network.nope", None),
        (CONFIG, "nope", None),
        (CONFIG, "[0]", None),
        (CONFIG, "filesystem.denyRead[1]", Some((10, 28))),
        (CONFIG, "filesystem.denyRead[1].deep.k", Some((10, 52))),
        (CONFIG, "filesystem.allowWrite", Some((11, 5))),
        (r#"{"a": "b", "b": 1}"#, "b", Some((1, 12))),
        (r#"{"x": {"a": 1}, "a": 2}"#, "a", Some((1, 17))),
        (r#"[10, [20, 30]]"#, "[1][1]", Some((1, 11))),
        (r#"  7"#, "", Some((1, 3))),
        ("", "", None),
        (r#"{"a": 1 "b": 2}"#, "b", None),
        (r#"{"a": {"b"#, "a.b", Some((1, 8))),
    ];
    for (json, path, want) in cases {
        assert_eq!(position_of(json, &p(path)), *want, "{json:?} path {path:?}");
    }
}

#[test]
fn round_trip_every_key_and_element() {
    let paths = [
        "network",
        "network.allowedDomains",
        "network.allowedDomains[0]",
        "network.allowedDomains[1]",
        "network.mode",
        "filesystem",
        "filesystem.denyRead",
        "filesystem.denyRead[0]",
        "filesystem.denyRead[1]",
        "filesystem.denyRead[1].path",
        "filesystem.denyRead[1].deep",
        "filesystem.denyRead[1].deep.k",
        "filesystem.allowWrite",
    ];
    let lines: Vec<&str> = CONFIG.lines().collect();
    for rendered in paths {
        let path = p(rendered);
        let (line, column) = position_of(CONFIG, &path).expect(rendered);
        assert_eq!(path_at(CONFIG, line, column), path, "start of {rendered}");
        if matches!(path.last(), Some(Segment::Key(_))) {
            // Column of the key's closing quote (keys here have no escapes).
            let text = &lines[line - 1][column..];
            let close = column + 1 + text.find('"').expect("closing quote");
            assert_eq!(path_at(CONFIG, line, close), path, "key end of {rendered}");
            assert_eq!(render(&path), rendered);
        }
    }
}

#[test]
fn value_positions_and_elements() {
    let cases: &[(&str, Option<(usize, usize)>)] = &[
        ("network.mode", Some((7, 13))),
        ("network.allowedDomains", Some((3, 23))),
        ("network.allowedDomains[1]", Some((5, 7))),
        ("filesystem.denyRead[1].path", Some((10, 37))),
        ("filesystem.allowWrite", Some((11, 19))),
        ("", Some((1, 1))),
        ("network.nope", None),
    ];
    for (path, want) in cases {
        assert_eq!(value_position(CONFIG, &p(path)), *want, "{path}");
    }
    assert_eq!(value_position(r#"{"a" :  1}"#, &p("a")), Some((1, 9)));
    assert_eq!(value_position(r#"{"a""#, &p("a")), None);
    type Found = Option<(usize, (usize, usize))>;
    let cases: &[(&str, &str, Found)] = &[
        ("network.allowedDomains", "example.com", Some((0, (4, 7)))),
        ("network.allowedDomains", "42", Some((1, (5, 7)))),
        ("network.allowedDomains", "4", None),
        ("filesystem.denyRead", "~/.ssh", Some((0, (10, 18)))),
        ("filesystem.denyRead", "/x", None),
        ("filesystem.allowWrite", "x", None),
        ("network", "example.com", None),
    ];
    for (path, element, want) in cases {
        assert_eq!(
            find_element(CONFIG, &p(path), element),
            *want,
            "{path} {element}"
        );
    }
    let json = r#"{"a": ["x\u0041", "x\"y", ["z"], "z"]}"#;
    assert_eq!(find_element(json, &p("a"), "xA"), Some((0, (1, 8))));
    assert_eq!(find_element(json, &p("a"), "x\"y"), Some((1, (1, 19))));
    assert_eq!(find_element(json, &p("a"), "z"), Some((3, (1, 34))));
}

#[test]
fn unclosed_table() {
    // (document, expected innermost opener, its line and column, its path)
    type Want = Option<(char, usize, usize, &'static str)>;
    let cases: &[(&str, Want)] = &[
        (r#"{"a": [1, 2]}"#, None),
        ("", None),
        ("{", Some(('{', 1, 1, ""))),
        (r#"{"a": [1, 2"#, Some(('[', 1, 7, "a"))),
        (r#"{"a": [1, 2],"#, Some(('{', 1, 1, ""))),
        ("{\"a\": {\n  \"b\": [{\"c\": 1}", Some(('[', 2, 8, "a.b"))),
        (r#"{"a": [{"c": 1"#, Some(('{', 1, 8, "a[0]"))),
        (r#"{"a": "xy"#, Some(('"', 1, 7, "a"))),
        (r#"{"ab"#, Some(('"', 1, 2, "ab"))),
        (r#"["x", "y\""#, Some(('"', 1, 7, "[1]"))),
        (r#"["x", "y\"]"#, Some(('"', 1, 7, "[1]"))),
        (r#"["x", "y"]"#, None),
        (r#"{"a": 1 "b": ["#, None),
    ];
    for (json, want) in cases {
        let want = want.map(|(opener, line, column, path)| Unclosed {
            opener,
            line,
            column,
            path: p(path),
        });
        assert_eq!(unclosed(json), want, "{json:?}");
    }
    assert_eq!(last_significant(""), None);
    assert_eq!(last_significant(" \n\t"), None);
    assert_eq!(last_significant("{\n  \"a\"  \n\n"), Some((2, 5)));
    assert_eq!(last_significant("["), Some((1, 1)));
}

#[test]
fn never_panics_on_prefixes() {
    let doc = "{\"a\\\"é\": [1, {\"b\\u00e9\": \"\\ud83d\\ude00\"}],\n \"c\": \"x\\\\\", \"d\\\n";
    for (end, _) in doc.char_indices().chain([(doc.len(), ' ')]) {
        let json = &doc[..end];
        if let Some(u) = unclosed(json) {
            assert!(u.line >= 1 && u.column >= 1, "{json:?}");
        }
        for line in 0..4 {
            for column in 0..=json.len() + 1 {
                let path = path_at(json, line, column);
                if let Some((l, c)) = position_of(json, &path) {
                    assert!(l >= 1 && c >= 1, "{json:?}");
                }
            }
        }
    }
}
