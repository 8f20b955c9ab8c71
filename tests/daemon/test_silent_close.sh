#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A close that waits on a retransmission is not idle. An endpoint in
# FIN_WAIT1, CLOSING or LAST_ACK has a FIN out that is not acknowledged;
# the kernel resends it with exponential backoff, up to TCP_RTO_MAX (120 s)
# between two tries, and stays in that state meanwhile. If tcpscope's idle
# timeout for the state is shorter, it reports the endpoint CLOSE while the
# kernel still has it, then re-creates the entry mid-stream from the resent
# FIN (the oracle's rare "CLOSING > CLOSE > FIN_WAIT1" on a lossy path:
# a lost handshake segment sets the RTO to 3 s, two lost tries make a 12 s
# silence).
#
# Made here on purpose, with the defaults tcpscope runs with, over IPv4 and
# IPv6 at once: namespace A (tcpscope, host mode) with rto_min 36 s on its
# routes to B, so A's first FIN resend comes 36 s after the FIN. B drops
# what A sends for 1 s (nft in B), then lets it through:
#   - crossing FINs: A closes, its FIN is dropped; B closes, A takes B's FIN
#     in FIN_WAIT1: CLOSING, for 36 s, until A's resent FIN is acknowledged;
#   - LAST_ACK: B closes first, A closes: LAST_ACK, for 36 s, likewise.
# That is longer than the 10 s (CLOSING) and 30 s (LAST_ACK) idle timeouts
# tcpscope had (netfilter's values). Checked against the kernel (ss in A):
# during the silence each endpoint is in the kernel's state in tcpscope
# too; after it, tcpscope's events for A's endpoints are the kernel's path,
# with no timeout transition and no mid-stream re-creation.
#
# And a socket its application keeps silent (host mode asks the kernel
# before it expires a local endpoint, user/gc.c): with --timeout
# ESTABLISHED=2 --timeout CLOSE_WAIT=2, every connection sits ESTABLISHED
# for 5 s first, and a third one (CLOSE_WAIT) is held 6 s by A after B
# closed it; tcpscope shows each as ss does, all along.
. "$(dirname "$0")/../lib/lib.sh"
need_root
command -v nft >/dev/null || { echo "not ok $(basename "$0"): nft missing (make deps)"; exit 1; }

CLOSER="python3 $(dirname "$0")/closer.py"
A=scA$TAG B=scB$TAG
mk_pair "$A" "$B"
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
on_exit "rm -f /run/tcpscope/tcpscope-test-$TAG-*"
RTO_MIN=36
P_CROSS=8301 P_LACK=8302 P_CW=8303

q() { nsrun "$A" "$TCPSCOPE" "$@" --pin-dir "$PIN_DIR"; }

# closers SIDE NS: that end of each test connection (both families, every
# port); each closes once $WORK/close-SIDE-ADDR-PORT exists.
closers() {
	local ip p
	for ip in "$IP4_B" "$IP6_B"; do
		for p in $P_CROSS $P_LACK $P_CW; do
			nsenter --net="/run/netns/$2" $CLOSER "$1" "$ip" $p "$WORK/close-$1-$ip-$p" 90 \
				>"$WORK/$1-$ip-$p.out" 2>&1 &
			track_pid $!
		done
	done
}
close_now() { touch "$WORK/close-$1-$2-$3"; }

# A's endpoint of the connection ADDR PORT in tcpscope's view and the kernel's.
scope_state() {
	q list --json | jq -r --arg a "$1" --argjson p "$2" \
		'[.connections[] | select(.remote_addr == $a and .remote_port == $p)] | map(.state) | join(",")'
}
ss_state() {
	local d=$1
	[[ $d == *:* ]] && d="[$d]"
	nsrun "$A" ss -tanH state all "( dst $d and dport = :$2 )" | awk '{ print $1 }' | paste -sd, -
}

test_setup() {
	# A's first FIN resend 36 s after the FIN (a route's rto_min sets the
	# RTO floor of the connections on it).
	nsrun "$A" ip route replace "${IP4_B%.*}.0/24" dev "$IF_A" rto_min ${RTO_MIN}s &&
		nsrun "$A" ip -6 route replace "${IP6_B%::*}::/64" dev "$IF_A" metric 256 rto_min ${RTO_MIN}s ||
		{ fail "rto_min route"; return 1; }
	mk_pindir silent
	nsenter --net=/run/netns/$A "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" --no-seed --json \
		--timeout ESTABLISHED=2 --timeout CLOSE_WAIT=2 >"$WORK/events" 2>"$WORK/run.err" &
	TP=$!
	track_pid $TP
	wait_for 10 grep -q "tracking on" "$WORK/run.err" || { fail "tcpscope run: $(cat "$WORK/run.err")"; return 1; }
	closers server "$B"
	wait_for 5 sh -c "[ \$(nsenter --net=/run/netns/$B ss -tlnH | grep -c ':830[123] ') -eq 6 ]" ||
		{ fail "servers not listening"; return 1; }
	closers client "$A"
	wait_for 5 sh -c "[ \$(cat $WORK/client-*.out | grep -c ready) -eq 6 ]" ||
		{ fail "clients: $(cat "$WORK"/client-*.out)"; return 1; }
}

# kernel_and_scope WANT PORT...: each connection to PORT (both families) is
# in state WANT (tcpscope's name) in tcpscope and in A's kernel (ss).
kernel_and_scope() {
	local want=$1 ss_want=${1/_/-} ip p s bad=
	[ "$want" = ESTABLISHED ] && ss_want=ESTAB
	shift
	for ip in "$IP4_B" "$IP6_B"; do
		for p in "$@"; do
			s="$(ss_state "$ip" "$p"),$(scope_state "$ip" "$p")"
			log "$ip:$p: kernel,tcpscope $s"
			[ "$s" = "$ss_want,$want" ] || bad+=" $ip:$p $s"
		done
	done
	[ -z "$bad" ] || { fail "want $want:$bad"; return 1; }
}

# Idle past --timeout ESTABLISHED=2 and a few scans: held, the kernel has them.
test_idle_connections_the_kernel_has_stay() {
	sleep 5
	kernel_and_scope ESTABLISHED $P_CROSS $P_LACK $P_CW
}

# The two closes, both families: A's segments dropped at B for 1 s.
test_closes_wait_on_a_retransmission_as_the_kernel_does() {
	local ip t0
	nsrun "$B" nft -f - <<EOF || { fail "nft"; return 1; }
table inet silent {
	chain in {
		type filter hook input priority 0;
		tcp dport { $P_CROSS, $P_LACK } drop
	}
}
EOF
	for ip in "$IP4_B" "$IP6_B"; do
		close_now client "$ip" $P_CROSS	# A: FIN_WAIT1, its FIN dropped
		close_now server "$ip" $P_LACK	# A: CLOSE_WAIT
		close_now server "$ip" $P_CW	# A: CLOSE_WAIT, held by its application
	done
	sleep 0.3
	for ip in "$IP4_B" "$IP6_B"; do
		close_now server "$ip" $P_CROSS	# A takes B's FIN: CLOSING
		close_now client "$ip" $P_LACK	# A: LAST_ACK, its FIN dropped
	done
	t0=$SECONDS
	sleep 1
	nsrun "$B" nft delete table inet silent
	# Past --timeout CLOSE_WAIT=2 twice over: the application still holds it.
	sleep 5
	kernel_and_scope CLOSE_WAIT $P_CW || return 1
	for ip in "$IP4_B" "$IP6_B"; do
		close_now client "$ip" $P_CW
	done
	# Past both old timeouts (10 s, 30 s) and before A's resend at 36 s.
	sleep $((RTO_MIN - 2 - (SECONDS - t0)))
	log "after $((SECONDS - t0)) s of the closes:"
	kernel_and_scope CLOSING $P_CROSS && kernel_and_scope LAST_ACK $P_LACK
}

# After A's resends: tcpscope ends where the kernel does (ss in A: the
# crossing close in TIME_WAIT, the LAST_ACK socket gone), and its events
# for A's endpoints are the RFC 9293 paths the kernel took, packet-driven.
test_events_follow_the_closes_without_a_timeout() {
	local ip s bad=
	wait_for 20 sh -c "[ -z \"\$(nsenter --net=/run/netns/$A ss -tanH state closing state last-ack)\" ]" ||
		{ fail "A's closes did not end: $(nsrun "$A" ss -tan)"; return 1; }
	sleep 0.5
	for ip in "$IP4_B" "$IP6_B"; do
		s="$(ss_state "$ip" $P_CROSS),$(scope_state "$ip" $P_CROSS)"
		[ "$s" = "TIME-WAIT,TIME_WAIT" ] || bad+=" $ip:$P_CROSS $s"
		for p in $P_LACK $P_CW; do
			s="$(ss_state "$ip" $p),$(scope_state "$ip" $p)"
			[ "$s" = "," ] || [ "$s" = ",CLOSE" ] || bad+=" $ip:$p $s"
		done
	done
	[ -z "$bad" ] || { fail "kernel,tcpscope after the closes:$bad"; return 1; }
	python3 - "$WORK/events" "$P_CROSS" "$P_LACK" "$P_CW" <<'EOF' || fail "events"
import json, sys
path, cross, lack, cw = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
want = {cross: "ESTABLISHED>FIN_WAIT1>CLOSING>TIME_WAIT", lack: "ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSE",
        cw: "ESTABLISHED>CLOSE_WAIT>LAST_ACK>CLOSE"}
paths, bad = {}, []
for line in open(path):
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if e["remote_port"] not in want or e["side"] != "local":
        continue
    if e["reason"] != "packet":
        bad.append("%s:%d %s>%s reason %s" % (e["remote_addr"], e["remote_port"], e["from"], e["to"], e["reason"]))
    p = paths.setdefault((e["remote_addr"], e["remote_port"]), [])
    if not p:
        p.append(e["from"])
    p.append(e["to"])
for (a, port), p in sorted(paths.items()):
    got = ">".join(p[p.index("ESTABLISHED"):] if "ESTABLISHED" in p else p)
    print("# %s:%d %s" % (a, port, got))
    if got != want[port]:
        bad.append("%s:%d %s, kernel %s" % (a, port, got, want[port]))
if len(paths) != 6:
    bad.append("%d connections in the events, want 6" % len(paths))
if bad:
    sys.exit("\n".join(bad))
EOF
}

run_test test_setup
[ $SUITE_FAILED -eq 0 ] && run_test test_idle_connections_the_kernel_has_stay
[ $SUITE_FAILED -eq 0 ] && run_test test_closes_wait_on_a_retransmission_as_the_kernel_does
[ $SUITE_FAILED -eq 0 ] && run_test test_events_follow_the_closes_without_a_timeout
kill -TERM "$TP" 2>/dev/null
wait "$TP" 2>/dev/null
suite_done
