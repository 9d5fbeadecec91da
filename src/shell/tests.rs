//! Table-driven tests of the shell parser: each case is a script and the simple commands
//! it must yield (words joined by spaces, `?` for a word not known statically, commands
//! joined by ` | `), or `ERR` when it must be refused as unparseable.

use super::parse;

fn show(script: &str) -> String {
    match parse(script) {
        Err(_) => "ERR".to_string(),
        Ok(cmds) => cmds
            .iter()
            .map(|c| {
                c.words
                    .iter()
                    .map(|w| w.value.clone().unwrap_or_else(|| "?".into()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(" | "),
    }
}

#[test]
fn smoke() {
    assert_eq!(show("git push"), "git push");
}

/// (script, expected, why).
const CASES: &[(&str, &str, &str)] = &[
    // Words and quoting.
    ("git push", "git push", "plain words"),
    ("  git   push  ", "git push", "blanks collapse"),
    (
        "g'i't push",
        "git push",
        "single quotes inside a word are removed",
    ),
    (
        "g\"i\"t push",
        "git push",
        "double quotes inside a word are removed",
    ),
    (
        "\"git\" push",
        "git push",
        "a quoted command word is still the command",
    ),
    ("'git' 'push'", "git push", "single-quoted words"),
    (
        "\\git push",
        "git push",
        "a backslash before a letter is removed",
    ),
    ("gi\\t pu\\sh", "git push", "backslashes inside words"),
    (
        "git\\\n push",
        "git push",
        "a line continuation joins the lines",
    ),
    (
        "gi\\\nt push",
        "git push",
        "a line continuation inside a word",
    ),
    ("$'git' push", "git push", "ANSI-C quoting"),
    ("$'\\x67it' push", "git push", "ANSI-C hex escape"),
    ("$'\\147it' push", "git push", "ANSI-C octal escape"),
    ("$'\\u0067it' push", "git push", "ANSI-C unicode escape"),
    (
        "$\"git\" push",
        "git push",
        "locale quoting is double quoting",
    ),
    ("'a b' c", "a b c", "a quoted blank stays in the word"),
    (
        "echo \"a \\\"b\\\" c\"",
        "echo a \"b\" c",
        "escaped double quote in double quotes",
    ),
    ("echo 'it''s'", "echo its", "adjacent single quotes"),
    ("echo \\'", "echo '", "escaped single quote"),
    ("echo $", "echo $", "a lone dollar is literal"),
    ("echo a$", "echo a$", "a trailing dollar is literal"),
    ("echo \"$\"", "echo $", "a lone dollar in double quotes"),
    ("echo ''", "echo ", "an empty quoted word is a word"),
    // Unknown words.
    ("$CMD push", "? push", "a parameter in command position"),
    ("${CMD} push", "? push", "a braced parameter"),
    ("g\"$x\"it push", "? push", "a parameter inside a word"),
    (
        "$(echo git) push",
        "echo git | ? push",
        "a substitution's commands come first",
    ),
    ("`echo git` push", "echo git | ? push", "backticks"),
    ("g* push", "? push", "a glob is not a known word"),
    ("gi? push", "? push", "a ? glob"),
    ("[g]it push", "? push", "a bracket glob"),
    ("{git,x} push", "? push", "brace expansion"),
    ("g{i,}t push", "? push", "brace expansion inside a word"),
    ("echo {1..3}", "echo ?", "a brace sequence"),
    ("echo {}", "echo {}", "empty braces are literal"),
    (
        "echo a{b}c",
        "echo a{b}c",
        "braces without a list are literal",
    ),
    ("[ -f x ]", "[ -f x ]", "the test command is not a glob"),
    (
        "echo $1 $@ $# $? $$ $!",
        "echo ? ? ? ? ? ?",
        "special parameters",
    ),
    ("echo \"$x\"", "echo ?", "a quoted parameter"),
    (
        "echo '$x'",
        "echo $x",
        "a single-quoted parameter is literal",
    ),
    ("echo \\$x", "echo $x", "an escaped dollar is literal"),
    ("echo $((1+2))", "echo ?", "arithmetic expansion"),
    ("echo ~", "echo ~", "a tilde is kept as written"),
    ("=git push", "? push", "zsh's =cmd expands to a path"),
    ("test a == b", "test a == b", "== is not =cmd"),
    // Separators.
    ("npm test && git push", "npm test | git push", "&&"),
    ("npm test || git push", "npm test | git push", "||"),
    ("npm test; git push", "npm test | git push", ";"),
    ("npm test | git push", "npm test | git push", "a pipe"),
    ("npm test |& git push", "npm test | git push", "|&"),
    ("true & git push", "true | git push", "a background job"),
    ("true &git push", "true | git push", "& without a blank"),
    ("true\ngit push", "true | git push", "a newline"),
    (
        "true\r\ngit push",
        "true\r | git push",
        "a carriage return is part of a word, as in sh",
    ),
    ("true;git push;", "true | git push", "; without blanks"),
    ("! git push", "git push", "pipeline negation"),
    ("time git push", "git push", "the time keyword"),
    ("time -p git push", "git push", "time -p"),
    // Grouping and compound commands.
    ("(git push)", "git push", "a subshell"),
    ("( (git push) )", "git push", "nested subshells"),
    (
        "((git push))",
        "git push",
        "dash runs ((a b)) as nested subshells",
    ),
    (
        "((x = 1 << 2))",
        "x = 1",
        "arithmetic words are also checked as a command",
    ),
    ("{ git push; }", "git push", "a group"),
    ("{ git push\n}", "git push", "a group over lines"),
    ("if true; then git push; fi", "true | git push", "if"),
    (
        "if false; then :; elif x; then git push; else y; fi",
        "false | : | x | git push | y",
        "elif/else",
    ),
    ("while true; do git push; done", "true | git push", "while"),
    (
        "until false; do git push; done",
        "false | git push",
        "until",
    ),
    (
        "for x in a b; do git push; done",
        "git push",
        "for: the list is not a command",
    ),
    (
        "for x in $(git push); do :; done",
        "git push | :",
        "for: substitutions in the list run",
    ),
    ("for x; do git push; done", "git push", "for without in"),
    (
        "for ((i=0;i<3;i++)); do git push; done",
        "git push",
        "arithmetic for",
    ),
    ("select x in a; do git push; done", "git push", "select"),
    (
        "case $x in a) git push;; b|c) ls;; esac",
        "git push | ls",
        "case arms",
    ),
    (
        "case x in (a) git push;; esac",
        "git push",
        "a case pattern with an opening paren",
    ),
    (
        "case x in\na)\ngit push\n;;\nesac",
        "git push",
        "case over lines",
    ),
    (
        "case x in a) echo;& b) git push;;& esac",
        "echo | git push",
        ";& and ;;&",
    ),
    (
        "case x in a) case y in b) git push;; esac;; esac",
        "git push",
        "nested case",
    ),
    ("case x in esac; git push", "git push", "an empty case"),
    ("f() { git push; }; f", "git push | f", "a function body"),
    (
        "f () { git push; }",
        "git push",
        "a function with a blank before ()",
    ),
    (
        "function f { git push; }",
        "git push",
        "the function keyword",
    ),
    ("function f() { git push; }", "git push", "function with ()"),
    (
        "[[ -n $(git push) ]]",
        "git push",
        "a substitution in [[ ]]",
    ),
    (
        "[[ a < b && (c || d) ]]; git push",
        "git push",
        "[[ ]] with operators",
    ),
    (
        "((x = 1 << 2)); git push",
        "x = 1 | git push",
        "arithmetic command with <<",
    ),
    (
        "((x<<2))\ngit push",
        "x | git push",
        "<< in (( )) is not a here-document",
    ),
    (
        "echo $((1<<2))\ngit push",
        "echo ? | git push",
        "<< in $(( )) is not a here-document",
    ),
    ("coproc git push", "git push", "coproc with a command"),
    ("coproc NAME { git push; }", "git push", "a named coproc"),
    (
        "if true; then (git push); fi",
        "true | git push",
        "a subshell in an if",
    ),
    // Substitutions.
    ("echo $(git push)", "git push | echo ?", "$( )"),
    (
        "echo \"$(git push)\"",
        "git push | echo ?",
        "$( ) in double quotes",
    ),
    ("echo `git push`", "git push | echo ?", "backticks"),
    (
        "echo \"`git push`\"",
        "git push | echo ?",
        "backticks in double quotes",
    ),
    (
        "echo $(echo $(git push))",
        "git push | echo ? | echo ?",
        "nested $( )",
    ),
    (
        "echo `echo \\`git push\\``",
        "git push | echo ? | echo ?",
        "nested backticks",
    ),
    (
        "echo $(case x in a) git push;; esac)",
        "git push | echo ?",
        "a ) in a case inside $( )",
    ),
    (
        "echo $( (git push) )",
        "git push | echo ?",
        "a subshell in $( )",
    ),
    (
        "echo $((git push) )",
        "git push | echo ?",
        "$(( that is not arithmetic",
    ),
    (
        "echo ${x:-$(git push)}",
        "git push | echo ?",
        "a substitution in ${ }",
    ),
    (
        "echo \"${x:-`git push`}\"",
        "git push | echo ?",
        "backticks in ${ } in double quotes",
    ),
    (
        "echo $((x + $(git push)))",
        "git push | echo ?",
        "a substitution in arithmetic",
    ),
    (
        "diff <(git push) x",
        "git push | diff ? x",
        "process substitution",
    ),
    (
        "tee >(git push)",
        "git push | tee ?",
        "output process substitution",
    ),
    ("echo $(echo ')')", "echo ) | echo ?", "a quoted ) in $( )"),
    (
        "echo $(echo \")\")",
        "echo ) | echo ?",
        "a double-quoted ) in $( )",
    ),
    (
        "echo $(# comment )\ngit push\n)",
        "git push | echo ?",
        "a comment in $( ) hides its )",
    ),
    // Redirections and assignments.
    (
        "git push > /dev/null 2>&1",
        "git push",
        "redirections are not words",
    ),
    (
        "> out git push",
        "git push",
        "a redirection before the command",
    ),
    ("2>/dev/null git push", "git push", "an IO number"),
    ("git push {fd}>x", "git push", "a {fd} redirection"),
    ("git push &> log", "git push", "&>"),
    (
        "git push <<< $(ls)",
        "ls | git push",
        "a here-string's substitution runs",
    ),
    (
        "cat < $(git push)",
        "git push | cat",
        "a redirection target's substitution runs",
    ),
    ("X=1 git push", "git push", "an assignment prefix"),
    ("X=1 Y=\"a b\" git push", "git push", "several assignments"),
    (
        "X=$(git push)",
        "git push",
        "an assignment's substitution runs",
    ),
    (
        "a=(x $(git push) y); ls",
        "git push | ls",
        "an array assignment",
    ),
    ("a[1]=x git push", "git push", "an indexed assignment"),
    (
        "\"X\"=1 git push",
        "X=1 git push",
        "a quoted name is not an assignment",
    ),
    (
        "git X=1 push",
        "git X=1 push",
        "an assignment-looking argument",
    ),
    // Here-documents.
    (
        "cat <<EOF\ngit push\nEOF",
        "cat",
        "a here-document body is data",
    ),
    (
        "cat <<'EOF'\n$(git push)\nEOF",
        "cat",
        "a quoted delimiter: no substitutions",
    ),
    (
        "cat <<EOF\n$(git push)\nEOF",
        "git push | cat",
        "an unquoted delimiter: substitutions run",
    ),
    (
        "cat <<EOF\n`git push`\nEOF",
        "git push | cat",
        "backticks in a here-document",
    ),
    (
        "cat <<-EOF\n\tgit push\n\tEOF\nls",
        "cat | ls",
        "<<- strips tabs before the delimiter",
    ),
    (
        "cat <<EOF; git push\nbody\nEOF",
        "cat | git push",
        "the rest of the line is commands",
    ),
    (
        "cat <<A <<B\na\nA\nb\nB\ngit push",
        "cat | git push",
        "two here-documents",
    ),
    (
        "cat <<EOF\nEOF\ngit push",
        "cat | git push",
        "commands after the delimiter",
    ),
    (
        "cat <<EOF\nno end",
        "cat",
        "a document ended by the end of input",
    ),
    (
        "cat <<\"E F\"\nx\nE F\ngit push",
        "cat | git push",
        "a quoted delimiter with a blank",
    ),
    (
        "cat <<EOF\n\"$(git push)\"\nEOF",
        "git push | cat",
        "quotes are literal in a body",
    ),
    // Comments.
    ("# git push", "", "a comment line"),
    ("ls # git push", "ls", "a trailing comment"),
    ("ls #; git push", "ls", "a comment hides separators"),
    ("ls a#b", "ls a#b", "# inside a word is not a comment"),
    ("echo '#' ; git push", "echo # | git push", "a quoted #"),
    ("# x\ngit push", "git push", "a comment then a command"),
    // Reserved words only in command position.
    (
        "echo if then fi",
        "echo if then fi",
        "keywords as arguments",
    ),
    ("\"if\" x", "if x", "a quoted keyword is a command"),
    ("echo }", "echo }", "} as an argument"),
    (
        "echo done; git push",
        "echo done | git push",
        "done as an argument",
    ),
    // Refused (unparseable): fail closed.
    ("git push 'oops", "ERR", "an unterminated single quote"),
    ("git push \"oops", "ERR", "an unterminated double quote"),
    ("echo `git push", "ERR", "an unterminated backquote"),
    ("echo $(git push", "ERR", "an unterminated $("),
    ("echo ${x", "ERR", "an unterminated ${"),
    ("echo $'x", "ERR", "an unterminated $'"),
    ("(git push", "ERR", "an unterminated ("),
    ("git push)", "ERR", "an unbalanced )"),
    ("case x in a) ls;;", "ERR", "case without esac"),
    ("git push >", "ERR", "a redirection without a target"),
    ("echo x (y)", "ERR", "a ( after arguments"),
    ("ls ;; git push", "ERR", ";; outside a case"),
    ("esac", "ERR", "esac outside a case"),
    ("[[ x", "ERR", "an unterminated [["),
    (
        "echo \"$(echo 'x)\"",
        "ERR",
        "an unterminated quote in a substitution",
    ),
];

#[test]
fn table() {
    let mut failed = Vec::new();
    for (script, want, why) in CASES {
        let got = show(script);
        if got != *want {
            failed.push(format!("{script:?} ({why}): want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{}git push{}", "$(".repeat(200), ")".repeat(200));
    assert!(parse(&deep).is_err());
    let deep = format!("{}git push", "eval ".repeat(10));
    assert!(parse(&deep).is_ok());
    let ok = format!("{}git push{}", "$(".repeat(10), ")".repeat(10));
    assert_eq!(parse(&ok).unwrap().len(), 11);
    let ticks = "echo `echo \\`echo \\\\\\`git push\\\\\\`\\``";
    assert!(show(ticks).starts_with("git push"));
}

#[test]
fn sources_are_kept_for_messages() {
    let cmds = parse("$(echo git) push").unwrap();
    assert_eq!(cmds[1].display(), "$(echo git) push");
    let cmds = parse("g'i't push").unwrap();
    assert_eq!(cmds[0].display(), "g'i't push");
}

#[test]
fn literal_standard_input_is_kept() {
    let stdin = |s: &str| -> Vec<Option<String>> {
        parse(s).unwrap().into_iter().map(|c| c.stdin).collect()
    };
    assert_eq!(stdin("bash <<EOF\nx\nEOF"), [Some("x\n".to_string())]);
    assert_eq!(stdin("bash <<< 'a b'"), [Some("a b\n".to_string())]);
    assert_eq!(stdin("bash <<< \"$x\""), [None]);
    assert_eq!(stdin("bash < f"), [None]);
    assert_eq!(stdin("bash"), [None]);
    assert_eq!(
        stdin("cat <<A; bash <<-B\na\nA\n\tb\n\tB"),
        [Some("a\n".to_string()), Some("b\n".to_string())]
    );
    // Inside a substitution, and a failed arithmetic guess forgets nothing it should keep.
    assert_eq!(
        stdin("echo $(bash <<EOF\nx\nEOF\n)"),
        [Some("x\n".to_string()), None]
    );
}

#[test]
fn quote_round_trips() {
    for s in ["it's", "", "a b", "$(x)", "\\'\""] {
        let script = format!("echo {}", super::quote(s));
        let cmds = parse(&script).unwrap();
        assert_eq!(cmds[0].words[1].value.as_deref(), Some(s));
    }
}

#[test]
fn unknown_words_keep_a_literal_prefix() {
    let first = |s: &str| {
        parse(s).unwrap().last().unwrap().words[0]
            .prefix
            .to_string()
    };
    assert_eq!(first("git${IFS}push"), "git");
    assert_eq!(first("\"git\"$X"), "git");
    assert_eq!(first("g\"$x\"it"), "g");
    assert_eq!(first("$CMD"), "");
    assert_eq!(first("/usr/bin/$X"), "/usr/bin/");
    assert_eq!(first("gi*"), "gi");
    // Never longer than the real value's start: text after the unknown part is not in it.
    assert_eq!(first("\"$x git\""), "");
    assert_eq!(first("$(echo g)it"), "");
}

/// A deterministic generator (xorshift) of scripts made of shell-significant fragments:
/// the parser must return (Ok or Err) on every one, without panicking.
#[test]
fn never_panics_and_terminates() {
    const PIECES: &[&str] = &[
        "git", " ", "push", "'", "\"", "\\", "$", "(", ")", "$(", "`", "{", "}", ";", "&", "|",
        "\n", "<<", "EOF", "<", ">", "#", "[[", "]]", "case", "in", "esac", ";;", "if", "then",
        "fi", "for", "do", "done", "$((", "))", "${", "$'", "\\x6", "=", "a=(", "*", ",", "..",
        "<(", "2>&1", "-", "<<-", "\t", "coproc", "function", "time", "\r", "é",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 24) as usize;
        let mut s = String::new();
        for _ in 0..len {
            s.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        let _ = parse(&s);
    }
    // Random bytes as text too.
    for _ in 0..5_000 {
        let len = (next() % 40) as usize;
        let s: String = (0..len).map(|_| char::from((next() % 128) as u8)).collect();
        let _ = parse(&s);
    }
}

#[test]
fn deeply_nested_expansions_are_refused_not_overflowed() {
    for (open, close) in [
        ("${x:-", "}"),
        ("$((", "))"),
        ("\"${x:-", "}\""),
        ("$[", "]"),
        ("<(", ")"),
    ] {
        let deep = format!("echo {}1{}", open.repeat(20_000), close.repeat(20_000));
        let _ = parse(&deep);
    }
    // `((…))` that is also read as nested subshells: too deep is refused, not skipped.
    let parens = format!("{}git push{}", "(".repeat(20_000), ")".repeat(20_000));
    assert_eq!(show(&parens), "ERR");
    let parens = format!("{}git push{}", "(".repeat(10), ")".repeat(10));
    assert_eq!(show(&parens), "git push");
    // Unbalanced openers: each `((` tries arithmetic, in a bounded scan.
    for s in ["(", "$(", "$((", "((", "${", "`"] {
        assert!(parse(&s.repeat(5_001)).is_err(), "{s}");
    }
    let groups = format!("{}git push;{}", "{ ".repeat(20_000), " }".repeat(20_000));
    assert_eq!(show(&groups), "git push");
}
