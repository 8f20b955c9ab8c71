# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Kernel oracle for tests/oracle/test_oracle.sh.

The truth is the kernel's own sock:inet_sock_set_state tracepoint (bpftrace,
lines "nsecs skaddr netns family old new saddr sport daddr dport", states as
numbers) plus `ss -tanH` snapshots; it is compared with what two tcpscope
instances in host mode (one in the client namespace, one in the server's)
report for their LOCAL endpoints.

How the tracepoint differs from a wire view, and how it is mapped
(the mapped kernel path is what tcpscope must report):

* Passive open. The listener answers a SYN from a request sock
  (TCP_NEW_SYN_RECV, no tracepoint). The child socket is created only when
  the handshake's last ACK arrives: its first two events come at that
  moment, LISTEN>SYN_RECV (the clone still carries the listener's state, and
  for IPv4 not yet the peer's address and port: the events are grouped by
  socket address, and the 4-tuple is taken from the socket's later events)
  and then SYN_RECV>ESTABLISHED. tcpscope's server endpoint goes
  CLOSE>SYN_RECV when its SYN+ACK leaves and SYN_RECV>ESTABLISHED on the
  ACK, so LISTEN>SYN_RECV is mapped to CLOSE>SYN_RECV.
* Active open. CLOSE>SYN_SENT fires in connect() before the source port is
  chosen (sport 0): grouping by socket address again.
* TIME_WAIT. tcp_time_wait() replaces the full socket by a timewait socket
  and the full socket reports X>CLOSE; the timewait socket's own substate
  changes (FIN_WAIT2 -> TIME_WAIT when the peer's FIN reaches an orphaned
  FIN_WAIT2) report nothing. `ss -tan` lists timewait sockets with their
  substate, so when ss (after the scenario settles) shows the endpoint in
  TIME_WAIT or FIN_WAIT2, the trailing X>CLOSE is replaced by X>S (or
  dropped when X is S already).
* A set_state to the same state (possible from tcp_done() on an already
  closed socket) is not a transition and is dropped.
* A FIN that never reached the wire. close() moves a socket to FIN_WAIT1
  (or LAST_ACK) at once, but its FIN waits in the write queue while the
  congestion window is full, e.g. behind a retransmission after an RTO.
  If the peer's RST comes first, the socket goes X>FIN_WAIT1>CLOSE having
  sent no FIN: nothing on the wire says FIN_WAIT1. With a capture of the
  endpoint's own namespace (--pcap-client, --pcap-server) in which it sent
  no FIN, FIN_WAIT1 and LAST_ACK are taken out of its path (counted and
  printed). A FIN the capture missed makes the test fail, never pass.
"""
import argparse
import difflib
import ipaddress
import json
import struct
import sys
from collections import defaultdict, OrderedDict

STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
          6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
          11: "CLOSING", 12: "NEW_SYN_RECV"}
SS_NAMES = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV",
            "FIN-WAIT-1": "FIN_WAIT1", "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT",
            "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "CLOSING": "CLOSING",
            "UNCONN": "CLOSE", "CLOSE": "CLOSE", "LISTEN": "LISTEN"}
ALL_STATES = ["ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
              "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"]
ROLES = ("client", "server")


def addr(a):
    return ipaddress.ip_address(a.strip("[]").split("%")[0]).compressed


def fam_of(a):
    return "ipv6" if ":" in a else "ipv4"


def ep_str(k):
    _, la, lp, ra, rp = k
    if ":" in la:
        return "[%s]:%d>[%s]:%d" % (la, lp, ra, rp)
    return "%s:%d>%s:%d" % (la, lp, ra, rp)


def pct(a, b):
    return "%d/%d (%.1f%%)" % (a, b, 100.0 * a / b if b else 100.0)


# ---------------------------------------------------------------- kernel side

def read_trace(path, inums, ports):
    """Lifetimes of the sockets in our namespaces on our ports.

    Returns ({(role, endpoint key): [(old, new)...]}, problems). A socket
    address is reused after the socket is freed, so a lifetime ends with its
    transition to CLOSE and the next event of that address starts another."""
    ev = []
    lost = []
    for line in open(path, errors="replace"):
        f = line.split()
        if len(f) != 10 or not f[0].isdigit():
            if "Lost" in line:
                lost.append(line.strip())
            continue
        ns = int(f[2])
        if ns not in inums:
            continue
        sport, dport = int(f[7]), int(f[9])
        if sport not in ports and dport not in ports:
            continue
        ev.append((int(f[0]), f[1], ns, int(f[4]), int(f[5]), f[6], sport, f[8], dport))
    ev.sort(key=lambda e: e[0])
    live = {}
    done = []
    for t, sk, ns, old, new, sa, sp, da, dp in ev:
        cur = live.get((ns, sk))
        if cur is None:
            cur = {"ns": ns, "trans": [], "tuple": None}
            live[(ns, sk)] = cur
        cur["trans"].append((STATES.get(old, str(old)), STATES.get(new, str(new))))
        if sp and dp and sa not in ("0.0.0.0", "::") and da not in ("0.0.0.0", "::"):
            cur["tuple"] = (addr(sa), sp, addr(da), dp)
        if new == 7:
            done.append(live.pop((ns, sk)))
    done.extend(live.values())
    out, problems = {}, list(lost)
    for lt in done:
        if "LISTEN" in [n for _, n in lt["trans"]]:
            continue  # a listener, not a connection endpoint
        if lt["tuple"] is None:
            problems.append("oracle: a socket without a full 4-tuple: %s" % lt["trans"])
            continue
        la, lp, ra, rp = lt["tuple"]
        if lp not in ports and rp not in ports:
            continue
        role = inums[lt["ns"]]
        key = (role, (fam_of(la), la, lp, ra, rp))
        chain = []
        for old, new in lt["trans"]:
            if old == new:
                continue
            if chain and chain[-1][1] != old:
                problems.append("oracle: %s %s: tracepoint chain broken at %s>%s after >%s"
                                % (role, ep_str(key[1]), old, new, chain[-1][1]))
            chain.append((old, new))
        if not chain:
            continue
        if key in out:
            # The same 4-tuple twice (not expected: ports are fresh per scenario).
            problems.append("oracle: %s %s: 4-tuple reused" % (role, ep_str(key[1])))
        out.setdefault(key, []).extend(chain)
    return out, problems


def read_ss(path, ports):
    """{endpoint key: state} for connections on our ports (no listeners)."""
    res = {}
    for line in open(path):
        f = line.split()
        if len(f) < 5:
            continue
        st = SS_NAMES.get(f[0], f[0])
        if st == "LISTEN":
            continue
        la, _, lp = f[3].rpartition(":")
        ra, _, rp = f[4].rpartition(":")
        lp, rp = int(lp), int(rp)
        if lp not in ports and rp not in ports:
            continue
        la, ra = addr(la), addr(ra)
        res[(fam_of(la), la, lp, ra, rp)] = st
    return res


def read_polls(path, ports):
    """{endpoint key: [state or tw:SUBSTATE or GONE, ...]} from sspoll.py."""
    res = defaultdict(list)
    if not path:
        return res
    for line in open(path):
        f = line.split()
        if len(f) != 6 or not f[0].isdigit():
            continue
        lp, rp = int(f[3]), int(f[5])
        if lp not in ports and rp not in ports:
            continue
        la, ra = addr(f[2]), addr(f[4])
        res[(fam_of(la), la, lp, ra, rp)].append(f[1])
    return res


def kernel_view(trace, ss, polls):
    """Mapped kernel paths (a list of candidates: more than one only where
    the oracle cannot tell, see below) and final states, per (role, endpoint).

    The timewait socket that replaces a full one at X>CLOSE is followed with
    the ss polls (tw:FIN_WAIT2, tw:TIME_WAIT, GONE) and the final ss: its
    substates are appended, and CLOSE when it went before its 60 s were up
    (killed by an RST, RFC 1337). A timewait socket that lived, or stayed in
    a substate, for less than a poll interval may be missed: then both the
    path without it and the path through TIME_WAIT are accepted."""
    paths, problems = trace
    problems = list(problems)
    final = {}
    mapped = {}
    for (role, k), chain in paths.items():
        p = ["CLOSE" if chain[0][0] == "LISTEN" else chain[0][0]] + [n for _, n in chain]
        s = ss[role].get(k)
        fin = s or "CLOSE"
        cands = [p]
        last_old = chain[-1][0]
        if p[-1] == "CLOSE" and last_old in ("FIN_WAIT2", "CLOSING"):
            obs = polls[role].get(k, [])
            tw_at = next((i for i, o in enumerate(obs) if o.startswith("tw:")), None)
            tw = []
            gone = s is None
            if tw_at is not None:
                for o in obs[tw_at:]:
                    if o == "GONE":
                        break
                    tw.append(o[3:])
            if s is not None:
                tw.append(s)
            if tw:
                base = p[:-1]
                for st in tw:
                    if st != base[-1]:
                        base.append(st)
                if gone:
                    base.append("CLOSE")
                cands = [base]
                if gone and base[-2] == "FIN_WAIT2":
                    cands.append(base[:-1] + ["TIME_WAIT", "CLOSE"])
            else:
                # No timewait socket seen: an RST closed the socket (no
                # timewait), or the timewait socket was killed within a poll.
                cands = [p, p[:-1] + ["TIME_WAIT", "CLOSE"]]
        elif s is not None and s != p[-1]:
            problems.append("oracle: %s %s: ss says %s, tracepoint path ends %s"
                            % (role, ep_str(k), s, ">".join(p)))
        if cands[0][-1] != fin:
            problems.append("oracle: %s %s: final ss %s, mapped path ends %s"
                            % (role, ep_str(k), fin, ">".join(cands[0])))
        mapped[(role, k)] = cands
        final[(role, k)] = fin
    for role in ROLES:
        for k, s in ss[role].items():
            if (role, k) not in mapped:
                problems.append("oracle: %s %s: in ss (%s) but never in the tracepoint"
                                % (role, ep_str(k), s))
                final[(role, k)] = s
    return mapped, final, problems


def fin_senders(path):
    """{(addr, port, peer addr, peer port)} of every TCP segment with FIN in
    a pcap of Ethernet frames (tcpdump -w, any byte order or time unit)."""
    out = set()
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return out
        magic = struct.unpack("<I", hdr[:4])[0]
        bo = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            incl = struct.unpack(bo + "IIII", rec)[2]
            pkt = f.read(incl)
            et = struct.unpack("!H", pkt[12:14])[0] if len(pkt) >= 14 else 0
            if et == 0x0800 and len(pkt) >= 34 and pkt[23] == 6:
                ihl = (pkt[14] & 15) * 4
                src, dst, t = pkt[26:30], pkt[30:34], pkt[14 + ihl:]
            elif et == 0x86DD and len(pkt) >= 54 and pkt[20] == 6:
                src, dst, t = pkt[22:38], pkt[38:54], pkt[54:]
            else:
                continue
            if len(t) >= 14 and t[13] & 1:
                sp, dp = struct.unpack("!HH", t[:4])
                out.add((ipaddress.ip_address(src).compressed, sp,
                         ipaddress.ip_address(dst).compressed, dp))
    return out


def unsent_fin_paths(kpaths, pcaps):
    """Kernel paths of endpoints that sent no FIN in their own namespace's
    capture lose FIN_WAIT1 and LAST_ACK (see the module's notes). Returns
    the endpoints so mapped, each as "role endpoint: kernel path"."""
    senders = {role: fin_senders(p) for role, p in pcaps.items() if p}
    done = []
    for (role, k), cands in kpaths.items():
        if role not in senders or k[1:] in senders[role]:
            continue
        new = [[st for st in c if st not in ("FIN_WAIT1", "LAST_ACK")] for c in cands]
        if new != cands:
            done.append("%s %s: kernel %s" % (role, ep_str(k), " or ".join(">".join(c) for c in cands)))
            kpaths[(role, k)] = new
    return done


# -------------------------------------------------------------- tcpscope side

def read_events(path, ports, role):
    """Local-endpoint paths from a `tcpscope run --json` stream, and the
    causal-order problems of the whole stream (every side, our ports)."""
    paths = OrderedDict()
    last = {}
    lastseq = {}
    bad = []
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        if e.get("local_port") not in ports and e.get("remote_port") not in ports:
            continue
        if e.get("remote_port") == 0:
            continue  # listener
        la, ra = addr(e["local_addr"]), addr(e["remote_addr"])
        k = (fam_of(la), la, e["local_port"], ra, e["remote_port"])
        side = e["side"]
        # Causal order: each event's "from" is the previous "to" of the
        # same endpoint; with a per-connection "seq", it only grows.
        prev = last.get((k, side))
        if prev is None and e.get("reason") == "seed":
            prev = e["from"]
        if e["from"] != (prev or "CLOSE"):
            bad.append("%s %s side %s: %s>%s after >%s" % (role, ep_str(k), side, e["from"], e["to"],
                                                           prev or "(start)"))
        last[(k, side)] = e["to"]
        if "seq" in e:
            if k in lastseq and not e["seq"] > lastseq[k]:
                bad.append("%s %s: seq %s after %s" % (role, ep_str(k), e["seq"], lastseq[k]))
            lastseq[k] = e["seq"]
        if side != "local" or e.get("reason") == "seed":
            continue
        p = paths.setdefault(k, [e["from"]])
        if p[-1] != e["from"]:
            p.append("?")  # the chain problem above already counts it
        p.append(e["to"])
    return paths, bad


def read_list(path, ports):
    res = {}
    for c in json.load(open(path))["connections"]:
        if c.get("remote_port") == 0 or c["state"] == "LISTEN":
            continue
        if c["local_port"] not in ports and c["remote_port"] not in ports:
            continue
        la, ra = addr(c["local_addr"]), addr(c["remote_addr"])
        res[(fam_of(la), la, c["local_port"], ra, c["remote_port"])] = c["state"]
    return res


# ---------------------------------------------------------------- comparison

def diff_kind(kp, tp):
    """The differing middle of two paths, one common state of context kept
    on each side: 'kernel A>B>C vs tcpscope A>C'."""
    n = min(len(kp), len(tp))
    p = 0
    while p < n and kp[p] == tp[p]:
        p += 1
    s = 0
    while s < n - p and kp[-1 - s] == tp[-1 - s]:
        s += 1
    lo = max(p - 1, 0)
    kc = kp[lo:len(kp) - s + (1 if s else 0)]
    tc = tp[lo:len(tp) - s + (1 if s else 0)]
    return "kernel %s vs tcpscope %s" % (">".join(kc) or "(none)", ">".join(tc) or "(none)")


def cmd_compare(a):
    ports = {int(p) for p in a.ports.split(",")}
    inums = {int(a.ns_client): "client", int(a.ns_server): "server"}
    ss = {"client": read_ss(a.ss_client, ports), "server": read_ss(a.ss_server, ports)}
    polls = {"client": read_polls(a.poll_client, ports), "server": read_polls(a.poll_server, ports)}
    kpaths, kfinal, problems = kernel_view(read_trace(a.trace, inums, ports), ss, polls)
    unsent = unsent_fin_paths(kpaths, {"client": a.pcap_client, "server": a.pcap_server})
    tpaths, tlist, chain_bad = {}, {}, []
    for role, evf, lf in (("client", a.events_client, a.list_client),
                          ("server", a.events_server, a.list_server)):
        p, b = read_events(evf, ports, role)
        chain_bad += b
        for k, v in p.items():
            tpaths[(role, k)] = v
        for k, v in read_list(lf, ports).items():
            tlist[(role, k)] = v
    allow = set()
    if a.allow:
        allow = {l.strip() for l in open(a.allow) if l.strip() and not l.startswith("#")}

    eps = sorted(set(kpaths) | set(kfinal) | set(tpaths) | set(tlist))
    final_ok = defaultdict(int)
    seq_ok = defaultdict(int)
    total = defaultdict(int)
    final_bad, kinds = [], OrderedDict()
    undecided = defaultdict(int)
    for e in eps:
        role, k = e
        grp = (k[0], role)
        total[grp] += 1
        kf = kfinal.get(e, "CLOSE")
        if e in tlist:
            tf = tlist[e]
        elif e in tpaths:
            tf = tpaths[e][-1]
        else:
            tf = "CLOSE"
        if kf == tf:
            final_ok[grp] += 1
        else:
            what = "stuck" if kf == "CLOSE" and e in tlist else "differs"
            final_bad.append("%s %s: kernel %s, tcpscope %s (%s; kernel path %s, tcpscope path %s)"
                             % (role, ep_str(k), kf, tf, what,
                                " or ".join(">".join(c) for c in kpaths.get(e, [])) or "(none)",
                                ">".join(tpaths.get(e, [])) or "(none)"))
        cands, tp = kpaths.get(e, [[]]), tpaths.get(e, [])
        # Where the oracle accepts several paths, differences are shown
        # against the one closest to tcpscope's.
        kp = max(cands, key=lambda c: difflib.SequenceMatcher(None, c, tp).ratio())
        if len(cands) > 1:
            undecided[" or ".join("...>" + ">".join(c[-3:]) for c in cands)] += 1
        if tp in cands:
            seq_ok[grp] += 1
        else:
            d = diff_kind(kp, tp)
            kinds.setdefault(d, []).append((role, k, kp, tp))

    label = a.label
    out = []
    nfinal = sum(final_ok.values())
    nseq = sum(seq_ok.values())
    ntot = sum(total.values())
    for fam in ("ipv4", "ipv6"):
        parts = []
        for role in ROLES:
            g = (fam, role)
            parts.append("%s final %s, sequences %s" % (role, pct(final_ok[g], total[g]),
                                                         pct(seq_ok[g], total[g])))
        out.append("%s %s: %s" % (label, fam, "; ".join(parts)))
    out.append("%s all: %d endpoints, final %s, sequences %s" % (label, ntot, pct(nfinal, ntot),
                                                                   pct(nseq, ntot)))
    if unsent:
        out.append("%s oracle: FIN never on the wire (FIN_WAIT1/LAST_ACK with the FIN held, then "
                   "reset): %d endpoints, mapped without it, e.g. %s" % (label, len(unsent), unsent[0]))
    for d, n in undecided.items():
        out.append("%s oracle undecided (timewait socket gone within a poll), either path accepted: "
                   "%s: %d endpoints" % (label, d, n))
    unallowed = []
    for d, lst in sorted(kinds.items(), key=lambda x: -len(x[1])):
        by = defaultdict(int)
        for role, k, _, _ in lst:
            by["%s %s" % (role, k[0])] += 1
        tag = "" if d not in allow else " [allowed]"
        out.append("%s diff: %s: %d endpoints (%s)%s" % (
            label, d, len(lst), ", ".join("%s %d" % x for x in sorted(by.items())), tag))
        role, k, kp, tp = lst[0]
        out.append("%s   e.g. %s %s: kernel %s; tcpscope %s" % (
            label, role, ep_str(k), ">".join(kp) or "(none)", ">".join(tp) or "(none)"))
        if d not in allow:
            unallowed.append("%s (%d)" % (d, len(lst)))
    for b in problems[:10]:
        out.append("%s %s" % (label, b))
    for b in final_bad[:10]:
        out.append("%s final: %s" % (label, b))
    if len(final_bad) > 10:
        out.append("%s final: ... %d more" % (label, len(final_bad) - 10))
    for b in chain_bad[:10]:
        out.append("%s order: %s" % (label, b))
    if len(chain_bad) > 10:
        out.append("%s order: ... %d more" % (label, len(chain_bad) - 10))
    print("\n".join(out))

    v = {
        "endpoints": ntot,
        "expected_min": a.expect,
        "oracle_problems": problems,
        "final_bad": len(final_bad),
        "final_first": final_bad[:3],
        "order_bad": len(chain_bad),
        "order_first": chain_bad[:3],
        "seq_agree": nseq,
        "seq_unallowed": unallowed,
        "kinds": {d: len(l) for d, l in kinds.items()},
        "unsent_fin": len(unsent),
    }
    json.dump(v, open(a.verdict, "w"))
    return 0


def cmd_stat(a):
    """tcpscope stat --json states equal ss -tan's state counts."""
    want = {s: 0 for s in ALL_STATES}
    for line in open(a.ss):
        f = line.split()
        if f:
            st = SS_NAMES.get(f[0], f[0])
            want[st] = want.get(st, 0) + 1
    got = json.load(open(a.stat))["states"]
    bad = ["%s ss %d tcpscope %d" % (s, want.get(s, 0), got.get(s, 0))
           for s in sorted(set(want) | set(got)) if want.get(s, 0) != got.get(s, 0)]
    print("ss %s; tcpscope %s" % ({k: v for k, v in want.items() if v},
                                   {k: v for k, v in got.items() if v}))
    for b in bad:
        print("differs: " + b)
    return 1 if bad else 0


def cmd_replay(a):
    """Final orig/resp states of `tcpscope replay --json` of a capture taken
    in the client (orig) or server (resp) namespace, against the kernel's
    final states. The endpoints of the capture's own host are judged at
    100 %: that host's capture holds every segment it sent and received.
    The far endpoints are reported, and judged only with --strict-remote: a
    segment the far end sent that was lost on the way never reached the
    capture (e.g. its first FIN, sent before ours arrived, lost: the
    retransmission carries the ACK of our FIN and reads as LAST_ACK where
    the far kernel was CLOSING)."""
    ports = {int(p) for p in a.ports.split(",")}
    inums = {int(a.ns_client): "client", int(a.ns_server): "server"}
    ss = {"client": read_ss(a.ss_client, ports), "server": read_ss(a.ss_server, ports)}
    _, kfinal, problems = kernel_view(read_trace(a.trace, inums, ports), ss,
                                      {"client": {}, "server": {}})
    conns = json.load(open(a.replay))["connections"]
    # An entry has more than one row when Zeek's records split it (e.g. a
    # FIN resent after Zeek closed the connection starts a new record):
    # each earlier row holds the entry as it was when the next took over,
    # the newest row its final state.
    final = {}
    for c in sorted(conns, key=lambda c: c["first_seen"]):
        if c["orig_port"] not in ports and c["resp_port"] not in ports:
            continue
        oa, ra = addr(c["orig_addr"]), addr(c["resp_addr"])
        ck = ("client", (fam_of(oa), oa, c["orig_port"], ra, c["resp_port"]))
        sk = ("server", (fam_of(oa), ra, c["resp_port"], oa, c["orig_port"]))
        for key, st in ((ck, c["orig_state"]), (sk, c["resp_state"])):
            final[key] = (st, c)
    res = {True: [0, []], False: [0, []]}  # local?: [ok, bad]
    for key, (st, c) in final.items():
        kf = kfinal.get(key, "CLOSE")
        r = res[key[0] == a.vantage]
        if kf == st:
            r[0] += 1
        else:
            r[1].append("%s %s: kernel %s, replay %s (history %s, conn_state %s)"
                        % (key[0], ep_str(key[1]), kf, st, c.get("history"), c.get("conn_state")))
    for key in kfinal:
        if key not in final:
            res[key[0] == a.vantage][1].append("%s %s: kernel %s, not in the replay"
                                               % (key[0], ep_str(key[1]), kfinal[key]))
    far = "server" if a.vantage == "client" else "client"
    fail = False
    for local, who in ((True, a.vantage), (False, far)):
        ok, bad = res[local]
        n = ok + len(bad)
        judged = local or a.strict_remote
        print("%s: capture in the %s ns: %s endpoints (%s): replay final states %s equal the kernel's%s"
              % (a.label, a.vantage, who, "local" if local else "far", pct(ok, n),
                 "" if judged else " (reported, not judged)"))
        for b in bad[:5]:
            print("%s: %s" % ("differs" if judged else "far end differs", b))
        if len(bad) > 5:
            print("... %d more" % (len(bad) - 5))
        if judged and bad:
            fail = True
        if local and n < a.expect:
            print("only %d local endpoints, expected at least %d" % (n, a.expect))
            fail = True
    for b in problems[:5]:
        print(b)
    return 1 if fail or problems else 0


def cmd_stuck(a):
    """No tcpscope entry in a non-final state that the kernel does not have."""
    lo, _, hi = a.ports.partition("-")
    ports = set(range(int(lo), int(hi or lo) + 1))
    ss = read_ss(a.ss, ports)
    rows = read_list(a.list, ports)
    counts = defaultdict(int)
    bad = []
    for k, st in sorted(rows.items()):
        counts[st] += 1
        if st in ("TIME_WAIT", "CLOSE") or ss.get(k) == st:
            continue
        bad.append("stuck: %s tcpscope %s, kernel %s" % (ep_str(k), st, ss.get(k, "(no socket)")))
    print("%s: %d tcpscope entries on ports %s: %s; %d stuck"
          % (a.label, len(rows), a.ports, dict(counts), len(bad)))
    for b in bad[:10]:
        print(b)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    r = sub.add_parser("replay")
    for p in (c, r):
        p.add_argument("--trace", required=True)
        p.add_argument("--ns-client", required=True)
        p.add_argument("--ns-server", required=True)
        p.add_argument("--ss-client", required=True)
        p.add_argument("--ss-server", required=True)
        p.add_argument("--ports", required=True)
        p.add_argument("--label", required=True)
        p.add_argument("--expect", type=int, default=1, help="at least this many endpoints")
    c.add_argument("--events-client", required=True)
    c.add_argument("--events-server", required=True)
    c.add_argument("--list-client", required=True)
    c.add_argument("--list-server", required=True)
    c.add_argument("--allow")
    c.add_argument("--poll-client")
    c.add_argument("--poll-server")
    c.add_argument("--verdict", required=True)
    c.add_argument("--pcap-client", help="capture in the client namespace (FINs on the wire)")
    c.add_argument("--pcap-server")
    r.add_argument("--replay", required=True)
    r.add_argument("--vantage", choices=ROLES, required=True)
    r.add_argument("--strict-remote", action="store_true")
    s = sub.add_parser("stat")
    s.add_argument("--stat", required=True)
    s.add_argument("--ss", required=True)
    k = sub.add_parser("stuck")
    k.add_argument("--list", required=True)
    k.add_argument("--ss", required=True)
    k.add_argument("--ports", required=True, help="LO-HI")
    k.add_argument("--label", required=True)
    a = ap.parse_args()
    return {"compare": cmd_compare, "stat": cmd_stat, "replay": cmd_replay,
            "stuck": cmd_stuck}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
