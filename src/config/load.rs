//! Finding and resolving the active config: discovery, `extends` chains, the trust check.
//! Whether an untrusted project config may still apply (it grants nothing beyond the
//! user's config) is decided on compiled policies, by `policy::trust_gate`.

use std::path::{Path, PathBuf};

use super::merge::merge;
use super::read::{self, ConfigFile};
use super::{Config, parse_text, templates, trust};
use crate::error::{Error, Result};
use crate::host_env::HostEnv;
use crate::output;

const MAX_EXTENDS_DEPTH: usize = 10;
const PROJECT_NAMES: [&str; 2] = ["fence.jsonc", "fence.json"];

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Project config discovery, then the user config, then the built-in default.
    Discover,
    /// `-s FILE`: an explicit file, applied without a trust check.
    Settings(PathBuf),
    /// `-t NAME`: a built-in template.
    Template(String),
}

/// Where the active config came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Template(String),
    Settings(PathBuf),
    /// Found by discovery in the current directory or a parent.
    Project(PathBuf),
    /// `$XDG_CONFIG_HOME/fence/…` or the legacy `~/.fence.json`.
    User(PathBuf),
    Default,
}

/// A fully resolved config and how it was assembled.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: Config,
    pub origin: Origin,
    /// Every file read for it, with its exact content and identity (what `fence trust`
    /// records).
    pub files: Vec<ConfigFile>,
    /// Human-readable chain for `--debug`, root first.
    pub chain: Vec<String>,
}

/// A resolved config, or a discovered project config that is not trusted yet.
#[derive(Debug)]
pub enum Resolution {
    /// Applies as it is: chosen explicitly (`-s`, `-t`), trusted, or the user's own.
    Ready(Resolved),
    /// A discovered project config the user has not trusted (or that changed since): it
    /// may apply only on top of the user's config, and only if it grants nothing more.
    Untrusted {
        project: Resolved,
        state: trust::TrustState,
        /// Discovery notes (skipped candidates), for the `-d` chain.
        notes: Vec<String>,
    },
}

/// Resolves the config for a run. An untrusted project config comes back as
/// [`Resolution::Untrusted`]: only `policy::trust_gate` can turn it into a config to run.
pub fn resolve(source: &ConfigSource, host: &HostEnv) -> Result<Resolution> {
    match source {
        ConfigSource::Template(name) => {
            let mut r = ExtendsChain::new(host);
            let config = r.template(name, 0)?;
            Ok(Resolution::Ready(
                r.finish(config, Origin::Template(name.clone())),
            ))
        }
        ConfigSource::Settings(path) => {
            let path = host.cwd.join(path);
            if path.is_dir() {
                return Err(Error::Config(format!(
                    "settings path is a directory: {}",
                    output::path(&path)
                )));
            }
            if !path.exists() {
                return Err(Error::Config(format!(
                    "settings file not found: {}",
                    output::path(&path)
                )));
            }
            let mut r = ExtendsChain::new(host);
            let config = r.file(&path, 0)?;
            Ok(Resolution::Ready(r.finish(config, Origin::Settings(path))))
        }
        ConfigSource::Discover => {
            let found = discover_project(&host.cwd);
            let skipped: Vec<String> = found
                .skipped
                .iter()
                .map(|(path, why)| {
                    format!(
                        "ignored {}: {why} (see \"Configuration\" in the README)",
                        output::path(path)
                    )
                })
                .collect();
            let mut resolved = match found.path {
                Some(path) => {
                    let mut r = ExtendsChain::new(host);
                    r.owner_checked = true;
                    let config = r.file(&path, 0)?;
                    let project = r.finish(config, Origin::Project(path.clone()));
                    let state = trust::check(host, &path, &project.files)?;
                    if state != trust::TrustState::Trusted {
                        return Ok(Resolution::Untrusted {
                            project,
                            state,
                            notes: skipped,
                        });
                    }
                    project
                }
                None => {
                    let user = resolve_user(host)?;
                    if let (Origin::Default, Some((path, why))) =
                        (&user.origin, found.skipped.first())
                    {
                        return Err(Error::Config(format!(
                            "{}: not applied: {why}. fence applies a discovered config only \
                             when you or root own it and no one else can write it or its \
                             directory (git's safe.directory rule), and there is no other \
                             config to use. Fix its owner or mode, or pass it with -s",
                            output::path(path)
                        )));
                    }
                    user
                }
            };
            resolved.chain.splice(0..0, skipped);
            Ok(Resolution::Ready(resolved))
        }
    }
}

/// The result of project config discovery.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Discovered {
    /// The nearest acceptable `fence.jsonc` or `fence.json`.
    pub path: Option<PathBuf>,
    /// Nearer candidates that were ignored, and why (owned by someone else, or writable by
    /// others).
    pub skipped: Vec<(PathBuf, String)>,
}

/// The nearest `fence.jsonc` or `fence.json` in `dir` or one of its parents that the user
/// (or root) owns and that no one else can write (see [`read::foreign_reason`]).
pub fn discover_project(dir: &Path) -> Discovered {
    let me = read::Me::current();
    let mut out = Discovered::default();
    for candidate in dir
        .ancestors()
        .flat_map(|d| PROJECT_NAMES.iter().map(move |n| d.join(n)))
    {
        if !candidate.is_file() {
            continue;
        }
        match foreign(&candidate, me) {
            Some(why) => out.skipped.push((candidate, why)),
            None => {
                out.path = Some(candidate);
                break;
            }
        }
    }
    out
}

/// Why `path` (a discovered candidate) is not the user's own, checking the file, the
/// directory it was found in and, through a symlink, the directory of its target.
fn foreign(path: &Path, me: read::Me) -> Option<String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return Some(format!("cannot read it: {e}")),
    };
    let mut dirs: Vec<PathBuf> = path.parent().map(Path::to_path_buf).into_iter().collect();
    if let Some(parent) = std::fs::canonicalize(path)
        .ok()
        .and_then(|real| real.parent().map(Path::to_path_buf))
    {
        dirs.push(parent);
    }
    if dirs.is_empty() {
        return read::foreign_reason(&meta, None, me);
    }
    dirs.iter().find_map(|d| match std::fs::metadata(d) {
        Ok(dm) => read::foreign_reason(&meta, Some(&dm), me),
        Err(e) => Some(format!("cannot read its directory: {e}")),
    })
}

/// The user's own config (trusted by definition), or the built-in default.
pub fn resolve_user(host: &HostEnv) -> Result<Resolved> {
    match user_config_path(host) {
        Some(path) => resolve_file(&path, host, Origin::User(path.clone())),
        None => Ok(Resolved {
            config: Config::default(),
            origin: Origin::Default,
            files: Vec::new(),
            chain: vec!["built-in default (deny everything)".into()],
        }),
    }
}

/// The project config `path` as it was when trusted: its extends chain resolved from
/// `recorded` (the files of its trust record, with their recorded content) instead of the
/// files on disk. An error when the chain needs a file the record does not hold.
pub fn resolve_recorded(path: &Path, recorded: &[ConfigFile], host: &HostEnv) -> Result<Resolved> {
    let mut r = ExtendsChain::new(host);
    r.recorded = Some(recorded);
    let config = r.file(path, 0)?;
    Ok(r.finish(config, Origin::Project(path.to_path_buf())))
}

fn resolve_file(path: &Path, host: &HostEnv, origin: Origin) -> Result<Resolved> {
    let mut r = ExtendsChain::new(host);
    let config = r.file(path, 0)?;
    Ok(r.finish(config, origin))
}

fn user_config_path(host: &HostEnv) -> Option<PathBuf> {
    let canonical = host
        .config_home
        .iter()
        .flat_map(|d| PROJECT_NAMES.iter().map(move |n| d.join("fence").join(n)));
    let legacy = host.home.iter().flat_map(|h| {
        [".fence.jsonc", ".fence.json"]
            .into_iter()
            .map(move |n| h.join(n))
    });
    canonical.chain(legacy).find(|p| p.is_file())
}

/// `path` without `.` components and with each `..` removing the component before it.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` as one shell word that is safe to print and to paste: as it is when it has only
/// plain characters, in single quotes otherwise, and in ANSI-C quotes (`$'…'`, with `\xNN`
/// for every control character, invisible formatting character or invalid UTF-8 byte) when
/// it has something a terminal would act on.
pub fn shell_word(bytes: &[u8]) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || b"/._-+,=:@".contains(&b);
    if !bytes.is_empty() && bytes.iter().all(|&b| plain(b)) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let printable =
        |c: char| c == '\\' || output::escape(c.encode_utf8(&mut [0; 4])).len() == c.len_utf8();
    let mut needs_ansi = false;
    for chunk in bytes.utf8_chunks() {
        needs_ansi |= !chunk.invalid().is_empty() || !chunk.valid().chars().all(printable);
    }
    if !needs_ansi {
        let text = String::from_utf8_lossy(bytes);
        return format!("'{}'", text.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str(r"\\"),
                '\'' => out.push_str(r"\'"),
                c if printable(c) => out.push(c),
                c => {
                    for b in c.encode_utf8(&mut [0; 4]).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('\'');
    out
}

/// Walks an `extends` chain, detecting cycles and recording what it read.
struct ExtendsChain<'a> {
    host: &'a HostEnv,
    /// The top file was found by discovery: check again, on the opened file, that the user
    /// or root owns it and no one else can write it.
    owner_checked: bool,
    visiting: Vec<String>,
    files: Vec<ConfigFile>,
    chain: Vec<String>,
    /// Read files from these (a trust record's) instead of from disk.
    recorded: Option<&'a [ConfigFile]>,
}

impl<'a> ExtendsChain<'a> {
    fn new(host: &'a HostEnv) -> ExtendsChain<'a> {
        ExtendsChain {
            host,
            owner_checked: false,
            visiting: Vec::new(),
            files: Vec::new(),
            chain: Vec::new(),
            recorded: None,
        }
    }

    fn finish(self, config: Config, origin: Origin) -> Resolved {
        Resolved {
            config,
            origin,
            files: self.files,
            chain: self.chain,
        }
    }

    /// `id` is already escaped for display.
    fn enter(&mut self, id: String, depth: usize) -> Result<()> {
        if depth > MAX_EXTENDS_DEPTH {
            return Err(Error::Config(format!(
                "extends chain too deep (max {MAX_EXTENDS_DEPTH}) at {id}"
            )));
        }
        if self.visiting.contains(&id) {
            return Err(Error::Config(format!(
                "circular extends: {} -> {id}",
                self.visiting.join(" -> ")
            )));
        }
        self.chain.push(format!("{}{id}", "  ".repeat(depth)));
        self.visiting.push(id);
        Ok(())
    }

    fn file(&mut self, path: &Path, depth: usize) -> Result<Config> {
        if let Some(recorded) = self.recorded {
            return self.recorded_file(recorded, path, depth);
        }
        let path = std::fs::canonicalize(path)
            .map_err(|e| Error::io(format!("cannot read config {}", output::path(path)), e))?;
        let shown = output::path(&path);
        self.enter(format!("file {shown}"), depth)?;
        let read = read::read_bounded(&path, "config")?;
        if self.owner_checked && depth == 0 {
            let dir = path.parent().and_then(|d| std::fs::metadata(d).ok());
            if let Some(why) = read::foreign_reason(&read.meta, dir.as_ref(), read::Me::current()) {
                return Err(Error::Config(format!("{shown}: not applied: {why}")));
            }
        }
        self.parsed(ConfigFile::new(path, read), depth)
    }

    /// [`Self::file`] from a trust record: the recorded file at `path` (canonical when it
    /// was recorded; it may be gone from the disk since, so also compared lexically).
    fn recorded_file(
        &mut self,
        recorded: &[ConfigFile],
        path: &Path,
        depth: usize,
    ) -> Result<Config> {
        let canonical = std::fs::canonicalize(path).ok();
        let lexical = lexically_normal(path);
        let file = recorded
            .iter()
            .find(|f| f.path == lexical || canonical.as_ref() == Some(&f.path))
            .ok_or_else(|| {
                Error::Config(format!(
                    "{} is not in the trust record",
                    output::path(&lexical)
                ))
            })?;
        self.enter(format!("file {}", output::path(&file.path)), depth)?;
        self.parsed(file.clone(), depth)
    }

    /// Parses a file read (entered already), then resolves what it extends.
    fn parsed(&mut self, file: ConfigFile, depth: usize) -> Result<Config> {
        let path = file.path.clone();
        let cfg = parse_text(&file.text, &output::path(&path))?;
        self.files.push(file);
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let cfg = self.extend(cfg, &dir, depth)?;
        self.visiting.pop();
        Ok(cfg)
    }

    fn template(&mut self, name: &str, depth: usize) -> Result<Config> {
        let t = templates::find(name).ok_or_else(|| {
            Error::Config(format!(
                "template \"{}\" not found; see fence --list-templates",
                output::escape(name)
            ))
        })?;
        self.enter(format!("template {}", t.name), depth)?;
        let cfg = parse_text(t.text, &format!("template {}", t.name))?;
        let cfg = self.extend(cfg, Path::new("/"), depth)?;
        self.visiting.pop();
        Ok(cfg)
    }

    /// Resolves `cfg.extends` (relative file paths against `dir`) and merges `cfg` over it.
    fn extend(&mut self, mut cfg: Config, dir: &Path, depth: usize) -> Result<Config> {
        let Some(target) = cfg.extends.take() else {
            return Ok(cfg);
        };
        let base = if target == "@base" {
            match user_config_path(self.host) {
                Some(path) => self.file(&path, depth + 1)?,
                None => Config::default(),
            }
        } else if target.contains('/') || target.starts_with('.') || target.starts_with('~') {
            let path = match target.strip_prefix("~/") {
                Some(rest) => match &self.host.home {
                    Some(home) => home.join(rest),
                    None => {
                        return Err(Error::Config(format!(
                            "extends \"{}\": $HOME is not set",
                            output::escape(&target)
                        )));
                    }
                },
                None => dir.join(&target),
            };
            if self.recorded.is_none() && !path.exists() {
                return Err(Error::Config(format!(
                    "extends file not found: {}",
                    output::path(&path)
                )));
            }
            self.file(&path, depth + 1)?
        } else {
            self.template(&target, depth + 1)?
        };
        Ok(merge(base, cfg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_chains_resolve_from_the_record() {
        let host = HostEnv::new("/".into(), None, None, None);
        let file = ConfigFile::in_memory;
        // Not on disk: only in the record.
        let top = "/nonexistent-fence-test/p/fence.json";
        let base = "/nonexistent-fence-test/p/conf/base.json";
        let recorded = [
            file(
                top,
                r#"{"extends": "./conf/../conf/./base.json", "filesystem": {"allowWrite": ["a"]}}"#,
            ),
            file(
                base,
                r#"{"extends": "workspace-write", "network": {"allowedDomains": ["x.example"]}}"#,
            ),
        ];
        let r = resolve_recorded(Path::new(top), &recorded, &host).unwrap();
        assert!(r.config.filesystem.allow_write.contains(&"a".to_string()));
        assert!(
            r.config
                .network
                .allowed_domains
                .contains(&"x.example".to_string())
        );
        assert_eq!(r.files, recorded);
        // A file the record does not hold: an error, not a read from disk.
        let err = resolve_recorded(Path::new(top), &recorded[..1], &host)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("base.json is not in the trust record"),
            "{err}"
        );
    }

    #[test]
    fn shell_words_are_safe_and_pasteable() {
        let cases: [(&[u8], &str); 8] = [
            (b"/p/fence.json", "/p/fence.json"),
            (b"/p q/fence.json", "'/p q/fence.json'"),
            (b"/it's/x", r"'/it'\''s/x'"),
            (b"/back\\slash", r"'/back\slash'"),
            (b"/x\x1b]0;T\x07y", r"$'/x\x1b]0;T\x07y'"),
            (b"/a\nb'c\\", r"$'/a\x0ab\'c\\'"),
            (b"/bad\xff", r"$'/bad\xff'"),
            ("/\u{202e}gpj".as_bytes(), r"$'/\xe2\x80\xaegpj'"),
        ];
        for (path, want) in cases {
            let word = shell_word(path);
            assert_eq!(word, want, "{path:?}");
            assert!(!word.chars().any(char::is_control), "{word:?}");
        }
        assert_eq!(shell_word("/é/x".as_bytes()), "'/é/x'");
    }
}
