# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""What `ss -tan` would show, polled: run inside a namespace (nsenter), it
reads /proc/net/tcp and /proc/net/tcp6 every --interval-ms and prints a line
for every socket on ports [--lo, --hi) that appears, changes state or goes:

    mono_ns STATE laddr lport raddr rport
    mono_ns GONE  laddr lport raddr rport

mono_ns is CLOCK_MONOTONIC taken before the read (the tracepoint's clock),
so a line says "in STATE at or after mono_ns". Timewait sockets are listed
as tw:SUBSTATE (tw:FIN_WAIT2 or tw:TIME_WAIT): the tracepoint does not see
them at all, this is how the oracle does. Bounded by --duration; SIGTERM
ends it."""
import argparse
import ipaddress
import signal
import struct
import sys
import time

STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
          6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
          11: "CLOSING", 12: "NEW_SYN_RECV"}


def hexaddr(h):
    raw = bytes.fromhex(h)
    # /proc prints each 32-bit word in host order.
    words = b"".join(struct.pack("=I", struct.unpack(">I", raw[i:i + 4])[0])
                     for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words).compressed


# Offsets of the local and remote port (4 hex digits) after "sl: " in
# /proc/net/tcp (IPv4) and /proc/net/tcp6: fixed-width fields, so a line
# not on our ports is skipped without being split.
PORT_AT = {"/proc/net/tcp": (9, 23), "/proc/net/tcp6": (33, 71)}


def read(ports_hex, cache):
    cur = {}
    for path, (lo_at, ro_at) in PORT_AT.items():
        with open(path) as f:
            data = f.read()
        for line in data.splitlines()[1:]:
            b = line.index(":") + 2
            if line[b + lo_at:b + lo_at + 4] not in ports_hex and \
                    line[b + ro_at:b + ro_at + 4] not in ports_hex:
                continue
            p = line.split()
            la, lp = p[1].split(":")
            ra, rp = p[2].split(":")
            st = int(p[3], 16)
            if st == 10:
                continue
            # Timer type 3 marks a timewait socket (its state field is the
            # substate): "tw:FIN_WAIT2" differs from a full FIN_WAIT2.
            tw = "tw:" if p[5].startswith("03:") else ""
            key = (la, lp, ra, rp)
            if key not in cache:
                cache[key] = "%s %d %s %d" % (hexaddr(la), int(lp, 16), hexaddr(ra), int(rp, 16))
            cur[key] = tw + STATES.get(st, str(st))
    return cur


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lo", type=int, required=True)
    ap.add_argument("--hi", type=int, required=True)
    ap.add_argument("--interval-ms", type=float, default=10)
    ap.add_argument("--duration", type=float, required=True)
    a = ap.parse_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    end = time.monotonic() + a.duration
    cache, last = {}, {}
    ports_hex = {"%04X" % p for p in range(a.lo, a.hi)}
    print("sspoll: ready", flush=True)
    while not stop and time.monotonic() < end:
        t = time.monotonic_ns()
        cur = read(ports_hex, cache)
        out = []
        for k, s in cur.items():
            if last.get(k) != s:
                out.append("%d %s %s" % (t, s, cache[k]))
        for k in last:
            if k not in cur:
                out.append("%d GONE %s" % (t, cache[k]))
        last = cur
        if out:
            sys.stdout.write("\n".join(out) + "\n")
            sys.stdout.flush()
        time.sleep(a.interval_ms / 1000.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
