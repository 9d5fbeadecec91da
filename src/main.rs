//! fence's entry point. It is a C `main` rather than Rust's: Rust's runtime start-up asks
//! glibc for the main thread's stack bounds (to report stack overflows), and glibc reads
//! and parses `/proc/self/maps` for that, about 0.12 ms per process start on the
//! development VM. fence starts twice per run (on the host, and as the sandbox's init), so
//! it does the rest of that start-up itself: [`start_up`], and takes its arguments from
//! `argv` (`std::env::args_os` would be empty with musl, whose start-up hands them only to
//! Rust's runtime). A stack overflow now ends in a plain SIGSEGV, without Rust's one-line
//! message.
#![no_main]

use std::ffi::OsString;

use fence::cli::{self, Invocation};
use fence::exec::Outcome;

// SAFETY: the symbol `main` is defined once, here; the C runtime calls it as it would any
// C program's main, with the arguments it also hands to std.
#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    start_up();
    let count = usize::try_from(argc).unwrap_or(0);
    let args: Vec<OsString> = (1..count)
        .map(|i| {
            use std::os::unix::ffi::OsStringExt;
            // SAFETY: the C runtime passes `argc` valid, NUL-terminated strings in `argv`,
            // which live for the whole process; each is copied out here.
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            OsString::from_vec(arg.to_bytes().to_vec())
        })
        .collect();
    run(args)
}

/// What Rust's runtime start-up does that fence relies on: fds 0, 1 and 2 open (to
/// /dev/null if they were closed, so that no file fence opens takes their place), and
/// SIGPIPE ignored (a write to a closed pipe or socket fails with EPIPE instead of killing
/// fence; children get it back at their default).
fn start_up() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes the three pollfd structs it is given, and nothing else.
    let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
    if polled < 0 {
        std::process::abort();
    }
    for pfd in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: open with a static NUL-terminated path; the lowest free fd is the closed
        // standard one (lower ones were checked first), and it stays open for the process.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
        if fd != pfd.fd {
            std::process::abort();
        }
    }
    // SAFETY: setting a signal's disposition to SIG_IGN has no other effect.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

fn run(args: Vec<OsString>) -> ! {
    #[cfg(target_os = "linux")]
    if args
        .first()
        .is_some_and(|a| a == fence::linux::control::INIT_ARG)
    {
        std::process::exit(fence::linux::init::main(&args[1..]));
    }
    let invocation = cli::parse(args);
    fence::diagnostics::init(match &invocation {
        Ok(Invocation::Run(req)) => req.debug,
        Ok(Invocation::Learn(req)) => req.run.debug,
        _ => false,
    });
    let result = invocation.and_then(|invocation| match invocation {
        Invocation::Help => {
            fence::output::stdout(&format!("{}\n", cli::help()));
            Ok(Outcome::Exited(0))
        }
        Invocation::Version => {
            fence::output::stdout(&format!("fence {}\n", version()));
            Ok(Outcome::Exited(0))
        }
        Invocation::ListTemplates => {
            fence::output::stdout(&fence::config::templates::listing());
            Ok(Outcome::Exited(0))
        }
        Invocation::Features => fence::cmd::doctor::execute(),
        Invocation::Trust(req) => fence::cmd::trust::execute(req).map(|()| Outcome::Exited(0)),
        Invocation::Run(req) => fence::cmd::run::execute(req),
        Invocation::Learn(req) => fence::cmd::learn::execute(req),
        Invocation::ProxyConnect(args) => fence::cmd::proxy_connect::execute(&args),
    });
    match result {
        Ok(Outcome::Exited(code)) => std::process::exit(code),
        Ok(Outcome::Signaled(signal)) => fence::sys::die_by_signal(signal),
        Err(err) => {
            fence::output::stderr_line(format_args!("{err}"));
            if matches!(err, fence::error::Error::NoCommand) {
                fence::output::stderr(&format!("{}\n", cli::usage()));
            }
            std::process::exit(err.exit_code());
        }
    }
}

fn version() -> String {
    match option_env!("FENCE_GIT_COMMIT") {
        Some(commit) if !commit.is_empty() => format!("{} ({commit})", env!("CARGO_PKG_VERSION")),
        _ => env!("CARGO_PKG_VERSION").to_string(),
    }
}
