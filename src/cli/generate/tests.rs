//! The generated completions, run by bash, zsh and fish on the same command lines.
//!
//! Each shell completes in a scratch directory (cfg.json, cfg2.jsonc, other.txt, sub/)
//! with a PATH holding one command, `fencetestcmd`, whose own completion offers `alpha`
//! and `beta`: what fence hands over to is visible. bash's hand-over, `_command_offset`,
//! comes from the bash-completion package; the test stands in for it with a function that
//! replies `offset:N`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The command lines (the last word is being completed; a trailing blank starts a new
/// one) and the replies of every shell, unless [`expected`] says otherwise for one.
const CASES: &[(&str, &[&str])] = &[
    ("fence --deb", &["--debug"]),
    ("fence --sh", &["--shell"]),
    ("fence -t w", &["workspace-write"]),
    ("fence -t ", &["default", "workspace-write"]),
    ("fence --template=w", &["workspace-write"]),
    ("fence --shell ", &["sh", "user"]),
    ("fence -s cf", &["cfg.json", "cfg2.jsonc"]),
    ("fence --settings=cf", &["cfg.json", "cfg2.jsonc"]),
    ("fence -ds cf", &["cfg.json", "cfg2.jsonc"]),
    ("fence -p 80 --fence-log-file ot", &["other.txt"]),
    ("fence -m -p 80 -t d", &["default"]),
    ("fence trus", &["trust"]),
    ("fence fencet", &["fencetestcmd"]),
    ("fence -d trus", &[]),
    ("fence trust --", &["--help", "--list", "--revoke"]),
    ("fence trust cf", &["cfg.json", "cfg2.jsonc"]),
    ("fence doctor ", &[]),
    ("fence -c ", &[]),
    ("fence -c x cf", &["cfg.json", "cfg2.jsonc"]),
    ("fence --proxy-connect ", &[]),
    ("fence fencetestcmd a", &["alpha"]),
    ("fence -d fencetestcmd ", &["alpha", "beta"]),
    ("fence -d -- fencetestcmd b", &["beta"]),
    ("fence -s x.json fencetestcmd ", &["alpha", "beta"]),
];

/// What `shell` should reply to `line`.
fn expected(shell: &str, line: &str, all: &[&str]) -> Vec<String> {
    let owned = |words: &[&str]| words.iter().map(|w| w.to_string()).collect();
    match (shell, line) {
        // fish completes `--option=VALUE` as one token.
        ("fish", l) if l.contains('=') => all
            .iter()
            .map(|w| {
                format!(
                    "{}={w}",
                    l[..l.find('=').unwrap()].rsplit(' ').next().unwrap()
                )
            })
            .collect(),
        // The stand-in for bash-completion's _command_offset names the command's index.
        ("bash", "fence trus") => owned(&["offset:1", "trust"]),
        ("bash", "fence fencet") => owned(&["offset:1"]),
        ("bash", "fence -d trus") => owned(&["offset:2"]),
        ("bash", "fence fencetestcmd a") => owned(&["offset:1"]),
        ("bash", "fence -d fencetestcmd ") => owned(&["offset:2"]),
        ("bash", "fence -d -- fencetestcmd b") => owned(&["offset:3"]),
        ("bash", "fence -s x.json fencetestcmd ") => owned(&["offset:3"]),
        _ => owned(all),
    }
}

const BASH_HARNESS: &str = r#"
source ./fence.bash
_command_offset() { COMPREPLY=("offset:$1"); }
while IFS= read -r line; do
    line=${line//=/ = }   # bash splits words at '=' (COMP_WORDBREAKS)
    read -ra COMP_WORDS <<<"$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _fence
    echo "${COMPREPLY[*]}"
done < cases
"#;

const FISH_HARNESS: &str = r#"
set -l cases (cat cases)
set -gx PATH $PWD/bin
source ./fence.fish
complete -c fencetestcmd -f -a 'alpha beta'
for line in $cases
    set -l replies (complete -C "$line" | string replace -r '\t.*' '')
    echo "$replies"
end
"#;

/// An interactive zsh in a pseudo-terminal: each line is typed, then Tab; in it
/// ([`ZSH_SETUP`]), a wrapped `compadd` appends what completion offers to a file, and the
/// Tab widget marks the end.
const ZSH_HARNESS: &str = r#"
zmodload zsh/zpty zsh/zselect
out=$PWD/out
zpty z zsh -f -i
zpty -w z 'source ./setup.zsh; print -r -- READY""READY'
while zpty -r z chunk; do [[ $chunk == *READYREADY* ]] && break; done
for line in "${(@f)$(<cases)}"; do
  : >| $out
  zpty -w -n z "$line"$'\t'
  while [[ $(<$out) != *'<done>'* ]]; do
    zpty -rt z chunk
    zselect -t 2
  done
  print -r -- ${(j: :)${(f)"$(<$out)"}:#(<done>|)}
done
zpty -d z
"#;

const ZSH_SETUP: &str = r#"
PS1=''
PATH=$PWD/bin
fpath=($PWD $fpath)
autoload -Uz compinit
compinit -u -D
fencetestcmd_() { compadd alpha beta }
compdef fencetestcmd_ fencetestcmd
compadd() {
  # Internal queries (-O, -A, -D) add nothing.
  if (( ${@[(I)-[OAD]]} )); then builtin compadd "$@"; return; fi
  local -a c
  builtin compadd -A c "$@"
  print -rl -- $c >> $PWD/out
  builtin compadd "$@"
}
capture_() { zle complete-word; print -r -- '<done>' >> $PWD/out; zle kill-whole-line; }
zle -N capture_
bindkey '^I' capture_
"#;

/// Runs `program` with `args` in `dir`, with a deadline; panics naming the package when
/// the shell is missing.
fn run(program: &str, args: &[&str], dir: &Path) -> String {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("home/.config"))
        .env("XDG_DATA_HOME", dir.join("home/.local/share"))
        .env_remove("BASH_ENV")
        .env_remove("ENV")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install it (apt-get install {program}), as .ci/run does")
        });
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{program} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The scratch directory for `shell`, with the completion file named `file`.
fn scratch(shell: &str, file: &str, script: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fence-complete-{shell}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["sub", "bin", "home"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for name in ["cfg.json", "cfg2.jsonc", "other.txt"] {
        std::fs::write(dir.join(name), "{}").unwrap();
    }
    let cmd = dir.join("bin/fencetestcmd");
    std::fs::write(&cmd, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&cmd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(dir.join(file), script).unwrap();
    std::fs::write(dir.join("setup.zsh"), ZSH_SETUP).unwrap();
    let mut cases = std::fs::File::create(dir.join("cases")).unwrap();
    for (line, _) in CASES {
        writeln!(cases, "{line}").unwrap();
    }
    dir
}

/// Runs the cases in `shell` and compares each reply with [`expected`].
fn check(shell: &str, options: &[&str], file: &str, script: &str, harness: &str) {
    let dir = scratch(shell, file, script);
    let mut args = options.to_vec();
    args.extend(["-c", harness]);
    let output = run(shell, &args, &dir);
    let replies: Vec<&str> = output.lines().collect();
    let mut wrong = Vec::new();
    for (i, (line, all)) in CASES.iter().enumerate() {
        let mut got: Vec<String> = replies
            .get(i)
            .unwrap_or(&"<none>")
            .split_whitespace()
            .map(String::from)
            .collect();
        got.sort();
        got.dedup();
        let mut want = expected(shell, line, all);
        want.sort();
        if got != want {
            wrong.push(format!("  {line:?}: got {got:?}, expected {want:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        wrong.is_empty(),
        "{shell} completion:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn bash_completes() {
    check(
        "bash",
        &["--norc", "--noprofile"],
        "fence.bash",
        &super::bash::script(),
        BASH_HARNESS,
    );
}

#[test]
fn zsh_completes() {
    check("zsh", &["-f"], "_fence", &super::zsh::script(), ZSH_HARNESS);
}

#[test]
fn fish_completes() {
    check(
        "fish",
        &[],
        "fence.fish",
        &super::fish::script(),
        FISH_HARNESS,
    );
}
