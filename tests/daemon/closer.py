#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# One end of one connection whose close the test orders, run inside a
# namespace. Bounded in time: it exits after SECONDS.
#   closer.py server ADDR PORT FLAG SECONDS   accept one connection
#   closer.py client ADDR PORT FLAG SECONDS   connect to ADDR PORT
# Prints "ready" once connected, then close()s the socket as soon as the
# file FLAG exists (the kernel carries the close on, orphaned).
import os, socket, sys, time

role, addr, port, flag, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
end = time.time() + secs
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
if role == 'server':
    ls = socket.socket(fam)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    ls.settimeout(secs)
    c, _ = ls.accept()
    ls.close()
else:
    c = socket.create_connection((addr, port), timeout=5)
print('ready', flush=True)
while not os.path.exists(flag) and time.time() < end:
    time.sleep(0.02)
c.close()
time.sleep(max(0, end - time.time()))
