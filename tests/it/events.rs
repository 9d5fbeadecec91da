//! The `-m` event stream as text and JSON lines (`--log-format json`), each denial shown
//! once with its repeats counted at exit, and `fence learn`: a run that records what a
//! command reaches, and the config written from it. The servers listen on the host's
//! loopback only; test names resolve to 127.0.0.1 through a hosts file fence sees.

use crate::util;

use util::servers::{HttpServer, RawResponder};
use util::{Run, Sandbox, User};

/// curl through the environment's proxy even for loopback hosts (NO_PROXY lists them).
const CURL: &str = "curl -sS --max-time 10 --noproxy ''";

/// fence's JSON lines on stderr.
fn json_lines(run: &Run) -> Vec<serde_json::Value> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{run}")))
        .collect()
}

const FIELDS: [&str; 10] = [
    "time", "kind", "action", "op", "target", "pid", "comm", "rule", "decision", "count",
];

/// `-m --log-format json`: one object per distinct denial, every field present, and the
/// repeat counted in a second line at exit; the summary stays text; the status is the
/// command's.
fn json_lines_for_a_blocked_connect(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("net.json", r#"{"network": {}}"#);
    let script = format!(
        "{CURL} -p http://denied.example/ 2>/dev/null; {CURL} -p http://denied.example/ \
         2>/dev/null; exit 3"
    );
    let run = sb
        .fence()
        .args(["-m", "--log-format", "json"])
        .sh(&cfg, &script)
        .run();
    run.code(3);
    let lines = json_lines(&run);
    assert_eq!(lines.len(), 2, "{run}");
    for line in &lines {
        let object = line.as_object().unwrap();
        assert_eq!(object.len(), FIELDS.len(), "{line}");
        for field in FIELDS {
            assert!(object.contains_key(field), "{field} missing: {line}");
        }
        assert_eq!(line["kind"], "http");
        assert_eq!(line["action"], "CONNECT");
        assert_eq!(line["op"], "CONNECT denied.example:80");
        assert_eq!(line["target"], "denied.example:80");
        assert_eq!(line["rule"], "not in allowedDomains");
        assert_eq!(line["decision"], "denied");
        assert!(line["pid"].is_null() && line["comm"].is_null());
        let time = line["time"].as_str().unwrap();
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
    }
    assert_eq!(
        (&lines[0]["count"], &lines[1]["count"]),
        (&1.into(), &2.into())
    );
    assert!(
        run.stderr
            .ends_with("fence: blocked 2 requests (denied.example:80 ×2)\n"),
        "{run}"
    );
}

/// In text, the same: the first line as it happens, the count at exit.
fn text_lines_show_each_denial_once(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("net.json", r#"{"network": {}}"#);
    let script = format!(
        "for i in 1 2 3; do {CURL} -p http://denied.example/ 2>/dev/null; done; \
         {CURL} -p http://other.example/ 2>/dev/null; exit 0"
    );
    let run = sb.fence().arg("-m").sh(&cfg, &script).run();
    run.ok();
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("[fence:") || l.starts_with("fence:"))
        .collect();
    assert_eq!(
        lines,
        [
            "[fence:http] blocked CONNECT denied.example:80: not in allowedDomains",
            "[fence:http] blocked CONNECT other.example:80: not in allowedDomains",
            "[fence:http] blocked CONNECT denied.example:80: not in allowedDomains (×3)",
            "fence: blocked 4 requests (denied.example:80 ×3, other.example:80)",
        ],
        "{run}"
    );
}

/// The exit status is the command's, with or without -m, in either format.
fn the_status_is_unchanged_by_monitoring(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("net.json", r#"{"network": {}}"#);
    let script = format!("{CURL} -p http://denied.example/ 2>/dev/null; exit 42");
    for args in [
        &[][..],
        &["-m"],
        &["-m", "--log-format", "json"],
        &["--log-format", "json"],
    ] {
        sb.fence().args(args).sh(&cfg, &script).run().code(42);
    }
    sb.fence()
        .args(["--log-format", "yaml"])
        .sh(&cfg, "true")
        .run()
        .code(125)
        .stderr_has("--log-format yaml: expected text or json");
}

/// What reaches an event line from outside (here the reason phrase of an upstream proxy's
/// refusal, with a C1 control, a tab and a bidi override: the proxies refuse requests with
/// such bytes outright) is escaped in the JSON lines, in the log file too, and comes back
/// whole when parsed.
fn json_escapes_what_the_sandbox_sent(user: User) {
    let upstream = RawResponder::start(
        b"HTTP/1.1 403 \xc2\x9b31mred\tx\xe2\x80\xae\r\nContent-Length: 0\r\n\r\n",
    );
    let sb = Sandbox::new(user);
    let cfg = sb.config(
        "net.json",
        &format!(
            r#"{{"network": {{"defaultAction": "proxy",
                "upstreamProxy": "http://127.0.0.1:{}"}}}}"#,
            upstream.port
        ),
    );
    let log = sb.root.join("fence.jsonl");
    let run = sb
        .fence()
        .args(["-m", "--log-format", "json", "--fence-log-file"])
        .arg(&log)
        .sh(
            &cfg,
            &format!("{CURL} -p https://grey.example/; echo curl=$?"),
        )
        .run();
    run.ok().stdout_has("curl=56");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains('\u{9b}') && !text.contains('\t') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(text.contains(r"(403 \u009b31mred\tx\u202e)"), "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(
        lines[0]["rule"],
        "the upstream proxy refused it (403 \u{9b}31mred\tx\u{202e})"
    );
    assert!(
        !run.stderr.contains('{'),
        "the lines went to the file: {run}"
    );
}

/// `fence learn` on a script that fetches from two local servers: the hosts pass and are
/// recorded; the config written extends the one in force and, once trusted, lets the same
/// script pass while a third server stays refused. An existing file is kept without
/// `--force`, before anything runs.
fn learn_writes_a_config_that_works_once_trusted(user: User) {
    let servers = [
        HttpServer::start("127.0.0.1:0"),
        HttpServer::start("127.0.0.1:0"),
        HttpServer::start("127.0.0.1:0"),
    ];
    let [a, b, c] = [servers[0].port, servers[1].port, servers[2].port];
    let hosts = "127.0.0.1 localhost\n127.0.0.1 a.learn.example b.learn.example \
                 c.learn.example\n";
    let sb = Sandbox::new(user);
    let base = sb.config(
        "base.json",
        &format!(
            r#"{{"network": {{"allowLocalOutbound": true,
                "allowLocalOutboundPorts": [{a}, {b}, {c}]}}}}"#
        ),
    );
    let script = format!(
        "{CURL} -p http://a.learn.example:{a}/one && {CURL} http://b.learn.example:{b}/two \
         && echo fetched; mkdir -p \"$HOME/.cache/tool\" 2>/dev/null; true"
    );
    // Without learn, the base config refuses both.
    sb.fence_with_hosts(hosts)
        .sh(&base, &script)
        .run()
        .stdout_lacks("fetched");
    assert_eq!(servers[0].hits() + servers[1].hits(), 0);

    let run = sb
        .fence_with_hosts(hosts)
        .args(["learn", "-o", "fence.json"])
        .sh(&base, &script)
        .run();
    run.ok().stdout_has("fetched").stderr_has("fence trust");
    assert_eq!((servers[0].hits(), servers[1].hits()), (1, 1));
    let learned = std::fs::read_to_string(sb.ws.join("fence.json")).unwrap();
    assert!(
        learned.contains("\"a.learn.example\", // 1 request"),
        "{learned}"
    );
    assert!(
        learned.contains("\"b.learn.example\" // 1 request"),
        "{learned}"
    );
    assert!(!learned.contains("c.learn.example"), "{learned}");
    // The write the sandbox refused is a commented-out suggestion, with its process.
    assert!(
        learned.contains("// \"allowWrite\": [")
            && learned.contains("//   \"~/.cache\" // mkdir: 1 write"),
        "{learned}"
    );
    let base_real = std::fs::canonicalize(&base).unwrap();
    assert!(
        learned.contains(&format!("\"extends\": \"{}\"", base_real.display())),
        "{learned}"
    );

    // Not applied until trusted.
    let untrusted = sb.fence_with_hosts(hosts).args(["-c", &script]).run();
    untrusted.stdout_lacks("fetched");
    assert_eq!((servers[0].hits(), servers[1].hits()), (1, 1));
    sb.fence().args(["trust", "fence.json"]).run().ok();
    sb.fence_with_hosts(hosts)
        .args(["-c", &script])
        .run()
        .ok()
        .stdout_has("fetched");
    assert_eq!((servers[0].hits(), servers[1].hits()), (2, 2));
    let third = format!("{CURL} -p http://c.learn.example:{c}/three; echo third=$?");
    sb.fence_with_hosts(hosts)
        .args(["-c", &third])
        .run()
        .stdout_has("third=56");
    assert_eq!(servers[2].hits(), 0, "the third server saw no request");

    // The file exists: kept without --force, and the command does not run.
    let again = sb
        .fence_with_hosts(hosts)
        .args(["learn", "-o", "fence.json"])
        .sh(&base, &script)
        .run();
    again
        .code(125)
        .stdout_lacks("fetched")
        .stderr_has("--force");
    assert_eq!(servers[0].hits(), 2);
    assert_eq!(
        std::fs::read_to_string(sb.ws.join("fence.json")).unwrap(),
        learned
    );
}

/// Without -o, the config goes to standard output after the command's own output; a
/// template in force is what it extends.
fn learn_writes_to_stdout(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let p = server.port;
    let sb = Sandbox::new(user);
    let hosts = "127.0.0.1 localhost\n127.0.0.1 api.learn.example\n";
    let run = sb
        .fence_with_hosts(hosts)
        .args(["learn", "-t", "default", "--", "sh", "-c"])
        .arg(format!(
            "{CURL} -p http://api.learn.example:{p}/x; echo; exit 5"
        ))
        .run();
    run.code(5);
    // The template refuses loopback: the request was let through the domain check and
    // refused by the address guard, which learn does not lift.
    assert_eq!(server.hits(), 0);
    let config = run
        .stdout
        .split_once("// Written by `fence learn`")
        .map(|(_, c)| c);
    let config = config.unwrap_or_else(|| panic!("{run}"));
    assert!(config.contains("\"extends\": \"default\""), "{run}");
    assert!(config.contains("\"api.learn.example\""), "{run}");
}

both_users!(
    json_lines_for_a_blocked_connect,
    text_lines_show_each_denial_once,
    the_status_is_unchanged_by_monitoring,
    json_escapes_what_the_sandbox_sent,
    learn_writes_a_config_that_works_once_trusted,
    learn_writes_to_stdout,
);
