//! Host Unix sockets are unreachable unless allowed; the sandbox's own sockets work.

mod util;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use util::{Sandbox, User};

/// A host Unix socket server that answers every connection with a marker.
struct HostServer {
    path: PathBuf,
}

impl HostServer {
    fn start(path: &Path) -> HostServer {
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

fn connect_script(path: &Path) -> String {
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

both_users!(
    socket_in_xdg_runtime_dir,
    socket_in_run,
    abstract_socket_on_the_host_is_unreachable,
    sandbox_own_sockets_work,
);
