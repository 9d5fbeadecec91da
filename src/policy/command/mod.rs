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
mod wrappers;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

pub use defaults::DEFAULT_DENY;
pub use rules::{List, Match, Rule};

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
    let mut p = CommandPolicy::default();
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
    Ok(p)
}

/// The compiled command rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandPolicy {
    allow: Vec<Rule>,
    /// `command.deny`, then the default list when `useDefaults`.
    deny: Vec<Rule>,
    /// Rule indexes by program basename: (allow, deny), each in list order.
    by_program: HashMap<String, (Vec<usize>, Vec<usize>)>,
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
        let mut p = CommandPolicy::default();
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
        Ok(p)
    }

    fn add(&mut self, rule: Rule) {
        let key = rules::basename(&rule.tokens[0]).to_string();
        let slot = self.by_program.entry(key).or_default();
        if rule.list == List::Allow {
            slot.0.push(self.allow.len());
            self.allow.push(rule);
        } else {
            slot.1.push(self.deny.len());
            self.deny.push(rule);
        }
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
        if self.is_empty() {
            return Ok(());
        }
        let cmds = shell::parse(script).map_err(|e| unparseable(script, &e.message))?;
        let aliases = alias_definitions(&cmds);
        cmds.iter()
            .try_for_each(|c| self.check_aliased(&c.words, c.stdin.as_deref(), &aliases, 0, script))
    }

    /// Checks `words`, and, when its command word is an alias the script defines (zsh
    /// expands aliases in scripts), the alias's text followed by the other words.
    fn check_aliased(
        &self,
        words: &[Word],
        stdin: Option<&str>,
        aliases: &HashMap<String, String>,
        depth: usize,
        whole: &str,
    ) -> std::result::Result<(), Refusal> {
        self.check_words(words, stdin, depth, whole)?;
        let Some(text) = words[0].value.as_ref().and_then(|n| aliases.get(n)) else {
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
            .try_for_each(|c| self.check_aliased(&c.words, stdin, aliases, depth + 1, whole))
    }

    /// Checks `fence CMD ARGS…`: the words as given, not re-parsed.
    pub fn check_argv(&self, argv: &[String]) -> std::result::Result<(), Refusal> {
        if self.is_empty() {
            return Ok(());
        }
        let words: Vec<Word> = argv.iter().map(|a| Word::lit(a)).collect();
        self.check_words(&words, None, 0, &shell::display_words(&words))
    }

    fn check_words(
        &self,
        words: &[Word],
        stdin: Option<&str>,
        depth: usize,
        whole: &str,
    ) -> std::result::Result<(), Refusal> {
        let mut argvs = Vec::new();
        wrappers::expand(words, stdin, depth, &mut argvs)
            .map_err(|e| unparseable(whole, &e.message))?;
        argvs
            .iter()
            .try_for_each(|a| self.check_one(a, stdin, depth, whole))
    }

    fn check_one(
        &self,
        argv: &[Word],
        stdin: Option<&str>,
        depth: usize,
        whole: &str,
    ) -> std::result::Result<(), Refusal> {
        if argv[0].value.is_some() {
            if let Some((rule, certain)) = self.refusing_rule(argv) {
                return Err(refusal(argv, rule, certain));
            }
            return Ok(());
        }
        // The command word is only known at run time. It may expand to nothing, and so may
        // the unknown words after it: each of them may be the command word, and the first
        // known word after them may start the command.
        let mut k = 0;
        while k < argv.len() && argv[k].value.is_none() {
            if k == shell::MAX_DEPTH {
                return Err(unparseable(whole, "too many words only known at run time"));
            }
            self.check_unknown_command(&argv[k..], argv)?;
            k += 1;
        }
        if k == argv.len() {
            return Ok(());
        }
        if depth >= shell::MAX_DEPTH {
            return Err(unparseable(whole, "nested too deeply"));
        }
        self.check_words(&argv[k..], stdin, depth + 1, whole)
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
        let prefix = argv[0].prefix.as_str();
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
    fn candidates(&self, argv: &[Word]) -> (&[usize], &[usize]) {
        let name = argv[0].value.as_deref().map(rules::basename).unwrap_or("");
        match self.by_program.get(name) {
            Some((a, d)) => (a, d),
            None => (&[], &[]),
        }
    }

    fn allowed(&self, argv: &[Word]) -> bool {
        let (allow, _) = self.candidates(argv);
        allow
            .iter()
            .any(|&i| self.allow[i].matches(argv) == Match::Yes)
    }

    /// The first deny rule matching `argv` (whose command word is known) unless an allow
    /// rule matches it for certain, and whether the match is certain.
    fn refusing_rule(&self, argv: &[Word]) -> Option<(&Rule, bool)> {
        if self.allowed(argv) {
            return None;
        }
        let (_, deny) = self.candidates(argv);
        let mut maybe = None;
        for r in deny.iter().map(|&i| &self.deny[i]) {
            match r.matches(argv) {
                Match::Yes => return Some((r, true)),
                Match::Maybe if maybe.is_none() => maybe = Some((r, false)),
                _ => {}
            }
        }
        maybe
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
