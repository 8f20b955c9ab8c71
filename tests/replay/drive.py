#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Real kernel TCP for the replay captures, one connection, paced with
sleeps so that delayed ACKs go out on their own and the packet sequence
is the same on every run. Every socket operation has a timeout.
  drive.py server ADDR PORT MODE     (serves one connection, then exits)
  drive.py client ADDR PORT MODE
MODE: client_close | server_close | rst | connect_only"""
import socket
import struct
import sys
import time

role, addr, port, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
PAUSE = 0.2	# > Linux's 40 ms delayed ACK


def recv_exact(s, n):
    got = 0
    while got < n:
        b = s.recv(n - got)
        if not b:
            break
        got += len(b)
    return got


if role == "server":
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.settimeout(10)
    ls.bind((addr, port))
    ls.listen(8)
    print("listening", flush=True)
    s, _ = ls.accept()
    s.settimeout(10)
    recv_exact(s, 100)
    time.sleep(PAUSE)
    s.sendall(b"y" * 200)
    time.sleep(PAUSE)
    if mode == "server_close":
        s.close()
    else:
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass	# mode rst: the client aborted, as intended
        time.sleep(PAUSE)
        s.close()
    time.sleep(PAUSE)
    ls.close()
else:
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect((addr, port))
    except (ConnectionRefusedError, socket.timeout, OSError):
        sys.exit(0)
    if mode == "connect_only":
        sys.exit(0)
    time.sleep(PAUSE)
    s.sendall(b"x" * 100)
    recv_exact(s, 200)
    time.sleep(PAUSE)
    if mode == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    elif mode == "server_close":
        while s.recv(4096):
            pass
        time.sleep(PAUSE)
        s.close()
    else:
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):
            pass
        s.close()
    time.sleep(PAUSE)
