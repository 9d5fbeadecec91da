//! The crate's layers, checked: a module imports only modules below it in [`LAYERS`], so
//! there are no import circles and nothing reaches up (the proxy and the host loop know no
//! backend; config knows no policy). A new module must be placed here. Test-only.

/// Top-level modules, from the top (the binary) down to the leaves.
const LAYERS: [&str; 18] = [
    "main",
    "cmd",
    "cli",
    "linux",
    "macos",
    "host",
    "proxy",
    "events",
    "policy",
    "shell",
    "config",
    "diagnostics",
    "sandbox_env",
    "host_env",
    "exec",
    "sys",
    "output",
    "error",
];

/// The top-level modules `source` (one file's text) names through `crate::` (or `fence::`
/// from the binary), outside comments and its `mod tests`.
fn imports(source: &str, prefix: &str) -> Vec<String> {
    let code = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    let mut found = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                found.extend(group_heads(group));
            } else {
                found.push(ident(rest).to_string());
            }
        }
    }
    // A `use crate::{…}` group may span lines: read the whole text for those.
    let mut rest = code;
    while let Some(at) = rest.find(&format!("use {prefix}{{")) {
        rest = &rest[at + prefix.len() + 5..];
        found.extend(group_heads(rest));
    }
    found.retain(|m| !m.is_empty());
    found.sort();
    found.dedup();
    found
}

/// The first path segment of each item of a `{a, b::c, d::{e}}` group (text after `{`).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_item_start = true;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item_start = true,
            c if c.is_whitespace() => {}
            _ if at_item_start && depth == 0 => {
                heads.push(ident(&group[i..]).to_string());
                at_item_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn imports_are_found() {
        let text = "use crate::a::B;\nuse crate::{c, d::{e, f}, g::h};\n// crate::comment\n\
                    fn x() { crate::i::j(); my_crate::k(); }\nuse crate::{\n    l::M,\n    n,\n};\n\
                    #[cfg(test)]\nmod tests { use crate::z; }";
        assert_eq!(
            imports(text, "crate::"),
            ["a", "c", "d", "g", "i", "l", "n"]
        );
    }

    /// Every module imports only modules below it.
    #[test]
    fn modules_import_only_lower_layers() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut violations = Vec::new();
        for file in &files {
            let relative = file.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_str().unwrap().trim_end_matches(".rs");
            if module == "lib" || module == "layers" {
                continue;
            }
            let Some(rank) = LAYERS.iter().position(|&m| m == module) else {
                violations.push(format!("{module}: not in LAYERS"));
                continue;
            };
            let prefix = if module == "main" {
                "fence::"
            } else {
                "crate::"
            };
            let text = std::fs::read_to_string(file).unwrap();
            for import in imports(&text, prefix) {
                // The crate root's re-exports stand for their modules.
                let import = match import.as_str() {
                    "Config" => "config",
                    "Error" | "Result" => "error",
                    "Policy" => "policy",
                    other => other,
                };
                match LAYERS.iter().position(|&m| m == import) {
                    Some(below) if below > rank || import == module => {}
                    Some(_) => violations.push(format!(
                        "{}: imports {import}, which is not below {module}",
                        relative.display()
                    )),
                    None => violations.push(format!(
                        "{}: imports {import}, which is not a module in LAYERS",
                        relative.display()
                    )),
                }
            }
        }
        assert!(violations.is_empty(), "{}", violations.join("\n"));
    }
}
