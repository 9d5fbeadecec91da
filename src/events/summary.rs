//! The blocked-request summary: every refusal the proxies report is counted per
//! destination, and fence prints one line at exit when anything was refused, with or
//! without `-m`:
//!
//! `fence: blocked 3 requests (registry.npmjs.org:443 ×2, example.com:443); -m shows each`
//!
//! The destinations come from the sandbox, so the table is bounded (at most [`MAX_KEPT`]
//! of them, each cut at [`MAX_KEY`] bytes; requests to further ones are still counted)
//! and the line is escaped when it is made.
//!
//! Other denials (filesystem writes, direct connects, refused commands: events that only
//! `-m` and `learn` watch for) are counted per kind and action, and when there are any
//! the line becomes
//!
//! `fence: denied 3 requests (registry.npmjs.org:443 ×2, example.com:443), 2 writes,
//! 1 connect (exit status 0)`
//!
//! with the command's exit status, since such denials often explain a failure. A run whose
//! only denials are proxy requests keeps the first form.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::event::Kind;

/// Distinct destinations kept in memory; requests to others are counted, not named.
pub const MAX_KEPT: usize = 4096;
/// The longest destination kept: a 253-byte name, or a bracketed IPv6 address, and a port.
pub const MAX_KEY: usize = 270;
/// Destinations named in the line; the others are "and N more".
pub const NAMED: usize = 5;

/// The run's refused requests, per destination.
#[derive(Debug, Default)]
pub struct Tally {
    total: u64,
    /// Destination → (requests, order first seen).
    counts: HashMap<String, (u64, usize)>,
    /// Requests to destinations not kept because the table was full.
    untracked: u64,
    /// Other denials per kind and action (fence's own words, so few), in the order first
    /// seen.
    others: Vec<(Kind, String, u64)>,
}

/// Kinds and actions counted apart; others are added to the last one.
const MAX_OTHERS: usize = 32;

impl Tally {
    /// Counts one refused request for `destination` (`host:port`).
    pub fn add(&mut self, destination: &str) {
        self.total = self.total.saturating_add(1);
        let key = normalize(destination);
        if let Some((count, _)) = self.counts.get_mut(&key) {
            *count = count.saturating_add(1);
        } else if self.counts.len() < MAX_KEPT {
            let order = self.counts.len();
            self.counts.insert(key, (1, order));
        } else {
            self.untracked = self.untracked.saturating_add(1);
        }
    }

    /// Counts one denial that is not a proxy request.
    pub fn add_other(&mut self, kind: Kind, action: &str) {
        let found = self
            .others
            .iter()
            .position(|(k, a, _)| *k == kind && a == action);
        let i = match found {
            Some(i) => i,
            None if self.others.len() < MAX_OTHERS => {
                let action = super::seen::cut(action, 32);
                self.others.push((kind, action, 0));
                self.others.len() - 1
            }
            None => self.others.len() - 1,
        };
        let count = &mut self.others[i].2;
        *count = count.saturating_add(1);
    }

    /// `blocked 3 requests (a.example:443 ×2, b.example:80)`, or with other denials
    /// `denied 3 requests (…), 2 writes (exit status 1)` (`status` says how the command
    /// ended); escaped. `None` when nothing was refused.
    pub fn describe(&self, status: &str) -> Option<String> {
        if self.others.is_empty() {
            return self.requests().map(|r| format!("blocked {r}"));
        }
        let mut parts: Vec<String> = self.requests().into_iter().collect();
        let mut others: Vec<&(Kind, String, u64)> = self.others.iter().collect();
        // Stable: in the order of the kinds, then first seen.
        others.sort_by_key(|(kind, _, _)| *kind);
        for (kind, action, count) in others {
            let noun = match kind {
                Kind::Exec => "command".to_string(),
                _ => crate::output::escape(action).into_owned(),
            };
            let plural = if *count == 1 { "" } else { "s" };
            parts.push(format!("{count} {noun}{plural}"));
        }
        Some(format!("denied {} ({status})", parts.join(", ")))
    }

    /// `3 requests (a.example:443 ×2, b.example:80)`; `None` when none was refused.
    fn requests(&self) -> Option<String> {
        if self.total == 0 {
            return None;
        }
        let mut ranked: Vec<(&String, u64, usize)> = self
            .counts
            .iter()
            .map(|(key, &(count, order))| (key, count, order))
            .collect();
        // Most requests first; among equals, the destination refused first.
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        let noun = if self.total == 1 {
            "request"
        } else {
            "requests"
        };
        let mut line = format!("{} {noun} (", self.total);
        for (i, (key, count, _)) in ranked.iter().take(NAMED).enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            line.push_str(&crate::output::escape(key));
            if *count > 1 {
                let _ = write!(line, " ×{count}");
            }
        }
        let rest = ranked.len().saturating_sub(NAMED);
        if self.untracked > 0 {
            // At least one destination beyond those kept: more than `rest` others.
            let _ = write!(line, ", and over {rest} more");
        } else if rest > 0 {
            let _ = write!(line, ", and {rest} more");
        }
        line.push(')');
        Some(line)
    }
}

/// The key for `destination`: ASCII lowercased (names match case-insensitively), cut at
/// [`MAX_KEY`] bytes (on a character boundary).
fn normalize(destination: &str) -> String {
    let mut end = destination.len().min(MAX_KEY);
    while !destination.is_char_boundary(end) {
        end -= 1;
    }
    destination[..end].to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(destinations: &[&str]) -> Tally {
        let mut t = Tally::default();
        for d in destinations {
            t.add(d);
        }
        t
    }

    #[test]
    fn nothing_refused_says_nothing() {
        assert_eq!(Tally::default().describe("exit status 0"), None);
    }

    #[test]
    fn counts_per_destination_most_first() {
        assert_eq!(
            tally(&["example.com:443"])
                .describe("exit status 0")
                .unwrap(),
            "blocked 1 request (example.com:443)"
        );
        let t = tally(&[
            "example.com:443",
            "registry.npmjs.org:443",
            "Registry.NPMjs.org:443",
        ]);
        assert_eq!(
            t.describe("exit status 0").unwrap(),
            "blocked 3 requests (registry.npmjs.org:443 ×2, example.com:443)"
        );
    }

    #[test]
    fn ties_keep_the_order_first_seen() {
        let t = tally(&["b:1", "a:1", "c:1", "a:1", "b:1"]);
        assert_eq!(
            t.describe("exit status 0").unwrap(),
            "blocked 5 requests (b:1 ×2, a:1 ×2, c:1)"
        );
    }

    #[test]
    fn five_named_then_how_many_more() {
        let names: Vec<String> = (0..8).map(|i| format!("h{i}.example:443")).collect();
        let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
        all.push("h7.example:443");
        assert_eq!(
            tally(&all).describe("exit status 0").unwrap(),
            "blocked 9 requests (h7.example:443 ×2, h0.example:443, h1.example:443, \
             h2.example:443, h3.example:443, and 3 more)"
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = Tally::default();
        for i in 0..MAX_KEPT + 10 {
            t.add(&format!("h{i}.example:80"));
        }
        t.add("h0.example:80");
        t.add("h0.example:80");
        assert_eq!(t.counts.len(), MAX_KEPT);
        assert_eq!(t.untracked, 10);
        let line = t.describe("exit status 0").unwrap();
        assert!(
            line.starts_with(&format!(
                "blocked {} requests (h0.example:80 ×3, h1.example:80, ",
                MAX_KEPT + 12
            )),
            "{line}"
        );
        assert!(
            line.ends_with(&format!(", and over {} more)", MAX_KEPT - NAMED)),
            "{line}"
        );
        // A long destination is cut, on a character boundary.
        let mut t = Tally::default();
        let long = format!("{}é:443", "a".repeat(MAX_KEY - 1));
        t.add(&long);
        let key = t.counts.keys().next().unwrap();
        assert_eq!(key.len(), MAX_KEY - 1);
    }

    #[test]
    fn other_denials_join_the_line_with_the_status() {
        let mut t = tally(&["a:443", "a:443"]);
        t.add_other(Kind::Net, "connect");
        t.add_other(Kind::Fs, "write");
        t.add_other(Kind::Fs, "write");
        t.add_other(Kind::Exec, "exec");
        assert_eq!(
            t.describe("exit status 1").unwrap(),
            "denied 2 requests (a:443 ×2), 2 writes, 1 connect, 1 command (exit status 1)"
        );
        let mut t = Tally::default();
        t.add_other(Kind::Fs, "write");
        assert_eq!(
            t.describe("killed by signal 9").unwrap(),
            "denied 1 write (killed by signal 9)"
        );
        // Bounded, and escaped (fence's own words, but the line is text).
        let mut t = Tally::default();
        for i in 0..MAX_OTHERS + 3 {
            t.add_other(Kind::Fs, &format!("op{i}\n"));
        }
        assert_eq!(t.others.len(), MAX_OTHERS);
        assert_eq!(t.others[MAX_OTHERS - 1].2, 4);
        let line = t.describe("s").unwrap();
        assert!(line.contains(r"1 op0\n, 1 op1\n, "), "{line}");
    }

    #[test]
    fn what_the_sandbox_sent_is_escaped() {
        let t = tally(&["x\n[fence] ok\u{1b}]0;T\u{7}:80"]);
        assert_eq!(
            t.describe("exit status 0").unwrap(),
            "blocked 1 request (x\\n[fence] ok\\e]0;t\\x07:80)"
        );
    }
}
