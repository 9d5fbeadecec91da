//! Servers the network tests start on loopback: an HTTP origin server that records what it
//! was asked, and a scriptable upstream proxy.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// An HTTP/1.1 origin server on loopback: answers every request with
/// `hello <path>` (keep-alive), and records each request line and Host header.
pub struct HttpServer {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn start(addr: &str) -> HttpServer {
        let listener = TcpListener::bind(addr).expect("bind loopback test server");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || serve_http(stream, &log));
            }
        });
        HttpServer { port, requests }
    }

    /// Requests seen so far, as "METHOD TARGET host=HOST".
    pub fn seen(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    pub fn hits(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn serve_http(stream: TcpStream, log: &Mutex<Vec<String>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut host = String::new();
        let mut length = 0usize;
        let mut chunked = false;
        let mut close = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "host" => host = value.to_string(),
                "content-length" => length = value.parse().unwrap_or(0),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
        let body = if chunked {
            match read_chunked(&mut reader) {
                Some(body) => body,
                None => return,
            }
        } else {
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            body
        };
        log.lock()
            .unwrap()
            .push(format!("{method} {target} host={host} body={}", body.len()));
        let text = format!("hello {target}");
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

/// A chunked body (without trailers' content), or None if the stream ended or lied.
/// Reads a request head and returns its first line, trimmed (the headers are skipped).
fn read_head(reader: &mut impl BufRead) -> String {
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
    }
    first.trim().to_string()
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
        if size == 0 {
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer).ok()? == 0 || trailer.trim().is_empty() {
                    return Some(body);
                }
            }
        }
        let mut chunk = vec![0u8; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        body.extend_from_slice(&chunk[..size]);
    }
}

/// An upstream HTTP proxy on loopback that records each request line. A CONNECT gets
/// `status`, and with 200 the tunnel goes to `origin_port` on 127.0.0.1, whatever host was
/// asked for; any other request gets `upstream saw <request line>`.
pub struct UpstreamProxy {
    pub port: u16,
    pub connects: Arc<Mutex<Vec<String>>>,
}

impl UpstreamProxy {
    pub fn start(status: u16, origin_port: u16) -> UpstreamProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let log = connects.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    let first = read_head(&mut reader);
                    log.lock().unwrap().push(first.clone());
                    if !first.starts_with("CONNECT ") {
                        let text = format!("upstream saw {first}");
                        let _ = writer.write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                                text.len()
                            )
                            .as_bytes(),
                        );
                        return;
                    }
                    if status != 200 {
                        let _ = writer.write_all(
                            format!("HTTP/1.1 {status} Nope\r\nContent-Length: 0\r\n\r\n")
                                .as_bytes(),
                        );
                        return;
                    }
                    let _ = writer.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                    let origin = TcpStream::connect(("127.0.0.1", origin_port)).unwrap();
                    let mut origin_w = origin.try_clone().unwrap();
                    let mut origin_r = origin;
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut reader, &mut origin_w);
                        let _ = origin_w.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut origin_r, &mut writer);
                    let _ = writer.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        UpstreamProxy { port, connects }
    }
}

/// A server on loopback that records the first line of each connection, answers with
/// `response` (raw bytes, sent as they are) and closes: an upstream proxy or origin that
/// says something unusual.
pub struct RawResponder {
    pub port: u16,
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl RawResponder {
    pub fn start(response: &[u8]) -> RawResponder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let log = lines.clone();
        let response = response.to_vec();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                log.lock().unwrap().push(read_head(&mut reader));
                let _ = writer.write_all(&response);
            }
        });
        RawResponder { port, lines }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 5 s) until something listens on 127.0.0.1:`port`.
pub fn wait_for_port(port: u16) {
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}
