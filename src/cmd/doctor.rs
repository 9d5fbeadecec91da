//! `fence doctor` (also `fence --linux-features`): what this machine offers the sandbox.

use crate::error::Result;
use crate::exec::Outcome;

/// Prints the report; exits 0 when full isolation is available, 1 otherwise.
#[cfg(target_os = "linux")]
pub fn execute() -> Result<Outcome> {
    use crate::linux::features;
    let found = features::probe();
    crate::output::stdout(&features::report(&found));
    Ok(Outcome::Exited(match features::verdict(&found) {
        features::Verdict::Full => 0,
        _ => 1,
    }))
}

#[cfg(not(target_os = "linux"))]
pub fn execute() -> Result<Outcome> {
    crate::output::stdout("Linux sandbox features are only available on Linux.\n");
    Ok(Outcome::Exited(0))
}
