//! fence's integration tests, in one binary: the built fence under real bubblewrap,
//! checked from the host side. Each module covers one area; `util` is the shared harness.
// These run the Linux backend (bubblewrap, namespaces): Linux only.
#![cfg(target_os = "linux")]

#[macro_use]
mod util;

mod commands;
mod config;
mod events;
mod exec_checks;
mod exec_deny;
mod filesystem;
mod hardening;
mod launch;
mod monitor;
mod network;
mod process;
mod proxy;
mod self_protection;
mod ssh;
mod summary;
mod terminal;
mod tmp;
mod unix_sockets;
