//! Looking through programs that run another command: `env`, `sudo`, `xargs`, `find
//! -exec`, nested shells' `-c` and `eval`... Each yields the argv (or script) it would run,
//! which is checked like the outer one (the outer argv is checked too).

use std::borrow::Cow;

use crate::shell::{self, ParseError, Word};

use super::rules::basename;

/// What a wrapper runs.
enum Inner<'a> {
    None,
    Argv(Vec<Word<'a>>),
    /// A script (`sh -c`, `eval`, `su -c`), parsed at the next depth.
    Script(String),
    Several(Vec<Vec<Word<'a>>>),
    /// A shell reading its script from standard input.
    Stdin,
}

/// How a wrapper's options are spelled: short options taking a value (`-u root`, `-uroot`),
/// long ones taking a value (`--user root`, `--user=root`); every other word starting with
/// `-` is a flag; `--` ends the options.
struct Opts {
    short_value: &'static str,
    long_value: &'static [&'static str],
}

/// Every argv to check for `words`: itself, then what it runs, recursively. `stdin` is the
/// text its standard input reads, when the script gives it literally (a here-document).
/// `words` is borrowed when the caller's (most commands wrap nothing: nothing is copied).
pub fn expand<'a, 's>(
    words: Cow<'a, [Word<'s>]>,
    stdin: Option<&str>,
    depth: usize,
    out: &mut Vec<Cow<'a, [Word<'s>]>>,
) -> Result<(), ParseError> {
    if words.is_empty() {
        return Ok(());
    }
    if depth > shell::MAX_DEPTH {
        return Err(ParseError {
            message: format!("nested more than {} levels deep", shell::MAX_DEPTH),
            too_deep: true,
        });
    }
    let Some(name) = words[0].value.as_deref() else {
        out.push(words);
        return Ok(());
    };
    let args = &words[1..];
    let scripts = super::side::scripts(basename(name), args);
    let inner = inner(basename(name), args);
    out.push(words);
    for script in scripts {
        nested(&script, depth, out)?;
    }
    let script = match inner {
        Inner::None => return Ok(()),
        Inner::Argv(w) => return expand(Cow::Owned(w), stdin, depth + 1, out),
        Inner::Several(list) => {
            return list
                .into_iter()
                .try_for_each(|w| expand(Cow::Owned(w), None, depth + 1, out));
        }
        Inner::Stdin => match stdin {
            Some(s) => s.to_string(),
            None => return Ok(()), // a pipe or a file: not seen here
        },
        Inner::Script(s) => s,
    };
    nested(&script, depth, out)
}

/// Whether [`expand`] would yield `words` alone (it runs nothing besides itself): then
/// the caller checks it without collecting argvs.
pub fn wraps_nothing(words: &[Word], depth: usize) -> bool {
    if words.is_empty() || depth > shell::MAX_DEPTH {
        return false;
    }
    let Some(name) = words[0].value.as_deref() else {
        return true;
    };
    let (name, args) = (basename(name), &words[1..]);
    super::side::scripts(name, args).is_empty() && matches!(inner(name, args), Inner::None)
}

/// Every argv to check for the commands of `script`, run at `depth + 1`.
fn nested<'a, 's>(
    script: &str,
    depth: usize,
    out: &mut Vec<Cow<'a, [Word<'s>]>>,
) -> Result<(), ParseError> {
    for cmd in shell::parse_nested(script, depth + 1)? {
        let cmd = cmd.into_owned();
        expand(Cow::Owned(cmd.words), cmd.stdin.as_deref(), depth + 1, out)?;
    }
    Ok(())
}

fn inner<'a>(name: &str, args: &[Word<'a>]) -> Inner<'a> {
    const NONE: Opts = Opts {
        short_value: "",
        long_value: &[],
    };
    match name {
        "env" => env(args),
        "command" => {
            let (i, seen) = skip_opts(args, &NONE);
            if seen.iter().any(|(f, _)| f.contains('v') || f.contains('V')) {
                return Inner::None; // `command -v` only looks the name up
            }
            rest(args, i)
        }
        "exec" => rest(args, skip_opts(args, &opts("a", &[])).0),
        "builtin" | "nohup" | "busybox" | "setsid" => rest(args, skip_opts(args, &NONE).0),
        "time" => rest(args, skip_opts(args, &opts("fo", &["format", "output"])).0),
        "nice" => rest(args, skip_opts(args, &opts("n", &["adjustment"])).0),
        "ionice" => {
            let (i, seen) = skip_opts(args, &opts("cnpPu", &["class", "classdata"]));
            if seen
                .iter()
                .any(|(f, _)| ["-p", "-P", "-u", "--pid", "--pgid", "--uid"].contains(&f.as_str()))
            {
                return Inner::None; // applies to running processes
            }
            rest(args, i)
        }
        "timeout" => {
            let (i, _) = skip_opts(args, &opts("sk", &["signal", "kill-after"]));
            rest(args, i + 1) // after the duration
        }
        "stdbuf" => rest(
            args,
            skip_opts(args, &opts("ioe", &["input", "output", "error"])).0,
        ),
        "sudo" => {
            let o = opts(
                "uUgCDhprtTRc",
                &[
                    "user",
                    "group",
                    "close-from",
                    "chdir",
                    "host",
                    "prompt",
                    "role",
                    "type",
                    "command-timeout",
                    "other-user",
                    "chroot",
                    "login-class",
                ],
            );
            let (i, seen) = skip_opts(args, &o);
            let i = skip_assignments(args, i);
            // `sudo -s` / `sudo -i` without a command: a shell reading standard input.
            if i >= args.len() && seen.iter().any(|(f, _)| shell_flag(f)) {
                return Inner::Stdin;
            }
            rest(args, i)
        }
        "doas" => {
            let (i, seen) = skip_opts(args, &opts("uC", &[]));
            if i >= args.len() && seen.iter().any(|(f, _)| shell_flag(f)) {
                return Inner::Stdin;
            }
            rest(args, i)
        }
        "su" | "runuser" => {
            // `-c CMD` runs a script; without it, the user's shell reads standard input.
            let mut i = 0;
            while let Some(w) = args.get(i) {
                let v = w.value.as_deref().unwrap_or("");
                if let Some(s) = v.strip_prefix("--command=") {
                    return Inner::Script(s.to_string());
                }
                if v == "-c" || v == "--command" {
                    return script(args.get(i + 1));
                }
                i += 1;
            }
            Inner::Stdin
        }
        "xargs" => xargs(args),
        "git" => git_alias(args),
        "find" => find(args),
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "mksh" | "ash" | "yash" | "posh" | "fish"
        | "rbash" => shell_c(args),
        "source" | "." => match args.first().and_then(|w| w.value.as_deref()) {
            Some("/dev/stdin" | "/proc/self/fd/0" | "/dev/fd/0") => Inner::Stdin,
            _ => Inner::None, // a script file: not seen here
        },
        "trap" => {
            // `trap [--] ACTION SIGNAL…`: ACTION is a script run later.
            let args = match args.first().and_then(|w| w.value.as_deref()) {
                Some("--") => &args[1..],
                _ => args,
            };
            match args.first().and_then(|w| w.value.as_deref()) {
                Some(a) if args.len() > 1 && !a.starts_with('-') => Inner::Script(a.into()),
                _ => Inner::None,
            }
        }
        "eval" => {
            let args = match args.first().and_then(|w| w.value.as_deref()) {
                Some("--") => &args[1..],
                _ => args,
            };
            let known: Option<Vec<&str>> = args.iter().map(|w| w.value.as_deref()).collect();
            match known {
                Some(parts) => Inner::Script(parts.join(" ")),
                // Some of it is only known at run time: its words are the command.
                None => Inner::Argv(args.to_vec()),
            }
        }
        "watch" => {
            let (i, _) = skip_opts(args, &opts("nd", &["interval"]));
            let known: Option<Vec<&str>> = args[i.min(args.len())..]
                .iter()
                .map(|w| w.value.as_deref())
                .collect();
            match known {
                Some(parts) if !parts.is_empty() => Inner::Script(parts.join(" ")),
                _ => rest(args, i),
            }
        }
        "flock" => {
            let (i, _) = skip_opts(args, &opts("wEc", &["timeout", "conflict-exit-code"]));
            if let Some(p) = args
                .iter()
                .position(|w| matches!(w.value.as_deref(), Some("-c" | "--command")))
            {
                return script(args.get(p + 1));
            }
            rest(args, i + 1) // after the lock file
        }
        "chrt" | "taskset" => {
            let (i, _) = skip_opts(args, &NONE);
            rest(args, i + 1) // after the priority / mask
        }
        _ => Inner::None,
    }
}

/// `-s`, `-i` (or a cluster holding one) or their long forms: sudo/doas run a shell.
fn shell_flag(f: &str) -> bool {
    matches!(f, "--shell" | "--login")
        || (!f.starts_with("--") && f[1..].chars().any(|c| c == 's' || c == 'i'))
}

const fn opts(short_value: &'static str, long_value: &'static [&'static str]) -> Opts {
    Opts {
        short_value,
        long_value,
    }
}

fn rest<'a>(args: &[Word<'a>], i: usize) -> Inner<'a> {
    match args.get(i..) {
        Some(r) if !r.is_empty() => Inner::Argv(r.to_vec()),
        _ => Inner::None,
    }
}

fn script<'a>(w: Option<&Word>) -> Inner<'a> {
    match w.and_then(|w| w.value.clone()) {
        Some(s) => Inner::Script(s.into_owned()),
        // Only known at run time: like a bare `$CMD`, nothing to check (see mod.rs).
        None => Inner::None,
    }
}

/// Skips leading options; returns the index of the first operand and the options seen,
/// each as (name, value): `-I` and its value for a short option taking one (`-I {}`,
/// `-I{}`, `-0I{}`), `--name` and its value for a long one, the word itself for a flag.
/// Stops at a word only known at run time (it is then the operand).
fn skip_opts<'a>(args: &[Word<'a>], o: &Opts) -> (usize, Vec<(String, Option<Word<'a>>)>) {
    let mut i = 0;
    let mut seen = Vec::new();
    while let Some(Some(a)) = args.get(i).map(|w| w.value.as_deref()) {
        if a == "--" {
            return (i + 1, seen);
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, v)) => seen.push((format!("--{name}"), Some(Word::lit(v)))),
                None if o.long_value.contains(&long) => {
                    seen.push((a.to_string(), args.get(i).cloned()));
                    i += 1;
                }
                None => seen.push((a.to_string(), None)),
            }
            continue;
        }
        // A cluster of short options: the first one taking a value ends it; the value is
        // the rest of the word, or the next word.
        let cluster = &a[1..];
        match cluster
            .char_indices()
            .find(|(_, c)| o.short_value.contains(*c))
        {
            Some((p, c)) => {
                let attached = &cluster[p + c.len_utf8()..];
                let value = if attached.is_empty() {
                    i += 1;
                    args.get(i - 1).cloned()
                } else {
                    Some(Word::lit(attached))
                };
                seen.push((format!("-{c}"), value));
            }
            None => seen.push((a.to_string(), None)),
        }
    }
    (i, seen)
}

fn skip_assignments(args: &[Word], mut i: usize) -> usize {
    while let Some(Some(a)) = args.get(i).map(|w| w.value.as_deref()) {
        match a.find('=') {
            Some(eq) if eq > 0 && !a.starts_with('-') => i += 1,
            _ => break,
        }
    }
    i
}

fn env<'a>(args: &[Word<'a>]) -> Inner<'a> {
    let o = opts("uCPS", &["unset", "chdir", "split-string"]);
    let (mut i, seen) = skip_opts(args, &o);
    if args.get(i).and_then(|w| w.value.as_deref()) == Some("-") {
        i += 1; // `env -` is `env -i`
    }
    let i = skip_assignments(args, i);
    let after = args.get(i..).unwrap_or(&[]);
    // `-S STRING` splits STRING into words: the command and its first arguments.
    let split = seen
        .into_iter()
        .filter(|(n, _)| n == "-S" || n == "--split-string")
        .map(|(_, v)| v)
        .next_back();
    match split {
        Some(v) => {
            let mut words: Vec<Word> = match v.as_ref().and_then(|w| w.value.as_deref()) {
                Some(s) => match shell::parse(s) {
                    Ok(cmds) => cmds
                        .into_iter()
                        .flat_map(|c| c.words)
                        .map(|w| w.into_owned())
                        .collect(),
                    Err(_) => vec![Word::unknown(s)],
                },
                None => vec![Word::unknown("-S …")],
            };
            words.extend(after.iter().cloned());
            Inner::Argv(words)
        }
        None => rest(args, i),
    }
}

fn xargs<'a>(args: &[Word<'a>]) -> Inner<'a> {
    let o = opts(
        "aEdILnPs",
        &[
            "arg-file",
            "delimiter",
            "max-args",
            "max-procs",
            "max-chars",
            "process-slot-var",
        ],
    );
    let (i, seen) = skip_opts(args, &o);
    // With -I R (or -i, --replace), R in the arguments is replaced by input; otherwise the
    // input is appended as more arguments.
    let mut replace: Option<Option<String>> = None;
    for (name, value) in seen {
        let value = value.map(|w| w.value.map(Cow::into_owned));
        match name.as_str() {
            "-I" => replace = Some(value.flatten()),
            "-i" | "--replace" => replace = Some(Some(value.flatten().unwrap_or("{}".into()))),
            n if n.starts_with("-i") => replace = Some(Some(n[2..].to_string())),
            _ => {}
        }
    }
    let mut cmd: Vec<Word> = match args.get(i..) {
        Some(r) if !r.is_empty() => r.to_vec(),
        _ => vec![Word::lit("echo")],
    };
    match replace {
        // An unknown replacement string could be anywhere: every argument is unknown.
        Some(None) => cmd.iter_mut().for_each(|w| w.value = None),
        Some(Some(r)) if !r.is_empty() => {
            for w in cmd.iter_mut().skip(1) {
                if w.value.as_deref().is_some_and(|v| v.contains(r.as_str())) {
                    w.value = None;
                }
            }
            if cmd[0]
                .value
                .as_deref()
                .is_some_and(|v| v.contains(r.as_str()))
            {
                cmd[0].value = None;
            }
        }
        _ => cmd.push(Word::unknown("(input)")),
    }
    Inner::Argv(cmd)
}

/// `git -c alias.NAME=VALUE … NAME ARGS`: what the alias runs, `git VALUE ARGS` (a
/// `!VALUE` alias is a shell script given ARGS). Aliases from git's config files are not
/// seen here.
fn git_alias<'a>(args: &[Word<'a>]) -> Inner<'a> {
    let mut aliases: Vec<(String, Option<String>)> = Vec::new();
    let mut i = 0;
    while let Some(Some(a)) = args.get(i).map(|w| w.value.as_deref()) {
        if !a.starts_with('-') {
            break;
        }
        i += 1;
        let setting = match a {
            "-c" => {
                i += 1;
                args.get(i - 1).map(|w| w.value.clone())
            }
            "-C" | "--git-dir" | "--work-tree" | "--namespace" | "--config-env" => {
                i += 1;
                None
            }
            _ => a.strip_prefix("--config-env=").map(|_| None),
        };
        // (`--config-env=alias.x=VAR` takes the value from the environment: unknown.)
        let Some(setting) = setting else { continue };
        let text = setting.unwrap_or_default();
        let (key, value) = match text.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v.to_string())),
            None if a.starts_with("--config-env=") => {
                let spec = &a["--config-env=".len()..];
                let key = spec.split_once('=').map(|(k, _)| k).unwrap_or(spec);
                (key.to_ascii_lowercase(), None)
            }
            None => continue,
        };
        if let Some(name) = key.strip_prefix("alias.") {
            aliases.push((name.to_string(), value));
        }
    }
    let Some(Some(sub)) = args.get(i).map(|w| w.value.as_deref()) else {
        return Inner::None;
    };
    let sub = sub.to_ascii_lowercase();
    let Some((_, value)) = aliases.iter().rev().find(|(n, _)| *n == sub) else {
        return Inner::None;
    };
    let rest = &args[i + 1..];
    match value.as_deref() {
        None => Inner::Argv(
            [Word::lit("git"), Word::unknown("(alias)")]
                .into_iter()
                .chain(rest.iter().cloned())
                .collect(),
        ),
        Some(v) if v.starts_with('!') => {
            let mut script = v[1..].to_string();
            for w in rest {
                script.push(' ');
                match &w.value {
                    Some(v) => script.push_str(&shell::quote(v)),
                    None => script.push_str("\"$UNKNOWN\""),
                }
            }
            Inner::Script(script)
        }
        Some(v) => {
            let mut words = vec![Word::lit("git")];
            match shell::parse(v) {
                Ok(cmds) => words.extend(
                    cmds.into_iter()
                        .flat_map(|c| c.words)
                        .map(|w| w.into_owned()),
                ),
                Err(_) => words.push(Word::unknown(v)),
            }
            words.extend(rest.iter().cloned());
            Inner::Argv(words)
        }
    }
}

/// `find … -exec CMD … ;` (also `+`, `-execdir`, `-ok`, `-okdir`): each command, with `{}`
/// (a found path) only known at run time.
fn find<'a>(args: &[Word<'a>]) -> Inner<'a> {
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let v = args[i].value.as_deref();
        if matches!(v, Some("-exec" | "-execdir" | "-ok" | "-okdir")) {
            let mut cmd = Vec::new();
            i += 1;
            while let Some(w) = args.get(i) {
                if matches!(w.value.as_deref(), Some(";" | "+")) {
                    break;
                }
                let mut w = w.clone();
                if w.value.as_deref().is_some_and(|v| v.contains("{}")) {
                    w.value = None;
                }
                cmd.push(w);
                i += 1;
            }
            if !cmd.is_empty() {
                cmds.push(cmd);
            }
        }
        i += 1;
    }
    Inner::Several(cmds)
}

/// `sh [options] -c SCRIPT [name args…]`: the script. Without `-c`, a script file or
/// standard input, which cannot be seen here.
fn shell_c<'a>(args: &[Word<'a>]) -> Inner<'a> {
    let mut i = 0;
    let mut c = false;
    let mut stdin_flag = false;
    while let Some(w) = args.get(i) {
        let Some(a) = w.value.as_deref() else { break };
        if a == "--" || a == "-" {
            i += 1;
            break;
        }
        if let Some(s) = a.strip_prefix("--command=") {
            return Inner::Script(s.to_string()); // fish
        }
        if a == "--command" {
            return script(args.get(i + 1));
        }
        if a == "--rcfile" || a == "--init-file" {
            i += 2;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        let Some(cluster) = a.strip_prefix('-').or_else(|| a.strip_prefix('+')) else {
            break;
        };
        i += 1;
        if cluster.contains('c') && a.starts_with('-') {
            c = true;
        }
        if cluster.contains('s') && a.starts_with('-') {
            stdin_flag = true;
        }
        // -o/+o and -O/+O take an option name.
        if cluster.ends_with('o') || cluster.ends_with('O') {
            i += 1;
        }
    }
    match (c, args.get(i)) {
        (true, w) => script(w),
        // No script operand, or `-s`: the script is standard input.
        (false, None) => Inner::Stdin,
        (false, Some(_)) if stdin_flag => Inner::Stdin,
        (false, Some(_)) => Inner::None,
    }
}
