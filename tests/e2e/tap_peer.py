#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A remote TCP peer behind a tap device, for test_tc_pull.sh: it writes
the peer's frames into the tap (they arrive on the tap's receive path, tc
ingress first) and reads the host's frames from it.

The frames it writes have their headers in page fragments, not in the
skb's linear part: with IFF_VNET_HDR, tun_get_user (drivers/net/tun.c)
puts only virtio_net_hdr's hdr_len bytes in the linear part once the frame
(with its headroom) reaches a page; smaller ones are made linear. So every
frame carries hdr_len = 14 (the least the tap takes: ETH_HLEN) and
Ethernet padding past the IP packet up to --frame bytes, which IPv4 and
IPv6 input trim (pskb_trim_rcsum) as they do a short frame's padding.

    tap_peer.py --tap TAP --tap-mac MAC --peer-mac MAC \\
        --v4 LOCAL PEER --v6 LOCAL PEER --port PORT [--sport SPORT]

Commands on stdin, one per line, FAM being 4 or 6; each prints "ok CMD"
when done or "error CMD: why" on stderr and exits 1:
    connect FAM     SYN (MSS and window-scale options), the SYN+ACK, ACK
    send FAM N      N bytes of data in one segment, until acknowledged
    fin FAM         FIN, until acknowledged
    wait-fin FAM    the host's FIN (acknowledging any data before it), ACK
    exit
Bounded: every wait by --timeout seconds, the whole run by --lifetime.
"""
import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000
VNET_HDR_LEN = 10  # struct virtio_net_hdr, the tap's default vnet_hdr_sz
ETH_HLEN = 14
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


class Conn:
    """One connection of the peer (the active opener)."""

    def __init__(self, fam, local, peer, port, sport):
        self.fam = fam
        self.af = socket.AF_INET if fam == 4 else socket.AF_INET6
        self.local = socket.inet_pton(self.af, local)  # the host's address
        self.peer = socket.inet_pton(self.af, peer)  # ours
        self.port, self.sport = port, sport
        self.snd_nxt = 1000000 * fam  # our ISN
        self.snd_una = self.snd_nxt
        self.rcv_nxt = 0
        self.synack_seen = self.fin_seen = False

    def segment(self, flags, payload=b"", opts=b""):
        doff = (20 + len(opts)) // 4
        th = struct.pack("!HHIIBBHHH", self.sport, self.port, self.snd_nxt,
                         self.rcv_nxt if flags & ACK else 0, doff << 4, flags, 65535, 0, 0)
        seg = th + opts + payload
        if self.fam == 4:
            pseudo = self.peer + self.local + struct.pack("!BBH", 0, 6, len(seg))
        else:
            pseudo = self.peer + self.local + struct.pack("!IxxxB", len(seg), 6)
        seg = seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]
        if self.fam == 4:
            ih = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 1, 0x4000, 64, 6, 0,
                             self.peer, self.local)
            ih = ih[:10] + struct.pack("!H", csum(ih)) + ih[12:]
            return 0x0800, ih + seg
        ih = struct.pack("!IHBB16s16s", 6 << 28, len(seg), 6, 64, self.peer, self.local)
        return 0x86DD, ih + seg

    def ours(self, ethertype, pkt):
        """The TCP header and payload of a frame of this connection, or None."""
        if self.fam == 4:
            if ethertype != 0x0800 or len(pkt) < 20 or pkt[9] != 6:
                return None
            ihl = (pkt[0] & 15) * 4
            src, dst, end = pkt[12:16], pkt[16:20], struct.unpack("!H", pkt[2:4])[0]
        else:
            if ethertype != 0x86DD or len(pkt) < 40 or pkt[6] != 6:
                return None
            ihl, src, dst = 40, pkt[8:24], pkt[24:40]
            end = 40 + struct.unpack("!H", pkt[4:6])[0]
        if src != self.local or dst != self.peer:
            return None
        tcp = pkt[ihl:end]
        if len(tcp) < 20 or struct.unpack("!HH", tcp[:4]) != (self.port, self.sport):
            return None
        return tcp


class Peer:
    def __init__(self, a):
        self.a = a
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.fd, TUNSETIFF,
                    struct.pack("16sH", a.tap.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
        self.tap_mac, self.peer_mac = mac(a.tap_mac), mac(a.peer_mac)
        self.conns = {4: Conn(4, a.v4[0], a.v4[1], a.port, a.sport),
                      6: Conn(6, a.v6[0], a.v6[1], a.port, a.sport)}
        self.written = 0

    def write(self, c, flags, payload=b"", opts=b""):
        ethertype, pkt = c.segment(flags, payload, opts)
        frame = self.tap_mac + self.peer_mac + struct.pack("!H", ethertype) + pkt
        frame += bytes(max(0, self.a.frame - len(frame)))
        # virtio_net_hdr: no offloads, hdr_len = the Ethernet header only.
        vh = struct.pack("=BBHHHH", 0, 0, ETH_HLEN, 0, 0, 0)
        if os.write(self.fd, vh + frame) != VNET_HDR_LEN + len(frame):
            raise RuntimeError("short write to the tap")
        self.written += 1
        c.snd_nxt += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def until(self, c, done, what):
        """Read the host's frames (acknowledging its data and FIN) until
        done(c) or the timeout."""
        end = time.monotonic() + self.a.timeout
        while not done(c):
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise RuntimeError("timed out waiting for " + what)
            frame = os.read(self.fd, 65536)[VNET_HDR_LEN:]
            if len(frame) < ETH_HLEN:
                continue
            tcp = c.ours(struct.unpack("!H", frame[12:14])[0], frame[ETH_HLEN:])
            if tcp is None:
                continue
            self.take(c, tcp)

    def take(self, c, tcp):
        seq, ack = struct.unpack("!II", tcp[4:12])
        flags, doff = tcp[13], (tcp[12] >> 4) * 4
        if flags & RST:
            raise RuntimeError("reset by the host")
        if flags & SYN:
            c.rcv_nxt = seq + 1
            c.synack_seen = True
        if flags & ACK and (ack - c.snd_una) & 0xFFFFFFFF < 1 << 31:
            c.snd_una = ack
        data = len(tcp) - doff
        if not flags & SYN and (data or flags & FIN) and seq == c.rcv_nxt:
            c.rcv_nxt = seq + data + (1 if flags & FIN else 0)
            c.fin_seen = c.fin_seen or bool(flags & FIN)
            self.write(c, ACK)

    def run(self, cmd):
        w = cmd.split()
        c = self.conns[int(w[1])] if len(w) > 1 and w[1] in ("4", "6") else None
        if w[0] == "connect" and c:
            mss = 1460 if c.fam == 4 else 1440
            opts = struct.pack("!BBHBBBB", 2, 4, mss, 1, 3, 3, 7)  # MSS, NOP, wscale 7
            self.write(c, SYN, opts=opts)
            self.until(c, lambda c: c.synack_seen, "the SYN+ACK")
            self.write(c, ACK)
        elif w[0] == "send" and c and len(w) == 3:
            self.write(c, PSH | ACK, payload=bytes(int(w[2])))
        elif w[0] == "fin" and c:
            self.write(c, FIN | ACK)
        elif w[0] == "wait-fin" and c:
            self.until(c, lambda c: c.fin_seen, "the host's FIN")
            return
        elif w[0] == "exit":
            sys.exit(0)
        else:
            raise RuntimeError("unknown command")
        self.until(c, lambda c: c.snd_una == c.snd_nxt, "the host's ACK")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tap", required=True)
    p.add_argument("--tap-mac", required=True)
    p.add_argument("--peer-mac", required=True)
    p.add_argument("--v4", nargs=2, required=True, metavar=("LOCAL", "PEER"))
    p.add_argument("--v6", nargs=2, required=True, metavar=("LOCAL", "PEER"))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--sport", type=int, default=40000)
    p.add_argument("--frame", type=int, default=4500, help="frame bytes with padding")
    p.add_argument("--timeout", type=float, default=5)
    p.add_argument("--lifetime", type=int, default=120)
    a = p.parse_args()
    signal.alarm(a.lifetime)
    peer = Peer(a)
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if not cmd:
            continue
        try:
            peer.run(cmd)
        except (RuntimeError, OSError, ValueError, KeyError) as e:
            print("error %s: %s" % (cmd, e), file=sys.stderr)
            sys.exit(1)
        print("ok %s (%d frames written)" % (cmd, peer.written), flush=True)


if __name__ == "__main__":
    main()
