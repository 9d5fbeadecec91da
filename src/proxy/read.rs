//! One bounded, non-blocking read from a proxy connection: shared by the request reader
//! (`conn`) and the plain-HTTP forwarder (`forward`), which otherwise do not depend on each
//! other.

use std::io::{self, Read};

use mio::net::TcpStream;

/// What one read produced.
pub enum ReadOutcome {
    Data,
    Eof,
    Blocked,
    /// `buf` already holds `limit` bytes.
    Full,
}

/// Reads once from `stream` into `buf`, up to `limit` bytes in `buf`.
pub fn read_some(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<ReadOutcome> {
    let room = limit.saturating_sub(buf.len()).min(64 * 1024);
    if room == 0 {
        return Ok(ReadOutcome::Full);
    }
    let mut chunk = [0u8; 16 * 1024];
    let want = room.min(chunk.len());
    loop {
        match stream.read(&mut chunk[..want]) {
            Ok(0) => return Ok(ReadOutcome::Eof),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(ReadOutcome::Data);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::Blocked),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
