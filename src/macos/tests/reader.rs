//! A small SBPL reader for the tests: every generated profile must be well-formed —
//! balanced, every string and regex literal terminated, only known operations, filters
//! and atoms, and every `(param "NAME")` defined. It reads string escapes in one of two
//! ways (a backslash escapes any next character, or only a quote), and a profile must read
//! the same both ways, so that its meaning does not rest on how `sandbox-exec` reads them.

use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    List(Vec<Node>),
    Atom(String),
    Str(String),
    Regex(String),
}

#[derive(Clone, Copy, PartialEq)]
pub enum Escapes {
    /// `\x` is `x` for every `x`.
    Any,
    /// Only `\"` is an escape; other backslashes are kept.
    QuoteOnly,
}

pub fn read(text: &str, escapes: Escapes) -> Result<Vec<Node>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at = 0;
    let mut stack: Vec<Vec<Node>> = vec![Vec::new()];
    while at < chars.len() {
        let c = chars[at];
        match c {
            ';' => {
                while at < chars.len() && chars[at] != '\n' {
                    at += 1;
                }
            }
            c if c.is_whitespace() => at += 1,
            '(' => {
                stack.push(Vec::new());
                at += 1;
            }
            ')' => {
                let list = stack.pop().ok_or("unbalanced )")?;
                stack
                    .last_mut()
                    .ok_or("unbalanced )")?
                    .push(Node::List(list));
                at += 1;
            }
            '"' => {
                let (s, next) = string(&chars, at + 1, escapes)?;
                stack.last_mut().unwrap().push(Node::Str(s));
                at = next;
            }
            '#' if chars.get(at + 1) == Some(&'"') => {
                let (s, next) = string(&chars, at + 2, escapes)?;
                stack.last_mut().unwrap().push(Node::Regex(s));
                at = next;
            }
            _ => {
                let start = at;
                while at < chars.len() && !"()\"; \n\t".contains(chars[at]) {
                    at += 1;
                }
                let atom: String = chars[start..at].iter().collect();
                stack.last_mut().unwrap().push(Node::Atom(atom));
            }
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced (".into());
    }
    Ok(stack.pop().unwrap())
}

fn string(chars: &[char], mut at: usize, escapes: Escapes) -> Result<(String, usize), String> {
    let mut out = String::new();
    while at < chars.len() {
        match chars[at] {
            '"' => return Ok((out, at + 1)),
            '\\' if escapes == Escapes::Any => {
                out.push(*chars.get(at + 1).ok_or("unterminated string")?);
                at += 2;
            }
            '\\' if chars.get(at + 1) == Some(&'"') => {
                out.push('"');
                at += 2;
            }
            c => {
                out.push(c);
                at += 1;
            }
        }
    }
    Err("unterminated string".into())
}

const OPERATIONS: &[&str] = &[
    "default",
    "process-exec",
    "process-fork",
    "process-info*",
    "signal",
    "mach-priv-task-port",
    "user-preference-read",
    "mach-lookup",
    "mach-register",
    "ipc-posix-shm",
    "ipc-posix-sem",
    "iokit-open",
    "iokit-get-properties",
    "system-socket",
    "sysctl-read",
    "sysctl-write",
    "distributed-notification-post",
    "file-read*",
    "file-read-data",
    "file-read-metadata",
    "file-read-xattr",
    "file-write*",
    "file-write-data",
    "file-write-unlink",
    "file-ioctl",
    "network*",
    "network-outbound",
    "network-bind",
    "network-inbound",
    "pseudo-tty",
];

const FILTERS: &[&str] = &[
    "require-all",
    "require-any",
    "require-not",
    "subpath",
    "literal",
    "regex",
    "param",
    "global-name",
    "global-name-regex",
    "iokit-registry-entry-class",
    "iokit-user-client-class",
    "socket-domain",
    "socket-protocol",
    "sysctl-name",
    "sysctl-name-prefix",
    "target",
    "remote",
    "local",
    "with",
];

const ATOMS: &[&str] = &[
    "same-sandbox",
    "AF_UNIX",
    "AF_SYSTEM",
    "2",
    "ip",
    "unix-socket",
    "message",
];

/// Checks the shape of a profile read by [`read`]; `params` are the defined names.
pub fn check(forms: &[Node], params: &HashSet<String>) -> Result<(), String> {
    let mut first = true;
    for form in forms {
        let Node::List(items) = form else {
            return Err(format!("top-level {form:?}"));
        };
        match items.first() {
            Some(Node::Atom(a)) if a == "version" && first => {
                if items.get(1) != Some(&Node::Atom("1".into())) || items.len() != 2 {
                    return Err(format!("{items:?}"));
                }
            }
            Some(Node::Atom(a)) if !first && (a == "allow" || a == "deny") => {
                let ops: Vec<&Node> = items[1..]
                    .iter()
                    .take_while(|n| matches!(n, Node::Atom(_)))
                    .collect();
                if ops.is_empty() {
                    return Err(format!("no operation in {items:?}"));
                }
                for op in &ops {
                    let Node::Atom(op) = op else { unreachable!() };
                    if !OPERATIONS.contains(&op.as_str()) {
                        return Err(format!("unknown operation {op}"));
                    }
                }
                for filter in &items[1 + ops.len()..] {
                    check_filter(filter, params)?;
                }
            }
            _ => return Err(format!("unexpected form {items:?}")),
        }
        first = false;
    }
    if first {
        return Err("empty profile".into());
    }
    Ok(())
}

fn check_filter(node: &Node, params: &HashSet<String>) -> Result<(), String> {
    let Node::List(items) = node else {
        return Err(format!("filter {node:?} is not a list"));
    };
    let Some(Node::Atom(head)) = items.first() else {
        return Err(format!("filter {items:?}"));
    };
    if !FILTERS.contains(&head.as_str()) {
        return Err(format!("unknown filter {head}"));
    }
    if head == "param" {
        return match &items[1..] {
            [Node::Str(name)] if params.contains(name) => Ok(()),
            other => Err(format!("bad param {other:?}")),
        };
    }
    for item in &items[1..] {
        match item {
            Node::List(_) => check_filter(item, params)?,
            Node::Atom(a) if !ATOMS.contains(&a.as_str()) => {
                return Err(format!("unknown atom {a} in {head}"));
            }
            Node::Regex(_) if head != "regex" && head != "global-name-regex" => {
                return Err(format!("regex in {head}"));
            }
            _ => {}
        }
    }
    Ok(())
}
