//! Host Unix sockets are unreachable unless allowed; the sandbox's own sockets work.

use crate::util;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use util::{Sandbox, User};

/// A host Unix socket server that answers every connection with a marker.
pub(crate) struct HostServer {
    pub(crate) path: PathBuf,
}

impl HostServer {
    pub(crate) fn start(path: &Path) -> HostServer {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind host socket");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                use std::io::Write;
                let _ = stream.write_all(b"HOSTSECRET");
            }
        });
        HostServer {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for HostServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) fn connect_script(path: &Path) -> String {
    format!(
        "python3 -c 'import socket; c = socket.socket(socket.AF_UNIX); c.connect(\"{}\"); print(c.recv(10).decode())'",
        path.display()
    )
}

fn socket_in_xdg_runtime_dir(user: User) {
    let sb = Sandbox::new(user);
    let runtime = sb.root.join("runtime");
    sb.mkdir(&runtime);
    let server = HostServer::start(&runtime.join("bus"));
    let script = connect_script(&server.path);
    let run = |cfg: Option<&Path>| {
        let cmd = sb.fence().env("XDG_RUNTIME_DIR", &runtime);
        match cfg {
            Some(cfg) => cmd.sh(cfg, &script).run(),
            None => cmd.args(["-c", &script]).run(),
        }
    };
    // Refused (root) or permission denied (other uids): the socket is an empty file now.
    run(None).failed().stdout_lacks("HOSTSECRET");
    let allowed = sb.config(
        "allow.json",
        &format!(
            r#"{{"network": {{"allowUnixSockets": ["{}"]}}}}"#,
            server.path.display()
        ),
    );
    run(Some(&allowed)).ok().stdout_has("HOSTSECRET");
    let all = sb.config("all.json", r#"{"network": {"allowAllUnixSockets": true}}"#);
    run(Some(&all)).ok().stdout_has("HOSTSECRET");
}

/// /run is only writable by root, so the server is created as root; fence then runs as
/// root and as the unprivileged uid.
fn socket_in_run(user: User) {
    if !util::is_root() {
        eprintln!(
            "socket_in_run: not root, cannot create a socket in /run; the XDG_RUNTIME_DIR case covers this uid"
        );
        return;
    }
    let sb = Sandbox::new(user);
    let server = HostServer::start(Path::new(&format!(
        "/run/fence-test-{}-{:?}.sock",
        std::process::id(),
        user
    )));
    let script = connect_script(&server.path);
    sb.fence()
        .args(["-c", &script])
        .run()
        .failed()
        .stdout_lacks("HOSTSECRET");
    let allowed = sb.config(
        "allow.json",
        r#"{"network": {"allowUnixSockets": ["/run"]}}"#,
    );
    sb.fence()
        .sh(&allowed, &script)
        .run()
        .ok()
        .stdout_has("HOSTSECRET");
}

fn abstract_socket_on_the_host_is_unreachable(user: User) {
    use std::os::linux::net::SocketAddrExt;
    let sb = Sandbox::new(user);
    let name = format!("fence-test-{}-{:?}", std::process::id(), user);
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = UnixListener::bind_addr(&addr).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            use std::io::Write;
            let _ = stream.write_all(b"HOSTSECRET");
        }
    });
    let script = format!(
        "python3 -c 'import socket; c = socket.socket(socket.AF_UNIX); c.connect(\"\\0{name}\"); print(c.recv(10).decode())'"
    );
    let all = sb.config("all.json", r#"{"network": {"allowAllUnixSockets": true}}"#);
    sb.fence()
        .sh(&all, &script)
        .run()
        .failed()
        .stdout_lacks("HOSTSECRET");
}

fn sandbox_own_sockets_work(user: User) {
    let sb = Sandbox::new(user);
    let script = "import socket, os, multiprocessing
p = '/tmp/own.sock'
s = socket.socket(socket.AF_UNIX); s.bind(p); s.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect(p); a, _ = s.accept(); c.sendall(b'own-ok'); print(a.recv(6).decode())
q = multiprocessing.Queue(); w = multiprocessing.Process(target=q.put, args=('mp-ok',)); w.start(); print(q.get()); w.join()";
    sb.fence()
        .args(["python3", "-c", script])
        .run()
        .ok()
        .stdout_has("own-ok")
        .stdout_has("mp-ok");
}

/// A mask on a socket's parent directory is applied (never dropped along with the socket's
/// own mask), and a mask on `/`, which once dropped every other mask, is refused.
fn socket_in_run_stays_masked_under_a_parent_mask(user: User) {
    if !util::is_root() {
        eprintln!(
            "socket_in_run_stays_masked_under_a_parent_mask: not root, cannot create a socket \
             in /run; the XDG_RUNTIME_DIR tests cover this uid"
        );
        return;
    }
    let sb = Sandbox::new(user);
    let dir = PathBuf::from(format!(
        "/run/fence-test-dir-{}-{:?}",
        std::process::id(),
        user
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = HostServer::start(&dir.join("s.sock"));
    let script = connect_script(&server.path);
    let parent = sb.config(
        "parent.json",
        &format!(r#"{{"filesystem": {{"denyRead": ["{}"]}}}}"#, dir.display()),
    );
    let r = sb.fence().sh(&parent, &script).run();
    let root = sb.config("root.json", r#"{"filesystem": {"denyRead": ["/"]}}"#);
    let refused = sb.fence().sh(&root, &script).run();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    r.failed().stdout_lacks("HOSTSECRET");
    refused.code(125).stdout_lacks("HOSTSECRET");
}

/// Each scanned root has a budget of its own: a `~/.docker` the sandbox could have filled
/// with entries no longer leaves `$XDG_RUNTIME_DIR` unscanned (and its bus reachable); the
/// flooded directory is hidden whole, with a warning.
fn flooded_root_does_not_unmask_another_root(user: User) {
    let sb = Sandbox::new(user);
    let flood = sb.home.join(".docker/flood");
    sb.mkdir(&flood);
    for i in 0..20_500 {
        std::fs::File::create(flood.join(i.to_string())).unwrap();
    }
    let runtime = sb.root.join("runtime");
    sb.mkdir(&runtime);
    let server = HostServer::start(&runtime.join("bus"));
    let r = sb
        .fence()
        .env("XDG_RUNTIME_DIR", &runtime)
        .args(["-c", &connect_script(&server.path)])
        .run();
    r.failed()
        .stdout_lacks("HOSTSECRET")
        .stderr_has("stopped at its limit")
        .stderr_has(&format!("{} is hidden", flood.display()));
}

/// A directory the scan can enter but not list (mode 0311) may hold sockets reachable by
/// name: it is hidden whole instead of being skipped.
fn unlistable_directory_is_masked(user: User) {
    let sb = Sandbox::new(user);
    let runtime = sb.root.join("runtime");
    sb.mkdir(&runtime);
    let dir = runtime.join("private");
    std::fs::create_dir(&dir).unwrap();
    let server = HostServer::start(&dir.join("agent"));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o311)).unwrap();
    let r = sb
        .fence()
        .env("XDG_RUNTIME_DIR", &runtime)
        .args(["-c", &connect_script(&server.path)])
        .run();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    r.failed().stdout_lacks("HOSTSECRET");
}

/// A directory crowded with sockets is hidden whole (one mount, not 300: bwrap's setup
/// grows with the square of the mount count), unless an allowed socket lies in it: then
/// the others are masked one by one and the allowed one stays reachable.
fn crowded_socket_directory_is_masked_whole(user: User) {
    let sb = Sandbox::new(user);
    let runtime = sb.root.join("runtime");
    let crowd = runtime.join("crowd");
    sb.mkdir(&crowd);
    let servers: Vec<HostServer> = (0..300)
        .map(|i| HostServer::start(&crowd.join(format!("s{i}"))))
        .collect();
    std::fs::write(crowd.join("plain.txt"), "PLAIN\n").unwrap();
    let script = format!(
        "{}; cat {}/plain.txt",
        connect_script(&servers[7].path),
        crowd.display()
    );
    let r = sb
        .fence()
        .env("XDG_RUNTIME_DIR", &runtime)
        .arg("-d")
        .args(["-c", &script])
        .run();
    r.failed()
        .stdout_lacks("HOSTSECRET")
        .stdout_lacks("PLAIN")
        .stderr_has("holds more than 8 host Unix sockets");
    let exec = r.stderr.lines().find(|l| l.contains("exec ")).unwrap();
    // Empty files over sockets (not over the default list's run-time denied commands).
    let runtime_text = runtime.display().to_string();
    let socket_masks = exec
        .split("--ro-bind-data ")
        .skip(1)
        .filter(|rest| {
            rest.split(' ')
                .nth(1)
                .is_some_and(|p| p.starts_with(&runtime_text))
        })
        .count();
    assert!(socket_masks < 10, "{exec}");

    let allowed = sb.config(
        "allow.json",
        &format!(
            r#"{{"network": {{"allowUnixSockets": ["{}"]}}}}"#,
            servers[7].path.display()
        ),
    );
    let other = connect_script(&servers[8].path);
    let r = sb
        .fence()
        .env("XDG_RUNTIME_DIR", &runtime)
        .sh(&allowed, &format!("{script}; {other}"))
        .run();
    r.failed().stdout_has("HOSTSECRET\nPLAIN\n");
    assert_eq!(r.stdout.matches("HOSTSECRET").count(), 1, "{r}");
}

both_users!(
    socket_in_xdg_runtime_dir,
    socket_in_run,
    abstract_socket_on_the_host_is_unreachable,
    sandbox_own_sockets_work,
    socket_in_run_stays_masked_under_a_parent_mask,
    flooded_root_does_not_unmask_another_root,
    unlistable_directory_is_masked,
    crowded_socket_directory_is_masked_whole,
);
