//! Distinct events and how often each happened: the `-m` deduplication and what `fence
//! learn` collects.
//!
//! Two events are the same when kind, decision, action, target and rule are (the process
//! and the operation detail are those of the first). The events come from a hostile
//! sandbox, so the table is bounded: at most [`MAX_KEPT`] distinct events, each text cut at
//! a fixed length (two targets that differ only beyond [`MAX_TARGET`] bytes are one);
//! events beyond are counted as untracked, not kept.

use std::collections::HashMap;

use super::event::{Decision, Event, Kind};

/// Distinct events kept in memory.
pub const MAX_KEPT: usize = 2048;
/// The longest target kept (a path is at most 4096 bytes, but such paths are rare).
pub const MAX_TARGET: usize = 1024;
/// The longest of the other texts kept.
pub const MAX_TEXT: usize = 256;

/// An event kept: [`Event`] with owned (cut) texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub kind: Kind,
    pub action: String,
    pub op: String,
    pub target: String,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub rule: String,
    pub decision: Decision,
}

impl Kept {
    fn new(event: &Event<'_>) -> Kept {
        Kept {
            kind: event.kind,
            action: cut(event.action, MAX_TEXT),
            op: cut(event.op, MAX_TEXT),
            target: cut(event.target, MAX_TARGET),
            pid: event.pid,
            comm: event.comm.map(|c| cut(c, MAX_TEXT)),
            rule: cut(event.rule, MAX_TEXT),
            decision: event.decision,
        }
    }

    pub fn event(&self) -> Event<'_> {
        Event {
            kind: self.kind,
            action: &self.action,
            op: &self.op,
            target: &self.target,
            pid: self.pid,
            comm: self.comm.as_deref(),
            rule: &self.rule,
            decision: self.decision,
        }
    }
}

type Key = (Kind, Decision, String, String, String);

/// What [`Seen::add`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The first of its kind: show it.
    First,
    /// Seen before: counted.
    Again,
    /// The table is full: not kept (show it, it cannot be deduplicated).
    Untracked,
}

/// The distinct events, in the order first seen, with their counts.
#[derive(Debug, Default)]
pub struct Seen {
    index: HashMap<Key, usize>,
    kept: Vec<(Kept, u64)>,
    untracked: u64,
}

impl Seen {
    pub fn add(&mut self, event: &Event<'_>) -> Found {
        let kept = Kept::new(event);
        let key = (
            kept.kind,
            kept.decision,
            kept.action.clone(),
            kept.target.clone(),
            kept.rule.clone(),
        );
        if let Some(&i) = self.index.get(&key) {
            let count = &mut self.kept[i].1;
            *count = count.saturating_add(1);
            return Found::Again;
        }
        if self.kept.len() >= MAX_KEPT {
            self.untracked = self.untracked.saturating_add(1);
            return Found::Untracked;
        }
        self.index.insert(key, self.kept.len());
        self.kept.push((kept, 1));
        Found::First
    }

    /// Every distinct event with its count, in the order first seen.
    pub fn all(&self) -> &[(Kept, u64)] {
        &self.kept
    }

    /// Events not kept because the table was full.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Takes the events seen more than once (for the lines at exit), leaving the table
    /// empty of counts: a second call returns nothing.
    pub fn take_repeated(&mut self) -> Vec<(Kept, u64)> {
        let mut repeated = Vec::new();
        for (kept, count) in &mut self.kept {
            if *count > 1 {
                repeated.push((kept.clone(), *count));
                *count = 1;
            }
        }
        repeated
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs<'a>(target: &'a str, rule: &'a str, pid: u32) -> Event<'a> {
        Event {
            kind: Kind::Fs,
            action: "write",
            op: "openat",
            target,
            pid: Some(pid),
            comm: Some("sh"),
            rule,
            decision: Decision::Denied,
        }
    }

    #[test]
    fn same_kind_target_and_rule_is_one_event() {
        let mut seen = Seen::default();
        assert_eq!(seen.add(&fs("/a", "r", 1)), Found::First);
        assert_eq!(seen.add(&fs("/a", "r", 2)), Found::Again);
        assert_eq!(seen.add(&fs("/a", "other", 3)), Found::First);
        assert_eq!(seen.add(&fs("/b", "r", 4)), Found::First);
        let net = Event {
            kind: Kind::Net,
            ..fs("/a", "r", 5)
        };
        assert_eq!(seen.add(&net), Found::First);
        let allowed = Event {
            decision: Decision::Allowed,
            ..fs("/a", "r", 6)
        };
        assert_eq!(seen.add(&allowed), Found::First);
        assert_eq!(seen.add(&fs("/a", "r", 7)), Found::Again);
        let all = seen.all();
        assert_eq!(all.len(), 5);
        assert_eq!(
            (all[0].0.pid, all[0].1),
            (Some(1), 3),
            "the first one's pid"
        );
        let repeated = seen.take_repeated();
        assert_eq!(repeated.len(), 1);
        assert_eq!(repeated[0].1, 3);
        assert!(seen.take_repeated().is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut seen = Seen::default();
        for i in 0..MAX_KEPT + 5 {
            seen.add(&fs(&format!("/f{i}"), "r", 1));
        }
        assert_eq!(seen.all().len(), MAX_KEPT);
        assert_eq!(seen.untracked(), 5);
        assert_eq!(seen.add(&fs("/f0", "r", 1)), Found::Again);
        let long = format!("/{}é", "a".repeat(MAX_TARGET - 2));
        let mut seen = Seen::default();
        seen.add(&fs(&long, &"r".repeat(1000), 1));
        let (kept, _) = &seen.all()[0];
        assert_eq!(kept.target.len(), MAX_TARGET - 1);
        assert_eq!(kept.rule.len(), MAX_TEXT);
        // Targets that differ only beyond the cut are one.
        seen.add(&fs(&long, "r", 1));
        assert_eq!(seen.add(&fs(&format!("{long}more"), "r", 1)), Found::Again);
    }
}
