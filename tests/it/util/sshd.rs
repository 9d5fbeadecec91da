//! A real sshd on 127.0.0.1 for the tests that need one (root only: privilege separation,
//! logging in as root), with a throwaway host key and a client key the sandbox's user owns.
//! Killed and reaped on drop.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::Sandbox;
use super::servers::{free_port, wait_for_port};

pub struct Sshd {
    pub port: u16,
    /// Its directory: keys, config, pid file (and what a test puts there).
    pub dir: PathBuf,
    /// The client's private key, owned by the sandbox's user, mode 0600.
    pub key: PathBuf,
    child: Child,
}

impl Sshd {
    /// Starts sshd for `sb` and waits until it listens. Call only as root.
    pub fn start(sb: &Sandbox) -> Sshd {
        let dir = sb.root.join("ssh");
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["host", "user"] {
            let mut keygen = Command::new("ssh-keygen");
            keygen
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(name));
            let out = super::output(&mut keygen);
            assert!(out.status.success(), "{keygen:?}: {out:?}");
        }
        std::fs::copy(dir.join("user.pub"), dir.join("authorized")).unwrap();
        // The client runs as the sandbox's user and ssh insists on owning its key.
        let key = sb.root.join("client-key");
        sb.write(&key, &std::fs::read_to_string(dir.join("user")).unwrap());
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let port = free_port();
        let d = dir.display();
        let config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             PermitRootLogin prohibit-password\nPidFile {d}/pid\n"
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stderr(Stdio::null())
            .spawn()
            .expect("sshd is installed (openssh-server)");
        wait_for_port(port);
        Sshd {
            port,
            dir,
            key,
            child,
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
