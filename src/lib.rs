//! fence: run a command in a sandbox that denies network access and writes except where
//! its configuration allows.
//!
//! The library surface mirrors the data flow: [`cli`] → [`config`] → [`policy`] → the
//! platform backend (`linux`, `macos`) driven by [`run`].

pub mod cli;
pub mod cmd;
pub mod config;
pub mod diagnostics;
pub mod error;
pub mod events;
pub mod exec;
pub mod host;
pub mod host_env;
#[cfg(test)]
mod layers;
#[cfg(target_os = "linux")]
pub mod linux;
// The macOS backend; its pure parts are built and tested on Linux too.
#[cfg(any(test, target_os = "macos"))]
pub mod macos;
pub mod output;
pub mod policy;
pub mod proxy;
pub mod sandbox_env;
pub mod shell;
pub mod sys;

pub use config::Config;
pub use error::{Error, Result};
pub use policy::Policy;
