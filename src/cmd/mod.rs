//! The bodies of fence's subcommands (`fence trust`, `fence doctor`, ...), apart from the
//! run itself.

pub mod doctor;
pub mod proxy_connect;
pub mod trust;
