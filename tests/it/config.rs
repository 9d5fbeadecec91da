//! Config files, discovery, extends, templates, trust and the command line, end to end.

use crate::util;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use util::{Sandbox, User};

#[test]
fn jsonc_comments_and_trailing_commas() {
    let sb = Sandbox::new(User::Current);
    let cfg = sb.config(
        "cfg.jsonc",
        "// a comment\n{\n  /* block */\n  \"filesystem\": {\n    \"allowWrite\": [\".\",], // trailing\n  },\n}\n",
    );
    sb.fence().sh(&cfg, "touch made-it").run().ok();
    assert!(sb.ws.join("made-it").exists());
}

#[test]
fn invalid_configs_name_file_line_column_and_key() {
    let sb = Sandbox::new(User::Current);
    let cases = [
        (
            "{\n  \"filesystem\": {\n    \"allowWrites\": [\".\"]\n  }\n}\n",
            ":3:17: filesystem.allowWrites: unknown field `allowWrites`",
        ),
        (
            "{\"filesystem\": {\"allowWrite\": \".\"}}",
            ":1:33: filesystem.allowWrite: invalid type: string \".\", expected a sequence",
        ),
        (
            "{\n  \"devices\": {\"mode\": \"everything\"}\n}",
            ":2:34: devices.mode: unknown variant `everything`",
        ),
        (
            "{\"filesystem\": {\"allowWrite\": [\".\"]",
            ":1:35: unexpected end of file: the { at 1:16 (filesystem) is not closed",
        ),
        // A file cut short after a line break: a real column, what is left open.
        (
            "{\n  \"filesystem\": {\n    \"allowWrite\": [\n      \".\"\n",
            ":4:9: unexpected end of file: the [ at 3:19 (filesystem.allowWrite) is not closed",
        ),
        // A bad list entry is located at the entry, not where its object ends.
        (
            "{\n  \"network\": {\n    \"allowedDomains\": [\n      \"example.com\",\n      \
             \"*.com\"\n    ]\n  }\n}\n",
            ":5:13: network.allowedDomains[1]: \"*.com\": wildcard pattern too broad",
        ),
        (
            "{\"network\": {\"allowLocalOutboundPorts\": [\n  5432,\n  99999\n]}}",
            ":3:7: network.allowLocalOutboundPorts[1]: port 99999 is out of range",
        ),
        // Checked when the policy is compiled, still located at the entry or value.
        (
            "{\"filesystem\": {\"allowWrite\": [\".\",\n    \"src/[\"]}}",
            ":2:5: filesystem.allowWrite[1]: \"src/[\": invalid pattern",
        ),
        (
            "{\"filesystem\": {\"denyRead\": [\n  \"/\"\n]}}",
            ":2:3: filesystem.denyRead[0]: / is refused: masking / would hide",
        ),
        (
            "{\"network\": {\n  \"socksProxyPort\": 3128\n}}",
            ":2:21: network.socksProxyPort: 3128 is also the HTTP proxy port",
        ),
    ];
    for (text, expected) in cases {
        let cfg = sb.config("bad.json", text);
        let r = sb.fence().sh(&cfg, "true").run();
        r.code(125);
        let line = format!("fence: {}{expected}", cfg.display());
        assert!(r.stderr.starts_with(&line), "want {line}\n{r}");
    }
    sb.fence()
        .args(["-s", "missing.json", "true"])
        .run()
        .code(125)
        .stderr_has("settings file not found");
}

#[test]
fn empty_configs_are_errors() {
    let sb = Sandbox::new(User::Current);
    for (text, what) in [
        ("", "is empty"),
        ("\n  // nothing yet\n", "has only comments"),
    ] {
        let cfg = sb.config("empty.json", text);
        let r = sb.fence().sh(&cfg, "true").run();
        r.code(125);
        let line = format!(
            "fence: {}: the config {what}: it must be a JSON object (`{{}}` is a config that \
             allows nothing)\n",
            cfg.display()
        );
        assert_eq!(r.stderr, line, "{r}");
    }
    // The same for a discovered project config and for a file it extends.
    sb.config("fence.json", "");
    sb.fence()
        .arg("true")
        .run()
        .code(125)
        .stderr_has("fence.json: the config is empty");
    sb.config("base.json", " ");
    let top = sb.config("top.json", r#"{"extends": "./base.json"}"#);
    sb.fence()
        .sh(&top, "true")
        .run()
        .code(125)
        .stderr_has("base.json: the config is empty");
}

#[test]
fn extends_chain_cycle_and_base() {
    let sb = Sandbox::new(User::Current);
    sb.mkdir(&sb.ws.join("out"));
    sb.mkdir(&sb.ws.join("logs"));
    sb.config("base.json", r#"{"filesystem": {"allowWrite": ["out"]}}"#);
    sb.config(
        "mid.json",
        r#"{"extends": "./base.json", "filesystem": {"allowWrite": ["logs"]}}"#,
    );
    let top = sb.config("top.json", r#"{"extends": "./mid.json"}"#);
    sb.fence().sh(&top, "touch out/a logs/b").run().ok();
    assert!(sb.ws.join("out/a").exists() && sb.ws.join("logs/b").exists());

    sb.config("c1.json", r#"{"extends": "./c2.json"}"#);
    let c2 = sb.config("c2.json", r#"{"extends": "./c1.json"}"#);
    sb.fence()
        .sh(&c2, "true")
        .run()
        .code(125)
        .stderr_has("circular extends");

    let tmpl = sb.config("tmpl.json", r#"{"extends": "workspace-write"}"#);
    sb.fence().sh(&tmpl, "touch via-template").run().ok();
    assert!(sb.ws.join("via-template").exists());

    // @base pulls in the user's own config.
    sb.write(
        &sb.home.join(".config/fence/fence.json"),
        r#"{"filesystem": {"allowWrite": ["logs"]}}"#,
    );
    let based = sb.config(
        "based.json",
        r#"{"extends": "@base", "filesystem": {"allowWrite": ["out"]}}"#,
    );
    sb.fence().sh(&based, "touch out/c logs/d").run().ok();
    assert!(sb.ws.join("logs/d").exists());
    let unbased = sb.config("unbased.json", r#"{"filesystem": {"allowWrite": ["out"]}}"#);
    sb.fence().sh(&unbased, "touch logs/e").run().failed();
    sb.write(
        &sb.home.join(".config/fence/fence.json"),
        r#"{"extends": "@base"}"#,
    );
    sb.fence()
        .args(["true"])
        .run()
        .code(125)
        .stderr_has("circular extends");
}

#[test]
fn extends_deeper_than_ten_is_an_error() {
    let sb = Sandbox::new(User::Current);
    for i in 0..12 {
        sb.config(
            &format!("c{i}.json"),
            &format!(r#"{{"extends": "./c{}.json"}}"#, i + 1),
        );
    }
    sb.config("c12.json", "{}");
    let deep = sb.ws.join("c0.json");
    sb.fence()
        .sh(&deep, "true")
        .run()
        .code(125)
        .stderr_has("extends chain too deep (max 10)");
    let ok = sb.ws.join("c2.json");
    sb.fence().sh(&ok, "true").run().ok();
}

#[test]
fn user_config_applies_without_trust() {
    let sb = Sandbox::new(User::Current);
    sb.write(
        &sb.home.join(".config/fence/fence.jsonc"),
        "// mine\n{\"filesystem\": {\"allowWrite\": [\".\"]}}",
    );
    sb.fence().args(["touch", "by-user-config"]).run().ok();
    assert!(sb.ws.join("by-user-config").exists());
}

#[test]
fn discovered_project_config_needs_trust() {
    let sb = Sandbox::new(User::Current);
    let sub = sb.ws.join("sub");
    sb.mkdir(&sub);
    let project = sb.config("fence.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let run_in_sub = |args: &[&str]| {
        let mut cmd = sb.fence();
        cmd.cmd.current_dir(&sub);
        cmd.args(args).run()
    };
    // Nothing trusted yet: the list says so, on the stream the list goes to.
    let empty = "no project config is trusted (`fence trust` in a project trusts its config)\n";
    let r = sb.fence().args(["trust", "--list"]).run();
    r.ok();
    assert_eq!(r.stdout, empty, "{r}");
    // Untrusted: refused, and the message says what it would grant and how to trust it.
    let r = run_in_sub(&["touch", "x"]);
    r.code(125)
        .stderr_has("not trusted")
        .stderr_has(&format!("write access to {}", sub.display()))
        .stderr_has("fence trust");
    assert!(!sub.join("x").exists());
    // Trusted: applies (relative paths are relative to the working directory).
    let r = sb.fence().args(["trust", project.to_str().unwrap()]).run();
    r.ok().stderr_has("trusted");
    run_in_sub(&["touch", "x"]).ok();
    assert!(sub.join("x").exists());
    sb.fence()
        .args(["trust", "--list"])
        .run()
        .ok()
        .stdout_has("fence.json\ttrusted")
        .stdout_lacks("no project config");
    // Edited: refused again until re-trusted.
    sb.write(
        &project,
        r#"{"filesystem": {"allowWrite": [".", "/var/tmp"]}}"#,
    );
    // The refusal says what the change grants, compared with the trusted version.
    run_in_sub(&["true"]).code(125).stderr_has(&format!(
        "{}: project config has changed since it was trusted ({} changed); compared with \
             the trusted version it newly grants write access to /var/tmp. Beyond your own \
             config it would grant write access to /var/tmp. Review it",
        project.display(),
        project.display(),
    ));
    sb.fence()
        .args(["trust", "--list"])
        .run()
        .ok()
        .stdout_has("changed since trusted");
    // `fence trust` without a file trusts the discovered one.
    let mut cmd = sb.fence();
    cmd.cmd.current_dir(&sub);
    cmd.arg("trust").run().ok();
    run_in_sub(&["true"]).ok();
    // Revoked: refused again.
    sb.fence()
        .args(["trust", "--revoke", project.to_str().unwrap()])
        .run()
        .ok();
    run_in_sub(&["true"]).code(125).stderr_has("is not trusted");
    let r = sb.fence().args(["trust", "--list"]).run();
    r.ok();
    assert_eq!(r.stdout, empty, "{r}");
    // -s is explicit consent.
    sb.fence()
        .args(["-s", project.to_str().unwrap(), "true"])
        .run()
        .ok();
}

/// `fence trust` names the directories a run will create (a missing `~/.npm`) among what
/// the file grants: they are not in the compiled policy until they exist.
#[test]
fn trust_names_directories_a_run_creates() {
    let sb = Sandbox::new(User::Current);
    let project = sb.config(
        "fence.json",
        r#"{"filesystem": {"allowWrite": ["~/.npm"]}}"#,
    );
    let npm = sb.home.join(".npm");
    let r = sb.fence().args(["trust", project.to_str().unwrap()]).run();
    r.ok()
        .stderr_has(&format!("write access to {}", npm.display()))
        .stderr_lacks("nothing beyond the default");
    assert!(!npm.exists(), "trusting creates nothing");
    sb.fence().args(["sh", "-c", "touch ~/.npm/x"]).run().ok();
    assert!(npm.join("x").exists());
}

#[test]
fn project_config_that_only_narrows_needs_no_trust() {
    let sb = Sandbox::new(User::Current);
    sb.write(&sb.ws.join("secret.txt"), "TOPSECRET\n");
    sb.config(
        "fence.json",
        r#"{"filesystem": {"denyRead": ["secret.txt"], "denyWrite": ["."]}}"#,
    );
    sb.fence()
        .args(["-c", "cat secret.txt; echo done"])
        .run()
        .ok()
        .stdout_lacks("TOPSECRET")
        .stdout_has("done");
}

/// An untrusted project config that only narrows applies on top of the user's own config:
/// it cannot drop the user's deny rules.
#[test]
fn untrusted_narrowing_config_keeps_the_user_config() {
    let sb = Sandbox::new(User::Current);
    sb.write(&sb.ws.join("secret.txt"), "TOPSECRET\n");
    sb.mkdir(&sb.ws.join("out"));
    sb.write(
        &sb.home.join(".config/fence/fence.json"),
        &format!(
            r#"{{"filesystem": {{"denyRead": ["{}"], "allowWrite": ["out"]}}}}"#,
            sb.ws.join("secret.txt").display()
        ),
    );
    sb.config(
        "fence.json",
        r#"{"filesystem": {"denyWrite": ["out/locked"]}}"#,
    );
    let r = sb
        .fence()
        .args(["-c", "cat secret.txt; touch out/still-writable; echo done"])
        .run();
    r.ok().stdout_lacks("TOPSECRET").stdout_has("done");
    assert!(
        sb.ws.join("out/still-writable").exists(),
        "the user's allowWrite stays too"
    );
}

#[test]
fn project_config_extending_a_changed_file_is_untrusted() {
    let sb = Sandbox::new(User::Current);
    sb.config("shared.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    sb.config("fence.json", r#"{"extends": "./shared.json"}"#);
    sb.fence().arg("trust").run().ok().stderr_has("shared.json");
    sb.fence().arg("true").run().ok();
    sb.config(
        "shared.json",
        r#"{"filesystem": {"allowWrite": [".", "/var"]}}"#,
    );
    sb.fence()
        .arg("true")
        .run()
        .code(125)
        .stderr_has("changed since it was trusted");
}

#[test]
fn templates() {
    let sb = Sandbox::new(User::Current);
    sb.fence()
        .arg("--list-templates")
        .run()
        .ok()
        .stdout_has("workspace-write")
        .stdout_has("default");
    sb.write(&sb.ws.join(".env"), "KEY=1\n");
    sb.fence()
        .args([
            "-t",
            "workspace-write",
            "-c",
            "touch ok && echo KEY=2 > .env",
        ])
        .run()
        .failed();
    assert!(sb.ws.join("ok").exists());
    assert_eq!(
        std::fs::read_to_string(sb.ws.join(".env")).unwrap(),
        "KEY=1\n"
    );
    sb.fence()
        .args(["-t", "nope", "true"])
        .run()
        .code(125)
        .stderr_has("template \"nope\" not found");
}

#[test]
fn command_line_errors() {
    let sb = Sandbox::new(User::Current);
    let r = sb.fence().args(["--frobnicate", "true"]).run();
    r.code(125)
        .stderr_has("fence: unknown option '--frobnicate'");
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    sb.fence()
        .args(["-s", "a.json", "-t", "workspace-write", "true"])
        .run()
        .code(125)
        .stderr_has("cannot be combined");
    // No command: one `fence:` line, then the usage lines.
    let r = sb.fence().run();
    r.code(125);
    let mut lines = r.stderr.lines();
    assert_eq!(
        lines.next(),
        Some("fence: no command given (see fence --help)"),
        "{r}"
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("Usage: fence ")),
        "{r}"
    );
    assert!(lines.all(|l| l.starts_with("       fence ")), "{r}");
    // An argument with a line break stays on the one `fence:` line.
    let r = sb.fence().args(["--bad\noption", "true"]).run();
    r.code(125)
        .stderr_has("fence: unknown option '--bad\\noption'");
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    // --help and --version work even with a broken config around.
    sb.config("fence.json", "{ broken");
    sb.fence()
        .arg("--help")
        .run()
        .ok()
        .stdout_has("Usage: fence");
    sb.fence().arg("--version").run().ok().stdout_has("fence ");
    sb.fence().arg("true").run().code(125);
}

/// A uid that is neither root nor the uid fence runs as in these tests.
const OTHER_UID: u32 = 4242;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).unwrap();
}

fn run_in(sb: &Sandbox, dir: &Path, args: &[&str]) -> util::Run {
    let mut cmd = sb.fence();
    cmd.cmd.current_dir(dir);
    cmd.args(args).run()
}

/// Discovery ignores a `fence.json` that another user owns (here in a world-writable
/// sticky directory above the working directory, where any account can create one) or
/// that others can write: with a note under -d when the user's own config applies
/// instead, with an error naming the file and the reason when it would have been the only
/// config. A root-owned file in the sticky directory is accepted.
fn discovery_ignores_files_of_other_users(user: User) {
    if !util::is_root() {
        eprintln!(
            "discovery_ignores_files_of_other_users: not root, cannot create files of other \
             uids; checking the mode rule only"
        );
        let sb = Sandbox::new(user);
        let own = sb.ws.join("fence.json");
        sb.write(&own, r#"{"filesystem": {"denyWrite": ["."]}}"#);
        chmod(&own, 0o666);
        let r = run_in(&sb, &sb.ws, &["touch", "made"]);
        r.code(125).stderr_has("writable by others");
        chmod(&own, 0o644);
        run_in(&sb, &sb.ws, &["touch", "made"]).failed();
        assert!(!sb.ws.join("made").exists(), "the 0644 file applies");
        return;
    }
    let sb = Sandbox::new(user);
    let shared = sb.root.join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let ws = shared.join("project");
    sb.mkdir(&ws);
    let foreign = shared.join("fence.json");
    // If it applied, this narrowing config would make the working directory read-only.
    std::fs::write(&foreign, r#"{"filesystem": {"denyWrite": ["."]}}"#).unwrap();
    chown(&foreign, OTHER_UID);
    chmod(&foreign, 0o644);

    let r = run_in(&sb, &ws, &["touch", "made"]);
    r.code(125)
        .stderr_has(&foreign.display().to_string())
        .stderr_has(&format!("owned by uid {OTHER_UID}"))
        .stderr_has("not applied");
    assert!(!ws.join("made").exists());

    // With a config of the user's own, the foreign file is ignored (said under -d).
    sb.write(
        &sb.home.join(".config/fence/fence.json"),
        r#"{"filesystem": {"allowWrite": ["."]}}"#,
    );
    let r = run_in(&sb, &ws, &["-d", "touch", "made"]);
    r.ok().stderr_has("ignored").stderr_has("owned by uid");
    assert!(
        ws.join("made").exists(),
        "the foreign denyWrite did not apply"
    );

    // The user's own file, but writable by everyone, or by a group other than the user's
    // private one (uid = gid here, for root and uid 65534 alike): ignored too.
    let own = ws.join("fence.json");
    sb.write(&own, r#"{"filesystem": {"denyWrite": ["."]}}"#);
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&own).unwrap());
    for (mode, group, name) in [(0o666, owner, "everyone"), (0o664, OTHER_UID, "group")] {
        std::os::unix::fs::chown(&own, None, Some(group)).unwrap();
        chmod(&own, mode);
        let r = run_in(&sb, &ws, &["-d", "touch", &format!("made-{name}")]);
        r.ok().stderr_has("writable by");
        assert!(ws.join(format!("made-{name}")).exists());
    }
    // Writable by the user's private group (umask 002): applies.
    std::os::unix::fs::chown(&own, None, Some(owner)).unwrap();
    chmod(&own, 0o664);
    run_in(&sb, &ws, &["touch", "made-664"]).failed();
    assert!(
        !ws.join("made-664").exists(),
        "the user's own 0664 file of its private group applies"
    );
    chmod(&own, 0o644);
    run_in(&sb, &ws, &["touch", "made-644"]).failed();
    assert!(
        !ws.join("made-644").exists(),
        "the user's own 0644 file applies"
    );
    std::fs::remove_file(&own).unwrap();

    // Owned by root in the sticky directory: accepted (root may own configs, and the
    // sticky bit stops other users from replacing it).
    chown(&foreign, 0);
    run_in(&sb, &ws, &["touch", "made-root"]).failed();
    assert!(
        !ws.join("made-root").exists(),
        "the root-owned config applies"
    );
}

fn fnv_record_name(path: &Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}.json")
}

/// A trust record holds for the exact file it was made for: not for the same content at
/// another path (a record copied and adjusted, as a sandboxed run could forge it), not
/// for a file recreated with the same content (a new inode), and records that are not
/// private regular files of the user, or a store others can write, do not count.
fn trust_records_are_bound_to_the_file(user: User) {
    let sb = Sandbox::new(user);
    let text = r#"{"filesystem": {"allowWrite": ["."]}}"#;
    let project = sb.config("fence.json", text);
    sb.fence().args(["trust"]).run().ok();
    sb.fence().args(["touch", "trusted-run"]).run().ok();
    assert!(sb.ws.join("trusted-run").exists());
    let store = sb.home.join(".local/share/fence/trusted");
    let record = store.join(fnv_record_name(&project));
    assert!(record.is_file(), "record at {}", record.display());

    // Another project with the same content, and the record copied over to it with its
    // paths adjusted.
    let other = sb.root.join("other");
    sb.mkdir(&other);
    let other_project = other.join("fence.json");
    sb.write(&other_project, text);
    let forged = std::fs::read_to_string(&record).unwrap().replace(
        &*project.to_string_lossy(),
        &other_project.to_string_lossy(),
    );
    let forged_file = store.join(fnv_record_name(&other_project));
    sb.write(&forged_file, &forged);
    chmod(&forged_file, 0o600);
    let r = run_in(&sb, &other, &["touch", "forged-run"]);
    r.code(125).stderr_has("another file");
    assert!(!other.join("forged-run").exists());

    // The trusted file replaced by a new one with the same content.
    let tmp = sb.ws.join("fence.json.new");
    sb.write(&tmp, text);
    std::fs::rename(&tmp, &project).unwrap();
    let r = sb.fence().args(["touch", "replaced-run"]).run();
    r.code(125).stderr_has("another file");
    assert!(!sb.ws.join("replaced-run").exists());
    sb.fence().args(["trust"]).run().ok();
    sb.fence().args(["true"]).run().ok();

    // A record others can write, or a symlink to one, does not count.
    chmod(&record, 0o666);
    sb.fence()
        .args(["true"])
        .run()
        .code(125)
        .stderr_has("not trusted");
    chmod(&record, 0o600);
    let moved = store.join("elsewhere");
    std::fs::rename(&record, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &record).unwrap();
    sb.fence()
        .args(["true"])
        .run()
        .code(125)
        .stderr_has("not trusted");
    std::fs::remove_file(&record).unwrap();
    std::fs::rename(&moved, &record).unwrap();
    sb.fence().args(["true"]).run().ok();
    // A store directory others can write: refused outright.
    chmod(&store, 0o777);
    sb.fence()
        .args(["true"])
        .run()
        .code(125)
        .stderr_has("writable by others");
    chmod(&store, 0o700);
    sb.fence().args(["true"]).run().ok();
}

/// Configs are read only from regular files, at most 4 MiB: `-s /dev/zero`, a FIFO and
/// an `extends` of a device fail at once instead of hanging while memory grows.
fn special_and_huge_config_files_are_refused(user: User) {
    let sb = Sandbox::new(user);
    let fifo = sb.ws.join("fifo.json");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    if sb.switches_user() {
        chown(&fifo, util::UNPRIVILEGED);
    }
    let dev = sb.config("dev.json", r#"{"extends": "/dev/zero"}"#);
    let cases: [(PathBuf, &str); 4] = [
        ("/dev/zero".into(), "character device"),
        ("/dev/stdin".into(), "not a regular file"),
        (fifo.clone(), "FIFO"),
        (dev, "/dev/zero is not a regular file"),
    ];
    for (path, needle) in cases {
        let start = Instant::now();
        let r = sb.fence().arg("-s").arg(&path).arg("true").run();
        r.code(125).stderr_has(needle);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}: took {:?}",
            path.display(),
            start.elapsed()
        );
    }
    let big = format!(
        "{{\"filesystem\": {{\"denyWrite\": [\"{}\"]}}}}",
        "x".repeat(5 << 20)
    );
    let huge = sb.config("huge.json", &big);
    sb.fence()
        .arg("-s")
        .arg(&huge)
        .arg("true")
        .run()
        .code(125)
        .stderr_has("larger than the 4 MiB limit")
        .stderr_has("huge.json");
    // The same for a discovered file.
    sb.config("fence.json", &big);
    sb.fence()
        .arg("true")
        .run()
        .code(125)
        .stderr_has("larger than the 4 MiB limit");
}

/// With a user config that hides the home (defaultDenyRead), an untrusted project that
/// makes it readable again (allowRead or allowExecute of ~), or that asks for the host's
/// devices, is a grant: refused, and the secret stays unread.
fn untrusted_project_cannot_widen_the_compiled_policy(user: User) {
    let sb = Sandbox::new(user);
    sb.write(&sb.home.join("secret/key"), "PRIVATEKEY\n");
    sb.write(
        &sb.home.join(".config/fence/fence.json"),
        r#"{"filesystem": {"defaultDenyRead": true, "allowRead": ["."]},
            "devices": {"mode": "minimal"}}"#,
    );
    let key = sb.home.join("secret/key");
    let script = format!("cat {}; echo done", key.display());
    sb.fence()
        .args(["-c", &script])
        .run()
        .ok()
        .stdout_lacks("PRIVATEKEY")
        .stdout_has("done");
    let cases = [
        (
            r#"{"filesystem": {"allowRead": ["~"]}}"#,
            format!("read access to {}", sb.home.display()),
        ),
        (
            r#"{"filesystem": {"allowExecute": ["~/secret"]}}"#,
            format!("read access to {}", sb.home.join("secret").display()),
        ),
        (
            r#"{"devices": {"mode": "host"}}"#,
            "devices.mode host".to_string(),
        ),
    ];
    for (project, grant) in cases {
        sb.config("fence.json", project);
        let r = sb.fence().args(["-c", &script]).run();
        r.code(125)
            .stderr_has("not trusted")
            .stderr_has(&grant)
            .stdout_lacks("PRIVATEKEY");
    }
    // Narrowing the user's config is still fine without trust.
    sb.config(
        "fence.json",
        r#"{"filesystem": {"denyRead": ["~/secret"]}, "devices": {"mode": "minimal"}}"#,
    );
    sb.fence()
        .args(["-c", &script])
        .run()
        .ok()
        .stdout_lacks("PRIVATEKEY");
}

/// `fence -c STRING ARG0 ARGS...`: what follows STRING is the shell's $0 $1, never a fence
/// option, so `-t workspace-write` there does not make the workspace writable.
fn arguments_after_c_are_not_options(user: User) {
    let sb = Sandbox::new(user);
    let r = sb
        .fence()
        .args([
            "-c",
            "touch w 2>/dev/null; echo \"0=$0 1=$1\"",
            "-t",
            "workspace-write",
        ])
        .run();
    r.ok().stdout_has("0=-t 1=workspace-write");
    assert!(!sb.ws.join("w").exists(), "-t after -c STRING was applied");
}

fn assert_no_terminal_controls(r: &util::Run) {
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        assert!(
            !text.contains(['\u{1b}', '\u{7}', '\u{9b}']),
            "{name} has terminal control characters\n{r}"
        );
    }
}

/// Config keys and values, extends paths and directory names reach the terminal escaped:
/// in errors, in the suggested `fence trust` command (a `$'…'` word that pastes back to
/// the same path) and in `fence trust --list` (one line per record, whatever the path).
fn untrusted_text_is_escaped(user: User) {
    let sb = Sandbox::new(user);
    let cases = [
        (r#"{"\u001b]0;PWNED\u0007": 1}"#, r"\e]0;PWNED\x07"),
        (
            r#"{"devices": {"mode": "x\u001b]0;T\u0007"}}"#,
            r"x\e]0;T\x07",
        ),
        (
            r#"{"extends": "./x\u001b]0;T\u0007y.json"}"#,
            r"x\e]0;T\x07y.json",
        ),
        (r#"{"extends": "n\u001b[2Jo"}"#, r"n\e[2Jo"),
    ];
    for (text, shown) in cases {
        let cfg = sb.config("bad.json", text);
        let r = sb.fence().sh(&cfg, "true").run();
        r.code(125).stderr_has(shown);
        assert_no_terminal_controls(&r);
    }

    // A project in a directory whose name holds a terminal sequence, and one with a newline.
    let weird = sb.root.join("x\u{1b}]0;T\u{7}y");
    let newline = sb.root.join("a\nb\tc");
    for dir in [&weird, &newline] {
        sb.mkdir(dir);
        sb.write(
            &dir.join("fence.json"),
            r#"{"filesystem": {"allowWrite": ["."]}}"#,
        );
    }
    let r = run_in(&sb, &weird, &["true"]);
    r.code(125).stderr_has(r"fence trust $'");
    assert_no_terminal_controls(&r);
    // The suggested word is the path again once a shell reads it.
    let word = r
        .stderr
        .split("fence trust ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap()
        .to_string();
    let mut printf = std::process::Command::new("bash");
    printf.arg("-c").arg(format!("printf %s {word}"));
    let out = util::output(&mut printf);
    assert_eq!(
        out.stdout,
        weird.join("fence.json").as_os_str().as_encoded_bytes(),
        "{word}"
    );

    for dir in [&weird, &newline] {
        let r = sb.fence().arg("trust").arg(dir.join("fence.json")).run();
        r.ok();
        assert_no_terminal_controls(&r);
        assert_eq!(r.stderr.lines().count(), 1, "{r}");
    }
    let r = sb.fence().args(["trust", "--list"]).run();
    r.ok();
    assert_no_terminal_controls(&r);
    assert_eq!(r.stdout.lines().count(), 2, "one line per record\n{r}");
    assert!(r.stdout.contains(r"a\nb\tc/fence.json"), "{r}");
    assert!(r.stdout.contains(r"x\e]0;T\x07y/fence.json"), "{r}");
}

both_users!(
    discovery_ignores_files_of_other_users,
    trust_records_are_bound_to_the_file,
    special_and_huge_config_files_are_refused,
    untrusted_project_cannot_widen_the_compiled_policy,
    arguments_after_c_are_not_options,
    untrusted_text_is_escaped,
);

/// `macos.mach` names matter only on macOS: accepted on Linux, named under `-d` only.
#[test]
fn macos_only_fields_are_a_debug_note_on_linux() {
    let sb = Sandbox::new(User::Current);
    let cfg = sb.config(
        "cfg.json",
        r#"{"macos": {"mach": {"lookup": ["com.apple.metadata.*"]}}}"#,
    );
    let note = "macos.mach.lookup applies on macOS only";
    sb.fence()
        .arg("-d")
        .sh(&cfg, "true")
        .run()
        .ok()
        .stderr_has(note);
    sb.fence()
        .sh(&cfg, "true")
        .run()
        .ok()
        .stderr_lacks(note)
        .stderr_lacks("macos");
}
