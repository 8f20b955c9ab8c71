# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Closes timed to the microsecond: one process holds both ends of every
connection (the listener and accepted sockets made in the server namespace,
the clients in the client namespace: a socket stays in the namespace it was
made in), so it can act on the two ends of a connection microseconds apart,
which drivers in two processes cannot on 2 CPUs.

    pairs.py --client-ns /run/netns/C --server-ns /run/netns/S \\
             --addr ADDR [--addr ADDR6] --port P --count N --timeout S \\
             --mode crossing|close-on-eof

  crossing      both ends shutdown(SHUT_WR) at once: with a one-way delay of
                a few ms both FINs are in flight together, and both ends go
                FIN_WAIT1 > CLOSING > TIME_WAIT.
  close-on-eof  the client close()s; the server close()s the moment it reads
                EOF, within the delayed-ACK time its CLOSE_WAIT runs in
                (pingpong mode), so its FIN carries the ACK of the client's
                FIN: the client goes FIN_WAIT1 > FIN_WAIT2 > TIME_WAIT on one
                segment.

Each connection first carries 100 bytes each way. Every wait is bounded by
--timeout; any failure: one line on stderr, exit 1."""
import argparse
import ctypes
import fcntl
import os
import select
import socket
import struct
import sys
import termios
import time

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


def ready(rd, wr, timeout):
    """select() without its FD_SETSIZE limit: (readable, writable)."""
    p = select.poll()
    byfd = {}
    for x in rd:
        p.register(x, select.POLLIN)
        byfd[x.fileno()] = x
    for x in wr:
        p.register(x, select.POLLOUT)
        byfd[x.fileno()] = x
    r, w = [], []
    for fd, ev in p.poll(timeout * 1000):
        x = byfd[fd]
        if ev & (select.POLLIN | select.POLLERR | select.POLLHUP) and x in rd:
            r.append(x)
        if ev & (select.POLLOUT | select.POLLERR | select.POLLHUP) and x in wr:
            w.append(x)
    return r, w


def die(msg):
    sys.stderr.write("pairs: %s\n" % msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client-ns", required=True)
    ap.add_argument("--server-ns", required=True)
    ap.add_argument("--addr", action="append", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--mode", choices=("crossing", "close-on-eof"), required=True)
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout

    def left(what):
        t = deadline - time.monotonic()
        if t <= 0:
            die("%s: timed out after %g s" % (what, a.timeout))
        return t

    setns(a.server_ns)
    listeners = []
    for addr in a.addr:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        l = socket.socket(fam, socket.SOCK_STREAM)
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind((addr, a.port))
        l.listen(4096)
        l.setblocking(False)
        listeners.append(l)
    setns(a.client_ns)
    clients = {}
    for addr in a.addr:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        for _ in range(a.count):
            c = socket.socket(fam, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex((addr, a.port))
            clients[c] = None
    want = len(clients)

    # Connect and accept everything.
    pending = set(clients)
    accepted = {}
    while pending or len(accepted) < want:
        r, w = ready(listeners, list(pending), min(left("connect"), 0.5))
        for c in w:
            err = c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                die("connect: %s" % os.strerror(err))
            pending.discard(c)
        for l in r:
            while True:
                try:
                    s, peer = l.accept()
                except BlockingIOError:
                    break
                s.setblocking(False)
                accepted[peer[:2]] = s
    pairs = []
    for c in clients:
        s = accepted.get(c.getsockname()[:2])
        if s is None:
            die("no accepted socket for %s" % (c.getsockname(),))
        pairs.append((c, s))

    # 100 bytes each way.
    got = {}
    for c, s in pairs:
        c.send(b"c" * 100)
        s.send(b"s" * 100)
        got[c] = got[s] = 0
    while any(v < 100 for v in got.values()):
        waiting = [x for x, v in got.items() if v < 100]
        r, _ = ready(waiting, [], min(left("data"), 0.5))
        for x in r:
            d = x.recv(4096)
            if not d:
                die("EOF before data")
            got[x] += len(d)

    # Everything sent must be acknowledged first: a FIN queued behind data
    # in flight waits for the congestion window (after a loss, cwnd 1), so
    # the kernel would be in FIN_WAIT1 at shutdown() while its FIN leaves
    # only after the peer's FIN arrived: from the wire that is a passive
    # close (README, "What tcpscope cannot know", 1). SIOCOUTQ is
    # write_seq - snd_una for TCP: 0 once all is acknowledged.
    socks = [x for p in pairs for x in p]
    while True:
        busy = [x for x in socks
                if struct.unpack("i", fcntl.ioctl(x.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]]
        if not busy:
            break
        left("acknowledgements")
        time.sleep(0.01)

    if a.mode == "crossing":
        # Both FINs of each connection at once; which end goes first alternates.
        for i, (c, s) in enumerate(pairs):
            first, second = (c, s) if i % 2 == 0 else (s, c)
            first.shutdown(socket.SHUT_WR)
            second.shutdown(socket.SHUT_WR)
        open_ = {x for p in pairs for x in p}
    else:
        for c, _ in pairs:
            c.close()
        open_ = {s for _, s in pairs}

    # Read the peers' FINs, closing each socket at once.
    n = len(pairs)
    while open_:
        r, _ = ready(list(open_), [], min(left("eof"), 0.5))
        for x in r:
            try:
                d = x.recv(4096)
            except ConnectionError as e:
                die("recv: %s" % e)
            if not d:
                open_.discard(x)
                x.close()
    for l in listeners:
        l.close()
    print("ok %s %d" % (a.mode, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
