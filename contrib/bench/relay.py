#!/usr/bin/env python3
"""The network benchmark's ideal relay (python3 stdlib only, Linux): the reference that
part (a) of network.sh measures fence's tunnel against.

  relay.py PORT

Listens on 127.0.0.1 port 0 and prints its port; accepts one connection, connects to
127.0.0.1:PORT and relays both ways with splice(2) through a 1 MiB pipe per direction:
blocking sockets, one thread per direction, each looping "splice from the source into
the pipe (whatever is there, up to 1 MiB), then splice all of it out to the destination".
This is as few system calls per byte as a one-hop splice relay makes: no readiness
polling, no EAGAIN. When both directions have ended it prints one line, "CPU SPLICES":
the user + system CPU seconds of the process (all threads) from the accept to the
sockets' close, and the number of splice calls; then it exits 0. Any error ends it
non-zero.
"""
import fcntl
import os
import resource
import socket
import sys
import threading

PIPE_SIZE = 1 << 20


def relay(src, dst, calls, errors, i):
    """One direction: src to dst until src's end-of-file, then dst's write side is shut."""
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        while True:
            n = os.splice(src.fileno(), w, PIPE_SIZE)
            calls[i] += 1
            if n == 0:
                break
            while n:
                n -= os.splice(r, dst.fileno(), n)
                calls[i] += 1
        dst.shutdown(socket.SHUT_WR)
    except OSError as e:
        errors.append(e)
    finally:
        os.close(r)
        os.close(w)


def main(port):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    print(srv.getsockname()[1], flush=True)
    client, _ = srv.accept()
    start = resource.getrusage(resource.RUSAGE_SELF)
    srv.close()
    upstream = socket.create_connection(("127.0.0.1", port))
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as fence does
    calls, errors = [0, 0], []
    threads = [threading.Thread(target=relay, args=(a, b, calls, errors, i))
               for i, (a, b) in enumerate(((client, upstream), (upstream, client)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    upstream.close()
    end = resource.getrusage(resource.RUSAGE_SELF)
    if errors:
        sys.exit(f"relay.py: {errors[0]}")
    cpu = (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime)
    print(f"{cpu:.6f} {sum(calls)}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: relay.py PORT")
    main(int(sys.argv[1]))
