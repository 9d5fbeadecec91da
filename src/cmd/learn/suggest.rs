//! The config `fence learn` writes: a pure function of what the run recorded.
//!
//! - `extends` names the policy in force (a template, a config file's absolute path, or
//!   `@base` for the user's config).
//! - `network.allowedDomains` lists every host the proxies let through only because
//!   `learn` was running; three or more subdomains of one registrable name (the last two
//!   labels, three under `co.uk`-like second levels) become `*.name`.
//! - refused writes are listed as commented-out `filesystem.allowWrite` suggestions,
//!   collapsed to directories ([`suggestion`]) with the processes and counts; never `/`, a
//!   top-level directory, `$HOME` or a directory above it, and never a protected path
//!   (those are listed apart: fence keeps them read-only whatever the config says).
//! - what stayed refused (deniedDomains, the address guard, direct connects, commands) is
//!   listed in comments.
//!
//! Everything from the sandbox is written as a JSON string (escaped: no newline can end a
//! `//` comment early, no control character reaches a terminal), and paths have their glob
//! characters escaped, so an uncommented suggestion means exactly that path.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::events::{Decision, Kept, Kind};
use crate::policy::domains::LEARN_RULE;

/// What the writer needs.
pub struct Learned<'a> {
    /// The `extends` value, or `None` for fence's built-in default.
    pub extends: Option<&'a str>,
    /// The command, as shown in the header.
    pub command: &'a str,
    /// When the run ended (RFC 3339).
    pub time: &'a str,
    /// The distinct events, with their counts.
    pub events: &'a [(Kept, u64)],
    /// Events not recorded (the table was full).
    pub untracked: u64,
    pub home: Option<&'a Path>,
    /// Whether a path is protected (read-only whatever the config says).
    pub protected: &'a dyn Fn(&Path) -> bool,
}

/// Several subdomains of one name become a wildcard from this many.
const WILDCARD_FROM: usize = 3;
/// Examples named in a comment.
const EXAMPLES: usize = 3;

/// The JSONC text of the learned config.
pub fn render(l: &Learned<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Written by `fence learn` at {} for the command {}.",
        l.time,
        json(l.command)
    );
    out.push_str(
        "// Review it, then `fence trust` it (it is a project config: it applies only once\n\
         // trusted) and run the command again with fence.\n",
    );
    if l.untracked > 0 {
        let _ = writeln!(
            out,
            "// {} more events were not recorded (too many distinct ones).",
            l.untracked
        );
    }
    out.push_str("{\n");
    let mut fields: Vec<String> = Vec::new();
    if let Some(extends) = l.extends {
        fields.push(format!("  \"extends\": {}", json(extends)));
    }
    let domains = domains(l.events);
    let refused = refused_lines(l.events);
    if !domains.is_empty() || !refused.is_empty() {
        let mut net = String::from("  \"network\": {\n");
        for line in &refused {
            let _ = writeln!(net, "    // {line}");
        }
        if domains.is_empty() {
            net.push_str("  }");
        } else {
            net.push_str("    // Reached during the run, outside the allowed domains:\n");
            net.push_str("    \"allowedDomains\": [\n");
            for (i, (pattern, comment)) in domains.iter().enumerate() {
                let comma = if i + 1 < domains.len() { "," } else { "" };
                let _ = writeln!(net, "      {}{comma} // {comment}", json(pattern));
            }
            net.push_str("    ]\n  }");
        }
        fields.push(net);
    }
    let writes = writes(l);
    if !writes.is_empty() {
        fields.push(format!("  \"filesystem\": {{\n{writes}  }}"));
    }
    out.push_str(&fields.join(",\n"));
    out.push_str("\n}\n");
    out
}

/// `text` as a JSON string (see [`crate::events`]' JSON lines: controls escaped).
fn json(text: &str) -> String {
    let mut out = String::new();
    crate::events::json_string(&mut out, text);
    out
}

/// The host of a `host:port` target (an IPv6 literal without its brackets).
fn host_of(target: &str) -> &str {
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The `allowedDomains` entries, sorted, each with its comment.
fn domains(events: &[(Kept, u64)]) -> Vec<(String, String)> {
    let mut hosts: BTreeMap<String, u64> = BTreeMap::new();
    for (event, count) in events {
        if event.kind.is_proxy() && event.decision == Decision::Allowed && event.rule == LEARN_RULE
        {
            let host = host_of(&event.target).to_ascii_lowercase();
            *hosts.entry(host).or_default() += count;
        }
    }
    let mut by_parent: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for host in hosts.keys() {
        if let Some(parent) = registrable_parent(host) {
            by_parent.entry(parent).or_default().push(host);
        }
    }
    let mut entries: BTreeMap<String, String> = BTreeMap::new();
    let mut covered: Vec<&String> = Vec::new();
    for (parent, subs) in &by_parent {
        if subs.len() < WILDCARD_FROM {
            continue;
        }
        let total: u64 = subs.iter().map(|h| hosts[*h]).sum();
        let mut shown: Vec<&str> = subs.iter().take(EXAMPLES).map(|h| h.as_str()).collect();
        if subs.len() > EXAMPLES {
            shown.push("...");
        }
        entries.insert(
            format!("*.{parent}"),
            format!("{}: {}", requests(total), shown.join(", ")),
        );
        covered.extend(subs);
    }
    for (host, count) in &hosts {
        if !covered.contains(&host) {
            entries.insert(host.clone(), requests(*count));
        }
    }
    entries.into_iter().collect()
}

fn requests(count: u64) -> String {
    if count == 1 {
        "1 request".into()
    } else {
        format!("{count} requests")
    }
}

/// The registrable name `host` is a subdomain of (`a.b.example.com` → `example.com`,
/// `x.example.co.uk` → `example.co.uk`); `None` for an IP address or a name that is not a
/// subdomain of one.
fn registrable_parent(host: &str) -> Option<String> {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let n = labels.len();
    let second_level = [
        "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go",
    ];
    let keep = if n >= 3 && labels[n - 1].len() == 2 && second_level.contains(&labels[n - 2]) {
        3
    } else {
        2
    };
    (n > keep).then(|| labels[n - keep..].join("."))
}

/// Comment lines for what stayed refused (other than writes).
fn refused_lines(events: &[(Kept, u64)]) -> Vec<String> {
    let mut lines = Vec::new();
    for (event, count) in events {
        if event.decision != Decision::Denied || event.kind == Kind::Fs {
            continue;
        }
        let what = match event.kind {
            Kind::Http | Kind::Socks => "still refused",
            Kind::Net => "direct connection refused (use the proxy)",
            _ => "command refused",
        };
        let times = if *count == 1 {
            String::new()
        } else {
            format!(" ×{count}")
        };
        lines.push(format!(
            "{what}: {} ({}){times}",
            json(&event.target),
            json(&event.rule)
        ));
    }
    lines
}

/// The `filesystem` body: commented-out `allowWrite` suggestions and the protected paths.
fn writes(l: &Learned<'_>) -> String {
    // Suggestion → (count, processes, an example path).
    let mut groups: BTreeMap<PathBuf, (u64, Vec<String>, String)> = BTreeMap::new();
    let mut protected: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    for (event, count) in l.events {
        if event.kind != Kind::Fs || event.decision != Decision::Denied {
            continue;
        }
        let path = Path::new(&event.target);
        let process = event.comm.clone().unwrap_or_else(|| "?".into());
        let dir = suggestion(path, l.home).filter(|d| !(l.protected)(d));
        match dir {
            Some(dir) if !(l.protected)(path) => {
                let entry = groups
                    .entry(dir)
                    .or_insert_with(|| (0, Vec::new(), event.target.clone()));
                entry.0 += count;
                add_process(&mut entry.1, process);
            }
            _ => {
                let entry = protected.entry(event.target.clone()).or_default();
                entry.0 += count;
                add_process(&mut entry.1, process);
            }
        }
    }
    // A directory inside another suggested one adds to it.
    let dirs: Vec<PathBuf> = groups.keys().cloned().collect();
    for dir in &dirs {
        if let Some(outer) = dirs.iter().find(|o| *o != dir && dir.starts_with(o)) {
            let (count, procs, _) = groups.remove(dir).unwrap_or_default();
            if let Some(entry) = groups.get_mut(outer) {
                entry.0 += count;
                for p in procs {
                    add_process(&mut entry.1, p);
                }
            }
        }
    }
    let mut out = String::new();
    if !groups.is_empty() {
        out.push_str(
            "    // Writes the sandbox refused, as directories to allow. Uncomment those you\n\
             \x20   // want (a write outside the project can be how a tool persists itself):\n\
             \x20   // \"allowWrite\": [\n",
        );
        let n = groups.len();
        for (i, (dir, (count, procs, example))) in groups.iter().enumerate() {
            let comma = if i + 1 < n { "," } else { "" };
            let entry = entry_text(dir, l.home);
            let _ = writeln!(
                out,
                "    //   {}{comma} // {}: {}, e.g. {}",
                json(&entry),
                procs.join(", "),
                writes_noun(*count),
                json(example)
            );
        }
        out.push_str("    // ]\n");
    }
    if !protected.is_empty() {
        out.push_str(
            "    // Refused writes not suggested: protected paths (read-only whatever the config\n\
             \x20   // says) or places too broad to allow:\n",
        );
        for (path, (count, procs)) in &protected {
            let _ = writeln!(
                out,
                "    //   {} // {}: {}",
                json(path),
                procs.join(", "),
                writes_noun(*count)
            );
        }
    }
    out
}

fn writes_noun(count: u64) -> String {
    if count == 1 {
        "1 write".into()
    } else {
        format!("{count} writes")
    }
}

/// Adds a process name to a short list (at most three, then `...`).
fn add_process(procs: &mut Vec<String>, process: String) {
    // Shown in a `//` comment: escaped, so it cannot end the comment.
    let process = crate::output::escape(&crate::events::cut_text(&process, 32)).into_owned();
    if procs.contains(&process) || procs.last().is_some_and(|p| p == "...") {
        return;
    }
    if procs.len() == 3 {
        procs.push("...".into());
    } else {
        procs.push(process);
    }
}

/// The directory to suggest for a refused write of `path`: under `$HOME`, the tool's own
/// directory (`~/.cache/TOOL`, `~/.config/TOOL`, `~/.local/share/TOOL`, `~/.DOTDIR`), else
/// the directory the path is in; the path itself where that directory would be too broad
/// (`/`, a top-level directory, `$HOME` or above). `None` for `$HOME` or above, and for a
/// path that is not absolute and normal (no `..`).
pub fn suggestion(path: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let normal = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !normal || home.is_some_and(|h| h.starts_with(path)) {
        return None;
    }
    if let Some(home) = home {
        if let Ok(rel) = path.strip_prefix(home) {
            let parts: Vec<&std::ffi::OsStr> = rel.iter().collect();
            let depth = match parts.first().and_then(|p| p.to_str()) {
                _ if parts.len() < 2 => parts.len(),
                Some(".cache" | ".config") => 2,
                Some(".local") => 3.min(parts.len()),
                Some(dot) if dot.starts_with('.') => 1,
                _ => parts.len() - 1,
            };
            if depth > 0 {
                return Some(
                    parts[..depth]
                        .iter()
                        .fold(home.to_path_buf(), |p, c| p.join(c)),
                );
            }
        }
    }
    let parent = path.parent()?;
    let broad = parent.components().count() <= 2 || home.is_some_and(|h| h.starts_with(parent));
    Some(if broad {
        path.to_path_buf()
    } else {
        parent.to_path_buf()
    })
}

/// The `allowWrite` entry for `dir`: `~/…` under `$HOME`, glob characters escaped.
fn entry_text(dir: &Path, home: Option<&Path>) -> String {
    let text = match home.and_then(|h| dir.strip_prefix(h).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => {
            format!("~/{}", rel.to_string_lossy())
        }
        _ => dir.to_string_lossy().into_owned(),
    };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[path = "suggest_tests.rs"]
mod tests;
