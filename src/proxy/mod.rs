//! The network proxies the sandbox reaches the outside through: an HTTP proxy (CONNECT and
//! absolute-form requests) and a SOCKS5 proxy, served by the host fence's event loop on
//! listeners bound inside the sandbox's network namespace.

pub mod conn;
pub mod connect_helper;
pub mod env;
pub mod forward;
#[cfg(test)]
mod fuzz_rng;
pub mod guard;
pub mod http;
pub mod read;
pub mod resolve;
pub mod server;
pub mod socks5;
pub mod sys;
pub mod tunnel;
