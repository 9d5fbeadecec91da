use super::*;
use crate::config::merge::merge;
use crate::config::types::{DefaultAction, DeviceMode};
use crate::config::{Config, parse_text};
use crate::host_env::HostEnv;
use crate::policy::Target;
use crate::policy::domains::Decision;

// The oracle: the policies' meaning written out plainly (linear scans, `decide` itself),
// independent of the indexes and witnesses the classifier uses.

fn under<'a>(p: &Path, mut roots: impl Iterator<Item = &'a Path>) -> bool {
    roots.any(|r| p.starts_with(r))
}

fn write_roots(p: &Policy) -> impl Iterator<Item = &Path> {
    let tmp = p.tmp_shared.then_some(Path::new("/tmp"));
    p.write.iter().map(PathBuf::as_path).chain(tmp)
}

fn masked(p: &Policy, path: &Path) -> bool {
    let socket_dirs = p.sockets.iter().filter(|t| t.is_dir);
    under(
        path,
        p.deny_read
            .iter()
            .chain(socket_dirs)
            .map(|t| t.path.as_path()),
    )
}

fn readable(p: &Policy, path: &Path) -> bool {
    let bound = under(path, p.read.iter().map(PathBuf::as_path)) || under(path, write_roots(p));
    let in_private_tmp = !p.tmp_shared && path.starts_with("/tmp");
    let cwd_bound = !p.default_deny_read
        && p.cwd.starts_with("/tmp")
        && p.cwd != Path::new("/tmp")
        && path.starts_with(&p.cwd);
    !masked(p, path)
        && if in_private_tmp {
            bound || cwd_bound
        } else {
            !p.default_deny_read || bound
        }
}

fn writable(p: &Policy, path: &Path) -> bool {
    under(path, write_roots(p))
        && !masked(p, path)
        && !under(path, p.deny_write.iter().map(PathBuf::as_path))
}

fn socket_reachable(p: &Policy, path: &Path) -> bool {
    readable(p, path) && !p.sockets.iter().any(|s| s.path == path)
}

fn reach(d: &Decision) -> u8 {
    match d {
        Decision::Deny { .. } => 0,
        Decision::Upstream => 1,
        Decision::Allow { literal: false, .. } => 2,
        Decision::Allow { literal: true, .. } => 3,
    }
}

/// A small tree: a home with a secret and toolchain, a workspace with a git repository.
struct Tree {
    root: PathBuf,
    host: HostEnv,
}

impl Tree {
    /// A tree outside `/tmp` (which the sandbox's private /tmp treats apart).
    fn new(name: &str) -> Tree {
        Tree::in_dir(name, Path::new("/var/tmp"))
    }

    fn in_dir(name: &str, dir: &Path) -> Tree {
        let root = dir.join(format!("fence-compare-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in [
            "home/secret",
            "home/.ssh",
            "home/.cargo/bin",
            "ws/src/deep",
            "ws/out",
            "ws/.git/hooks",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        for f in [
            "home/secret/key",
            "home/.ssh/id_ed25519",
            "home/.bashrc",
            "ws/.env",
            "ws/.git/config",
            "ws/src/deep/a.rs",
            "ws/out/x",
        ] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let root = std::fs::canonicalize(&root).unwrap();
        let host = HostEnv::new(root.join("ws"), Some(root.join("home").into()), None, None);
        Tree { root, host }
    }

    /// Every path in the tree, and a few outside it.
    fn all_paths(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = ["/", "/etc", "/usr", "/usr/bin", "/tmp", "/tmp/x", "/var"]
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            out.push(dir.clone());
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if entry.file_type().unwrap().is_dir() {
                    stack.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out
    }

    fn compile(&self, cfg: &Config) -> Option<Policy> {
        let mut p = super::super::compile(cfg, &self.host).ok()?;
        p.network = super::super::network::compile(cfg, &[]).ok()?.0;
        Some(p)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn config(json: &str) -> Config {
    parse_text(json, "test").unwrap()
}

/// The grants of `project` over `user`, the way the trust check computes them.
fn grants(tree: &Tree, user: &str, project: &str) -> Vec<Grant> {
    let user = config(user);
    let merged = merge(user.clone(), config(project));
    let base = tree.compile(&user).unwrap();
    let with = tree.compile(&merged).unwrap();
    policy_grants(&base, &with)
}

#[test]
fn grants_are_found_in_the_compiled_policies() {
    let t = Tree::new("table");
    let home = t.root.join("home");
    let ws = t.root.join("ws");
    let ddr = r#"{"filesystem": {"defaultDenyRead": true}}"#;
    let cases: Vec<(&str, &str, Vec<Grant>)> = vec![
        // The finding: with defaultDenyRead, allowRead/allowExecute of ~ are grants.
        (
            ddr,
            r#"{"filesystem": {"allowRead": ["~"]}}"#,
            vec![Grant::Read(home.clone())],
        ),
        (
            ddr,
            r#"{"filesystem": {"allowExecute": ["~/secret"]}}"#,
            vec![Grant::Read(home.join("secret"))],
        ),
        // Without defaultDenyRead everything is readable already.
        ("{}", r#"{"filesystem": {"allowRead": ["~"]}}"#, vec![]),
        // Devices: a wider mode than the user's is a grant, a narrower one is not.
        (
            r#"{"devices": {"mode": "minimal"}}"#,
            r#"{"devices": {"mode": "auto"}}"#,
            vec![Grant::DeviceMode("auto")],
        ),
        (
            "{}",
            r#"{"devices": {"mode": "host"}}"#,
            vec![Grant::DeviceMode("host")],
        ),
        (
            r#"{"devices": {"mode": "host"}}"#,
            r#"{"devices": {"mode": "minimal"}}"#,
            vec![],
        ),
        // allowGitConfig grants by removing a protection.
        (
            r#"{"filesystem": {"allowWrite": ["."]}}"#,
            r#"{"filesystem": {"allowGitConfig": true}}"#,
            vec![Grant::Write(ws.join(".git/config"))],
        ),
        // Narrowing only.
        (
            r#"{"filesystem": {"allowWrite": ["."]}, "network": {"allowedDomains": ["*.example.com"]}}"#,
            r#"{"filesystem": {"denyWrite": ["src"], "denyRead": ["~/secret"], "defaultDenyRead": true},
               "network": {"deniedDomains": ["bad.example.com"]}, "forceNewSession": true,
               "devices": {"mode": "minimal"}}"#,
            vec![],
        ),
        (
            r#"{"filesystem": {"allowWrite": ["."]}}"#,
            r#"{"filesystem": {"allowWrite": ["out", "~"]}}"#,
            vec![Grant::Write(home.clone())],
        ),
        (
            "{}",
            r#"{"filesystem": {"allowWrite": ["/tmp"]}}"#,
            vec![Grant::SharedTmp],
        ),
        (
            r#"{"network": {"allowedDomains": ["*.example.com"]}}"#,
            r#"{"network": {"allowedDomains": ["a.example.com", "example.com"]}}"#,
            vec![Grant::Network("example.com".into())],
        ),
        (
            r#"{"network": {"allowedDomains": ["*.example.com"]}}"#,
            r#"{"network": {"allowedDomains": ["*"]}}"#,
            vec![Grant::Network("any host".into()), Grant::HostNetwork],
        ),
        // The first matching rule decides: after the user's "*", a literal adds nothing.
        (
            r#"{"network": {"allowedDomains": ["*"]}}"#,
            r#"{"network": {"allowedDomains": ["127.0.0.1"]}}"#,
            vec![],
        ),
        (
            r#"{"network": {"allowedDomains": ["example.com"]}}"#,
            r#"{"network": {"allowedDomains": ["127.0.0.1"]}}"#,
            vec![Grant::Network("127.0.0.1".into())],
        ),
        (
            r#"{"network": {"upstreamProxy": "http://p.example:8080", "defaultAction": "proxy"}}"#,
            r#"{"network": {"allowedDomains": ["x.example.com"]}}"#,
            vec![Grant::NetworkDirect("x.example.com".into())],
        ),
        (
            "{}",
            r#"{"network": {"upstreamProxy": "http://p.example:8080", "defaultAction": "proxy"}}"#,
            vec![
                Grant::Network("any host".into()),
                Grant::Upstream("p.example:8080".into()),
            ],
        ),
        (
            "{}",
            r#"{"network": {"allowLocalOutbound": true, "allowLocalOutboundPorts": [5432]}}"#,
            vec![Grant::LocalPort(5432)],
        ),
        ("{}", r#"{"allowPty": true}"#, vec![Grant::Pty]),
        (
            r#"{"forceNewSession": true}"#,
            r#"{"forceNewSession": false}"#,
            vec![Grant::TerminalSession],
        ),
        (
            "{}",
            r#"{"forceNewSession": false}"#,
            vec![Grant::TerminalSession],
        ),
        (r#"{"forceNewSession": false}"#, "{}", vec![]),
    ];
    for (user, project, want) in cases {
        let mut want = want;
        want.sort();
        assert_eq!(
            grants(&t, user, project),
            want,
            "user {user}\nproject {project}"
        );
    }
}

/// The private /tmp hides the host's: allowRead of a path there is a grant even without
/// defaultDenyRead, and so is `/tmp` itself (the host's whole /tmp, read-only).
#[test]
fn reading_the_hosts_tmp_is_a_grant() {
    let t = Tree::in_dir("tmp", Path::new("/tmp"));
    let home = t.root.join("home");
    let cases: Vec<(&str, &str, Vec<Grant>)> = vec![
        (
            "{}",
            r#"{"filesystem": {"allowRead": ["~"]}}"#,
            vec![Grant::Read(home.clone())],
        ),
        (
            "{}",
            r#"{"filesystem": {"allowExecute": ["/tmp"]}}"#,
            vec![Grant::Read("/tmp".into())],
        ),
        // The working directory is bound read-only already.
        ("{}", r#"{"filesystem": {"allowRead": ["."]}}"#, vec![]),
        (
            r#"{"filesystem": {"allowRead": ["~"]}}"#,
            r#"{"filesystem": {"allowRead": ["~/secret"]}}"#,
            vec![],
        ),
    ];
    for (user, project, want) in cases {
        assert_eq!(
            grants(&t, user, project),
            want,
            "user {user}\nproject {project}"
        );
    }
}

#[test]
fn unmasking_is_a_grant() {
    // The merge keeps every mask, but the comparison does not rely on it.
    let t = Tree::new("unmask");
    let home = t.root.join("home");
    let base = t
        .compile(&config(
            r#"{"filesystem": {"denyRead": ["~/secret", "~/.ssh"]}}"#,
        ))
        .unwrap();
    let with = t
        .compile(&config(r#"{"filesystem": {"denyRead": ["~/.ssh"]}}"#))
        .unwrap();
    assert_eq!(
        policy_grants(&base, &with),
        vec![Grant::Read(home.join("secret"))]
    );
    let text = describe(&policy_grants(&base, &with), 5);
    assert!(text.starts_with("read access to /"), "{text}");
    let wider = t
        .compile(&config(r#"{"filesystem": {"denyRead": ["~"]}}"#))
        .unwrap();
    assert_eq!(policy_grants(&base, &wider), vec![]);
}

#[test]
fn grants_between_hand_made_policies() {
    let sock = PathBuf::from("/run/x/app.sock");
    let base = Policy {
        default_deny_read: true,
        read: vec!["/usr".into(), "/run".into()],
        sockets: vec![Target {
            path: sock.clone(),
            is_dir: false,
        }],
        ..Policy::default()
    };
    let cases = [
        (
            Policy {
                sockets: vec![],
                ..base.clone()
            },
            vec![Grant::Socket(sock.clone())],
        ),
        (
            Policy {
                default_deny_read: false,
                ..base.clone()
            },
            vec![Grant::ReadEverything],
        ),
        (
            Policy {
                read: vec!["/usr".into()],
                ..base.clone()
            },
            vec![],
        ),
        (
            Policy {
                read: vec!["/".into(), "/usr".into()],
                ..base.clone()
            },
            vec![Grant::Read("/".into())],
        ),
    ];
    for (with, want) in cases {
        assert_eq!(policy_grants(&base, &with), want, "{with:?}");
    }
}

#[test]
fn descriptions_escape_control_characters() {
    let g = [
        Grant::Read(PathBuf::from("/x\u{1b}]0;T\u{7}y")),
        Grant::Network("a\nb".into()),
        Grant::Setting("k", "\u{9b}".into()),
    ];
    let text = describe(&g, 10);
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert_eq!(describe(&g, 1).matches(", ").count(), 0);
    assert!(describe(&g, 1).ends_with(" and 2 more"));
}

/// A tiny xorshift generator for the property test (no crates).
/// The second field is the density of generated lists (one item in N).
struct Rng(u64, u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn chance(&mut self, in_n: u64) -> bool {
        self.next() % in_n == 0
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize].clone()
    }
    /// Each item with a chance of one in `self.1`.
    fn subset(&mut self, items: &[&str]) -> Vec<String> {
        let n = self.1;
        items
            .iter()
            .filter(|_| self.chance(n))
            .map(|s| s.to_string())
            .collect()
    }
}

fn random_config(r: &mut Rng) -> Config {
    let mut c = Config::default();
    let fs = &mut c.filesystem;
    let n = r.1;
    fs.default_deny_read = r.chance(n / 2);
    fs.strict_deny_read = r.chance(8);
    let paths = [
        "~",
        "~/secret",
        "~/.ssh",
        ".",
        "src",
        "src/deep",
        "out",
        ".git",
        "/etc",
        "/tmp",
        "/usr",
        ".env",
        "~/.bashrc",
    ];
    fs.allow_read = r.subset(&paths);
    fs.allow_execute = r.subset(&paths);
    fs.deny_read = r.subset(&["~/secret", "~/.ssh", "src/deep", ".env", "out"]);
    // allowRead inside a mask is refused (a conflict): leave those out.
    let masked = |e: &String| {
        fs.deny_read
            .iter()
            .any(|d| e == d || e.starts_with(&format!("{d}/")))
    };
    fs.allow_read.retain(|e| !masked(e));
    fs.allow_execute.retain(|e| !masked(e));
    fs.allow_write = r.subset(&paths);
    fs.deny_write = r.subset(&["src", ".env", "out/x", "~/.bashrc"]);
    fs.allow_git_config = r.chance(n);
    let sparse = n / 4;
    c.devices.mode = r
        .pick(&[
            None,
            Some(DeviceMode::Auto),
            Some(DeviceMode::Minimal),
            Some(DeviceMode::Host),
        ])
        .filter(|_| r.chance(sparse));
    c.devices.allow = r.subset(&["/dev/null", "/dev/zero"]);
    c.allow_pty = r.chance(n);
    c.force_new_session = r
        .pick(&[None, Some(true), Some(false)])
        .filter(|_| r.chance(sparse));
    let n = &mut c.network;
    n.allowed_domains = r.subset(&[
        "example.com",
        "*.example.com",
        "a.example.com",
        "127.0.0.1",
        "localhost",
        "::1",
        "other.org",
    ]);
    if r.chance(10) {
        n.allowed_domains.push("*".into());
    }
    n.denied_domains = r.subset(&[
        "bad.example.com",
        "*.a.example.com",
        "example.com",
        "127.0.0.1",
    ]);
    n.allow_local_outbound = r.pick(&[None, Some(true), Some(false)]);
    n.allow_local_binding = r.chance(4);
    n.allow_local_outbound_ports = if r.chance(3) {
        vec![r.pick(&[5432, 6379])]
    } else {
        vec![]
    };
    n.allow_all_unix_sockets = r.chance(6);
    if r.chance(6) {
        n.upstream_proxy = Some(
            r.pick(&["http://p.example:8080", "http://q.example:3128"])
                .into(),
        );
        n.default_action = r.pick(&[None, Some(DefaultAction::Proxy), Some(DefaultAction::Deny)]);
    }
    c
}

const PROBE_HOSTS: &[&str] = &[
    "example.com",
    "a.example.com",
    "b.a.example.com",
    "x.b.a.example.com",
    "bad.example.com",
    "other.org",
    "www.other.org",
    "127.0.0.1",
    "127.0.0.2",
    "::1",
    "localhost",
    "unrelated.net",
    "10.1.2.3",
];

/// For random (user, project) pairs: when the classifier finds no grant, nothing in the
/// merged policy reaches further than in the user's alone, checked at every path of the
/// tree and every probe host, independently of the witnesses the classifier looks at.
#[test]
fn no_grant_means_nothing_more_is_reachable() {
    no_grant_means_nothing_more_is_reachable_in(Tree::new("prop"));
}

/// The same with the working directory and home in the host's `/tmp`, which the private
/// /tmp hides but for the working directory and what allowRead or allowWrite bring in.
#[test]
fn no_grant_means_nothing_more_is_reachable_in_tmp() {
    no_grant_means_nothing_more_is_reachable_in(Tree::in_dir("prop-tmp", Path::new("/tmp")));
}

fn no_grant_means_nothing_more_is_reachable_in(t: Tree) {
    let all = t.all_paths();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15, 4);
    let (mut checked, mut without_grants) = (0, 0);
    for _ in 0..400 {
        rng.1 = 4;
        let user = random_config(&mut rng);
        // Sparse projects: often a single setting, so that each kind of grant is on its
        // own somewhere.
        rng.1 = 12;
        let mut project = random_config(&mut rng);
        // Half of the projects only narrow (the interesting "no grant" side).
        if rng.chance(2) {
            project.filesystem.allow_read.clear();
            project.filesystem.allow_execute.clear();
            project.filesystem.allow_write.clear();
            project.network.allowed_domains.clear();
            project.network.allow_local_outbound_ports.clear();
            project.network.upstream_proxy = None;
            project.network.default_action = None;
            project.devices = Default::default();
            project.allow_pty = false;
            project.network.allow_all_unix_sockets = false;
        }
        let merged = merge(user.clone(), project);
        let (Some(base), Some(with)) = (t.compile(&user), t.compile(&merged)) else {
            continue;
        };
        checked += 1;
        let found = policy_grants(&base, &with);
        if !found.is_empty() {
            continue;
        }
        without_grants += 1;
        let ctx = || format!("user {user:?}\nmerged {merged:?}");
        for p in &all {
            assert!(
                !readable(&with, p) || readable(&base, p),
                "{} readable\n{}",
                p.display(),
                ctx()
            );
            assert!(
                !writable(&with, p) || writable(&base, p),
                "{} writable\n{}",
                p.display(),
                ctx()
            );
        }
        for s in base.sockets.iter().chain(&with.sockets) {
            let s = s.path.as_path();
            assert!(
                !socket_reachable(&with, s) || socket_reachable(&base, s),
                "{}",
                ctx()
            );
        }
        for h in PROBE_HOSTS {
            let host = Host::parse(h).unwrap();
            let (b, w) = (
                base.network.domains.decide(&host),
                with.network.domains.decide(&host),
            );
            assert!(reach(&w) <= reach(&b), "{h}: {b:?} -> {w:?}\n{}", ctx());
        }
        assert!(with.network.share_host_network <= base.network.share_host_network);
        if !base.network.share_host_network {
            for port in &with.network.local_outbound_ports {
                assert!(
                    base.network.local_outbound_ports.contains(port),
                    "{}",
                    ctx()
                );
            }
        }
        assert!(device_level(&with) <= device_level(&base), "{}", ctx());
        assert!(with.allow_pty <= base.allow_pty);
        assert!(session_level(&with) >= session_level(&base));
        assert!(with.tmp_shared <= base.tmp_shared);
    }
    assert!(checked > 300, "only {checked} pairs compiled");
    assert!(
        without_grants > 50,
        "only {without_grants} pairs without grants"
    );
}

/// The indexed domain decision agrees with `DomainPolicy::decide` (first matching rule,
/// deny first) for random pattern lists and hosts.
#[test]
fn domain_index_agrees_with_decide() {
    let patterns = [
        "*",
        "example.com",
        "*.example.com",
        "a.example.com",
        "*.a.example.com",
        "localhost",
        "127.0.0.1",
        "::1",
        "::ffff:10.0.0.1",
        "10.0.0.1",
        "other.org",
        "*.org",
    ];
    let hosts = [
        "example.com",
        "a.example.com",
        "b.a.example.com",
        "x.example.com",
        "other.org",
        "w.other.org",
        "localhost",
        "127.0.0.1",
        "::1",
        "10.0.0.1",
        "::ffff:10.0.0.1",
        "unrelated.net",
        "*",
        "*.example.com",
        "*.a.example.com",
    ];
    let mut rng = Rng(0x1234_5678_9abc_def1, 4);
    for _ in 0..2000 {
        let allowed = rng.subset(&patterns);
        let denied = rng.subset(&patterns);
        let policy = DomainPolicy::new(&allowed, &denied, rng.chance(3));
        let index = DomainIndex::new(&policy);
        for h in hosts {
            let host = if h.starts_with('*') {
                Host::Name(h.to_string())
            } else {
                Host::parse(h).unwrap()
            };
            assert_eq!(
                index.reach(&host),
                reach(&policy.decide(&host)),
                "{h} allowed {allowed:?} denied {denied:?}"
            );
        }
    }
}

/// Many rules stay fast: the comparison looks paths up by ancestor, not by scanning.
#[test]
fn large_policies_compare_in_linear_time() {
    let many = |prefix: &str, n: usize| -> Vec<PathBuf> {
        (0..n)
            .map(|i| PathBuf::from(format!("{prefix}/f{i}")))
            .collect()
    };
    let base = Policy {
        write: vec!["/w".into()],
        deny_read: many("/w/masked", 100_000)
            .into_iter()
            .map(|path| crate::policy::Target {
                path,
                is_dir: false,
            })
            .collect(),
        deny_write: many("/w/ro", 100_000),
        ..Policy::default()
    };
    let mut with = base.clone();
    with.deny_write.pop();
    let start = std::time::Instant::now();
    let found = policy_grants(&base, &with);
    assert_eq!(found, vec![Grant::Write("/w/ro/f99999".into())]);
    // Generous: linear work takes well under a second even unoptimised; the quadratic
    // version took minutes.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
