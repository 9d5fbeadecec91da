//! The bodies of fence's subcommands (`fence trust`, ...), apart from the run itself.

pub mod trust;
