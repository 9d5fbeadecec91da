//! fence at a terminal: job control, Ctrl-Z, and the command sharing the terminal. Driven
//! through a real pseudo-terminal by a small Python program.

use crate::util;

use util::{Sandbox, User};

/// Runs `driver` (Python; `fence` and `cfg` are defined, `spawn()` starts fence on a new pty
/// and returns (pid, master fd), `expect(fd, text)` reads until `text` appears).
fn drive(sb: &Sandbox, driver: &str) -> util::Run {
    let prelude = r#"
import ctypes, os, pty, sys, time, signal
fence, cfg = sys.argv[1], sys.argv[2]
def spawn(*args):
    pid, fd = pty.fork()
    if pid == 0:
        # fence dies with this driver (PR_SET_PDEATHSIG), also when a check fails or the
        # test's deadline kills it: a failed test leaves no sandbox running.
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)
        os.execv(fence, [fence, "-s", cfg, *args])
    return pid, fd
def expect(fd, text, timeout=10):
    import select
    seen, end = b"", time.time() + timeout
    while text.encode() not in seen:
        left = end - time.time()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            sys.exit(f"timed out waiting for {text!r}; saw {seen!r}")
        try:
            seen += os.read(fd, 4096)
        except OSError:
            sys.exit(f"terminal closed before {text!r}; saw {seen!r}")
    return seen.decode(errors="replace")
def state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]
def wait_state(pid, wanted, timeout=10):
    end = time.time() + timeout
    while state(pid) not in wanted:
        if time.time() > end:
            sys.exit(f"fence stayed in state {state(pid)}, wanted {wanted}")
        time.sleep(0.02)
"#;
    let cfg = sb.config("fence.json", r#"{"filesystem": {"allowWrite": ["."]}}"#);
    let out = util::output(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(format!("{prelude}\n{driver}"))
            .arg(util::fence_bin())
            .arg(&cfg)
            .current_dir(&sb.ws)
            .env("HOME", &sb.home)
            .env("TERM", "dumb"),
    );
    util::Run::from(out)
}

/// An interactive shell in the sandbox has job control: no warning at start, background jobs
/// work, and its exit status comes back.
#[test]
fn interactive_shell_has_job_control() {
    let sb = Sandbox::new(User::Current);
    let r = drive(
        &sb,
        r#"
os.environ["PS1"] = "PROMPT> "
pid, fd = spawn("bash", "--norc", "--noprofile", "-i")
seen = expect(fd, "PROMPT> ")
os.write(fd, b"sleep 30 &\n")
seen += expect(fd, "PROMPT> ")
os.write(fd, b"jobs; kill %1; wait; echo JOBS-$((40 + 2))\n")
seen += expect(fd, "JOBS-42")
os.write(fd, b"exit 3\n")
_, status = os.waitpid(pid, 0)
print("OUTPUT", seen.replace("\r", ""))
print("exit", os.waitstatus_to_exitcode(status))
"#,
    );
    r.ok()
        .stdout_has("exit 3")
        .stdout_has("Running")
        .stdout_lacks("no job control")
        .stdout_lacks("cannot set terminal process group");
}

/// Ctrl-Z at a shell prompt's foreground job `fence ...` stops it (the shell reports it
/// stopped and gets the terminal back); `fg` resumes it and the command finishes.
#[test]
fn ctrl_z_stops_and_fg_resumes() {
    let sb = Sandbox::new(User::Current);
    let r = drive(
        &sb,
        r#"
os.environ["PS1"] = "PROMPT> "
pid, fd = pty.fork()
if pid == 0:
    os.execv("/bin/bash", ["bash", "--norc", "--noprofile", "-i"])
expect(fd, "PROMPT> ")
line = f"{fence} -s {cfg} -c 'touch ready; sleep 1; echo FIN$((1 + 1))SHED'\n"
os.write(fd, line.encode())
while not os.path.exists("ready"):
    time.sleep(0.01)
os.write(fd, b"\x1a")
seen = expect(fd, "Stopped")
time.sleep(1.5)          # stopped: the command's sleep must not finish meanwhile
os.write(fd, b"echo STILL-$((3 + 3))\n")
seen += expect(fd, "STILL-6")
assert "FIN2SHED" not in seen, seen
os.write(fd, b"fg\n")
seen += expect(fd, "FIN2SHED")
os.write(fd, b"echo STATUS-$?\n")
seen += expect(fd, "STATUS-0")
os.write(fd, b"exit\n")
os.waitpid(pid, 0)
print("OK")
"#,
    );
    r.ok().stdout_has("OK");
}

/// A command that stops itself (as editors do on Ctrl-Z) stops fence too, and resumes when
/// fence is continued.
#[test]
fn command_stopping_itself_stops_fence() {
    let sb = Sandbox::new(User::Current);
    let r = drive(
        &sb,
        r#"
script = "import os, signal; os.kill(os.getpid(), signal.SIGSTOP); print('RESUMED')"
pid, fd = spawn("python3", "-c", script)
wait_state(pid, "T")
os.kill(pid, signal.SIGCONT)
expect(fd, "RESUMED")
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status))
"#,
    );
    r.ok().stdout_has("exit 0");
}

/// The command's terminal is the user's (no new session): /dev/tty works.
#[test]
fn dev_tty_is_the_terminal() {
    let sb = Sandbox::new(User::Current);
    let r = drive(
        &sb,
        r#"
pid, fd = spawn("-c", "echo VIA-TTY > /dev/tty")
expect(fd, "VIA-TTY")
_, status = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(status))
pid, fd = spawn("--force-new-session", "-c", "echo x > /dev/tty || echo NO-TTY")
expect(fd, "NO-TTY")
os.waitpid(pid, 0)
"#,
    );
    r.ok().stdout_has("exit 0");
}

/// allowPty: when the user's terminal hangs up, the command (on its pseudo-terminal, in a
/// session of its own, which the terminal's SIGHUP does not reach) gets it from fence, and
/// fence ends with it instead of outliving the terminal.
#[test]
fn pty_relay_passes_a_hangup_on() {
    let sb = Sandbox::new(User::Current);
    sb.config("pty.json", r#"{"allowPty": true}"#);
    let r = drive(
        &sb,
        r#"
cfg = "pty.json"
pid, fd = spawn("sh", "-c", "echo READY; exec sleep 30")
expect(fd, "READY")
os.close(fd)
end = time.time() + 10
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > end:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.exit("fence outlived its terminal by 10 s")
    time.sleep(0.02)
print("exit", os.waitstatus_to_exitcode(status))
"#,
    );
    r.ok().stdout_has("exit -1");
}

/// allowPty: the command runs on a pseudo-terminal of its own, input and output are
/// relayed, and window-size changes reach it as SIGWINCH with the new size.
#[test]
fn pty_relay_passes_input_output_and_resizes() {
    let sb = Sandbox::new(User::Current);
    sb.config("pty.json", r#"{"allowPty": true}"#);
    let r = drive(
        &sb,
        r#"
import fcntl, struct, termios
cfg = "pty.json"
script = """
import os, signal, struct, fcntl, termios
# SIGWINCH stays blocked, taken by sigwaitinfo: a handler and pause() would lose one that
# came after Python's last check for signals but before pause() (the handler never runs).
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGWINCH})
print("TTY", os.ttyname(0), os.isatty(1), flush=True)
line = input("READY> ")
print("GOT", line, flush=True)
while True:  # SIGTERM ends the command
    signal.sigwaitinfo({signal.SIGWINCH})
    rows, cols = struct.unpack("hh", fcntl.ioctl(0, termios.TIOCGWINSZ, b"0000"))
    print(f"SIZE {rows}x{cols}", flush=True)
"""
pid, fd = spawn("python3", "-c", script)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("hhhh", 24, 80, 0, 0))
seen = expect(fd, "READY> ")
os.write(fd, b"hello relay\r")
seen += expect(fd, "GOT hello relay")
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("hhhh", 50, 132, 0, 0))
try:
    seen += expect(fd, "SIZE 50x132")
except SystemExit as e:
    def tree(p):
        out = [p]
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                for c in f.read().split():
                    out += tree(int(c))
        except OSError:
            pass
        return out
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                fields = {l.split(":")[0]: l.split(":")[1].strip() for l in f if ":" in l}
            with open(f"/proc/{p}/wchan") as f:
                wchan = f.read()
            print("DIAG", p, fields.get("Name"), fields.get("State"), "pnd", fields.get("SigPnd"),
                  fields.get("ShdPnd"), "blk", fields.get("SigBlk"), "cgt", fields.get("SigCgt"), wchan,
                  file=sys.stderr)
        except OSError:
            pass
    print("DIAG output before the resize", repr(seen), file=sys.stderr)
    print("DIAG fence fds", {n: os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")}, file=sys.stderr)
    print("DIAG outer size", struct.unpack("hhhh", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"0" * 8)), file=sys.stderr)
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() != "python3":
                    continue
            print("DIAG python fds", {n: os.readlink(f"/proc/{p}/fd/{n}") for n in os.listdir(f"/proc/{p}/fd")}, file=sys.stderr)
            inner = os.open(f"/proc/{p}/fd/0", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
            size = struct.unpack("hhhh", fcntl.ioctl(inner, termios.TIOCGWINSZ, b"0" * 8))
            os.close(inner)
            with open(f"/proc/{p}/stat") as f:
                ppid, pgrp, session, tty_nr, tpgid = f.read().rsplit(")", 1)[1].split()[1:6]
            print("DIAG inner size", size, "python", p, "pgrp", pgrp, "session", session,
                  "tty", tty_nr, "foreground", tpgid, file=sys.stderr)
        except OSError as err:
            print("DIAG inner", err, file=sys.stderr)
    os.kill(pid, signal.SIGWINCH)
    try:
        expect(fd, "SIZE 50x132", 5)
        print("DIAG nudging fence with SIGWINCH worked", file=sys.stderr)
    except SystemExit:
        print("DIAG nudging fence did not help", file=sys.stderr)
    raise e
os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
print(seen.replace("\r", ""))
print("exit", os.waitstatus_to_exitcode(status))
"#,
    );
    r.ok()
        .stdout_has("TTY /dev/pts/")
        .stdout_has("SIZE 50x132")
        .stdout_has("exit -15");
}
