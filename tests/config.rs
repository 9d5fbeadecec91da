//! Config files, discovery, extends, templates, trust and the command line, end to end.

mod util;

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
            ":1:35: filesystem.allowWrite: EOF while parsing an object",
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
    // Untrusted: refused, and the message says what it would grant and how to trust it.
    let r = run_in_sub(&["touch", "x"]);
    r.code(125)
        .stderr_has("not trusted")
        .stderr_has("filesystem.allowWrite \".\"")
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
        .stdout_has("fence.json\ttrusted");
    // Edited: refused again until re-trusted.
    sb.write(
        &project,
        r#"{"filesystem": {"allowWrite": [".", "/var/tmp"]}}"#,
    );
    run_in_sub(&["true"])
        .code(125)
        .stderr_has("changed since it was trusted");
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
    run_in_sub(&["true"]).code(125);
    // -s is explicit consent.
    sb.fence()
        .args(["-s", project.to_str().unwrap(), "true"])
        .run()
        .ok();
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
    sb.fence().run().code(125).stderr_has("no command given");
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
