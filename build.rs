//! Records the git commit for `fence --version` when building from a checkout, and passes
//! a packager's fixed bwrap path (`FENCE_BWRAP_PATH`) on to the compiler.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    // Read by src/linux/mod.rs with option_env!: a trusted location looked at after
    // /usr/bin/bwrap and /bin/bwrap, before PATH. Must be absolute.
    println!("cargo:rerun-if-env-changed=FENCE_BWRAP_PATH");
    if let Some(path) = std::env::var_os("FENCE_BWRAP_PATH").filter(|p| !p.is_empty()) {
        let path = std::path::PathBuf::from(path);
        if !path.is_absolute() {
            panic!("FENCE_BWRAP_PATH must be an absolute path, not {path:?}");
        }
        println!("cargo:rustc-env=FENCE_BWRAP_PATH={}", path.display());
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(commit) = commit {
        println!("cargo:rustc-env=FENCE_GIT_COMMIT={commit}");
    }
}
