#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Request/response traffic for tests/health: every message is answered at
once, so no delayed ACK stretches an RTT sample (on either the kernel's or
tcpscope's side).
  echo.py server ADDR PORT N          accept N connections, echo until EOF
  echo.py client ADDR PORT N ROUNDS   N connections, ROUNDS round trips each,
                                      print "done", hold them until killed"""
import selectors
import socket
import sys
import time

role, addr, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
if role == "server":
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(64)
    print("ready", flush=True)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ)
    deadline = time.time() + 120
    while time.time() < deadline:
        for key, _ in sel.select(1):
            s = key.fileobj
            if s is ls:
                c, _ = ls.accept()
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(c, selectors.EVENT_READ)
                continue
            d = s.recv(65536)
            if not d:
                sel.unregister(s)
                s.close()
            else:
                s.sendall(d)
    sys.exit(0)
rounds = int(sys.argv[5])
cs = []
for _ in range(n):
    c = socket.create_connection((addr, port), timeout=10)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    cs.append(c)
for _ in range(rounds):
    for c in cs:
        c.sendall(b"x" * 100)
    for c in cs:
        got = 0
        while got < 100:
            got += len(c.recv(100 - got))
print("done", flush=True)
time.sleep(120)
