//! `fence --proxy-connect HOST PORT`: the ssh `ProxyCommand` helper used inside the
//! sandbox. The relay itself is [`crate::proxy::connect_helper`].

use std::ffi::OsString;

use crate::error::Result;
use crate::exec::Outcome;

/// Relays stdin/stdout to HOST:PORT through `$ALL_PROXY`; its exit status is the helper's.
pub fn execute(args: &[OsString]) -> Result<Outcome> {
    Ok(Outcome::Exited(crate::proxy::connect_helper::main(args)))
}
