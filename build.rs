//! Records the git commit for `fence --version` when building from a checkout, passes a
//! packager's fixed bwrap path (`FENCE_BWRAP_PATH`) on to the compiler, and links libgcc's
//! unwinder statically where the C toolchain has it ([`link_unwinder_statically`]).

use std::process::Command;

fn main() {
    link_unwinder_statically();
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

/// Rust's standard library links libgcc_s.so.1 for its unwinder (backtraces; fence itself
/// aborts on panic). Loading it costs every fence process about 0.07 ms of dynamic linking
/// on the development VM, and every run starts two (fence, and its init in the sandbox).
/// The same unwinder exists as an archive, libgcc_eh.a (what `gcc -static-libgcc` links):
/// a `libgcc_s.so` linker script in a directory searched first makes `-lgcc_s` resolve to
/// it, so the binary needs only libc (and grows by about 24 KiB).
///
/// Only for a native `*-linux-gnu` build whose C compiler (`$CC`, else `cc`) names an
/// existing libgcc_eh.a; otherwise (a cross build, clang without gcc's runtime, a static
/// build, `FENCE_DYNAMIC_LIBGCC=1`) the usual dynamic link is left alone.
fn link_unwinder_statically() {
    println!("cargo:rerun-if-env-changed=FENCE_DYNAMIC_LIBGCC");
    println!("cargo:rerun-if-env-changed=CC");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let native_gnu = var("TARGET") == var("HOST") && var("TARGET").ends_with("-linux-gnu");
    let static_crt = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if !native_gnu || static_crt || !var("FENCE_DYNAMIC_LIBGCC").is_empty() {
        return;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let Some(archive) = Command::new(&cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| std::path::PathBuf::from(s.trim()))
        // Without the archive, the compiler prints the bare name back.
        .filter(|path| path.is_absolute() && path.is_file())
        // Quoted in the script; a quote in the path itself cannot be.
        .filter(|path| !path.to_string_lossy().contains('"'))
    else {
        return;
    };
    let out_dir = std::path::PathBuf::from(var("OUT_DIR")).join("static-libgcc");
    std::fs::create_dir_all(&out_dir).expect("OUT_DIR is writable");
    let script = format!("INPUT(\"{}\")\n", archive.display());
    std::fs::write(out_dir.join("libgcc_s.so"), script).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search=native={}", out_dir.display());
}
