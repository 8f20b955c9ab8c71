# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Spoofed TCP segments for tests/robust/test_spoof.sh. Run with
# /usr/bin/python3 (Debian's python3-scapy), inside a test namespace.
#
#   inject.py send SRC DST SPORT DPORT FLAGS SEQ ACK [LEN]
#       one IPv4/IPv6 TCP segment at L3 (the kernel routes it), with LEN
#       bytes of payload (default none), TTL/hop limit MARK_TTL so a
#       capture can tell it from the kernel's own
#   inject.py nxt PCAP SRC SPORT DST DPORT
#       from a capture of a connection, "A B": the next sequence number of
#       SRC->DST (what DST expects, its RCV.NXT) and of DST->SRC, taken
#       from the last genuine segment of each direction
import sys

# The layers it needs, not scapy.all: 0.18 s to import instead of 0.6, and
# the suite runs this ~40 times.
from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.sendrecv import send  # noqa: E402
from scapy.utils import rdpcap  # noqa: E402

MARK_TTL = 37


def ip_layer(src, dst):
	if ":" in src:
		return IPv6(src=src, dst=dst, hlim=MARK_TTL)
	return IP(src=src, dst=dst, ttl=MARK_TTL)


def cmd_send(src, dst, sport, dport, flags, seq, ack, length="0"):
	seg = TCP(sport=int(sport), dport=int(dport), flags=flags,
		  seq=int(seq) % 2**32, ack=int(ack) % 2**32, window=502)
	send(ip_layer(src, dst) / seg / (b"x" * int(length)), verbose=False)


def seg_end(p, ip):
	t = p[TCP]
	# Payload length from the IP header: the capture may be truncated.
	if ip is IP:
		plen = p[IP].len - 4 * p[IP].ihl - 4 * t.dataofs
	else:
		plen = p[IPv6].plen - 4 * t.dataofs
	return (t.seq + plen + (1 if "S" in t.flags else 0) + (1 if "F" in t.flags else 0)) % 2**32


def cmd_nxt(pcap, src, sport, dst, dport):
	sport, dport = int(sport), int(dport)
	ip = IPv6 if ":" in src else IP
	fwd = rev = None
	for p in rdpcap(pcap):
		if ip not in p or TCP not in p:
			continue
		h, t = p[ip], p[TCP]
		if (h.ttl if ip is IP else h.hlim) == MARK_TTL:
			continue
		if (h.src, t.sport, h.dst, t.dport) == (src, sport, dst, dport):
			fwd = seg_end(p, ip)
		elif (h.src, t.sport, h.dst, t.dport) == (dst, dport, src, sport):
			rev = seg_end(p, ip)
	if fwd is None or rev is None:
		sys.exit("inject.py: no segments of %s:%d <-> %s:%d in %s" % (src, sport, dst, dport, pcap))
	print(fwd, rev)


def main():
	cmds = {"send": (cmd_send, 7, 8), "nxt": (cmd_nxt, 5, 5)}
	if len(sys.argv) < 2 or sys.argv[1] not in cmds or \
			not cmds[sys.argv[1]][1] + 2 <= len(sys.argv) <= cmds[sys.argv[1]][2] + 2:
		sys.exit("usage: inject.py send SRC DST SPORT DPORT FLAGS SEQ ACK [LEN] | nxt PCAP SRC SPORT DST DPORT")
	fn = cmds[sys.argv[1]][0]
	fn(*sys.argv[2:])


if __name__ == "__main__":
	main()
