//! The init's network duties inside the sandbox's network namespace: listening sockets
//! for the host fence's proxies and forwarders, and connections to sandbox ports for the
//! ports exposed with `-p`. The host fence serves every socket; the init only creates them,
//! because only a process inside the namespace can.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use super::control::{HostRequest, Report};
use super::sys;

/// Listens on `addrs` and sends the sockets to the host. An IPv6 address the namespace
/// lacks (IPv6 disabled) is skipped with a note; any other failure is fatal.
pub fn listen(
    control: BorrowedFd<'_>,
    addrs: &[SocketAddr],
    note: &dyn Fn(String),
) -> Result<(), String> {
    let mut bound = Vec::new();
    for addr in addrs {
        match TcpListener::bind(addr) {
            Ok(listener) => bound.push((*addr, OwnedFd::from(listener))),
            Err(e)
                if addr.is_ipv6()
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
                    ) =>
            {
                note(format!(
                    "no IPv6 in the sandbox: not listening on {addr} ({e})"
                ));
            }
            Err(e) => return Err(format!("cannot listen on {addr} in the sandbox: {e}")),
        }
    }
    for chunk in bound.chunks(sys::MAX_FDS_PER_MESSAGE) {
        let report = Report::Listening {
            addrs: chunk.iter().map(|(addr, _)| *addr).collect(),
        };
        let fds: Vec<_> = chunk.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        sys::send_fds(control.as_fd(), &report.to_bytes(), &fds)
            .map_err(|e| format!("cannot pass listening sockets to fence: {e}"))?;
    }
    Ok(())
}

/// Waits for the next signal in the signalfd, serving the host's connection requests
/// meanwhile. Returns the signal and its `si_code`.
pub fn serve_until_signal(
    control: BorrowedFd<'_>,
    signals: BorrowedFd<'_>,
    control_open: &mut bool,
) -> std::io::Result<(libc::c_int, libc::c_int)> {
    loop {
        if let Some(signal) = sys::read_signal(signals)? {
            return Ok(signal);
        }
        let fds = if *control_open {
            vec![signals.as_raw_fd(), control.as_raw_fd()]
        } else {
            vec![signals.as_raw_fd()]
        };
        let ready = match sys::wait_readable(&fds) {
            Ok(ready) => ready,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if ready.get(1) == Some(&true) {
            match sys::recv_message(control, 4096) {
                Ok(Some(msg)) => {
                    if let Some(request) = HostRequest::parse(&msg.data) {
                        answer(control, request);
                    }
                }
                // The host is gone; the sandbox will follow.
                Ok(None) | Err(_) => *control_open = false,
            }
        }
    }
}

fn answer(control: BorrowedFd<'_>, request: HostRequest) {
    let HostRequest::Connect { id, port, ipv6 } = request;
    let ip: IpAddr = if ipv6 {
        Ipv6Addr::LOCALHOST.into()
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    // Non-blocking: a full accept queue must not stall the init (and the signals it
    // forwards); the host finishes the connection. If the host is gone, there is nobody
    // to tell about a failed send.
    let _ = match mio::net::TcpStream::connect(SocketAddr::new(ip, port)) {
        Ok(stream) => {
            let fd = OwnedFd::from(stream);
            sys::send_fds(
                control.as_fd(),
                &Report::Connected { id }.to_bytes(),
                &[fd.as_fd().as_raw_fd()],
            )
        }
        Err(e) => sys::send_message(
            control.as_fd(),
            &Report::ConnectFailed {
                id,
                message: e.to_string(),
            }
            .to_bytes(),
            None,
        ),
    };
}
