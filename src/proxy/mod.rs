//! The network proxies the sandbox reaches the outside through: an HTTP proxy (CONNECT and
//! absolute-form requests) and a SOCKS5 proxy, served by the host fence's event loop on
//! listeners bound inside the sandbox's network namespace.

#[cfg(target_os = "linux")]
pub mod conn;
pub mod connect_helper;
pub mod env;
#[cfg(target_os = "linux")]
pub mod forward;
#[cfg(test)]
mod fuzz_rng;
pub mod guard;
pub mod http;
#[cfg(target_os = "linux")]
pub mod read;
pub mod resolve;
#[cfg(target_os = "linux")]
pub mod server;
pub mod socks5;
#[cfg(target_os = "linux")]
pub mod sys;
#[cfg(target_os = "linux")]
pub mod tunnel;
