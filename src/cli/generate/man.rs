//! The man page's OPTIONS entries and Subcommands subsection (roff), spliced into the
//! hand-written man/fence.1 between two marker comments.

use super::super::flags::{FLAGS, Flag, SUBCOMMANDS};

/// The marker lines: the generated text sits between them (each may carry a comment).
pub const BEGIN: &str = r#".\" BEGIN GENERATED OPTIONS"#;
pub const END: &str = r#".\" END GENERATED OPTIONS"#;

/// The generated roff: an entry per option, then the subcommands.
pub fn options() -> String {
    let mut out = String::new();
    for flag in FLAGS.iter().filter(|f| !f.man.is_empty()) {
        entry(&mut out, &names(flag), flag.man);
    }
    out.push_str(".SS Subcommands\nThey are recognised only as the first argument.\n");
    for sub in SUBCOMMANDS {
        let operand = |with: bool| match (with, sub.operand) {
            (true, Some((name, _))) => format!(" {}", value(&format!("[{name}]"))),
            _ => String::new(),
        };
        entry(
            &mut out,
            &format!("\\fBfence {}\\fR{}", sub.name, operand(true)),
            sub.man,
        );
        for flag in sub.flags.iter().filter(|f| !f.man.is_empty()) {
            let names: Vec<String> = flag.names().iter().map(|n| escape(n)).collect();
            let head = format!(
                "\\fBfence {} {}\\fR{}",
                sub.name,
                names.join(", "),
                operand(sub.operand_with.contains(&flag.id))
            );
            entry(&mut out, &head, flag.man);
        }
    }
    out
}

/// `.TP`, the tag line, then the text with each line's leading blanks dropped.
fn entry(out: &mut String, head: &str, text: &str) {
    out.push_str(".TP\n");
    out.push_str(head);
    out.push('\n');
    for line in text.lines() {
        out.push_str(line.trim_start());
        out.push('\n');
    }
}

/// `\fB\-s\fR, \fB\-\-settings\fR \fIFILE\fR`
fn names(flag: &Flag) -> String {
    let names: Vec<String> = flag
        .names()
        .iter()
        .map(|n| format!("\\fB{}\\fR", escape(n)))
        .collect();
    let mut head = names.join(", ");
    if let Some(v) = flag.value {
        head.push(' ');
        head.push_str(&value(v));
    }
    head
}

/// A value's name in roff: names in italics, separators (`:`) in bold, brackets and
/// blanks in roman: `[ADDR:]PORT` → `[\fIADDR\fB:\fR]\fIPORT\fR`.
fn value(text: &str) -> String {
    #[derive(PartialEq, Clone, Copy)]
    enum Font {
        R,
        I,
        B,
    }
    let mut out = String::new();
    let mut font = Font::R;
    for c in text.chars() {
        let want = match c {
            'A'..='Z' | '0'..='9' | '_' => Font::I,
            '[' | ']' | ' ' | '.' => Font::R,
            _ => Font::B,
        };
        if want != font {
            out.push_str(match want {
                Font::R => "\\fR",
                Font::I => "\\fI",
                Font::B => "\\fB",
            });
            font = want;
        }
        out.push(c);
    }
    if font != Font::R {
        out.push_str("\\fR");
    }
    out
}

/// An option name in roff: hyphens as `\-`.
fn escape(name: &str) -> String {
    name.replace('-', "\\-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(value("[ADDR:]PORT"), r"[\fIADDR\fB:\fR]\fIPORT\fR");
        assert_eq!(value("HOST PORT"), r"\fIHOST\fR \fIPORT\fR");
        assert_eq!(value("FILE"), r"\fIFILE\fR");
    }

    #[test]
    fn every_option_has_an_entry() {
        let text = options();
        for flag in FLAGS {
            for name in flag.names() {
                assert!(text.contains(&escape(&name)), "{name}");
            }
        }
        assert!(text.contains(r"\fBfence trust \-\-revoke\fR [\fIFILE\fR]"));
        assert!(text.contains("\\fBfence trust \\-\\-list\\fR\n"));
    }
}
