//! The macOS backend (issue 14): the Seatbelt profile generated from the compiled policy
//! ([`profile`]), run with `sandbox-exec` as a backend of the shared host loop ([`exec`]),
//! the proxies on host loopback ([`network`]) and `-m` from `log stream` ([`logstream`]).
//! Everything but the final spawn is built and tested on every platform; the Mac-only
//! edges (a kqueue watching the exec, the suspended spawn) are behind
//! `cfg(target_vendor = "apple")`.

mod command;
pub mod exec;
pub mod extras;
mod files;
pub mod logstream;
pub mod network;
pub mod profile;
mod regex;
pub mod run;
mod sbpl;
mod sys;
mod system;

pub use sys::{cloexec_from, fd_is_open};

#[cfg(test)]
mod tests;
