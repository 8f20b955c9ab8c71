#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Crafted captures for tests/replay/test_replay.sh: one small scenario per
file, written with scapy (Debian's python3-scapy: run with /usr/bin/python3).
Usage: mkpcaps.py OUTDIR | mkpcaps.py FILE bench N_PACKETS | mkpcaps.py FILE flood SYNS ACKS"""
import sys

from scapy.all import IP, IPv6, TCP, UDP, Ether, Dot1Q, Raw, CookedLinux, wrpcap
from scapy.utils import PcapNgWriter

C4, S4 = "198.18.0.1", "198.18.0.2"
C6, S6 = "2001:db8::1", "2001:db8::2"
CP, SP = 40000, 80
T0 = 1700000000.0


class Conv:
    """One TCP conversation: c()/s() append a segment from the client or
    the server, tracking sequence numbers as real stacks would."""

    def __init__(self, v6=False, vlan=None, cseq=1000, sseq=5000, cp=CP, sp=SP, t0=T0):
        self.v6, self.vlan = v6, vlan
        self.cp, self.sp = cp, sp
        self.nxt = {"c": cseq, "s": sseq}
        self.pkts, self.t = [], t0

    def seg(self, who, flags, data=0, seq=None, ack=None, adv=True, win=64240, dt=0.001):
        peer = "s" if who == "c" else "c"
        src, dst = (C6, S6) if self.v6 else (C4, S4)
        sport, dport = self.cp, self.sp
        if who == "s":
            src, dst, sport, dport = dst, src, dport, sport
        seq = self.nxt[who] if seq is None else seq
        ack = self.nxt[peer] if ack is None else ack
        l3 = IPv6(src=src, dst=dst) if self.v6 else IP(src=src, dst=dst)
        opts = [("MSS", 1460), ("WScale", 7)] if "S" in flags else []
        t = TCP(sport=sport, dport=dport, flags=flags, seq=seq,
                ack=ack if "A" in flags else 0, window=win, options=opts)
        p = l3 / t
        if data:
            p = p / Raw(b"x" * data)
        eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        p = eth / Dot1Q(vlan=self.vlan) / p if self.vlan else eth / p
        self.t += dt
        p.time = self.t
        self.pkts.append(p)
        if adv:
            self.nxt[who] = seq + data + ("S" in flags) + ("F" in flags)
        return self

    c = lambda self, *a, **k: self.seg("c", *a, **k)
    s = lambda self, *a, **k: self.seg("s", *a, **k)

    def handshake_data(self):
        return (self.c("S").s("SA").c("A").c("PA", 100).s("A").s("PA", 200).c("A"))


def close_client_first(cv):
    return cv.c("FA").s("FA").c("A")


def scenarios():
    sc = {}
    sc["close_client"] = close_client_first(Conv().handshake_data()).pkts
    sc["close_server"] = Conv().handshake_data().s("FA").c("FA").s("A").pkts
    # Simultaneous close: each FIN acks only the other's data, not its FIN.
    cv = Conv().handshake_data()
    cx, sx = cv.nxt["c"], cv.nxt["s"]
    cv.c("FA", seq=cx, ack=sx).s("FA", seq=sx, ack=cx)
    cv.c("A", ack=sx + 1).s("A", ack=cx + 1)
    sc["simultaneous_close"] = cv.pkts
    sc["rst"] = Conv().c("S").s("SA").c("A").c("PA", 100).s("A").c("R").pkts
    cv = Conv().c("S")
    cv.s("RA", seq=0, ack=1001)
    sc["refused"] = cv.pkts
    sc["syn_only"] = Conv().c("S").c("S", seq=1000, dt=1.0).pkts
    # Mid-stream: the capture starts after the handshake.
    cv = Conv().handshake_data()
    sc["midstream"] = cv.c("PA", 50).s("A").s("PA", 70).c("A").pkts[7:]
    sc["ipv6"] = close_client_first(Conv(v6=True).handshake_data()).pkts
    sc["vlan"] = close_client_first(Conv(vlan=100).handshake_data()).pkts
    cv = Conv().handshake_data()
    fin = cv.nxt["c"]
    cv.c("FA").c("FA", seq=fin, dt=0.2).s("FA").c("A")
    sc["retransmitted_fin"] = cv.pkts
    # TIME_WAIT leaves after 2MSL of capture time: 70 s later, another SYN.
    cv = close_client_first(Conv().handshake_data())
    other = Conv(cp=40001, t0=cv.t + 70).c("S")
    sc["timewait_expiry"] = cv.pkts + other.pkts
    # One 8000-byte segment (as captured before GSO): bigger than a test
    # run takes, so replay cuts it the way TSO would.
    cv = Conv().c("S").s("SA").c("A").c("PA", 8000).s("A")
    sc["jumbo"] = close_client_first(cv).pkts
    # Zeek's records: a refused SYN tried again (same ISN) 0.5 s later is a
    # new connection for Zeek (IsReuse once a side has closed).
    cv = Conv().c("S").s("RA", seq=0, ack=1001)
    cv.c("S", seq=1000, dt=0.5).s("RA", seq=0, ack=1001)
    sc["refused_twice"] = cv.pkts
    # One-sided (client only): the SYN is never answered, so Zeek gives the
    # attempt up after 5 s; the client's later data and FIN start another.
    cv = Conv().c("S").c("A", ack=5001, dt=0.1).c("PA", 100, ack=5001)
    cv.c("PA", 100, ack=5001, dt=6.0).c("FA", ack=5001)
    sc["attempt_timeout"] = cv.pkts
    # Starts with a SYN-ACK between two likely server ports (no flip by
    # port); the client's ACK shows who the client is: Zeek flips late.
    cv = Conv(cp=3128, sp=8080).s("SA").c("A").c("PA", 100).s("A")
    sc["late_flip"] = close_client_first(cv).pkts
    # The server's 200 bytes are not in the capture, yet the client acks
    # them: a content gap in the responder's direction.
    cv = Conv().c("S").s("SA").c("A").c("PA", 100).s("A").s("PA", 200)
    cv.pkts.pop()
    sc["gap"] = close_client_first(cv.c("A")).pkts
    # Reset, then 16 s later more data on the tuple: Zeek deleted the first
    # connection tcp_close_delay (5 s) after the RST, so it is a new one.
    cv = Conv().c("S").s("SA").c("A").c("R")
    cv.c("PA", 100, ack=5001, dt=16.0).s("R", seq=5001)
    sc["reset_then_data"] = cv.pkts
    sc["batch_edges"] = batch_edges()
    return sc


def batch_edges():
    """Replay's kernel path runs up to 32 frames per test run in at most
    3456 bytes, TCP frames cut after their headers: 6 conversations
    interleaved (IPv4, IPv6, VLAN), 1400-byte segments, and between them
    non-TCP frames of 3000 and 3456 bytes (whole in a batch), TCP frames
    whose IP length overruns the frame, and runts shorter than an Ethernet
    header (refused)."""
    convs = [Conv(cp=41000 + i, v6=(i % 3 == 1), vlan=(100 if i % 3 == 2 else None),
                  t0=T0 + i * 0.0001) for i in range(6)]
    for cv in convs:
        cv.c("S").s("SA").c("A")
        for _ in range(12):
            cv.c("PA", 1400).s("A")
        close_client_first(cv)
    pkts = sorted((p for cv in convs for p in cv.pkts), key=lambda p: p.time)
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    extra = []
    for i, size in enumerate([3000, 3456, 3456, 3000, 100]):
        u = eth / IP(src=C4, dst=S4) / UDP(sport=5000, dport=5001) / Raw(b"u" * (size - 42))
        u.time = T0 + 0.003 + i * 0.004
        extra.append(u)
    for i in range(3):
        bad = eth / IP(src=C4, dst=S4, len=2000) / TCP(sport=42000 + i, dport=SP, flags="PA", seq=1, ack=1) / Raw(b"b" * 100)
        bad.time = T0 + 0.005 + i * 0.006
        extra.append(bad)
        runt = Raw(bytes(eth)[:10])
        runt.time = T0 + 0.006 + i * 0.006
        extra.append(runt)
    return sorted(pkts + extra, key=lambda p: p.time)


def write_all(out):
    sc = scenarios()
    for name, pkts in sc.items():
        wrpcap(f"{out}/{name}.pcap", pkts)
    # The same close_client conversation in other containers / link types.
    w = PcapNgWriter(f"{out}/close_client.pcapng")
    for p in sc["close_client"]:
        w.write(p)
    w.close()
    sll = []
    for p in sc["close_client"]:
        q = CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=b"\x02\0\0\0\0\x01\0\0", proto=0x0800) / p[IP]
        q.time = p.time
        sll.append(q)
    wrpcap(f"{out}/close_client_sll.pcap", sll)
    raw = []
    for p in sc["close_client"]:
        q = p[IP].copy()
        q.time = p.time
        raw.append(q)
    wrpcap(f"{out}/close_client_raw.pcap", raw, linktype=101)


def write_bench(path, n):
    """n packets of many short connections (handshake, 10 data segments
    each way, close), written with struct: scapy is too slow for millions.
    Checksums are left zero; tcpscope does not verify them."""
    import struct
    flows = ["S", "SA", "A"] + ["PA", "A"] * 10 + ["FA", "FA", "A"]
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 65535, 1))
        i, conn, t = 0, 0, 1700000000 * 10**9
        while i < n:
            cp = 1024 + conn % 60000
            cip = 0xC6120000 | (conn // 60000 + 10)  # 198.18.x.y
            sip = 0xC6130001
            nxt = {0: 1000, 1: 5000}
            for k, fl in enumerate(flows):
                if i >= n:
                    break
                who = 0 if fl == "S" or (fl != "SA" and k % 2 == 0 and k < 23) else 1
                if fl == "SA":
                    who = 1
                if k == 2:
                    who = 0
                if k >= 23:
                    who = (k - 23) % 2
                bits = sum({"S": 2, "A": 16, "P": 8, "F": 1}[c] for c in fl)
                data = 100 if "P" in fl else 0
                src, dst = (cip, sip) if who == 0 else (sip, cip)
                sp, dp = (cp, 80) if who == 0 else (80, cp)
                seq, ack = nxt[who], nxt[1 - who]
                tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack if bits & 16 else 0,
                                  5 << 4, bits, 65535, 0, 0)
                ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + 20 + data, 0, 0x4000, 64, 6, 0,
                                 src, dst)
                pkt = eth + ip + tcp + b"x" * data
                t += 1000
                f.write(struct.pack("<IIII", t // 10**9, t % 10**9, len(pkt), len(pkt)) + pkt)
                nxt[who] = seq + data + (1 if bits & 3 else 0)
                i += 1
            conn += 1


def write_flood(path, syns, acks):
    """syns SYNs of distinct tuples, then acks lone ACKs of further tuples
    (each a connection picked up mid-stream), to fill the half-open and
    the main table past their limits. Written with struct, as bench."""
    import struct
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 65535, 1))
        t = 1700000000 * 10**9
        for i in range(syns + acks):
            bits = 2 if i < syns else 16
            cip = 0xC6120000 | (i // 60000 + 10)  # 198.18.x.y, 60000 ports each
            tcp = struct.pack("!HHIIBBHHH", 1024 + i % 60000, 80, 1000 + i, 5000 if bits == 16 else 0,
                              5 << 4, bits, 65535, 0, 0)
            ip = struct.pack("!BBHHHBBHII", 0x45, 0, 40, 0, 0x4000, 64, 6, 0, cip, 0xC6130001)
            pkt = eth + ip + tcp
            t += 1000
            f.write(struct.pack("<IIII", t // 10**9, t % 10**9, len(pkt), len(pkt)) + pkt)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "bench":
        write_bench(sys.argv[1], int(sys.argv[3]))
    elif len(sys.argv) > 2 and sys.argv[2] == "flood":
        write_flood(sys.argv[1], int(sys.argv[3]), int(sys.argv[4]))
    else:
        write_all(sys.argv[1])
