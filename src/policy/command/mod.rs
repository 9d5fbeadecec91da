//! Command preflight: before anything runs, every simple command a `-c` script (or the
//! argv of `fence CMD ARGS…`) could run is checked against `command.allow`,
//! `command.deny` and the default deny list.
//!
//! Decision for one argv (each command the parser finds, and each command a wrapper such
//! as `env`, `sudo`, `xargs`, `find -exec`, `sh -c` or `eval` would run, is checked on its
//! own, see `wrappers.rs`):
//!
//! 1. A rule of `command.allow` that matches it for certain: allowed (allow beats deny).
//! 2. A rule of `command.deny`, then of the default list, that matches it or could match
//!    it (a word only known at run time stands for any words): refused.
//!
//! A command word only known at run time (`$CMD push`, `$(echo git) push`, `g"$x"it`) is
//! refused exactly when one of these holds (and no allow rule matches the same reading):
//!  - a deny rule of two or more words would match with that word being the rule's
//!    program: `$CMD push` is refused by `git push`;
//!  - its literal start is a rule's whole program name (`git$X`, `git${IFS}push`,
//!    `reboot$X`): it may be that program followed by any words;
//!  - the remaining words, as a command of their own (the word expanding to nothing), are
//!    refused: `$SUDO git push` is refused by `git push`.
//!
//! A literal start the rule's program does not begin with excludes the rule (`x$Y push` is
//! not `git push`). Otherwise single-word rules are not applied (they would refuse every
//! `$CMD`), so `$EDITOR file` runs unless a rule starts with `file`. Likewise a word that
//! is only known at run time and alone (`$CMD`, `"$@"`, `sh -c "$X"`, `eval "$X"`) is not
//! refused: what it runs cannot be seen before the run (run-time enforcement, issue 12's
//! later items, is what covers it). Input that cannot be parsed is refused.

mod defaults;
pub(crate) mod rules;
mod side;
mod wrappers;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

pub use defaults::DEFAULT_DENY;
pub use rules::{List, Match, Rule, basename};

use crate::config::types::CommandRules;
use crate::error::{Error, Result};
use crate::shell::{self, Word};

/// The command rules of a config. `origin(key, rule)` names the config that wrote a rule
/// (`key` is `command.deny` or `command.allow`). A rule that cannot be tokenized is a
/// config error at that entry.
pub fn compile(
    rules: &CommandRules,
    origin: impl Fn(&str, &str) -> String,
) -> Result<CommandPolicy> {
    let defaults = match rules.use_defaults {
        Some(false) => 0,
        _ => DEFAULT_DENY.len(),
    };
    let mut p = CommandPolicy::with_capacity(rules.deny.len() + defaults, rules.allow.len());
    let lists = [
        ("command.deny", &rules.deny, List::Deny),
        ("command.allow", &rules.allow, List::Allow),
    ];
    for (key, texts, list) in lists {
        for text in texts {
            let rule = Rule::new(text, list, &origin(key, text)).map_err(|message| {
                Error::ConfigValue {
                    key: key.to_string(),
                    value: Some(text.clone()),
                    message,
                }
            })?;
            p.add(rule);
        }
    }
    if rules.use_defaults != Some(false) {
        for d in DEFAULT_DENY {
            p.add(Rule::new(d, List::Default, "defaults").map_err(Error::Config)?);
        }
    }
    Ok(p.finish())
}

/// Names the config file a rule came from, given its key and text (looked up only for a
/// refusing rule: it re-reads the config text).
pub type RuleOrigin = std::rc::Rc<dyn Fn(&str, &str) -> String>;

/// The compiled command rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandPolicy {
    allow: Vec<Rule>,
    /// `command.deny`, then the default list when `useDefaults`.
    deny: Vec<Rule>,
    /// (hash of the program's basename, index in `allow`), sorted; a program's rules stay
    /// in list order. Two names with one hash only add candidates: [`Rule::matches`]
    /// compares names. (A sorted vector costs no allocation per rule, unlike a map of
    /// names to vectors; compiling is part of every run.)
    allow_index: Vec<Indexed>,
    /// The same for `deny`.
    deny_index: Vec<Indexed>,
}

/// An index entry: the hash of a rule's program name, the rule's index in its list.
type Indexed = (u64, usize);

/// The FNV-1a hash of a program name, the key of [`CommandPolicy`]'s index.
fn program_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The entries of a sorted index with hash `key`.
fn of_hash(index: &[Indexed], key: u64) -> &[Indexed] {
    let start = index.partition_point(|e| e.0 < key);
    let len = index[start..].partition_point(|e| e.0 == key);
    &index[start..start + len]
}

/// Why a command is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The command as written.
    pub command: String,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// It matches (`certain`) or could match a deny rule.
    Rule { rule: Rule, certain: bool },
    /// The script cannot be parsed.
    Unparseable(String),
    /// Another check ([`ArgvCheck`]: the ssh policy) refuses it.
    Other(Box<Finding>),
}

/// Why another check ([`ArgvCheck`]) refuses an argv: displayed as `message`, then
/// ` (origin)` when the origin is known, then `tail`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finding {
    pub message: String,
    /// The config key and entry that refuse it, when one entry does (for the origin).
    pub key: Option<&'static str>,
    pub rule: Option<String>,
    /// The config file that wrote `rule`, filled in by the caller (looked up only for the
    /// refusal, see `cmd::run`).
    pub origin: String,
    pub tail: String,
}

impl Refusal {
    /// Names the config file the refusing rule came from (`origin(key, rule text)`, which
    /// may be costly: it is called for this one rule only).
    pub fn locate(&mut self, origin: &dyn Fn(&str, &str) -> String) {
        match &mut self.reason {
            Reason::Rule { rule, .. } => {
                let key = match rule.list {
                    List::Deny => Some("command.deny"),
                    List::Allow => Some("command.allow"),
                    List::Default => None,
                };
                if let Some(key) = key {
                    rule.origin = origin(key, &rule.text);
                }
            }
            Reason::Other(finding) => {
                if let (Some(key), Some(rule)) = (finding.key, &finding.rule) {
                    finding.origin = origin(key, rule);
                }
            }
            Reason::Unparseable(_) => {}
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.origin.is_empty() {
            write!(f, " ({})", self.origin)?;
        }
        f.write_str(&self.tail)
    }
}

/// A check of every argv the preflight finds, on top of the command rules: the ssh policy
/// (`policy::ssh`). It sees each argv after the wrappers are looked through, as the
/// command rules do.
pub trait ArgvCheck {
    /// Whether it can refuse anything (when not, and there are no command rules, scripts
    /// are not even parsed).
    fn active(&self) -> bool;
    /// Checks an argv whose command word is known.
    fn check(&self, argv: &[Word]) -> std::result::Result<(), Finding>;
    /// Checks an argv whose command word is only known at run time.
    fn check_unknown(&self, argv: &[Word]) -> std::result::Result<(), Finding>;
}

/// No other check.
pub struct NoCheck;

impl ArgvCheck for NoCheck {
    fn active(&self) -> bool {
        false
    }
    fn check(&self, _: &[Word]) -> std::result::Result<(), Finding> {
        Ok(())
    }
    fn check_unknown(&self, _: &[Word]) -> std::result::Result<(), Finding> {
        Ok(())
    }
}

/// Every argv to check for `words`: itself, then what the wrappers in it run (`sudo X`,
/// `sh -c 'X'`...), recursively.
pub fn argvs<'a, 's>(
    words: &'a [Word<'s>],
    stdin: Option<&str>,
) -> std::result::Result<Vec<Cow<'a, [Word<'s>]>>, shell::ParseError> {
    let mut out = Vec::new();
    wrappers::expand(Cow::Borrowed(words), stdin, 0, &mut out)?;
    Ok(out)
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused {:?}: ", self.command)?;
        match &self.reason {
            Reason::Rule { rule, certain } => {
                let verb = if *certain { "matches" } else { "could match" };
                match rule.list {
                    List::Default => write!(
                        f,
                        "{verb} the default command deny list {:?} (command.useDefaults)",
                        rule.text
                    )?,
                    _ => write!(f, "{verb} command.deny {:?} ({})", rule.text, rule.origin)?,
                }
                if !certain {
                    f.write_str(": part of it is only known when it runs")?;
                }
                Ok(())
            }
            Reason::Unparseable(why) => write!(
                f,
                "cannot be parsed as a shell command ({why}); fence refuses what it cannot check"
            ),
            Reason::Other(finding) => finding.fmt(f),
        }
    }
}

impl CommandPolicy {
    /// Rules from the config's lists; `origin` names the config for messages.
    pub fn new(
        deny: &[String],
        allow: &[String],
        use_defaults: bool,
        origin: &str,
    ) -> std::result::Result<CommandPolicy, String> {
        let mut p = CommandPolicy::with_capacity(deny.len() + DEFAULT_DENY.len(), allow.len());
        for d in deny {
            p.add(Rule::new(d, List::Deny, origin)?);
        }
        if use_defaults {
            for d in DEFAULT_DENY {
                p.add(Rule::new(d, List::Default, "defaults")?);
            }
        }
        for a in allow {
            p.add(Rule::new(a, List::Allow, origin)?);
        }
        Ok(p.finish())
    }

    /// No rules yet, with room for `deny` and `allow` rules without growing.
    fn with_capacity(deny: usize, allow: usize) -> CommandPolicy {
        CommandPolicy {
            allow: Vec::with_capacity(allow),
            deny: Vec::with_capacity(deny),
            allow_index: Vec::with_capacity(allow),
            deny_index: Vec::with_capacity(deny),
        }
    }

    fn add(&mut self, rule: Rule) {
        let key = program_hash(rules::basename(&rule.tokens[0]));
        if rule.list == List::Allow {
            self.allow_index.push((key, self.allow.len()));
            self.allow.push(rule);
        } else {
            self.deny_index.push((key, self.deny.len()));
            self.deny.push(rule);
        }
    }

    /// Sorts the index once every rule is added.
    fn finish(mut self) -> CommandPolicy {
        self.allow_index.sort_unstable();
        self.deny_index.sort_unstable();
        self
    }

    /// The deny rules, in the order they are tried.
    pub fn deny_rules(&self) -> &[Rule] {
        &self.deny
    }

    /// The allow rules.
    pub fn allow_rules(&self) -> &[Rule] {
        &self.allow
    }

    /// No rule at all: nothing to check.
    pub fn is_empty(&self) -> bool {
        self.deny.is_empty()
    }

    /// Checks a `-c` script.
    pub fn check_script(&self, script: &str) -> std::result::Result<(), Refusal> {
        self.check_script_with(script, &NoCheck)
    }

    /// Checks a `-c` script with the command rules, and each argv with `extra` too.
    pub fn check_script_with(
        &self,
        script: &str,
        extra: &dyn ArgvCheck,
    ) -> std::result::Result<(), Refusal> {
        if self.is_empty() && !extra.active() {
            return Ok(());
        }
        let cmds = shell::parse(script).map_err(|e| unparseable(script, &e.message))?;
        self.check_parsed(&cmds, script, extra)
    }

    /// Checks the commands `shell::parse` found in `script`.
    pub fn check_parsed(
        &self,
        cmds: &[shell::SimpleCommand],
        script: &str,
        extra: &dyn ArgvCheck,
    ) -> std::result::Result<(), Refusal> {
        if self.is_empty() && !extra.active() {
            return Ok(());
        }
        let aliases = alias_definitions(cmds);
        let ck = Checker {
            policy: self,
            extra,
            aliases: &aliases,
            whole: script,
        };
        cmds.iter()
            .try_for_each(|c| ck.check_aliased(&c.words, c.stdin.as_deref(), 0))
    }

    /// Checks `fence CMD ARGS…`: the words as given, not re-parsed.
    pub fn check_argv(&self, argv: &[String]) -> std::result::Result<(), Refusal> {
        self.check_argv_with(argv, &NoCheck)
    }

    /// Checks `fence CMD ARGS…` with the command rules, and each argv with `extra` too.
    pub fn check_argv_with(
        &self,
        argv: &[String],
        extra: &dyn ArgvCheck,
    ) -> std::result::Result<(), Refusal> {
        if self.is_empty() && !extra.active() {
            return Ok(());
        }
        let words: Vec<Word> = argv.iter().map(|a| Word::lit(a)).collect();
        let whole = shell::display_words(&words);
        let ck = Checker {
            policy: self,
            extra,
            aliases: &HashMap::new(),
            whole: &whole,
        };
        ck.check_words(&words, None, 0)
    }

    /// `argv[0]` is only known at run time: refused when it could be a deny rule's program
    /// with the rest matching (see the module's documentation). `shown` is the command
    /// for the message.
    fn check_unknown_command(
        &self,
        argv: &[Word],
        shown: &[Word],
    ) -> std::result::Result<(), Refusal> {
        // What the lexer knows of it is a literal prefix (`git` in `git${IFS}push`,
        // `/usr/bin/` in `/usr/bin/$X`).
        let prefix: &str = &argv[0].prefix;
        let prefix = prefix.rsplit('/').next().unwrap_or(prefix);
        for rule in &self.deny {
            let program = rules::basename(&rule.tokens[0]);
            if !program.starts_with(prefix) {
                continue; // the word cannot be this program
            }
            // Written as the whole program name plus something (`git$X`, `reboot$X`): it
            // may be the program followed by any words.
            let whole_name = !prefix.is_empty() && prefix == program;
            if rule.tokens.len() < 2 && !whole_name {
                continue;
            }
            let mut inst = vec![Word::lit(program)];
            inst.extend_from_slice(&argv[1..]);
            if self.allowed(&inst) {
                continue;
            }
            if whole_name || rule.matches(&inst) != Match::No {
                return Err(refusal(shown, rule, false));
            }
        }
        Ok(())
    }

    /// The (allow, deny) rules for `argv`'s program (its first word, known).
    fn candidates(&self, argv: &[Word]) -> (&[Indexed], &[Indexed]) {
        let name = argv[0].value.as_deref().map(rules::basename).unwrap_or("");
        let key = program_hash(name);
        (
            of_hash(&self.allow_index, key),
            of_hash(&self.deny_index, key),
        )
    }

    fn allowed(&self, argv: &[Word]) -> bool {
        let (allow, _) = self.candidates(argv);
        allow
            .iter()
            .any(|&(_, i)| self.allow[i].matches(argv) == Match::Yes)
    }

    /// The first deny rule matching `argv` (whose command word is known) unless an allow
    /// rule matches it for certain, and whether the match is certain.
    pub fn refusing_rule(&self, argv: &[Word]) -> Option<(&Rule, bool)> {
        let (allow, deny) = self.candidates(argv);
        if allow
            .iter()
            .any(|&(_, i)| self.allow[i].matches(argv) == Match::Yes)
        {
            return None;
        }
        let mut maybe = None;
        for r in deny.iter().map(|&(_, i)| &self.deny[i]) {
            match r.matches(argv) {
                Match::Yes => return Some((r, true)),
                Match::Maybe if maybe.is_none() => maybe = Some((r, false)),
                _ => {}
            }
        }
        maybe
    }
}

/// One check of a script or argv: the command rules and the other check.
struct Checker<'a> {
    policy: &'a CommandPolicy,
    extra: &'a dyn ArgvCheck,
    aliases: &'a HashMap<String, String>,
    /// The script as written, for messages about it as a whole.
    whole: &'a str,
}

impl Checker<'_> {
    /// Checks `words`, and, when its command word is an alias the script defines (zsh
    /// expands aliases in scripts), the alias's text followed by the other words.
    fn check_aliased(
        &self,
        words: &[Word],
        stdin: Option<&str>,
        depth: usize,
    ) -> std::result::Result<(), Refusal> {
        self.check_words(words, stdin, depth)?;
        let Some(text) = words[0].value.as_deref().and_then(|n| self.aliases.get(n)) else {
            return Ok(());
        };
        if depth >= 8 {
            return Ok(()); // aliases are expanded once per name; a cycle ends here
        }
        let mut expanded = text.clone();
        for w in &words[1..] {
            expanded.push(' ');
            match &w.value {
                Some(v) => expanded.push_str(&shell::quote(v)),
                None => expanded.push_str("\"$UNKNOWN\""),
            }
        }
        let cmds = shell::parse(&expanded).map_err(|e| unparseable(&expanded, &e.message))?;
        cmds.iter()
            .try_for_each(|c| self.check_aliased(&c.words, stdin, depth + 1))
    }

    fn check_words(
        &self,
        words: &[Word],
        stdin: Option<&str>,
        depth: usize,
    ) -> std::result::Result<(), Refusal> {
        if wrappers::wraps_nothing(words, depth) {
            return self.check_one(words, stdin, depth); // most commands: no vector
        }
        let mut argvs = Vec::new();
        wrappers::expand(Cow::Borrowed(words), stdin, depth, &mut argvs)
            .map_err(|e| unparseable(self.whole, &e.message))?;
        argvs
            .iter()
            .try_for_each(|a| self.check_one(a, stdin, depth))
    }

    fn check_one(
        &self,
        argv: &[Word],
        stdin: Option<&str>,
        depth: usize,
    ) -> std::result::Result<(), Refusal> {
        let other = |r: std::result::Result<(), Finding>| {
            r.map_err(|finding| Refusal {
                command: shell::display_words(argv),
                reason: Reason::Other(Box::new(finding)),
            })
        };
        if argv[0].value.is_some() {
            if let Some((rule, certain)) = self.policy.refusing_rule(argv) {
                return Err(refusal(argv, rule, certain));
            }
            return other(self.extra.check(argv));
        }
        // The command word is only known at run time. It may expand to nothing, and so may
        // the unknown words after it: each of them may be the command word, and the first
        // known word after them may start the command.
        let mut k = 0;
        while k < argv.len() && argv[k].value.is_none() {
            if k == shell::MAX_DEPTH {
                return Err(unparseable(
                    self.whole,
                    "too many words only known at run time",
                ));
            }
            self.policy.check_unknown_command(&argv[k..], argv)?;
            other(self.extra.check_unknown(&argv[k..]))?;
            k += 1;
        }
        if k == argv.len() {
            return Ok(());
        }
        if depth >= shell::MAX_DEPTH {
            return Err(unparseable(self.whole, "nested too deeply"));
        }
        self.check_words(&argv[k..], stdin, depth + 1)
    }
}

/// `alias NAME=VALUE…` definitions among `cmds` (known words only), the last one winning.
fn alias_definitions(cmds: &[shell::SimpleCommand]) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for c in cmds {
        if c.words[0].value.as_deref() != Some("alias") {
            continue;
        }
        for w in &c.words[1..] {
            if let Some((name, value)) = w.value.as_deref().and_then(|v| v.split_once('=')) {
                map.insert(name.to_string(), value.to_string());
            }
        }
    }
    map
}

fn refusal(argv: &[Word], rule: &Rule, certain: bool) -> Refusal {
    Refusal {
        command: shell::display_words(argv),
        reason: Reason::Rule {
            rule: rule.clone(),
            certain,
        },
    }
}

fn unparseable(script: &str, why: &str) -> Refusal {
    Refusal {
        command: script.to_string(),
        reason: Reason::Unparseable(why.to_string()),
    }
}
