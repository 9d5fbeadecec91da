//! The raw system calls the proxies need: `recv`/`send` for buffered tunnels, pipes and
//! `splice(2)` for Linux's zero-copy tunnels, the host's interface addresses and name, and
//! the open-file limit. Everything here is POSIX except pipe sizes and `splice`, which
//! exist on Linux only.

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;
#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, OwnedFd};

use crate::sys::check;

/// A non-blocking pipe (read end, write end) of the kernel's default size, and its
/// capacity in bytes.
#[cfg(target_os = "linux")]
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd, usize)> {
    let (read, write) = crate::sys::nonblocking_pipe()?;
    // SAFETY: fcntl on a pipe fd we own, with integer arguments only.
    let capacity = check(unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) })?;
    Ok((read, write, capacity as usize))
}

/// Resizes a pipe (`F_SETPIPE_SZ`) to at least `size` bytes; returns its new capacity.
/// Unprivileged users get EPERM above `/proc/sys/fs/pipe-max-size`, and when growing a
/// pipe while their pipes already hold `/proc/sys/fs/pipe-user-pages-soft` pages.
#[cfg(target_os = "linux")]
pub fn set_pipe_size(pipe: &OwnedFd, size: usize) -> io::Result<usize> {
    let size =
        libc::c_int::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: fcntl on a pipe fd the caller owns, with integer arguments only.
    let capacity = check(unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, size) })?;
    Ok(capacity as usize)
}

/// The largest pipe an unprivileged user may ask for (`/proc/sys/fs/pipe-max-size`), read
/// once; 1 MiB (the kernel's default limit) when it cannot be read.
#[cfg(target_os = "linux")]
pub fn pipe_max_size() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20)
    })
}

/// Moves up to `len` bytes from `from` to `to` (one of them a pipe) without copying them
/// through user space. Non-blocking on the pipe; sockets must be non-blocking themselves.
#[cfg(target_os = "linux")]
pub fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: null offsets (both ends are streams); the kernel checks the fds.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `send(2)` without SIGPIPE: a closed peer gives EPIPE. (Where MSG_NOSIGNAL were not
/// honoured, SIGPIPE is ignored anyway, as in every Rust program by default.)
pub fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is valid for reads of its length.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `recv(2)` of up to `max` bytes, appended to `buf` (in its spare capacity, which this
/// reserves: the bytes are not zeroed first). Ok(0) is end-of-file.
pub fn recv_append(fd: RawFd, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    let len = spare.len().min(max);
    // SAFETY: `spare` is valid for writes of `len` bytes; recv writes at most that many.
    let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), len, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: recv initialised the first n (<= len) bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n as usize) };
    Ok(n as usize)
}

/// `shutdown(fd, SHUT_WR)`: the peer reads end-of-file.
pub fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: shutdown takes an fd and a constant; no memory is involved.
    check(unsafe { libc::shutdown(fd, libc::SHUT_WR) }).map(drop)
}

/// The addresses of this host's network interfaces.
pub fn interface_addresses() -> io::Result<Vec<IpAddr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list and stores its head in `list`.
    check(unsafe { libc::getifaddrs(&mut list) })?;
    let mut out = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` walks the list getifaddrs returned, which stays valid until
        // freeifaddrs; each ifa_addr is null or points at a sockaddr of its family's size.
        unsafe {
            let addr = (*cursor).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*addr.cast::<libc::sockaddr_in>();
                        out.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*addr.cast::<libc::sockaddr_in6>();
                        out.push(IpAddr::from(v6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cursor = (*cursor).ifa_next;
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once, after the last use.
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

/// This host's name (`gethostname(2)`), or nothing when it cannot be read.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of its length; gethostname writes at most that.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return String::new();
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// Raises the soft open-file limit to the hard limit (at most `cap`), so that many
/// tunnels (two sockets and up to four pipe ends each) fit. Returns the new soft limit.
pub fn raise_open_file_limit(cap: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        let wanted = limit.rlim_max.min(cap).max(limit.rlim_cur);
        // macOS refuses a soft limit above OPEN_MAX (10240) even under a higher hard
        // limit: that is the second try. Linux takes the first.
        for soft in [wanted, wanted.min(10240)] {
            if soft <= limit.rlim_cur {
                break;
            }
            let raised = libc::rlimit {
                rlim_cur: soft,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return soft;
            }
        }
        limit.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_addresses_include_loopback() {
        let addrs = interface_addresses().unwrap();
        assert!(addrs.contains(&IpAddr::from([127, 0, 0, 1])), "{addrs:?}");
    }

    #[test]
    fn host_name_matches_proc() {
        let name = host_name();
        assert!(!name.is_empty());
        if let Ok(proc) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(name, proc.trim_end());
        }
    }

    #[test]
    fn recv_append_adds_to_the_end() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        a.write_all(b"world").unwrap();
        let mut buf = b"hello ".to_vec();
        assert_eq!(recv_append(b.as_raw_fd(), &mut buf, 3).unwrap(), 3);
        assert_eq!(recv_append(b.as_raw_fd(), &mut buf, 100).unwrap(), 2);
        assert_eq!(buf, b"hello world");
        let err = recv_append(b.as_raw_fd(), &mut buf, 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(a);
        assert_eq!(recv_append(b.as_raw_fd(), &mut buf, 100).unwrap(), 0);
        assert_eq!(buf, b"hello world");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn splice_through_a_pipe() {
        use std::io::{Read, Write};
        use std::os::fd::AsRawFd;
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (c, mut d) = std::os::unix::net::UnixStream::pair().unwrap();
        let (r, w, cap) = pipe().unwrap();
        assert!(cap >= 4096);
        assert!(pipe_max_size() >= 4096);
        let grown = set_pipe_size(&w, 2 * cap).unwrap();
        assert!(grown >= 2 * cap, "{grown} < 2 * {cap}");
        a.write_all(b"hello").unwrap();
        assert_eq!(splice(b.as_raw_fd(), w.as_raw_fd(), 100).unwrap(), 5);
        assert_eq!(splice(r.as_raw_fd(), c.as_raw_fd(), 100).unwrap(), 5);
        let mut buf = [0u8; 5];
        d.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        let err = splice(r.as_raw_fd(), c.as_raw_fd(), 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
