//! fence's own diagnostics — `-d` notes and warnings — go through the `log` facade
//! (`log::warn!`, `log::debug!`) to stderr as `fence: warning: …` and `fence: debug: …`
//! lines, without timestamps or module names.
//!
//! Warnings are always shown; `-d` shows the debug notes too. `FENCE_LOG` refines either,
//! with `env_logger`'s filter syntax: `FENCE_LOG=fence::proxy=debug` shows the proxies'
//! notes alone, `FENCE_LOG=error` hides warnings. It is read after `-d`, so it wins.
//!
//! The `-m` event stream is not a log: it is the product's output ([`crate::events`]).

use std::io::Write as _;

/// The variable that refines which diagnostics are shown.
pub const FILTER_VAR: &str = "FENCE_LOG";

/// Installs the logger. Called once, by `main`; a second call changes nothing.
pub fn init(debug: bool) {
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(if debug {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Warn
        })
        .format(|out, record| writeln!(out, "fence: {}{}", prefix(record.level()), record.args()))
        .write_style(env_logger::WriteStyle::Never);
    if let Some(filter) = std::env::var(FILTER_VAR).ok().filter(|f| !f.is_empty()) {
        builder.parse_filters(&filter);
    }
    let _ = builder.try_init();
}

fn prefix(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "error: ",
        log::Level::Warn => "warning: ",
        log::Level::Info => "",
        log::Level::Debug => "debug: ",
        log::Level::Trace => "trace: ",
    }
}
