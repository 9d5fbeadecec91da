//! completions/_fence: a completion function for zsh.

use super::super::flags::{Complete, FLAGS, Flag, Id, SUBCOMMANDS};
use super::{SHELL_WORDS, ends_options, fill, header, templates};

const INSTALL: &str = "Install: copy to a directory on $fpath (such as \
                       /usr/share/zsh/vendor-completions), then run compinit.";

const BODY: &str = r##"
# `--shell`: sh, user, or an absolute path.
_fence_shells() {
  if [[ $PREFIX == /* ]]; then
    _files
  else
    local expl
    _wanted shells expl shell compadd -- @SHELL_WORDS@
  fi
}

_fence_subcommands() {
  local -a subcommands=(
@SUBCOMMAND_LIST@
  )
  _describe -t subcommands 'fence subcommand' subcommands
}

_fence() {
  local curcontext=$curcontext state state_descr line ret=1
  local -A opt_args
  _arguments -C -s -S -A '-*' : \
@SPECS@
    '(-)1: :->first' \
    '(-)*:: :->rest' && ret=0
  case $state in
  first)
    # A subcommand only as the first argument; otherwise the command to run.
    if (( ! ${#opt_args} )); then
      _fence_subcommands && ret=0
    fi
    _command_names -e && ret=0
    ;;
  rest)
    case ${#opt_args}:$words[1] in
@SUBCOMMAND_CASES@
    *)
      _normal && ret=0
      ;;
    esac
    ;;
  esac
  return ret
}

_fence "$@"
"##;

/// `'text'` for zsh.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The `_arguments` specs of one option (more than one word when it has two names).
fn spec(flag: &Flag) -> String {
    let names = flag.names();
    let exclusion = if ends_options(flag) || flag.id == Id::Script {
        "(- *)".to_string()
    } else if flag.repeatable {
        "*".to_string()
    } else {
        format!("({})", names.join(" "))
    };
    let suffixes: Vec<String> = names
        .iter()
        .map(|name| match (flag.value, name.starts_with("--")) {
            (Some(_), true) if flag.id != Id::ProxyConnect => format!("{name}="),
            (Some(_), false) => format!("{name}+"),
            _ => name.clone(),
        })
        .collect();
    // One `:message:action` per value (--proxy-connect has two), then -c's arguments.
    let mut args = String::new();
    for value in flag.value.iter().flat_map(|v| v.split(' ')) {
        let message = value.to_lowercase().replace(':', r"\:");
        let action = match flag.complete {
            Complete::File => "_files".to_string(),
            Complete::Template => format!("({})", templates().join(" ")),
            Complete::Shell => "_fence_shells".to_string(),
            Complete::Text => " ".to_string(),
        };
        args.push_str(&format!(":{message}:{action}"));
    }
    if flag.id == Id::Script {
        args.push_str(":*:script arguments:_files");
    }
    let rest = format!("[{}]{args}", flag.summary);
    match suffixes.as_slice() {
        [one] => format!("    {}", quote(&format!("{exclusion}{one}{rest}"))),
        many => format!(
            "    {}{{{}}}{}",
            quote(&exclusion),
            many.join(","),
            quote(&rest)
        ),
    }
}

pub fn script() -> String {
    let specs: Vec<String> = FLAGS.iter().map(|f| format!("{} \\", spec(f))).collect();
    let list: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|s| format!("    {}", quote(&format!("{}:{}", s.name, s.summary))))
        .collect();
    let mut cases = Vec::new();
    for sub in SUBCOMMANDS {
        let mut specs: Vec<String> = sub.flags.iter().map(spec).collect();
        if let Some((name, complete)) = sub.operand {
            let action = match complete {
                Complete::File => "_files",
                Complete::Template | Complete::Shell | Complete::Text => " ",
            };
            specs.push(format!(
                "    {}",
                quote(&format!("1:{}:{action}", name.to_lowercase()))
            ));
        }
        let body = if specs.is_empty() {
            "      _message 'no more arguments'".to_string()
        } else {
            format!(
                "      _arguments -s : \\\n{} && ret=0",
                specs
                    .iter()
                    .map(|s| format!("    {s}"))
                    .collect::<Vec<_>>()
                    .join(" \\\n")
            )
        };
        cases.push(format!("    0:{})\n{body}\n      ;;", sub.name));
    }
    let body = fill(
        BODY,
        &[
            ("SHELL_WORDS", SHELL_WORDS.join(" ")),
            ("SUBCOMMAND_LIST", list.join("\n")),
            ("SPECS", specs.join("\n")),
            ("SUBCOMMAND_CASES", cases.join("\n")),
        ],
    );
    format!("#compdef fence\n{}{body}", header("zsh", INSTALL))
}
