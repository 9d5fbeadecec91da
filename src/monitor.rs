//! Decision lines from the proxies: with `-m`, one line per blocked request; with `-d`,
//! every decision. They go to stderr, or to `--fence-log-file`.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    /// `-m`: blocked requests.
    Blocked,
    /// `-d`: every decision.
    All,
}

pub struct Monitor {
    level: Level,
    file: Option<File>,
}

impl Monitor {
    pub fn new(monitor: bool, debug: bool, log_file: Option<&Path>) -> Result<Monitor> {
        let level = if debug {
            Level::All
        } else if monitor {
            Level::Blocked
        } else {
            Level::Quiet
        };
        let file = match log_file {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?,
            ),
            None => None,
        };
        Ok(Monitor { level, file })
    }

    pub fn quiet() -> Monitor {
        Monitor {
            level: Level::Quiet,
            file: None,
        }
    }

    /// A refused request: `[fence:http] blocked CONNECT evil.example:443: not in allowedDomains`.
    pub fn blocked(&mut self, source: &str, what: &str, reason: &str) {
        if self.level >= Level::Blocked {
            self.line(&format!("[fence:{source}] blocked {what}: {reason}"));
        }
    }

    /// Any other decision or event (debug only). The text is formatted only then.
    pub fn note(&mut self, source: &str, text: std::fmt::Arguments<'_>) {
        if self.level >= Level::All {
            self.line(&format!("[fence:{source}] {text}"));
        }
    }

    fn line(&mut self, line: &str) {
        let written = match &mut self.file {
            Some(file) => writeln!(file, "{line}"),
            None => writeln!(std::io::stderr(), "{line}"),
        };
        // A full disk or closed stderr must not take the proxy down.
        let _ = written;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_file() {
        let path = std::env::temp_dir().join(format!("fence-monitor-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut m = Monitor::new(true, false, Some(&path)).unwrap();
        m.blocked("http", "CONNECT evil.example:443", "not in allowedDomains");
        m.note("http", format_args!("allowed CONNECT ok.example:443"));
        let mut d = Monitor::new(false, true, Some(&path)).unwrap();
        d.note("socks", format_args!("allowed CONNECT a:1"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "[fence:http] blocked CONNECT evil.example:443: not in allowedDomains\n\
             [fence:socks] allowed CONNECT a:1\n"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
