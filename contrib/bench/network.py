#!/usr/bin/env python3
"""Helper for network.sh (python3 stdlib only).

Servers (started by network.sh; each binds 127.0.0.1 port 0 and prints its port):
  network.py serve-http FILE     HTTP/1.1: GET /1g answers FILE with sendfile(2)
  network.py serve-echo          echoes every byte back, holds connections until the peer closes
  network.py serve-exchange      answers each small request with a small answer (see EXCHANGE)

Measurements (each prints its section and appends its figures to RESULTS):
  network.py throughput ROUNDS HTTP_PORT FENCE CONFIG CURL RESULTS   (runs relay.py)
  network.py latency N ECHO_PORT PYTHON FENCE CONFIG RESULTS
  network.py tunnels N ECHO_PORT PYTHON FENCE CONFIG SLEEP RESULTS
  network.py startup RUNS WARMUP FENCE CONFIG EMPTY BWRAP TRUE RESULTS
  network.py exchanges N EXCHANGE_PORT PYTHON FENCE CONFIG RESULTS
  network.py summary RESULTS

Clients (run by the measurements, inside the sandbox for the proxied modes):
  network.py latency-client direct|connect|socks N WARMUP ECHO_PORT
  network.py tunnels-client N ECHO_PORT
  network.py exchange-client direct|connect|socks N WARMUP EXCHANGE_PORT
"""
import errno
import json
import os
import resource
import selectors
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
from time import perf_counter

HERE = os.path.dirname(os.path.realpath(__file__))
SELF = os.path.join(HERE, "network.py")
RELAY = os.path.join(HERE, "relay.py")  # the ideal splice relay of part (a)
HTTP_PROXY_PORT, SOCKS_PROXY_PORT = 3128, 1080  # fence's proxies inside the sandbox
TIMEOUT = 30  # seconds any single socket operation of a client may take
GIB = 1 << 30
# Part (e)'s messages, both ways: a head and a body, written GAP seconds apart (the
# sender's think time), as HTTP/1.1 servers, TLS and HTTP/2 stacks write theirs.
EXCHANGE = (100, 200)
GAP = 0.001
EXCHANGE_REPEATS = 5  # client processes per mode, interleaved


def die(msg):
    sys.exit(f"network.py: {msg}")


def raise_nofile(wanted=None):
    """Raises the soft RLIMIT_NOFILE to `wanted`, or else to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if wanted is not None and wanted > cap:
        die(f"need {wanted} open files, but the hard RLIMIT_NOFILE is {hard}")
    target = cap if wanted is None else wanted
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def listen():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    print(srv.getsockname()[1], flush=True)
    return srv


# ---------------------------------------------------------------------------- servers

def serve_http(path):
    size = os.path.getsize(path)
    raise_nofile()
    srv = listen()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=http_conn, args=(conn, path, size), daemon=True).start()


def http_conn(conn, path, size):
    try:
        with conn:
            conn.settimeout(TIMEOUT)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk or len(head) > 65536:
                    return
                head += chunk
            request = head.split(b"\r\n", 1)[0].split()
            if len(request) < 2 or request[0] != b"GET" or request[1] != b"/1g":
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size)
            # Blocking mode: socket.sendfile then is a plain os.sendfile loop (with a
            # timeout it would poll before every call).
            conn.settimeout(None)
            with open(path, "rb") as f:
                conn.sendfile(f)
    except OSError:
        pass  # the client went away


def serve_echo():
    """One thread, epoll: echoes what arrives and keeps every connection until it closes."""
    raise_nofile()
    srv = listen()
    srv.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    paused_until = 0.0
    while True:
        if paused_until and time.monotonic() >= paused_until:
            paused_until = 0.0
            sel.register(srv, selectors.EVENT_READ)
        for key, _ in sel.select(0.1 if paused_until else None):
            if key.fileobj is srv:
                while True:
                    try:
                        conn, _ = srv.accept()
                    except BlockingIOError:
                        break
                    except OSError as e:
                        if e.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS):
                            raise
                        print(f"network.py: echo server: accept: {e}", file=sys.stderr)
                        sel.unregister(srv)
                        paused_until = time.monotonic() + 0.1
                        break
                    conn.setblocking(False)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(conn, selectors.EVENT_READ)
                continue
            conn = key.fileobj
            try:
                data = conn.recv(65536)
                if data:
                    conn.sendall(data)  # a few bytes: the socket buffer takes them
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
            sel.unregister(conn)
            conn.close()


def serve_exchange():
    """A thread per connection: every request (EXCHANGE, 300 bytes) gets an answer of the
    same shape, its body GAP after its head."""
    raise_nofile()
    srv = listen()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=exchange_conn, args=(conn,), daemon=True).start()


def exchange_conn(conn):
    try:
        with conn:
            conn.settimeout(TIMEOUT)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                recv_exact(conn, sum(EXCHANGE), "request")
                send_message(conn, b"r")
    except OSError:
        pass  # the client closed (ConnectionError is an OSError)


# ---------------------------------------------------------------------------- clients

def recv_exact(s, n, what):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"{what}: connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def connect_reply(s):
    """Reads the proxy's answer to CONNECT; raises unless it is 200."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError(f"CONNECT: connection closed; got {head!r}")
        head += chunk
    line = head.split(b"\r\n", 1)[0]
    status = line.split()
    if len(status) < 2 or status[1] != b"200":
        raise ConnectionError(f"CONNECT refused: {line.decode(errors='replace')}")
    if not head.endswith(b"\r\n\r\n"):
        raise ConnectionError(f"CONNECT: unexpected bytes after the reply: {head!r}")


def open_tunnel(mode, port):
    """A connected socket to the echo server on port, direct or through a fence proxy."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if mode == "direct":
            s.connect(("127.0.0.1", port))
        elif mode == "connect":
            s.connect(("127.0.0.1", HTTP_PROXY_PORT))
            s.sendall(b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port, port))
            connect_reply(s)
        elif mode == "socks":
            s.connect(("127.0.0.1", SOCKS_PROXY_PORT))
            s.sendall(b"\x05\x01\x00")  # version 5, one method: no authentication
            if recv_exact(s, 2, "SOCKS5 greeting") != b"\x05\x00":
                raise ConnectionError("SOCKS5: no-authentication method refused")
            # CONNECT, ATYP 1 (IPv4) 127.0.0.1, port
            s.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big"))
            reply = recv_exact(s, 10, "SOCKS5 reply")
            if reply[:2] != b"\x05\x00" or reply[3] != 1:
                raise ConnectionError(f"SOCKS5 CONNECT failed: reply {reply.hex()}")
        else:
            die(f"unknown mode {mode!r}")
        return s
    except BaseException:
        s.close()
        raise


def echo_byte(s):
    s.sendall(b"x")
    if recv_exact(s, 1, "echo") != b"x":
        raise ConnectionError("echo: wrong byte back")


def send_message(s, fill):
    head, body = EXCHANGE
    s.sendall(fill * head)
    time.sleep(GAP)
    s.sendall(fill.upper() * body)


def exchange(s):
    """One small round trip: a two-part request, a two-part answer."""
    send_message(s, b"q")
    if recv_exact(s, sum(EXCHANGE), "answer") != b"r" * EXCHANGE[0] + b"R" * EXCHANGE[1]:
        raise ConnectionError("exchange: wrong answer")


def exchange_client(mode, n, warmup, port):
    """Prints JSON: the wall times (seconds) of n round trips on one connection (after
    warmup unrecorded), then of n short connections (socket() to close(): connect, the
    proxy's handshake, one round trip)."""
    rounds, conns = [], []
    try:
        with open_tunnel(mode, port) as s:
            for i in range(warmup + n):
                start = perf_counter()
                exchange(s)
                if i >= warmup:
                    rounds.append(perf_counter() - start)
        for i in range(n):
            start = perf_counter()
            with open_tunnel(mode, port) as s:
                exchange(s)
            conns.append(perf_counter() - start)
    except OSError as e:
        die(f"{mode} exchanges ({len(rounds)} round trips, {len(conns)} connections done): {e}")
    print(json.dumps({"rounds": rounds, "conns": conns}))


def latency_client(mode, n, warmup, port):
    """Prints a JSON list of n per-connection wall times (seconds), after warmup unrecorded."""
    samples = []
    for i in range(warmup + n):
        try:
            start = perf_counter()
            s = open_tunnel(mode, port)
            with s:
                echo_byte(s)
            elapsed = perf_counter() - start
        except OSError as e:
            die(f"{mode} connection {i + 1 - warmup} of {n}: {e}")
        if i >= warmup:
            samples.append(elapsed)
    print(json.dumps(samples))


def tunnels_client(n, port):
    """Opens n CONNECT tunnels, checks each, prints `ready N`, holds them until stdin ends."""
    raise_nofile(n + 64)
    tunnels = []
    start = perf_counter()
    for i in range(n):
        try:
            tunnels.append(open_tunnel("connect", port))
        except OSError as e:
            die(f"tunnel {i + 1} of {n} (with {len(tunnels)} open): {e}")
    opened = perf_counter() - start
    for i, s in enumerate(tunnels):  # every tunnel carries a byte both ways
        try:
            echo_byte(s)
        except OSError as e:
            die(f"echo through tunnel {i + 1} of {n}: {e}")
    print(f"ready {n} {opened:.3f} {perf_counter() - start:.3f}", flush=True)
    sys.stdin.read()  # until network.sh's helper closes our stdin
    for s in tunnels:
        s.close()


# ---------------------------------------------------------------------------- measurements

def record(results, part, figure, value, target="-", verdict="-"):
    with open(results, "a") as f:
        f.write("\t".join((part, figure, value, target, verdict)) + "\n")


def verdict(ok):
    return "meets" if ok else "MISSES"


def run(argv):
    """Runs argv to completion; dies unless it exits 0. Returns its stdout."""
    return run_rusage(argv)[0]


def run_rusage(argv):
    """Runs argv to completion; dies unless it exits 0. Returns its stdout and the
    user + system CPU seconds of the process and the descendants it reaped (for fence:
    fence and bwrap, not the sandboxed command; see startup.py)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    p.stdout.close()
    if p.returncode != 0:
        why = (f"exit status {p.returncode}" if p.returncode > 0
               else f"killed by signal {-p.returncode}")
        die(f"`{shlex.join(argv)}` failed ({why})")
    return out.decode(), usage.ru_utime + usage.ru_stime


def run_relay(port, curl_args):
    """One download through relay.py (the ideal splice relay) on the host: curl's output
    and the relay's CPU seconds for the transfer."""
    relay = subprocess.Popen([sys.executable, RELAY, str(port)], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    try:
        relay_port = int(relay.stdout.readline() or 0)
        if not relay_port:
            die("relay.py did not start")
        out = run([*curl_args, "--noproxy", "*", f"http://127.0.0.1:{relay_port}/1g"])
        line = relay.stdout.read().decode().split()
    finally:
        relay.stdout.close()
        if relay.wait() != 0:
            die(f"relay.py failed (exit status {relay.returncode})")
    return out, float(line[0])


def throughput(rounds, port, fence, config, curl, results):
    url = f"http://127.0.0.1:{port}/1g"
    curl_args = [curl, "-sS", "--fail", "-o", "/dev/null",
                 "-w", "%{http_code} %{size_download} %{speed_download}\\n"]
    sandboxed = [fence, "-s", config, "--"]
    cases = [
        ("A  direct", [*curl_args, "--noproxy", "*", url]),
        ("B  fence CONNECT", [*sandboxed, *curl_args, "-p", "-x",
                              f"http://127.0.0.1:{HTTP_PROXY_PORT}", "--noproxy", "", url]),
        ("C  fence SOCKS5", [*sandboxed, *curl_args, "--socks5-hostname",
                             f"127.0.0.1:{SOCKS_PROXY_PORT}", "--noproxy", "", url]),
        ("D  ideal relay", None),  # relay.py, on the host
    ]
    # fence's CPU without a tunnel (setting up the sandbox, bwrap), taken off B's and C's.
    idle = [*sandboxed, curl, "--version"]
    speeds = [[] for _ in cases]
    cpu = [[] for _ in cases]
    idle_cpu = []
    for round_no in range(1 + rounds):  # round 0 is a warm-up (fills the page cache)
        idle_cpu.append(run_rusage(idle)[1])
        for i, (_, argv) in enumerate(cases):
            if argv is None:
                out, seconds = run_relay(port, curl_args)
            else:
                out, seconds = run_rusage(argv)
            code, size, speed = out.split()
            if code != "200" or int(size) != GIB:
                die(f"`{shlex.join(argv or ['relay.py'])}`: HTTP {code}, {size} bytes "
                    f"(want 200, {GIB})")
            if round_no:
                speeds[i].append(float(speed) / 1e6)
                cpu[i].append(seconds)

    base = statistics.median(idle_cpu[1:])
    print(f"{'':19}{'median':>9}{'min':>9}{'max':>9}{'CPU':>8}   (MB/s = 10^6 bytes/s; "
          f"{rounds} x 1 GiB each;")
    print(f"{'':48}CPU: the relay's s per GiB, median;")
    print(f"{'':48}B, C: fence's minus {base * 1e3:.1f} ms without a tunnel)")
    medians, cpus = [], []
    for i, ((label, _), mbs) in enumerate(zip(cases, speeds)):
        medians.append(statistics.median(mbs))
        cpus.append(statistics.median(cpu[i]) - (base if i in (1, 2) else 0))
        relay_cpu = f"{cpus[-1]:8.3f}" if i else f"{'-':>8}"
        print(f"  {label:17}{medians[-1]:9.0f}{min(mbs):9.0f}{max(mbs):9.0f}{relay_cpu}")
    a, d = medians[0], medians[3]
    print()
    record(results, "a", "direct download (median)", f"{a:.0f} MB/s")
    for (label, _), m, name in zip(cases[1:3], medians[1:3], ("CONNECT", "SOCKS5")):
        pct = 100 * m / a
        ok = verdict(pct >= 80)
        print(f"  {label[0]}/A {name + ':':9}{pct:6.1f} % of direct   ({ok} target: >= 80 %)")
        record(results, "a", f"{name} download / direct", f"{m:.0f} MB/s = {pct:.1f} %",
               ">= 80 %", ok)
    print()
    record(results, "a", "ideal relay download (median)", f"{d:.0f} MB/s")
    record(results, "a", "ideal relay CPU per GiB (median)", f"{cpus[3]:.3f} s")
    for (label, _), m, c, name in zip(cases[1:3], medians[1:3], cpus[1:3],
                                      ("CONNECT", "SOCKS5")):
        speed, work = m / d, c / cpus[3]
        ok_speed, ok_work = verdict(speed >= 0.95), verdict(work <= 1.2)
        print(f"  {label[0]}/D {name + ':':9}{speed:6.2f}x the ideal relay's speed "
              f"({ok_speed} target: >= 0.95x), {work:.2f}x its CPU per GiB "
              f"({ok_work} target: <= 1.2x)")
        record(results, "a", f"{name} download / ideal relay", f"{speed:.2f}x", ">= 0.95x",
               ok_speed)
        record(results, "a", f"{name} CPU per GiB / ideal relay",
               f"{c:.3f} s = {work:.2f}x", "<= 1.2x", ok_work)


def latency(n, port, python, fence, config, results):
    warmup = 5
    chunks = max(1, min(10, n // 50))
    sizes = [n // chunks + (1 if i < n % chunks else 0) for i in range(chunks)]
    client = [python, SELF, "latency-client"]
    sandboxed = [fence, "-s", config, "--", *client]
    cases = [("A  direct", [*client, "direct"]),
             ("B  CONNECT", [*sandboxed, "connect"]),
             ("C  SOCKS5", [*sandboxed, "socks"])]
    samples = [[] for _ in cases]
    for size in sizes:  # interleaved: A, B, C, A, B, C, ...
        for i, (_, argv) in enumerate(cases):
            samples[i] += json.loads(run([*argv, str(size), str(warmup), str(port)]))

    print(f"{'':13}{'median':>9}{'p90':>9}{'p99':>9}{'mean':>9}{'max':>9}   "
          f"(us per connection, {n} each)")
    stats = []
    for (label, _), s in zip(cases, samples):
        us = [x * 1e6 for x in s]
        q = statistics.quantiles(us, n=100, method="inclusive")
        stats.append((statistics.median(us), q[98]))
        print(f"  {label:11}{stats[-1][0]:9.1f}{q[89]:9.1f}{q[98]:9.1f}"
              f"{statistics.fmean(us):9.1f}{max(us):9.1f}")
    dm, dp = stats[0]
    record(results, "b", "direct connection median / p99", f"{dm:.1f} / {dp:.1f} us")
    print()
    for (label, _), (m, p), name in zip(cases[1:], stats[1:], ("CONNECT", "SOCKS5")):
        print(f"  {label[0]}-A {name + ' added:':15} median {m - dm:+8.1f} us   p99 {p - dp:+8.1f} us")
        record(results, "b", f"{name} connection median / p99", f"{m:.1f} / {p:.1f} us")
        record(results, "b", f"{name} added latency median / p99",
               f"{m - dm:+.1f} / {p - dp:+.1f} us")
    print(f"\n  (A, B, C interleaved in {chunks} chunk{'s' if chunks > 1 else ''} per mode, "
          f"each its own process after {warmup} unrecorded warm-up connections)")


def exchanges(n, port, python, fence, config, results):
    client = [python, SELF, "exchange-client"]
    sandboxed = [fence, "-s", config, "--", *client]
    cases = [("A  direct", [*client, "direct"]),
             ("B  CONNECT", [*sandboxed, "connect"]),
             ("C  SOCKS5", [*sandboxed, "socks"])]
    samples = {"rounds": [[] for _ in cases], "conns": [[] for _ in cases]}
    for _ in range(EXCHANGE_REPEATS):  # interleaved: A, B, C, A, B, C, ...
        for i, (_, argv) in enumerate(cases):
            got = json.loads(run([*argv, str(n), "5", str(port)]))
            for key, lists in samples.items():
                lists[i] += got[key]

    for key, what in (("rounds", f"round trip, {n} on one connection"),
                      ("conns", "short connection")):
        print(f"{'':13}{'median':>9}{'p90':>9}{'mean':>9}{'max':>9}{'/ A':>7}   "
              f"(ms per {what}; {EXCHANGE_REPEATS} x {n} each)")
        medians = []
        for (label, _), s in zip(cases, samples[key]):
            ms = [x * 1e3 for x in s]
            medians.append(statistics.median(ms))
            ratio = f"{medians[-1] / medians[0]:7.2f}" if medians[1:] else f"{'':7}"
            print(f"  {label:11}{medians[-1]:9.3f}"
                  f"{statistics.quantiles(ms, n=10, method='inclusive')[8]:9.3f}"
                  f"{statistics.fmean(ms):9.3f}{max(ms):9.3f}{ratio}")
        a = medians[0]
        short = "round trip" if key == "rounds" else "short connection"
        record(results, "e", f"direct {short} (median)", f"{a:.3f} ms")
        for m, name in zip(medians[1:], ("CONNECT", "SOCKS5")):
            ok = verdict(m / a <= 1.10)
            record(results, "e", f"{name} {short} / direct", f"{m:.3f} ms = {m / a:.2f}x",
                   "<= 1.10x", ok)
        print()
    print(f"  (each message {EXCHANGE[0]} + {EXCHANGE[1]} bytes in two writes "
          f"{GAP * 1e3:g} ms apart, both ways; target: fence <= 1.10x direct, medians)")


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    kib = {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
    kib["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return kib


def sandboxed_status(argv, ready_words):
    """Starts argv (a fence command line), waits for its first line, reads fence's
    /proc status, then lets the command end (closing its stdin) and checks it exits 0."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = p.stdout.readline().decode()
    if not line.startswith(ready_words):
        p.stdin.close()
        p.wait()
        die(f"`{shlex.join(argv)}` failed before it was ready (exit status {p.returncode})")
    status = proc_status(p.pid)  # p.pid is the host-side fence: bwrap is its child
    p.stdin.close()
    rest = p.stdout.read()
    if p.wait() != 0:
        die(f"`{shlex.join(argv)}` failed (exit status {p.returncode}) {rest!r}")
    return line.split(), status


def tunnels(n, port, python, fence, config, sleep, results):
    base_cmd = [fence, "-s", config, "--", "/bin/sh", "-c", f"echo ready; exec {sleep} 2"]
    _, base = sandboxed_status(base_cmd, "ready")
    cmd = [fence, "-s", config, "--", python, SELF, "tunnels-client", str(n), str(port)]
    words, full = sandboxed_status(cmd, f"ready {n} ")
    opened, checked = float(words[2]), float(words[3])

    mib = lambda kib: f"{kib / 1024:.2f}"  # noqa: E731
    print(f"{'':32}{'VmRSS':>9}{'VmHWM':>9}{'RssAnon':>9}{'RssFile':>9}{'fds':>7}   (MiB)")
    for label, s in ((f"0 tunnels (sandboxed {os.path.basename(sleep)})", base),
                     (f"{n} tunnels open", full)):
        print(f"  {label:30}{mib(s['VmRSS']):>9}{mib(s['VmHWM']):>9}{mib(s['RssAnon']):>9}"
              f"{mib(s['RssFile']):>9}{s['fds']:>7}")
    per = (full["VmRSS"] - base["VmRSS"]) / n
    ok = verdict(full["VmRSS"] < 32 * 1024)
    print(f"\n  {n} tunnels opened in {opened:.3f} s, all echoed a byte by {checked:.3f} s")
    print(f"  fence RSS with {n} tunnels: {mib(full['VmRSS'])} MiB   ({ok} target: < 32 MiB)")
    print(f"  per tunnel over the 0-tunnel baseline: {per:+.2f} KiB")
    record(results, "c", "fence RSS, 0 tunnels (VmRSS)", f"{mib(base['VmRSS'])} MiB")
    record(results, "c", f"fence RSS, {n} tunnels (VmRSS)", f"{mib(full['VmRSS'])} MiB",
           "< 32 MiB", ok)
    record(results, "c", f"fence peak RSS, {n} tunnels (VmHWM)", f"{mib(full['VmHWM'])} MiB",
           "< 32 MiB", verdict(full["VmHWM"] < 32 * 1024))


def startup(runs, warmup, fence, config, empty, bwrap, true, results):
    sys.path.insert(0, HERE)
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    import startup as st  # startup.py: the same bare bwrap command and the same timing

    cases = [("A  fence (allowedDomains) -- true", [fence, "-s", config, "--", true]),
             ("B  bwrap -- true", [bwrap, *st.BWRAP_ARGS, "--", true]),
             ("C  true", [true]),
             ("D  fence (empty config) -- true", [fence, "-s", empty, "--", true])]
    medians = st.interleaved(cases, runs, warmup)
    a, b, c, d = medians
    ok = verdict(a - b <= 3.0)
    print(f"\n  A - B  fence - bwrap (median):           {a - b:+.3f} ms   ({ok} target: <= 3 ms)")
    print(f"  A - D  allowedDomains - empty (median):  {a - d:+.3f} ms   (the domain rules' share)")
    print(f"  A / C  fence / true (median):            {a / c:.2f}x")
    record(results, "d", "fence (allowedDomains) -- true, median", f"{a:.3f} ms")
    record(results, "d", "bare bwrap -- true, median", f"{b:.3f} ms")
    record(results, "d", "fence - bwrap, median", f"{a - b:+.3f} ms", "<= 3 ms", ok)


def summary(results):
    try:
        with open(results) as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except FileNotFoundError:
        rows = []
    widths = [max([len(h)] + [len(r[i]) for r in rows])
              for i, h in enumerate(("part", "figure", "value", "target", "verdict"))]
    fmt = "  " + "  ".join(f"{{:{w}}}" for w in widths)
    print(fmt.format("part", "figure", "value", "target", "verdict").rstrip())
    print(fmt.format(*("-" * w for w in widths)))
    for r in rows:
        print(fmt.format(*r).rstrip())
    missed = sum(r[4] == "MISSES" for r in rows)
    met = sum(r[4] == "meets" for r in rows)
    print(f"\n  targets: {met} met, {missed} missed")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        die("usage: see the docstring at the top of network.py")
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve-http":
        serve_http(*args)
    elif cmd == "serve-echo":
        serve_echo()
    elif cmd == "latency-client":
        latency_client(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "serve-exchange":
        serve_exchange()
    elif cmd == "exchange-client":
        exchange_client(args[0], int(args[1]), int(args[2]), int(args[3]))
    elif cmd == "exchanges":
        exchanges(int(args[0]), int(args[1]), *args[2:])
    elif cmd == "tunnels-client":
        tunnels_client(int(args[0]), int(args[1]))
    elif cmd == "throughput":
        throughput(int(args[0]), int(args[1]), *args[2:])
    elif cmd == "latency":
        latency(int(args[0]), int(args[1]), *args[2:])
    elif cmd == "tunnels":
        tunnels(int(args[0]), int(args[1]), *args[2:])
    elif cmd == "startup":
        startup(int(args[0]), int(args[1]), *args[2:])
    elif cmd == "summary":
        summary(*args)
    else:
        die(f"unknown subcommand {cmd!r}")
