#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A TCP peer played in user space against a real TCP stack (the host),
whose frames carry their headers in page fragments, not in the skb's
linear part: the frames tc's pull path is for. Two ways in:

  --tap TAP (test_tc_pull.sh): the peer is remote, behind a tap. It writes
    its frames into the tap (they arrive on the tap's receive path, tc
    ingress first) and reads the host's frames from it. With IFF_VNET_HDR,
    tun_get_user (drivers/net/tun.c) puts only virtio_net_hdr's hdr_len
    bytes in the linear part once the frame (with its headroom) reaches a
    page; smaller ones are made linear.
  --packet IFACE (test_tc_pull_egress.sh): the peer is the local end, its
    address configured nowhere, sending on IFACE (a veth) through an
    AF_PACKET socket with PACKET_VNET_HDR; dev_queue_xmit runs tc egress on
    the frame. packet_snd (net/packet/af_packet.c) makes max(hdr_len,
    min(len, hard_header_len)) bytes linear and the rest page fragments,
    unless the frame and the device's reserved space (16 bytes on a veth)
    stay under a page: then all is linear. Measured on veth: 4079-byte
    frames linear, 4080 and up 14 bytes linear. The device's MTU must take
    the frame (len <= MTU + 14). The host's frames are read from the same
    socket.

Either way every frame carries hdr_len = 14 (ETH_HLEN: the least the tap
takes) and Ethernet padding past the IP packet up to --frame bytes, which
IPv4 and IPv6 input trim (pskb_trim_rcsum) as they do a short frame's
padding.

    tap_peer.py (--tap TAP | --packet IFACE) --host-mac MAC --peer-mac MAC \\
        --v4 HOST PEER --v6 HOST PEER --port PORT [--sport SPORT]

Commands on stdin, one per line, FAM being 4 or 6; each prints "ok CMD"
when done or "error CMD: why" on stderr and exits 1:
    connect FAM     SYN (MSS and window-scale options), the SYN+ACK, ACK
    send FAM N      N bytes of data in one segment, until acknowledged
    recv FAM N      until N bytes of the host's data in all (each acknowledged)
    fin FAM         FIN, until acknowledged
    wait-fin FAM    the host's FIN (acknowledging any data before it), ACK
    exit
The ok line counts the frames written so far, in all and by family.
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
SOL_PACKET, PACKET_VNET_HDR, PACKET_IGNORE_OUTGOING = 263, 15, 23
ETH_P_ALL = 0x0003
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

    def __init__(self, fam, host, peer, port, sport):
        self.fam = fam
        self.af = socket.AF_INET if fam == 4 else socket.AF_INET6
        self.host = socket.inet_pton(self.af, host)  # the real stack's address
        self.peer = socket.inet_pton(self.af, peer)  # ours
        self.port, self.sport = port, sport
        self.snd_nxt = 1000000 * fam  # our ISN
        self.snd_una = self.snd_nxt
        self.rcv_nxt = 0
        self.synack_seen = self.fin_seen = False
        self.received = self.written = 0

    def segment(self, flags, payload=b"", opts=b""):
        doff = (20 + len(opts)) // 4
        th = struct.pack("!HHIIBBHHH", self.sport, self.port, self.snd_nxt,
                         self.rcv_nxt if flags & ACK else 0, doff << 4, flags, 65535, 0, 0)
        seg = th + opts + payload
        if self.fam == 4:
            pseudo = self.peer + self.host + struct.pack("!BBH", 0, 6, len(seg))
        else:
            pseudo = self.peer + self.host + struct.pack("!IxxxB", len(seg), 6)
        seg = seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]
        if self.fam == 4:
            ih = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 1, 0x4000, 64, 6, 0,
                             self.peer, self.host)
            ih = ih[:10] + struct.pack("!H", csum(ih)) + ih[12:]
            return 0x0800, ih + seg
        ih = struct.pack("!IHBB16s16s", 6 << 28, len(seg), 6, 64, self.peer, self.host)
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
        if src != self.host or dst != self.peer:
            return None
        tcp = pkt[ihl:end]
        if len(tcp) < 20 or struct.unpack("!HH", tcp[:4]) != (self.port, self.sport):
            return None
        return tcp


class Tap:
    """Frames through a tap's fd: written ones arrive on its receive path."""

    def __init__(self, name):
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.fd, TUNSETIFF,
                    struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))

    def fileno(self):
        return self.fd

    def send(self, ethertype, data):
        return os.write(self.fd, data)

    def recv(self):
        return os.read(self.fd, 65536)


class PacketSocket:
    """Frames through an AF_PACKET socket on an interface: written ones
    leave by it (tc egress first); our own are not read back."""

    def __init__(self, ifname):
        self.ifname = ifname
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.sock.bind((ifname, ETH_P_ALL))

    def fileno(self):
        return self.sock.fileno()

    def send(self, ethertype, data):
        return self.sock.sendto(data, (self.ifname, ethertype))

    def recv(self):
        return self.sock.recv(65536)


class Peer:
    def __init__(self, a):
        self.a = a
        self.link = Tap(a.tap) if a.tap else PacketSocket(a.packet)
        self.host_mac, self.peer_mac = mac(a.host_mac), mac(a.peer_mac)
        self.conns = {4: Conn(4, a.v4[0], a.v4[1], a.port, a.sport),
                      6: Conn(6, a.v6[0], a.v6[1], a.port, a.sport)}
        self.written = 0

    def write(self, c, flags, payload=b"", opts=b""):
        ethertype, pkt = c.segment(flags, payload, opts)
        frame = self.host_mac + self.peer_mac + struct.pack("!H", ethertype) + pkt
        frame += bytes(max(0, self.a.frame - len(frame)))
        # virtio_net_hdr: no offloads, hdr_len = the Ethernet header only.
        vh = struct.pack("=BBHHHH", 0, 0, ETH_HLEN, 0, 0, 0)
        if self.link.send(ethertype, vh + frame) != VNET_HDR_LEN + len(frame):
            raise RuntimeError("short write")
        self.written += 1
        c.written += 1
        c.snd_nxt += len(payload) + (1 if flags & (SYN | FIN) else 0)

    def until(self, c, done, what):
        """Read the host's frames (acknowledging its data and FIN) until
        done(c) or the timeout."""
        end = time.monotonic() + self.a.timeout
        while not done(c):
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.link], [], [], left)[0]:
                raise RuntimeError("timed out waiting for " + what)
            frame = self.link.recv()[VNET_HDR_LEN:]
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
            c.received += data
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
        elif w[0] == "recv" and c and len(w) == 3:
            n = int(w[2])
            self.until(c, lambda c: c.received >= n, "%d bytes" % n)
            return
        elif w[0] == "exit":
            sys.exit(0)
        else:
            raise RuntimeError("unknown command")
        self.until(c, lambda c: c.snd_una == c.snd_nxt, "the host's ACK")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    way = p.add_mutually_exclusive_group(required=True)
    way.add_argument("--tap", help="the tap to play a remote peer behind")
    way.add_argument("--packet", metavar="IFACE", help="the interface to send on as the local end")
    p.add_argument("--host-mac", required=True, help="the real stack's MAC")
    p.add_argument("--peer-mac", required=True)
    p.add_argument("--v4", nargs=2, required=True, metavar=("HOST", "PEER"))
    p.add_argument("--v6", nargs=2, required=True, metavar=("HOST", "PEER"))
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
        print("ok %s (%d frames written: 4 %d, 6 %d)" % (cmd, peer.written, peer.conns[4].written,
                                                         peer.conns[6].written), flush=True)


if __name__ == "__main__":
    main()
