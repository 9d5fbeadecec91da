//! The `log stream` parser on sample lines written from the reference's format
//! (`fence-go-behaviour.md` §6.3, `seatbelt.md` "Denial logs"), and the stream itself run
//! with a stand-in program.

use super::*;

const TAG: &str = "fence_4242_0123456789abcdef";

fn line(message: &str) -> String {
    format!("2026-11-30 06:01:02.345 E  kernel[0:1a2b] (Sandbox) {message}")
}

#[test]
fn denials_become_plain_data() {
    let cases: &[(&str, &str, &str, &str, u32, &str)] = &[
        (
            "Sandbox: node(4242) deny(1) file-write-create /Users/u/.npmrc",
            "fs",
            "file-write-create",
            "/Users/u/.npmrc",
            4242,
            "node",
        ),
        (
            "Sandbox: cat(77) deny(1) file-read-data /Users/u/project/.env",
            "fs",
            "file-read-data",
            "/Users/u/project/.env",
            77,
            "cat",
        ),
        (
            "Sandbox: curl(901) deny(1) network-outbound 93.184.216.34:443",
            "net",
            "network-outbound",
            "93.184.216.34:443",
            901,
            "curl",
        ),
        (
            "Sandbox: mdls(12) deny(1) mach-lookup com.apple.metadata.mds",
            "mach",
            "mach-lookup",
            "com.apple.metadata.mds",
            12,
            "mdls",
        ),
        // A process name with spaces and parentheses: the pid is the last group.
        (
            "Sandbox: Google Chrome (Helper)(5) deny(2) file-write-unlink /Users/u/.git",
            "fs",
            "file-write-unlink",
            "/Users/u/.git",
            5,
            "Google Chrome (Helper)",
        ),
        // No target.
        (
            "Sandbox: sh(3) deny(1) network-bind",
            "net",
            "network-bind",
            "",
            3,
            "sh",
        ),
    ];
    for &(message, kind, op, target, pid, comm) in cases {
        for text in [line(message), line(&format!("{message} {TAG}"))] {
            let denial = parse_line(&text, TAG).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                denial,
                Denial {
                    kind,
                    action: "deny",
                    op: op.to_string(),
                    target: target.to_string(),
                    pid,
                    comm: comm.to_string(),
                    rule: None,
                },
                "{text}"
            );
        }
    }
}

#[test]
fn noise_is_dropped() {
    let dropped = [
        "Filtering the log data using \"eventMessage CONTAINS \\\"fence_1\\\"\"".to_string(),
        "Timestamp               Ty Process[PID:TID]".to_string(),
        line("Sandbox: zsh(1) deny(1) file-ioctl /dev/ttys003"),
        line("Sandbox: zsh(1) deny(1) file-read-data /dev/tty"),
        line("Sandbox: node(1) deny(1) network-outbound /private/var/run/mDNSResponder"),
        line("Sandbox: node(1) deny(1) network-outbound /private/var/run/syslog"),
        line("Sandbox: node(1) deny(1) file-read-data /x (duplicate report)"),
        // Operations -m does not show, and other messages.
        line("Sandbox: node(1) deny(1) process-exec /usr/bin/git"),
        line("Sandbox: node(1) deny(1) sysctl-read kern.x"),
        line("kernel: something else entirely"),
        line("Sandbox: node(x) deny(1) file-read-data /x"),
        line("Sandbox: (4) deny(1) file-read-data /x"),
        String::new(),
    ];
    for text in &dropped {
        assert_eq!(parse_line(text, TAG), None, "{text}");
    }
}

#[test]
fn the_predicate_names_the_tag() {
    let args = arguments(TAG);
    assert_eq!(args[0], "stream");
    assert_eq!(
        args.last().unwrap().to_str().unwrap(),
        format!("eventMessage CONTAINS \"{TAG}\"")
    );
}

#[test]
fn a_stream_is_read_after_its_header_and_drained() {
    // Starting a stream changes signal dispositions for a moment: not while a test's
    // SignalPipe catches them.
    let _serial = crate::host::signal_pipe::TEST_LOCK
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // A stand-in for `log stream`: its header at once, a denial a moment later.
    let script = format!(
        "echo 'Filtering the log data'; sleep 0.1; echo '{}'; exec sleep 30",
        line(&format!(
            "Sandbox: cat(7) deny(1) file-read-data /secret {TAG}"
        ))
    );
    let args: Vec<OsString> = vec!["-c".into(), script.into()];
    let dir = std::env::temp_dir().join(format!("fence-logstream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("events.log");
    let mut policy = crate::policy::Policy::default();
    let events =
        EventSink::new(true, crate::events::Format::Text, Some(&log), &mut policy).unwrap();
    let mut stream = LogStream::start(c"/bin/sh", &args, TAG, None, events).unwrap();
    stream.finish();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(
            "[fence:fs] file-read-data denied: /secret (cat[7]): denied by the sandbox profile"
        ),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
