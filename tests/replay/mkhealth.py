#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A crafted capture for tests/replay/test_health.sh: one connection with
timestamps, one retransmission and exact microsecond times (Decimal, so
the capture holds them exactly). Usage: mkhealth.py FILE"""
import sys
from decimal import Decimal

from scapy.all import IP, TCP, Ether, Raw, wrpcap

T0 = Decimal("1700000000.000000")
C, S = ("198.18.0.1", 40000), ("198.18.0.2", 80)
pkts = []


def seg(who, t_us, flags, seq, ack, data=0, tsval=None, tsecr=0):
    src, dst = (C, S) if who == "c" else (S, C)
    opts = [("MSS", 1460), ("WScale", 7)] if "S" in flags else []
    if tsval is not None:
        opts = ([("NOP", None), ("NOP", None)] if "S" not in flags else opts) + \
            [("Timestamp", (tsval, tsecr))]
    p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
        IP(src=src[0], dst=dst[0]) / TCP(sport=src[1], dport=dst[1], flags=flags, seq=seq,
                                         ack=ack if "A" in flags else 0, window=502, options=opts)
    if data:
        p = p / Raw(b"x" * data)
    p.time = T0 + Decimal(t_us) / Decimal(1000000)
    pkts.append(p)


ci, si = 1000, 5000
seg("c", 0, "S", ci, 0, tsval=100)
seg("s", 12345, "SA", si, ci + 1, tsval=900, tsecr=100)
seg("c", 12845, "A", ci + 1, si + 1, tsval=101, tsecr=900)
seg("c", 1000000, "PA", ci + 1, si + 1, 100, tsval=1100, tsecr=900)
seg("s", 1020000, "A", si + 1, ci + 101, tsval=1900, tsecr=1100)
seg("c", 1500000, "PA", ci + 101, si + 1, 100, tsval=1600, tsecr=1900)
seg("c", 1700000, "PA", ci + 101, si + 1, 100, tsval=1800, tsecr=1900)   # retransmitted
seg("s", 1730000, "A", si + 1, ci + 201, tsval=2700, tsecr=1800)
seg("c", 3000001, "FA", ci + 201, si + 1, tsval=4000, tsecr=2700)
seg("s", 3010001, "FA", si + 1, ci + 202, tsval=4900, tsecr=4000)
seg("c", 3020002, "A", ci + 202, si + 2, tsval=4010, tsecr=4900)
wrpcap(sys.argv[1], pkts)
