#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Socket helper for the daemon suite, run inside a namespace. Bounded in
# time (every mode exits after SECONDS) and in count.
#   conn.py serve ADDR PORT SECONDS      accept; per connection: read to EOF,
#                                        reply with the byte count, close
#   conn.py listen ADDR PORT SECONDS     just listen (for LISTEN entries)
#   conn.py hold HOST PORT N SECONDS     open N connections and keep them
#   conn.py close HOST PORT N            open N connections, close them (we
#                                        close first: TIME_WAIT here)
#   conn.py transfer HOST PORT BYTES     send BYTES, check the echoed count
import socket, sys, threading, time

def family(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET

def serve(addr, port, secs, reply):
    s = socket.socket(family(addr))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(512)
    s.settimeout(0.2)
    end = time.time() + secs
    def handle(c):
        c.settimeout(max(1, end - time.time()))
        n = 0
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                n += len(b)
            c.sendall(str(n).encode())
        except OSError:
            pass
        c.close()
    while time.time() < end:
        try:
            c, _ = s.accept()
        except socket.timeout:
            continue
        if reply:
            threading.Thread(target=handle, args=(c,), daemon=True).start()

def connect(host, port):
    return socket.create_connection((host, port), timeout=5)

def main():
    mode = sys.argv[1]
    if mode in ('serve', 'listen'):
        serve(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), mode == 'serve')
    elif mode == 'hold':
        cs = [connect(sys.argv[2], int(sys.argv[3])) for _ in range(int(sys.argv[4]))]
        print('ready', flush=True)
        time.sleep(float(sys.argv[5]))
    elif mode == 'close':
        for _ in range(int(sys.argv[4])):
            c = connect(sys.argv[2], int(sys.argv[3]))
            c.shutdown(socket.SHUT_WR)
            c.recv(100)        # the server's count, then its FIN
            c.close()
    elif mode == 'transfer':
        n = int(sys.argv[4])
        c = connect(sys.argv[2], int(sys.argv[3]))
        c.settimeout(20)
        buf = b'x' * 65536
        left = n
        while left:
            left -= c.send(buf[:min(left, len(buf))])
        c.shutdown(socket.SHUT_WR)
        got = c.recv(100)
        sys.exit(0 if got == str(n).encode() else 1)

main()
