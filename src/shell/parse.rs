//! The grammar half of [`Parser`]: lists of simple commands, with the compound commands
//! (`( … )`, `{ …; }`, `if`, loops, `case`, functions, `[[ … ]]`, `(( … ))`) reduced to
//! the simple commands inside them. Reserved words are recognised only where the shell
//! recognises them: unquoted, in command position.

use std::borrow::Cow;
use std::collections::VecDeque;

use super::lex::{self, HereDoc, Op, Tok, WordTok};
use super::{ParseError, SimpleCommand, Word};

/// Where a list ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// At the end of the input (a whole script).
    Eof,
    /// At an unmatched `)` (a `$( … )` or `<( … )`), consumed.
    RParen,
}

pub(super) struct Parser<'a> {
    /// The script.
    pub(super) src: &'a str,
    /// Its bytes (the grammar's characters are all ASCII; the others are copied whole).
    pub(super) b: &'a [u8],
    /// A buffer lent to the word being read (so that its value is allocated once, at its
    /// final size); a word read while it is lent gets a new one.
    pub(super) word_buf: String,
    /// The byte the lexer is at.
    pub(super) pos: usize,
    /// Nesting depth of this script (backticks, here-documents, `sh -c`).
    pub(super) depth: usize,
    /// The simple commands found so far.
    pub(super) out: Vec<SimpleCommand<'a>>,
    /// Here-documents whose bodies start after the next newline.
    pub(super) pending: Vec<HereDoc>,
    /// Here-document bodies by id (`None` until read).
    pub(super) bodies: Vec<Option<String>>,
    /// Commands whose standard input is a here-document: (index in `out`, body id).
    stdin_docs: Vec<(usize, usize)>,
    /// Commands whose standard input is another's output: (index, the other's index).
    stdin_pipes: Vec<(usize, usize)>,
    /// Nesting depth of `$( … )` inside this script.
    pub(super) sub_depth: usize,
}

/// An open construct inside a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// `( … )`.
    Paren,
    /// In a `case`, expecting patterns (or `esac`).
    CaseIn,
    /// In a `case` arm's commands.
    CaseBody,
}

/// Where the command being read takes its standard input from.
#[derive(Default, Clone)]
enum Stdin {
    #[default]
    Inherited,
    Text(String),
    Doc(usize),
    /// The output of the command at this index in `out`.
    Pipe(usize),
    /// A file or a text only known at run time.
    Unknown,
}

#[derive(Default)]
struct List<'a> {
    queue: VecDeque<Tok<'a>>,
    stack: Vec<Ctx>,
    words: Vec<Word<'a>>,
    stdin: Stdin,
}

impl<'a> Parser<'a> {
    pub(super) fn new(script: &'a str, depth: usize) -> Parser<'a> {
        Parser {
            src: script,
            b: script.as_bytes(),
            word_buf: String::new(),
            pos: 0,
            depth,
            out: Vec::new(),
            pending: Vec::new(),
            bodies: Vec::new(),
            stdin_docs: Vec::new(),
            stdin_pipes: Vec::new(),
            sub_depth: 0,
        }
    }

    pub(super) fn parse_script(&mut self) -> Result<(), ParseError> {
        self.parse_list(End::Eof)?;
        for (cmd, id) in std::mem::take(&mut self.stdin_docs) {
            let body = self.bodies.get_mut(id).and_then(Option::take); // one command each
            if let Some(c) = self.out.get_mut(cmd) {
                c.stdin = body;
            }
        }
        // Left to right, so that `echo x | cat | sh` carries the text along.
        for (cmd, from) in std::mem::take(&mut self.stdin_pipes) {
            let text = self.out.get(from).and_then(literal_output);
            if let Some(c) = self.out.get_mut(cmd) {
                c.stdin = text;
            }
        }
        Ok(())
    }

    /// The word `w` is.
    pub(super) fn word(&self, w: WordTok<'a>) -> Word<'a> {
        let source = &self.src[w.start..w.end];
        let value = match (w.known, w.value) {
            (false, _) => None,
            (true, Some(v)) => Some(Cow::Owned(v)),
            (true, None) => Some(Cow::Borrowed(source)),
        };
        Word {
            value,
            source: Cow::Borrowed(source),
            prefix: w.prefix,
        }
    }

    /// `w` is an assignment (`NAME=value`...), as written.
    fn assignment(&self, w: &WordTok) -> bool {
        lex::is_assignment(&self.src[w.start..w.end])
    }

    /// Forgets the commands found after the first `len` (a guess that did not hold).
    pub(super) fn truncate_out(&mut self, len: usize) {
        self.out.truncate(len);
        self.stdin_docs.retain(|(cmd, _)| *cmd < len);
        self.stdin_pipes.retain(|(cmd, _)| *cmd < len);
    }

    fn next(&mut self, l: &mut List<'a>) -> Result<Tok<'a>, ParseError> {
        match l.queue.pop_front() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    /// The `n`th token ahead (0 = the next one), without consuming it.
    fn peek<'l>(&mut self, l: &'l mut List<'a>, n: usize) -> Result<&'l Tok<'a>, ParseError> {
        while l.queue.len() <= n {
            let t = self.lex()?;
            l.queue.push_back(t);
        }
        Ok(&l.queue[n])
    }

    fn flush(&mut self, l: &mut List<'a>) {
        let stdin = std::mem::take(&mut l.stdin);
        if l.words.is_empty() {
            return;
        }
        let text = match stdin {
            Stdin::Text(t) => Some(t),
            Stdin::Doc(id) => {
                self.stdin_docs.push((self.out.len(), id));
                None
            }
            Stdin::Pipe(from) => {
                self.stdin_pipes.push((self.out.len(), from));
                None
            }
            Stdin::Inherited | Stdin::Unknown => None,
        };
        // `l.words` keeps its room for the next command; this one's is allocated once.
        self.out.push(SimpleCommand {
            words: l.words.drain(..).collect(),
            stdin: text,
        });
    }

    /// Runs `f` one nesting level deeper (`${ … }`, `$(( … ))`): too deep is an error, not
    /// a stack overflow.
    pub(super) fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Parser<'a>) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        self.sub_depth += 1;
        let r = if self.depth + self.sub_depth > super::MAX_DEPTH {
            self.too_deep()
        } else {
            f(self)
        };
        self.sub_depth -= 1;
        r
    }

    pub(super) fn too_deep<T>(&self) -> Result<T, ParseError> {
        Err(ParseError {
            message: format!("nested more than {} levels deep", super::MAX_DEPTH),
            too_deep: true,
        })
    }

    /// Parses commands up to `end`.
    pub(super) fn parse_list(&mut self, end: End) -> Result<(), ParseError> {
        if end == End::RParen {
            self.sub_depth += 1;
            if self.depth + self.sub_depth > super::MAX_DEPTH {
                return self.too_deep();
            }
        }
        let mut l = List::default();
        let r = self.list_body(end, &mut l);
        if end == End::RParen {
            self.sub_depth -= 1;
        }
        r
    }

    fn list_body(&mut self, end: End, l: &mut List<'a>) -> Result<(), ParseError> {
        loop {
            let tok = self.next(l)?;
            let top = l.stack.last().copied();
            match tok {
                Tok::Eof => {
                    self.flush(l);
                    if end == End::RParen {
                        return self.err("unterminated $( or <(");
                    }
                    return match top {
                        None => Ok(()),
                        Some(Ctx::Paren) => self.err("unterminated ("),
                        Some(_) => self.err("case without esac"),
                    };
                }
                Tok::Newline | Tok::Op(Op::Sep) => self.flush(l),
                Tok::Op(Op::Pipe) => {
                    let had = !l.words.is_empty();
                    self.flush(l);
                    if had && top != Some(Ctx::CaseIn) {
                        l.stdin = Stdin::Pipe(self.out.len() - 1);
                    }
                }
                Tok::Op(Op::CaseEnd) => {
                    self.flush(l);
                    match top {
                        Some(Ctx::CaseBody) => *l.stack.last_mut().unwrap() = Ctx::CaseIn,
                        _ => return self.err("syntax error near ;;"),
                    }
                }
                Tok::Op(Op::LParen) => self.open_paren(l, top)?,
                Tok::Op(Op::RParen) => {
                    self.flush(l);
                    match top {
                        Some(Ctx::Paren) => {
                            l.stack.pop();
                        }
                        Some(Ctx::CaseIn) => *l.stack.last_mut().unwrap() = Ctx::CaseBody,
                        None if end == End::RParen => return Ok(()),
                        _ => return self.err("syntax error near unexpected `)'"),
                    }
                }
                Tok::Op(Op::Redir {
                    heredoc,
                    strip_tabs,
                    herestring,
                    input,
                }) => match self.next(l)? {
                    Tok::Word(w) => {
                        if heredoc {
                            let id = self.bodies.len();
                            self.bodies.push(None);
                            let quoted = w.quoted;
                            let word = self.word(w);
                            let delim = word.value.unwrap_or(word.source).into_owned();
                            self.pending.push(HereDoc {
                                id,
                                delim,
                                strip_tabs,
                                expand: !quoted,
                            });
                            l.stdin = Stdin::Doc(id);
                        } else if herestring {
                            l.stdin = match self.word(w).value {
                                Some(v) => Stdin::Text(v.into_owned() + "\n"),
                                None => Stdin::Unknown,
                            };
                        } else if input {
                            l.stdin = Stdin::Unknown;
                        }
                    }
                    _ => return self.err("redirection without a target"),
                },
                Tok::Word(w) => {
                    if top == Some(Ctx::CaseIn) {
                        if w.kw == Some("esac") {
                            l.stack.pop();
                        }
                        continue; // a pattern
                    }
                    if l.words.is_empty() {
                        self.command_start(l, w, top)?;
                    } else {
                        let word = self.word(w);
                        l.words.push(word);
                    }
                }
            }
        }
    }

    fn open_paren(&mut self, l: &mut List<'a>, top: Option<Ctx>) -> Result<(), ParseError> {
        if top == Some(Ctx::CaseIn) {
            return Ok(()); // `(pattern)`
        }
        if !l.words.is_empty() {
            // `name () body`: a function definition; the body follows.
            if l.words.len() == 1 && matches!(self.peek(l, 0)?, Tok::Op(Op::RParen)) {
                self.next(l)?;
                l.words.clear();
                return Ok(());
            }
            return self.err("syntax error near unexpected `('");
        }
        if l.queue.is_empty() && self.peek_at(0) == Some(b'(') {
            // `(( … ))`: arithmetic, unless it turns out to be nested subshells.
            let (pos, out) = (self.pos, self.out.len());
            self.pos += 1;
            if self.read_arith()? {
                // dash runs `((a b))` as nested subshells: its words may be a command too.
                let src = self.src;
                let text = &src[pos + 1..self.pos - 2];
                match super::parse_nested(text, self.depth + self.sub_depth + 1) {
                    Ok(cmds) => self.out.extend(cmds),
                    Err(e) if e.too_deep => return Err(e),
                    Err(_) => {} // arithmetic, not a script
                }
                return Ok(());
            }
            self.pos = pos;
            self.truncate_out(out);
        }
        l.stack.push(Ctx::Paren);
        Ok(())
    }

    /// The first word of a command: a reserved word, an assignment, or the command name.
    fn command_start(
        &mut self,
        l: &mut List<'a>,
        w: WordTok<'a>,
        top: Option<Ctx>,
    ) -> Result<(), ParseError> {
        let kw = w.kw.unwrap_or("");
        match kw {
            "if" | "then" | "else" | "elif" | "fi" | "do" | "done" | "while" | "until" | "{"
            | "}" | "!" => Ok(()),
            "time" => {
                // The bash keyword; `-p` is its only option.
                if let Tok::Word(n) = self.peek(l, 0)? {
                    if n.kw == Some("-p") {
                        self.next(l)?;
                    }
                }
                Ok(())
            }
            "esac" => {
                if top == Some(Ctx::CaseBody) {
                    l.stack.pop();
                    Ok(())
                } else {
                    self.err("syntax error near unexpected `esac'")
                }
            }
            "case" => {
                if !matches!(self.next(l)?, Tok::Word(_)) {
                    return self.err("case without a word");
                }
                loop {
                    match self.next(l)? {
                        Tok::Newline => {}
                        Tok::Word(i) if i.kw == Some("in") => break,
                        _ => return self.err("case without in"),
                    }
                }
                l.stack.push(Ctx::CaseIn);
                Ok(())
            }
            "for" | "select" => self.for_head(l),
            "function" => {
                if !matches!(self.next(l)?, Tok::Word(_)) {
                    return self.err("function without a name");
                }
                if matches!(self.peek(l, 0)?, Tok::Op(Op::LParen)) {
                    self.next(l)?;
                    if !matches!(self.next(l)?, Tok::Op(Op::RParen)) {
                        return self.err("syntax error in function definition");
                    }
                }
                Ok(())
            }
            "[[" => loop {
                match self.next(l)? {
                    Tok::Word(e) if e.kw == Some("]]") => return Ok(()),
                    Tok::Eof => return self.err("unterminated [["),
                    _ => {}
                }
            },
            "coproc" => {
                if let Tok::Word(_) = self.peek(l, 0)? {
                    let named = match self.peek(l, 1)? {
                        Tok::Word(b) => b.kw == Some("{"),
                        Tok::Op(Op::LParen) => true,
                        _ => false,
                    };
                    if named {
                        self.next(l)?;
                    }
                }
                Ok(())
            }
            _ if self.assignment(&w) => Ok(()),
            _ => {
                let word = self.word(w);
                l.words.push(word);
                Ok(())
            }
        }
    }

    /// After `for`/`select`: the name and `in` list (or `(( … ))`), up to `do` or the
    /// separator before it.
    fn for_head(&mut self, l: &mut List<'a>) -> Result<(), ParseError> {
        match self.next(l)? {
            Tok::Op(Op::LParen) if l.queue.is_empty() && self.peek_at(0) == Some(b'(') => {
                self.pos += 1;
                if !self.read_arith()? {
                    return self.err("syntax error in for (( ))");
                }
                return Ok(());
            }
            Tok::Word(_) => {}
            _ => return self.err("for without a name"),
        }
        loop {
            match self.next(l)? {
                Tok::Word(i) if i.kw == Some("in") => loop {
                    match self.next(l)? {
                        Tok::Word(_) => {}
                        Tok::Newline | Tok::Op(Op::Sep | Op::Pipe) => return Ok(()),
                        _ => return self.err("syntax error in for list"),
                    }
                },
                Tok::Word(d) if d.kw == Some("do") => return Ok(()),
                Tok::Newline | Tok::Op(Op::Sep | Op::Pipe) => {}
                _ => return self.err("syntax error after for"),
            }
        }
    }
}

/// What `c` writes, when the script gives it literally: `echo WORDS`, `printf TEXT` (or
/// `printf '%s\n' WORDS`), `cat` of a literal standard input.
fn literal_output(c: &SimpleCommand) -> Option<String> {
    let words: Vec<&str> = c
        .words
        .iter()
        .map(|w| w.value.as_deref())
        .collect::<Option<_>>()?;
    let name = words[0].rsplit('/').next().unwrap_or(words[0]);
    let args = &words[1..];
    match name {
        "echo" => {
            let skip = args
                .iter()
                .take_while(|a| matches!(**a, "-n" | "-e" | "-E"))
                .count();
            Some(args[skip..].join(" ") + "\n")
        }
        "printf" => match args {
            [fmt] => Some(fmt.replace("\\n", "\n")),
            ["%s\\n" | "%s\n" | "%s", rest @ ..] => Some(rest.join("\n") + "\n"),
            _ => None,
        },
        "cat" if args.is_empty() => c.stdin.clone(),
        _ => None,
    }
}
