//! Finding and resolving the active config: discovery, `extends` chains, trust.

use std::path::{Path, PathBuf};

use super::merge::{Grant, grants, merge};
use super::{Config, parse_text, templates, trust};
use crate::cli::ConfigSource;
use crate::error::{Error, Result};
use crate::host_env::HostEnv;

const MAX_EXTENDS_DEPTH: usize = 10;
const PROJECT_NAMES: [&str; 2] = ["fence.jsonc", "fence.json"];

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
    /// Every file read for it, with its exact content (what `fence trust` records).
    pub files: Vec<(PathBuf, String)>,
    /// Human-readable chain for `--debug`, root first.
    pub chain: Vec<String>,
}

/// Resolves the config for a run.
pub fn resolve(source: &ConfigSource, host: &HostEnv) -> Result<Resolved> {
    match source {
        ConfigSource::Template(name) => {
            let mut r = Resolver::new(host);
            let config = r.template(name, 0)?;
            Ok(r.finish(config, Origin::Template(name.clone())))
        }
        ConfigSource::Settings(path) => {
            let path = host.cwd.join(path);
            if path.is_dir() {
                return Err(Error::Config(format!(
                    "settings path is a directory: {}",
                    path.display()
                )));
            }
            if !path.exists() {
                return Err(Error::Config(format!(
                    "settings file not found: {}",
                    path.display()
                )));
            }
            let mut r = Resolver::new(host);
            let config = r.file(&path, 0)?;
            Ok(r.finish(config, Origin::Settings(path)))
        }
        ConfigSource::Discover => match discover_project(&host.cwd) {
            Some(path) => {
                let project = resolve_file(&path, host, Origin::Project(path.clone()))?;
                apply_trust(project, host)
            }
            None => resolve_user(host),
        },
    }
}

/// The nearest `fence.jsonc` or `fence.json` in `dir` or one of its parents.
pub fn discover_project(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .flat_map(|d| PROJECT_NAMES.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
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

fn resolve_file(path: &Path, host: &HostEnv, origin: Origin) -> Result<Resolved> {
    let mut r = Resolver::new(host);
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

/// A discovered project config applies as written once the user trusted its exact content
/// (and that of every file it extends). Untrusted, it applies only if it grants nothing
/// beyond the user's own config, and then on top of that config, so that it can only narrow
/// it (the user's deny rules stay). Otherwise fence refuses to run.
fn apply_trust(project: Resolved, host: &HostEnv) -> Result<Resolved> {
    let Origin::Project(path) = &project.origin else {
        return Ok(project);
    };
    if trust::is_trusted(host, path, &project.files)? {
        return Ok(project);
    }
    let baseline = resolve_user(host)?;
    let baseline_grants = grants(&baseline.config);
    let extra: Vec<Grant> = grants(&project.config)
        .into_iter()
        .filter(|g| !baseline_grants.contains(g))
        .collect();
    if extra.is_empty() {
        let mut chain = baseline.chain;
        chain.push(format!(
            "narrowed by untrusted {} (it grants nothing more)",
            path.display()
        ));
        return Ok(Resolved {
            config: merge(baseline.config, project.config),
            origin: project.origin,
            files: project.files,
            chain,
        });
    }
    let state = if trust::has_record(host, path) {
        "changed since it was trusted"
    } else {
        "not trusted"
    };
    Err(Error::Config(format!(
        "{}: project config is {state}; it would grant {}. Review it, then run `fence trust {}` \
         (or pass it explicitly with -s)",
        path.display(),
        describe_grants(&extra),
        shell_word(&path.to_string_lossy()),
    )))
}

/// `write access to ".", network access to "x.com"` for messages.
pub fn describe_grants(list: &[Grant]) -> String {
    list.iter()
        .map(|g| format!("{} {:?}", g.key, g.value))
        .collect::<Vec<_>>()
        .join(", ")
}

fn shell_word(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+,=:@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Walks an `extends` chain, detecting cycles and recording what it read.
struct Resolver<'a> {
    host: &'a HostEnv,
    visiting: Vec<String>,
    files: Vec<(PathBuf, String)>,
    chain: Vec<String>,
}

impl<'a> Resolver<'a> {
    fn new(host: &'a HostEnv) -> Resolver<'a> {
        Resolver {
            host,
            visiting: Vec::new(),
            files: Vec::new(),
            chain: Vec::new(),
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
        let path = std::fs::canonicalize(path)
            .map_err(|e| Error::io(format!("cannot read config {}", path.display()), e))?;
        self.enter(format!("file {}", path.display()), depth)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("cannot read config {}", path.display()), e))?;
        let cfg = parse_text(&text, &path.display().to_string())?;
        if depth > 0 && text.trim().is_empty() {
            return Err(Error::Config(format!(
                "extends file is empty: {}",
                path.display()
            )));
        }
        self.files.push((path.clone(), text));
        let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
        let cfg = self.extend(cfg, &dir, depth)?;
        self.visiting.pop();
        Ok(cfg)
    }

    fn template(&mut self, name: &str, depth: usize) -> Result<Config> {
        let t = templates::find(name).ok_or_else(|| {
            Error::Config(format!(
                "template {name:?} not found; see fence --list-templates"
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
                            "extends {target:?}: $HOME is not set"
                        )));
                    }
                },
                None => dir.join(&target),
            };
            if !path.is_file() {
                return Err(Error::Config(format!(
                    "extends file not found: {}",
                    path.display()
                )));
            }
            self.file(&path, depth + 1)?
        } else {
            self.template(&target, depth + 1)?
        };
        Ok(merge(base, cfg))
    }
}
