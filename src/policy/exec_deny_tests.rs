//! Resolution of run-time denied names in temporary bin directories.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use super::*;
use crate::config::types::CommandRules;
use crate::policy::temp_tree::TempTree;

fn exe(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn rules(deny: &[&str], allow: &[&str], defaults: bool) -> CommandPolicy {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
    let r = CommandRules {
        deny: strings(deny),
        allow: strings(allow),
        use_defaults: Some(defaults),
        ..CommandRules::default()
    };
    crate::policy::command::compile(&r, |_, _| "cfg.json".into()).unwrap()
}

/// Resolves with only the tree's `dirs` (relative to it) as PATH, no system bin dirs.
fn run(
    t: &TempTree,
    dirs: &[&str],
    deny: &[&str],
    allow: &[&str],
    accept: &[&str],
) -> Result<Resolution> {
    let path = std::env::join_paths(dirs.iter().map(|d| t.0.join(d))).unwrap();
    let dirs = search_dirs(Some(&path), &t.0, &[]);
    let accept: Vec<String> = accept.iter().map(|s| s.to_string()).collect();
    resolve(&Names::new(&rules(deny, allow, false)), &dirs, &accept)
}

fn listed(dirs: &[SearchDir]) -> Vec<PathBuf> {
    dirs.iter().map(|d| d.path.clone()).collect()
}

fn masks(t: &TempTree, r: &Resolution) -> Vec<String> {
    t.rel(&r.masks)
}

#[test]
fn plain_files_on_path_are_masked_every_copy() {
    let t = TempTree::new("xd-plain");
    exe(&t.0.join("a/reboot"));
    exe(&t.0.join("b/reboot"));
    exe(&t.0.join("b/git"));
    let r = run(&t, &["a", "b"], &["reboot", "git push"], &[], &[]).unwrap();
    assert_eq!(masks(&t, &r), ["a/reboot", "b/reboot"], "{r:?}");
    assert!(r.warnings.is_empty(), "{r:?}");
    // A multi-word rule is preflight only; an absent name masks nothing.
    let r = run(&t, &["a", "b"], &["git push", "shutdown"], &[], &[]).unwrap();
    assert_eq!(r, Resolution::default());
}

#[test]
fn symlink_chains_mask_the_file_they_lead_to() {
    let t = TempTree::new("xd-chain");
    exe(&t.0.join("real/reboot"));
    std::fs::create_dir_all(t.0.join("bin")).unwrap();
    std::fs::create_dir_all(t.0.join("mid")).unwrap();
    symlink(t.0.join("real/reboot"), t.0.join("mid/reboot")).unwrap();
    symlink("../mid/reboot", t.0.join("bin/reboot")).unwrap();
    let r = run(&t, &["bin"], &["reboot"], &[], &[]).unwrap();
    assert_eq!(masks(&t, &r), ["real/reboot"]);
    // A symlinked directory on PATH is searched once (merged /usr: /bin is /usr/bin).
    symlink("real", t.0.join("alias")).unwrap();
    let dirs = search_dirs(
        Some(&std::env::join_paths([t.0.join("real"), t.0.join("alias")]).unwrap()),
        &t.0,
        &[],
    );
    assert_eq!(listed(&dirs), [t.0.join("real")]);
}

#[test]
fn a_link_to_a_file_of_another_denied_name_is_masked() {
    // mkfs.ext4 -> mke2fs, both denied (the default list's layout on Debian).
    let t = TempTree::new("xd-samefamily");
    exe(&t.0.join("sbin/mke2fs"));
    symlink("mke2fs", t.0.join("sbin/mkfs.ext4")).unwrap();
    let r = run(&t, &["sbin"], &["mke2fs", "mkfs.ext4"], &[], &[]).unwrap();
    assert_eq!(masks(&t, &r), ["sbin/mke2fs"]);
    // Only mkfs.ext4 denied: mke2fs would be blocked too, so it is an error.
    let err = run(&t, &["sbin"], &["mkfs.ext4"], &[], &[]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("\"mke2fs\"") && text.contains(ACCEPT_KEY),
        "{text}"
    );
    assert!(
        matches!(&err, Error::ConfigValue { value: Some(v), .. } if v == "mkfs.ext4"),
        "{err:?}"
    );
}

#[test]
fn hard_links_all_denied_are_all_masked_else_shared() {
    let t = TempTree::new("xd-hard");
    exe(&t.0.join("sbin/mke2fs"));
    for n in ["mkfs.ext2", "mkfs.ext4"] {
        std::fs::hard_link(t.0.join("sbin/mke2fs"), t.0.join("sbin").join(n)).unwrap();
    }
    let all = ["mke2fs", "mkfs.ext2", "mkfs.ext4"];
    let r = run(&t, &["sbin"], &all, &[], &[]).unwrap();
    assert_eq!(
        masks(&t, &r),
        ["sbin/mke2fs", "sbin/mkfs.ext2", "sbin/mkfs.ext4"]
    );
    // A link fence cannot see (another name, elsewhere): the file is shared.
    std::fs::create_dir_all(t.0.join("lib")).unwrap();
    std::fs::hard_link(t.0.join("sbin/mke2fs"), t.0.join("lib/other")).unwrap();
    let err = run(&t, &["sbin"], &all, &[], &[]).unwrap_err().to_string();
    assert!(err.contains("4 hard links and only 3"), "{err}");
    let r = run(
        &t,
        &["sbin"],
        &all,
        &[],
        &["mke2fs", "mkfs.ext2", "mkfs.ext4"],
    )
    .unwrap();
    assert!(r.masks.is_empty(), "{r:?}");
    assert_eq!(r.warnings.len(), 3, "{r:?}");
}

#[test]
fn busybox_layouts_are_shared() {
    let t = TempTree::new("xd-busybox");
    exe(&t.0.join("bin/busybox"));
    for n in ["chroot", "ls", "cat", "sh"] {
        symlink("busybox", t.0.join("bin").join(n)).unwrap();
    }
    let err = run(&t, &["bin"], &["chroot"], &[], &[]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("command.deny: \"chroot\" cannot be denied at run time")
            && text.contains("busybox")
            && text.contains("multicall")
            && text.contains(&format!("Add \"chroot\" to {ACCEPT_KEY}")),
        "{text}"
    );
    // Accepted: left executable, with a warning naming it.
    let r = run(&t, &["bin"], &["chroot"], &[], &["chroot"]).unwrap();
    assert!(r.masks.is_empty());
    assert_eq!(r.warnings.len(), 1, "{r:?}");
    assert!(
        r.warnings[0].contains("\"chroot\" stays executable") && r.warnings[0].contains(ACCEPT_KEY),
        "{r:?}"
    );
    // Accepting by a path compares the basename (as the Go fence does).
    assert!(run(&t, &["bin"], &["chroot"], &[], &["/sbin/chroot"]).is_ok());
    // Hard-linked busybox (one inode, many names).
    let h = TempTree::new("xd-busybox-hard");
    exe(&h.0.join("bin/busybox"));
    std::fs::hard_link(h.0.join("bin/busybox"), h.0.join("bin/chroot")).unwrap();
    let err = run(&h, &["bin"], &["chroot"], &[], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 hard links and only 1"), "{err}");
}

#[test]
fn the_default_list_is_not_masked() {
    let t = TempTree::new("xd-default");
    exe(&t.0.join("bin/systemctl"));
    symlink("systemctl", t.0.join("bin/reboot")).unwrap();
    exe(&t.0.join("bin/nsenter"));
    let path = std::env::join_paths([t.0.join("bin")]).unwrap();
    let dirs = search_dirs(Some(&path), &t.0, &[]);
    // The default list is checked before the run only: nothing is masked for it.
    let names = Names::new(&rules(&[], &[], true));
    assert!(names.is_empty());
    assert_eq!(resolve(&names, &dirs, &[]).unwrap(), Resolution::default());
    // The same names written in command.deny are the user's rules: masked, or, for a
    // shared file, an error.
    let r = resolve(&Names::new(&rules(&["nsenter"], &[], true)), &dirs, &[]).unwrap();
    assert_eq!(masks(&t, &r), ["bin/nsenter"]);
    let err = resolve(&Names::new(&rules(&["reboot"], &[], true)), &dirs, &[]).unwrap_err();
    assert!(err.to_string().contains("systemctl"), "{err}");
}

#[test]
fn allowed_names_are_never_masked() {
    let t = TempTree::new("xd-allow");
    exe(&t.0.join("bin/git"));
    exe(&t.0.join("bin/mke2fs"));
    symlink("mke2fs", t.0.join("bin/mkfs.ext4")).unwrap();
    // An allow rule naming the program (even with arguments) keeps it executable.
    let r = run(&t, &["bin"], &["git"], &["git status"], &[]).unwrap();
    assert_eq!(r, Resolution::default());
    // A file an allowed name also reaches is not masked: a warning says why.
    let r = run(&t, &["bin"], &["mke2fs"], &["mkfs.ext4"], &[]).unwrap();
    assert!(r.masks.is_empty(), "{r:?}");
    assert!(
        r.warnings[0].contains("which command.allow allows"),
        "{r:?}"
    );
}

#[test]
fn path_entries_missing_relative_empty_and_directories() {
    let t = TempTree::new("xd-entries");
    exe(&t.0.join("rel/reboot"));
    exe(&t.0.join("cwdtool"));
    std::fs::create_dir_all(t.0.join("dirs/reboot")).unwrap(); // a name that is a directory
    std::fs::write(t.0.join("dirs/halt"), "").unwrap(); // not executable
    let path = std::ffi::OsString::from(format!(
        "{}:rel::{}:/nonexistent/dir",
        t.0.join("dirs").display(),
        t.0.join("missing").display()
    ));
    let dirs = search_dirs(Some(&path), &t.0, &[]);
    assert_eq!(
        listed(&dirs),
        [t.0.join("dirs"), t.0.join("rel"), t.0.clone()]
    );
    let accept: [String; 0] = [];
    let names = Names::new(&rules(&["reboot", "halt", "cwdtool"], &[], false));
    let r = resolve(&names, &dirs, &accept).unwrap();
    assert_eq!(masks(&t, &r), ["cwdtool", "rel/reboot"]);
    // No PATH at all: only the bin directories given.
    assert!(search_dirs(None, &t.0, &[]).is_empty());
}

#[test]
fn rules_written_as_paths_and_odd_names() {
    let t = TempTree::new("xd-paths");
    exe(&t.0.join("opt/tool"));
    exe(&t.0.join("bin/tool"));
    let deny = t.0.join("opt/tool").display().to_string();
    let r = run(&t, &["bin"], &[&deny, ".", "..", "/"], &[], &[]).unwrap();
    assert_eq!(masks(&t, &r), ["bin/tool", "opt/tool"]);
}

/// `cargo test --release --lib exec_deny_speed -- --ignored --nocapture`: the resolution
/// with the default list on this host's PATH.
#[test]
#[ignore]
fn exec_deny_speed() {
    let names = Names::new(&rules(&[], &[], true));
    let path = std::env::var_os("PATH");
    let cwd = std::env::current_dir().unwrap();
    let (mut times, mut search, mut masks) = (Vec::new(), Vec::new(), 0);
    for _ in 0..200 {
        let start = std::time::Instant::now();
        let dirs = search_dirs(path.as_deref(), &cwd, BIN_DIRS);
        search.push(start.elapsed().as_secs_f64() * 1e3);
        let r = resolve(&names, &dirs, &[]).unwrap();
        times.push(start.elapsed().as_secs_f64() * 1e3);
        masks = r.masks.len();
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    search.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "resolution: median {:.3} ms, p10 {:.3} ms ({masks} masks; opening the {} directories: \
         median {:.3} ms)",
        times[100],
        times[20],
        search_dirs(path.as_deref(), &cwd, BIN_DIRS).len(),
        search[100]
    );
}
