//! Host names as ssh, scp, sftp, rsync and git spell them, and host patterns.
//!
//! A pattern (`ssh.allowedHosts`, `ssh.deniedHosts`) is the Go fence's: compared without
//! regard to case, `*` stands for any run of characters (dots included), `*` alone for every
//! host. Unlike the Go fence, a trailing dot and IPv6 brackets are ignored on both sides
//! (`GitHub.com.` is `github.com`, `[::1]` is `::1`): they name the same host.

/// `host` lowercased, without IPv6 brackets or a trailing dot.
pub fn normalize(host: &str) -> String {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let h = h.strip_suffix('.').unwrap_or(h);
    h.to_ascii_lowercase()
}

/// Whether `pattern` matches `host` (both normalized here).
pub fn matches(pattern: &str, host: &str) -> bool {
    glob(normalize(pattern).as_bytes(), normalize(host).as_bytes())
}

/// `*`-only glob, linear backtracking on the last star.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The host of `[user@]host` (the user ends at the last `@`, as ssh reads it).
pub fn strip_user(dest: &str) -> &str {
    match dest.rfind('@') {
        Some(i) => &dest[i + 1..],
        None => dest,
    }
}

/// The host of a `SCHEME://[user@]host[:port][/path]` URL when it has one of `schemes`
/// (compared without regard to case): `Some(None)` for such a URL without a host.
pub fn url_host(s: &str, schemes: &[&str]) -> Option<Option<String>> {
    let (scheme, rest) = s.split_once("://")?;
    if !schemes.iter().any(|x| x.eq_ignore_ascii_case(scheme)) {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = strip_port(strip_user(authority));
    Some((!host.is_empty()).then(|| host.to_string()))
}

/// `host[:port]` or `[v6][:port]` → the host (IPv6 brackets kept: see [`normalize`]).
pub fn strip_port(hp: &str) -> &str {
    if hp.starts_with('[') {
        return match hp.find(']') {
            Some(i) => &hp[..=i],
            None => hp,
        };
    }
    match hp.split_once(':') {
        // One colon: a port. More: an IPv6 address without brackets.
        Some((h, p)) if !p.contains(':') => h,
        _ => hp,
    }
}

/// Where a `[user@]host:path` operand's host ends (the index of its `:`), as scp reads
/// one: `None` for a local path (a `/` before the first `:`, or a leading `:`). A bracketed
/// IPv6 host (`[::1]:x`, `user@[::1]:x`) is one host.
pub fn remote_colon(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() == Some(&b':') {
        return None;
    }
    let mut bracket = b.first() == Some(&b'[');
    for (i, &c) in b.iter().enumerate() {
        if c == b'@' && b.get(i + 1) == Some(&b'[') {
            bracket = true;
        }
        if c == b']' && b.get(i + 1) == Some(&b':') && bracket {
            return Some(i + 1);
        }
        if c == b':' && !bracket {
            return Some(i);
        }
        if c == b'/' {
            return None;
        }
    }
    None
}

/// The host of a `[user@]host:path` operand, or `None` for a local path.
pub fn remote_host(s: &str) -> Option<String> {
    remote_colon(s).map(|i| strip_user(&s[..i]).to_string())
}

/// The hosts of an ssh jump list (`-J`, `ProxyJump`): `[user@]host[:port]` or
/// `ssh://[user@]host[:port]`, comma-separated; `none` is no jump.
pub fn jump_hosts(spec: &str) -> Vec<String> {
    if spec.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    spec.split(',')
        .filter(|j| !j.is_empty())
        .map(|j| match url_host(j, &["ssh"]) {
            Some(h) => h.unwrap_or_default(),
            None => strip_port(strip_user(j)).to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let cases = [
            ("*", "anything.example", true),
            ("github.com", "GitHub.COM", true),
            ("github.com", "github.com.", true),
            ("github.com.", "github.com", true),
            ("github.com", "gitlab.com", false),
            ("*.example.com", "prod.example.com", true),
            ("*.example.com", "a.b.example.com", true),
            ("*.example.com", "example.com", false),
            ("prod-*", "prod-db-1", true),
            ("prod-*", "staging-db", false),
            ("*prod*", "eu-prod-1", true),
            ("p*d*x", "pxdx", true),
            ("p*d*x", "pdd", false),
            ("::1", "[::1]", true),
            ("10.0.*", "10.0.3.4", true),
            ("10.0.*", "10.1.0.4", false),
            ("", "", true),
            ("a", "", false),
            ("**", "", true),
        ];
        for (p, h, want) in cases {
            assert_eq!(matches(p, h), want, "{p} vs {h}");
        }
    }

    #[test]
    fn operands() {
        let cases = [
            ("host:path", Some("host")),
            ("user@host:path", Some("host")),
            ("a@b@host:x", Some("host")),
            ("host:", Some("host")),
            ("[::1]:x", Some("[::1]")),
            ("u@[fe80::1]:x", Some("[fe80::1]")),
            ("./a:b", None),
            ("/abs/a:b", None),
            ("dir/a:b", None),
            (":x", None),
            ("plain", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(remote_host(s).as_deref(), want, "{s}");
        }
        assert_eq!(jump_hosts("a,u@b:22,ssh://c:2"), ["a", "b", "c"]);
        assert_eq!(jump_hosts("NONE"), Vec::<String>::new());
        assert_eq!(url_host("SSH://u@h:22/x", &["ssh"]), Some(Some("h".into())));
        assert_eq!(url_host("https://h/x", &["ssh"]), None);
        assert_eq!(url_host("ssh:///x", &["ssh"]), Some(None));
        assert_eq!(strip_port("[::1]:22"), "[::1]");
        assert_eq!(strip_port("fe80::1"), "fe80::1");
    }
}
