//! The fixed sections of the profile: what any process needs from the system (the Go
//! fence's baseline, `fence-go-behaviour.md` §6.2), the runtime exec deny and the PTY.
//! Only fence's own constants appear here as text, and only the exec-deny paths as
//! parameters.

use std::path::PathBuf;

use super::profile::{any, path_filters};
use super::sbpl::{Builder, string_literal};

/// Mach services a normal process looks up: user and group lookup (opendirectoryd), TLS
/// certificate checks (trustd, securityd), DNS configuration (SystemConfiguration), logging,
/// notifications, fonts, file events, launch services, temporary directories.
pub const MACH_BASELINE: &[&str] = &[
    "com.apple.audio.systemsoundserver",
    "com.apple.distributed_notifications@Uv3",
    "com.apple.FontObjectsServer",
    "com.apple.fonts",
    "com.apple.logd",
    "com.apple.lsd.mapdb",
    "com.apple.PowerManagement.control",
    "com.apple.system.logger",
    "com.apple.system.notification_center",
    "com.apple.trustd.agent",
    "com.apple.system.opendirectoryd.libinfo",
    "com.apple.system.opendirectoryd.membership",
    "com.apple.bsd.dirhelper",
    "com.apple.securityd.xpc",
    "com.apple.coreservices.launchservicesd",
    "com.apple.FSEvents",
    "com.apple.fseventsd",
    "com.apple.SystemConfiguration.configd",
    "com.apple.SystemConfiguration.DNSConfiguration",
    "com.apple.SecurityServer",
];

/// sysctl names readable one by one.
pub const SYSCTL_NAMES: &[&str] = &[
    "hw.activecpu",
    "hw.busfrequency_compat",
    "hw.byteorder",
    "hw.cacheconfig",
    "hw.cachelinesize_compat",
    "hw.cpufamily",
    "hw.cpufrequency",
    "hw.cpufrequency_compat",
    "hw.cputype",
    "hw.l1dcachesize_compat",
    "hw.l1icachesize_compat",
    "hw.l2cachesize_compat",
    "hw.l3cachesize_compat",
    "hw.logicalcpu",
    "hw.logicalcpu_max",
    "hw.machine",
    "hw.memsize",
    "hw.model",
    "hw.ncpu",
    "hw.nperflevels",
    "hw.pagesize",
    "hw.pagesize_compat",
    "hw.physicalcpu",
    "hw.physicalcpu_max",
    "hw.tbfrequency_compat",
    "hw.vectorunit",
    "kern.argmax",
    "kern.bootargs",
    "kern.hostname",
    "kern.maxfiles",
    "kern.maxfilesperproc",
    "kern.maxproc",
    "kern.ngroups",
    "kern.osproductversion",
    "kern.osrelease",
    "kern.ostype",
    "kern.osvariant_status",
    "kern.osversion",
    "kern.secure_kernel",
    "kern.tcsm_available",
    "kern.tcsm_enable",
    "kern.usrstack64",
    "kern.version",
    "security.mac.lockdown_mode_state",
    "sysctl.proc_cputype",
    "sysctl.proc_translated",
    "vm.loadavg",
];

/// sysctl name prefixes readable as a whole.
pub const SYSCTL_PREFIXES: &[&str] = &[
    "hw.optional.arm",
    "hw.perflevel",
    "kern.proc.all",
    "kern.proc.pgrp.",
    "kern.proc.pid.",
    "machdep.cpu.",
    "net.routetable.",
];

/// The devices every program uses, readable and writable (data only) and open to ioctls.
const DEVICES_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/tty", "/dev/dtracehelper"];
/// Readable only.
const DEVICES_RO: &[&str] = &["/dev/random", "/dev/urandom"];
/// The terminal a run inherits (and the PTY fence relays): `/dev/ttysNNN`.
const TTYS: &str = "^/dev/ttys[0-9]+$";

fn literals(paths: &[&str]) -> String {
    paths
        .iter()
        .map(|p| format!("(literal {})", string_literal(p)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The process itself: exec and fork, signals and process information within the
/// sandbox; the runtime exec deny is carved out of the exec allow (and denied again by
/// [`exec_deny`]).
pub fn process(b: &mut Builder, exec_deny: &[PathBuf]) {
    b.section("process");
    let mut denied = Vec::new();
    for path in exec_deny {
        denied.extend(path_filters(b, "literal", "EXEC_DENY", path));
    }
    match any(&denied) {
        None => b.rule("(allow process-exec)"),
        Some(d) => b.rule(format!("(allow process-exec (require-not {d}))")),
    }
    b.rule("(allow process-fork)");
    b.rule("(allow process-info* (target same-sandbox))");
    b.rule("(allow signal (target same-sandbox))");
    b.rule("(allow mach-priv-task-port (target same-sandbox))");
    b.rule("(allow user-preference-read)");
}

/// The runtime exec deny, after the allow it refines (its section in the reference).
pub fn exec_deny(b: &mut Builder, exec_deny: &[PathBuf]) {
    let mut denied = Vec::new();
    for path in exec_deny {
        denied.extend(path_filters(b, "literal", "EXEC_DENY", path));
    }
    if let Some(d) = any(&denied) {
        b.section("runtime exec deny");
        b.rule(format!("(deny process-exec {d})"));
    }
}

/// Mach services, IPC, IOKit, sysctl and the standard devices.
pub fn baseline(b: &mut Builder) {
    b.section("mach baseline");
    let names: Vec<String> = MACH_BASELINE
        .iter()
        .map(|n| format!("(global-name {})", string_literal(n)))
        .collect();
    b.rule(format!("(allow mach-lookup {})", names.join(" ")));

    b.section("ipc, iokit, sysctl");
    b.rule("(allow ipc-posix-shm)");
    b.rule("(allow ipc-posix-sem)");
    b.rule(
        "(allow iokit-open (iokit-registry-entry-class \"IOSurfaceRootUserClient\") \
         (iokit-registry-entry-class \"RootDomainUserClient\") \
         (iokit-user-client-class \"IOSurfaceSendRight\"))",
    );
    b.rule("(allow iokit-get-properties)");
    b.rule("(allow system-socket (require-all (socket-domain AF_SYSTEM) (socket-protocol 2)))");
    let mut sysctls: Vec<String> = SYSCTL_NAMES
        .iter()
        .map(|n| format!("(sysctl-name {})", string_literal(n)))
        .collect();
    sysctls.extend(
        SYSCTL_PREFIXES
            .iter()
            .map(|p| format!("(sysctl-name-prefix {})", string_literal(p))),
    );
    b.rule(format!("(allow sysctl-read {})", sysctls.join(" ")));
    b.rule("(allow sysctl-write (sysctl-name \"kern.tcsm_enable\"))");
    b.rule("(allow distributed-notification-post)");

    b.section("devices");
    b.rule(format!(
        "(allow file-read* file-write-data file-ioctl {})",
        literals(DEVICES_RW)
    ));
    b.rule(format!(
        "(allow file-read* file-ioctl {})",
        literals(DEVICES_RO)
    ));
    b.rule(format!(
        "(allow file-read* file-write-data file-ioctl (regex {}))",
        super::sbpl::regex_literal(TTYS)
    ));
    b.rule("(allow file-read* file-write-data (subpath \"/dev/fd\"))");
}

/// `allowPty`: a new pseudo-terminal (`/dev/ptmx`, its `/dev/ttysNNN`).
pub fn pty(b: &mut Builder) {
    b.section("pty");
    b.rule("(allow pseudo-tty)");
    b.rule(format!(
        "(allow file-read* file-write* file-ioctl (literal \"/dev/ptmx\") (regex {}))",
        super::sbpl::regex_literal(TTYS)
    ));
}
