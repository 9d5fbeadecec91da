//! The line fence prints at exit when its proxies refused requests: with and without
//! `-m`, silenced by `-q` or `"quiet": true` (from an untrusted project config only once it
//! is trusted), absent when nothing was refused; the command's exit status is kept. The servers listen on the host's loopback only.

use crate::util;

use util::servers::HttpServer;
use util::{Run, Sandbox, User};

/// curl through the environment's proxy even for loopback hosts (NO_PROXY lists them).
const CURL: [&str; 6] = ["curl", "-sS", "--max-time", "10", "--noproxy", ""];
/// The same, in a shell script.
const CURL_SH: &str = "curl -sS --max-time 10 --noproxy ''";

/// fence's own lines on stderr (curl's are `curl: (56) ...`).
fn fence_lines(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.starts_with("fence:") || l.starts_with("[fence:"))
        .collect()
}

/// `fence curl` to a denied host: curl's own error, its exit status, and one line naming
/// the destination.
fn a_denied_host_is_named_at_exit(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("net.json", r#"{"network": {}}"#);
    let run = sb
        .fence()
        .arg("-s")
        .arg(&cfg)
        .args(CURL)
        .args(["-p", "http://denied.example:8443/"])
        .run();
    // curl: CONNECT tunnel failed (56).
    run.code(56).stderr_has("curl: (56)");
    assert_eq!(
        fence_lines(&run),
        ["fence: blocked 1 request (denied.example:8443); -m shows each"],
        "{run}"
    );
    assert!(run.stdout.is_empty(), "{run}");
}

/// Several refusals through both proxies, counted per destination; the status of the
/// shell (not curl's) is fence's.
fn refusals_are_counted_per_destination(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let p = server.port;
    let sb = Sandbox::new(user);
    let cfg = sb.config("net.json", r#"{"network": {}}"#);
    let curl = CURL_SH;
    let script = format!(
        "{curl} http://127.0.0.1:{p}/a; {curl} -p http://127.0.0.1:{p}/b; \
         {curl} --socks5-hostname 127.0.0.1:1080 http://Other.Example/; exit 7"
    );
    let quiet_hint =
        format!("fence: blocked 3 requests (127.0.0.1:{p} ×2, other.example:80); -m shows each");
    let run = sb.fence().sh(&cfg, &script).run();
    run.code(7);
    assert_eq!(fence_lines(&run), [quiet_hint.as_str()], "{run}");
    assert!(run.stderr.ends_with(&format!("{quiet_hint}\n")), "{run}");
    // With -m, each refusal has its line, and the summary no hint.
    let run = sb.fence().arg("-m").sh(&cfg, &script).run();
    run.code(7);
    let lines = fence_lines(&run);
    assert_eq!(lines.len(), 4, "{run}");
    assert_eq!(
        lines[3],
        format!("fence: blocked 3 requests (127.0.0.1:{p} ×2, other.example:80)")
    );
    assert_eq!(server.hits(), 0, "the server saw no request");
}

/// `-q`, `"quiet": true`, and nothing refused: no line.
fn quiet_and_nothing_blocked_print_nothing(user: User) {
    let server = HttpServer::start("127.0.0.1:0");
    let url = format!("http://127.0.0.1:{}/x", server.port);
    let sb = Sandbox::new(user);
    let denied = sb.config("net.json", r#"{"network": {}}"#);
    let quiet = sb.config("quiet.json", r#"{"quiet": true, "network": {}}"#);
    let allowed = sb.config(
        "allowed.json",
        r#"{"network": {"allowedDomains": ["127.0.0.1"]}}"#,
    );
    let runs = [
        sb.fence().arg("-q").arg("-s").arg(&denied),
        sb.fence().arg("--quiet").arg("-s").arg(&denied),
        sb.fence().arg("-s").arg(&quiet),
    ];
    for fence in runs {
        let run = fence
            .args(CURL)
            .args(["-p", "http://denied.example/"])
            .run();
        run.code(56);
        assert!(fence_lines(&run).is_empty(), "{run}");
    }
    // FENCE_LOG=error: the warning about loopback in allowedDomains is not the summary,
    // which FENCE_LOG does not affect.
    let run = sb
        .fence()
        .env("FENCE_LOG", "error")
        .arg("-s")
        .arg(&allowed)
        .args(CURL)
        .arg(&url)
        .run();
    run.ok().stdout_has("hello /x");
    assert!(fence_lines(&run).is_empty(), "{run}");
    assert_eq!(server.hits(), 1);
    // `-q` leaves the -m lines alone.
    let run = sb
        .fence()
        .args(["-q", "-m", "-s"])
        .arg(&denied)
        .args(CURL)
        .args(["-p", "http://denied.example/"])
        .run();
    assert_eq!(
        fence_lines(&run),
        ["[fence:http] blocked CONNECT denied.example:80: not in allowedDomains"],
        "{run}"
    );
}

/// `"quiet": true` in an untrusted project config would hide what the sandbox tried: the
/// run is refused until the user trusts the file; trusted, the line is gone.
fn an_untrusted_project_config_may_not_be_quiet(user: User) {
    let sb = Sandbox::new(user);
    sb.config("fence.json", r#"{"quiet": true}"#);
    let curl = || {
        sb.fence()
            .args(CURL)
            .args(["-p", "http://denied.example/"])
            .run()
    };
    let refused = curl();
    refused.code(125).stderr_has("quiet");
    assert!(!refused.stderr.contains("curl:"), "{refused}");
    sb.fence().args(["trust", "fence.json"]).run().ok();
    let trusted = curl();
    trusted.code(56);
    assert!(fence_lines(&trusted).is_empty(), "{trusted}");
}

/// With `--fence-log-file`, the per-request lines go to the file and the summary to
/// stderr (where the user is).
fn the_summary_stays_on_stderr_with_a_log_file(user: User) {
    let sb = Sandbox::new(user);
    let cfg = sb.config("net.json", r#"{"network": {}}"#);
    let log = sb.ws.join("fence.log");
    let run = sb
        .fence()
        .arg("-m")
        .arg("--fence-log-file")
        .arg(&log)
        .arg("-s")
        .arg(&cfg)
        .args(CURL)
        .args(["-p", "http://denied.example/"])
        .run();
    run.code(56);
    assert_eq!(
        fence_lines(&run),
        ["fence: blocked 1 request (denied.example:80)"],
        "{run}"
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "[fence:http] blocked CONNECT denied.example:80: not in allowedDomains\n"
    );
}

both_users!(
    a_denied_host_is_named_at_exit,
    refusals_are_counted_per_destination,
    quiet_and_nothing_blocked_print_nothing,
    an_untrusted_project_config_may_not_be_quiet,
    the_summary_stays_on_stderr_with_a_log_file,
);
