//! The profile's tests: well-formedness (with [`reader`]), each section, the path
//! spellings, order and deduplication, injection attempts, and golden snippets.

mod golden;
mod reader;
mod sections;
mod writes;

use super::profile::{Extras, Profile, generate};
use crate::policy::Policy;
use reader::{Escapes, Node};
use std::collections::HashSet;

pub fn policy() -> Policy {
    Policy {
        cwd: "/Users/u/proj".into(),
        ..Policy::default()
    }
}

pub fn extras() -> Extras {
    Extras {
        home: Some("/Users/u".into()),
        config_home: Some("/Users/u/.config".into()),
        data_home: Some("/Users/u/.local/share".into()),
        tmpdir: "/private/tmp/fence-1".into(),
        proxy_ports: vec![50001, 50002],
        log_tag: "CMD64_abc_END_0123abcde_SBX".into(),
        ..Extras::default()
    }
}

/// The profile, checked well-formed.
pub fn gen_checked(policy: &Policy, extras: &Extras) -> Profile {
    let profile = generate(policy, extras);
    assert_well_formed(&profile);
    profile
}

fn shape(node: &Node) -> String {
    match node {
        Node::List(items) => format!("({})", items.iter().map(shape).collect::<String>()),
        Node::Atom(a) => format!("{a} "),
        Node::Str(_) => "S ".into(),
        Node::Regex(_) => "R ".into(),
    }
}

pub fn assert_well_formed(profile: &Profile) {
    let names: HashSet<String> = profile.params.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names.len(), profile.params.len(), "parameter names repeat");
    let mut shapes = Vec::new();
    for escapes in [Escapes::Any, Escapes::QuoteOnly] {
        let forms = reader::read(&profile.text, escapes)
            .unwrap_or_else(|e| panic!("{e}\n{}", profile.text));
        reader::check(&forms, &names).unwrap_or_else(|e| panic!("{e}\n{}", profile.text));
        shapes.push(forms.iter().map(shape).collect::<Vec<_>>());
    }
    assert_eq!(shapes[0], shapes[1], "the two readings differ");
    // One rule per line, none repeated.
    let mut seen = HashSet::new();
    for line in profile.text.lines() {
        assert!(
            line.starts_with('(') || line.starts_with(';'),
            "line {line:?}"
        );
        assert!(seen.insert(line), "repeated line {line:?}");
        let forms = reader::read(line, Escapes::Any).unwrap();
        assert!(forms.len() <= 1, "{line}");
    }
    // Every parameter is used.
    for (name, _) in &profile.params {
        assert!(
            profile.text.contains(&format!("(param \"{name}\")")),
            "{name} unused"
        );
    }
}

/// The text with every `(param "NAME")` replaced by `"VALUE"` (lossy), for reading.
pub fn resolved(profile: &Profile) -> String {
    let mut text = profile.text.clone();
    // Longest names first, so that `W_1` does not replace the start of `W_10`.
    let mut params = profile.params.clone();
    params.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (name, value) in params {
        text = text.replace(
            &format!("(param \"{name}\")"),
            &format!("\"{}\"", value.to_string_lossy()),
        );
    }
    text
}

/// The lines of one section (after `;; name`, up to the next section).
pub fn section<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let start = line_of(text, &format!(";; {name}"));
    text.lines()
        .skip(start + 1)
        .take_while(|l| !l.starts_with(";;"))
        .collect()
}

/// The lines of `text` that contain all of `needles`.
pub fn lines_with<'a>(text: &'a str, needles: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| needles.iter().all(|n| l.contains(n)))
        .collect()
}

/// The index of the first line containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in\n{text}"))
}
