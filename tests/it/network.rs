//! Without proxies in the way, the sandbox has no network: only its own loopback exists.

use crate::util;

use util::{CountingServer, Sandbox, User};

fn host_loopback_is_unreachable(user: User) {
    let v4 = CountingServer::start("127.0.0.1:0");
    let v6 = CountingServer::start("[::1]:0");
    let sb = Sandbox::new(user);
    let attempts = [
        format!("curl -sS --max-time 3 http://127.0.0.1:{}/", v4.port),
        format!("curl -sS --max-time 3 -g 'http://[::1]:{}/'", v6.port),
        format!("nc -z -w 2 127.0.0.1 {}", v4.port),
        format!("bash -c 'echo hi > /dev/tcp/127.0.0.1/{}'", v4.port),
    ];
    for cmd in &attempts {
        sb.fence()
            .args(["-c", cmd])
            .run()
            .failed()
            .stdout_lacks("SECRET");
    }
    // The same commands do reach the servers from the host: the servers are real.
    assert!(
        std::process::Command::new("sh")
            .args(["-c", &attempts[0]])
            .output()
            .unwrap()
            .status
            .success()
    );
    assert_eq!(v4.hits(), 1, "only the host's own request arrived");
    assert_eq!(v6.hits(), 0);
}

fn loopback_inside_the_sandbox_works(user: User) {
    let sb = Sandbox::new(user);
    let script = "python3 -c '
import socket
s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(1)
c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.sendall(b\"loop-ok\"); print(a.recv(7).decode())'";
    sb.fence()
        .args(["-c", script])
        .run()
        .ok()
        .stdout_has("loop-ok");
}

both_users!(
    host_loopback_is_unreachable,
    loopback_inside_the_sandbox_works,
);
