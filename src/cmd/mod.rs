//! What fence does once the command line is parsed: a sandboxed run (`run`), and the
//! bodies of its subcommands (`fence trust`, `fence learn`, `fence doctor`, `--proxy-connect`).

pub mod doctor;
pub mod learn;
pub mod proxy_connect;
pub mod run;
pub mod trust;
