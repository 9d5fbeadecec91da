use std::ffi::OsString;

use fence::cli::{self, Invocation};
use fence::exec::Outcome;

fn main() {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    #[cfg(target_os = "linux")]
    if args
        .first()
        .is_some_and(|a| a == fence::linux::control::INIT_ARG)
    {
        std::process::exit(fence::linux::init::main(&args[1..]));
    }
    let invocation = cli::parse(args);
    fence::diagnostics::init(matches!(&invocation, Ok(Invocation::Run(req)) if req.debug));
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
