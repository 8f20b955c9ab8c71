#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Replay of captures recorded from real kernel TCP (tcpdump inside test
# namespaces, bounded by -c and timeout): expected transitions, final
# states and Zeek verdicts, and the same transitions as a live tcpscope saw
# while the capture was taken. Client in namespace A, server in B.
. "$(dirname "$0")/../lib/lib.sh"
need_root
. "$(dirname "$0")/paths.sh"

PY=/usr/bin/python3
HERE=$TOP/tests/replay
PC=$(mktemp -d /tmp/tcps-live-XXXXXX)
[ -n "${KEEP:-}" ] || on_exit rm -rf "$PC"
NA="tra$TAG" NB="trb$TAG"
mk_pair "$NA" "$NB"
PORT=5001

# A background command in a namespace whose $! is the command itself (nsrun
# is a function: `nsrun ... &` would give the pid of a subshell, which does
# not pass signals on). timeout bounds it and forwards our SIGINT.
bg_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" timeout -s INT "$@" & }

# record NAME MODE ADDR [live]: one connection of drive.py MODE to ADDR,
# captured on the server's veth; with "live", tcpscope runs in B meanwhile.
record() {
	local name=$1 mode=$2 addr=$3 live=${4:-} td srv tp
	rm -f "$PC/$name.replay.json"
	bg_ns "$NB" 30 tcpdump -i "$IF_B" --immediate-mode -U -n -w "$PC/$name.pcap" -c 60 "tcp port $PORT" \
		2>"$PC/$name.tcpdump"
	td=$!; track_pid "$td"
	wait_for 5 grep -q listening "$PC/$name.tcpdump" || { fail "tcpdump did not start"; return 1; }
	if [ -n "$live" ]; then
		mk_pindir "$name"
		bg_ns "$NB" 60 "$TCPSCOPE" run -i "$IF_B" --pin-dir "$PIN_DIR" --json --no-seed \
			>"$PC/$name.live" 2>"$PC/$name.liveerr"
		tp=$!; track_pid "$tp"
		wait_for 10 grep -q ingress "$PC/$name.liveerr" || { fail "tcpscope run did not start: $(cat "$PC/$name.liveerr")"; return 1; }
	fi
	if [ "$mode" != refused ]; then
		bg_ns "$NB" 20 "$PY" "$HERE/drive.py" server "$addr" $PORT "$mode" >"$PC/$name.srv"
		srv=$!; track_pid "$srv"
		wait_for 5 grep -q listening "$PC/$name.srv" || { fail "server did not start"; return 1; }
	fi
	nsrun "$NA" timeout 20 "$PY" "$HERE/drive.py" client "$addr" $PORT "$mode" || fail "client failed"
	[ -z "${srv:-}" ] || wait "$srv"
	sleep 0.3
	kill -INT "$td"; wait "$td" 2>/dev/null
	if [ -n "$live" ]; then
		kill -INT "$tp"; wait "$tp" 2>/dev/null
	fi
	return 0
}

# replay_json NAME: `tcpscope replay --json` of NAME's capture. Replayed
# once (the BPF load is half a second), the document kept for the checks
# that read it again (summary, client port, live comparison).
replay_json() {
	local j="$PC/$1.replay.json"
	[ -s "$j" ] || "$TCPSCOPE" replay --json "$PC/$1.pcap" >"$j" || { rm -f "$j"; return 1; }
	cat "$j"
}

summary() { replay_json "$1" | "$PY" "$HERE/summarize.py"; }

# is NAME <<EXPECTED
is() {
	local got want
	got=$(summary "$1"); want=$(cat)
	[ "$got" = "$want" ] || fail "$1: got
$got
--- want
$want"
}

# Client sends 100 bytes, server answers 200, client closes first; pauses
# longer than the delayed-ACK timer make the server ACK the data and the
# FIN on their own, so the client passes FIN_WAIT2. Zeek: S h A D a d F f
# (the later pure ACKs and the client's last ACK are letters already
# seen), both CLOSED: SF. A packet that changes both ends gives its
# events in the order the endpoints went through them (the sender first).
CLIENT_CLOSE='orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>FIN_WAIT1 packet
resp ESTABLISHED>CLOSE_WAIT packet
orig FIN_WAIT1>FIN_WAIT2 packet
resp CLOSE_WAIT>LAST_ACK packet
orig FIN_WAIT2>TIME_WAIT packet
resp LAST_ACK>CLOSE packet
C PORT TIME_WAIT/CLOSE SF ShADadFf 100/200'

expect_client_close() { sed "s/^C PORT/C $(client_port "$1")/" <<<"$CLIENT_CLOSE" | is "$1"; }
client_port() { replay_json "$1" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["connections"][0]["orig_port"])'; }

# The live run (host mode, in the server's namespace) and the replay of
# what tcpdump saw there must make the same transitions, endpoint by
# endpoint (live local = server = replay resp).
same_as_live() {
	local r l
	r=$(replay_json "$1" | "$PY" "$HERE/endpoints.py" replay)
	l=$("$PY" "$HERE/endpoints.py" live <"$PC/$1.live")
	[ -n "$r" ] && [ "$r" = "$l" ] || fail "$1: replay
$r
--- live
$l"
}

test_real_close_by_client_ipv4_matches_live() {
	record c4 client_close "$IP4_B" live || return 1
	expect_client_close c4
	same_as_live c4
}

test_real_close_by_client_ipv6_matches_live() {
	record c6 client_close "$IP6_B" live || return 1
	expect_client_close c6
	same_as_live c6
}

# Server closes first after its answer; the client reads EOF, waits, and
# closes. Zeek: f before F.
test_real_close_by_server() {
	record s4 server_close "$IP4_B" live || return 1
	sed "s/^C PORT/C $(client_port s4)/" <<'X' | is s4
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
resp ESTABLISHED>FIN_WAIT1 packet
orig ESTABLISHED>CLOSE_WAIT packet
resp FIN_WAIT1>FIN_WAIT2 packet
orig CLOSE_WAIT>LAST_ACK packet
resp FIN_WAIT2>TIME_WAIT packet
orig LAST_ACK>CLOSE packet
C PORT CLOSE/TIME_WAIT SF ShADadfF 100/200
X
	same_as_live s4
}

# SO_LINGER 0: close() sends a RST. Zeek: orig RESET, resp ESTABLISHED:
# RSTO, history ShADadR.
test_real_rst() {
	record r4 rst "$IP4_B" || return 1
	sed "s/^C PORT/C $(client_port r4)/" <<'X' | is r4
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>CLOSE packet
resp ESTABLISHED>CLOSE packet
C PORT CLOSE/CLOSE RSTO ShADadR 100/200
X
}

# No listener: the kernel answers the SYN with RST+ACK. Zeek: REJ, "Sr".
test_real_refused() {
	record f4 refused "$IP4_B" || return 1
	sed "s/^C PORT/C $(client_port f4)/" <<'X' | is f4
orig CLOSE>SYN_SENT packet
orig SYN_SENT>CLOSE packet
C PORT CLOSE/CLOSE REJ Sr 0/0
X
}

# The client's SYNs are dropped (nft in the server namespace only): the
# client retransmits its SYN with the same ISN. Zeek: S once, S0.
test_real_syn_only() {
	nsrun "$NB" nft -f - <<X || { fail "nft"; return 1; }
table inet tcps_$TAG {
	chain in {
		type filter hook input priority 0;
		tcp dport $PORT drop;
	}
}
X
	on_exit nsrun "$NB" nft delete table inet "tcps_$TAG"
	bg_ns "$NB" 30 tcpdump -i "$IF_B" --immediate-mode -U -n -w "$PC/y4.pcap" -c 3 "tcp port $PORT" 2>"$PC/y4.tcpdump"
	local td=$!; track_pid "$td"
	wait_for 5 grep -q listening "$PC/y4.tcpdump" || { fail "tcpdump did not start"; return 1; }
	nsrun "$NA" timeout 4 "$PY" "$HERE/drive.py" client "$IP4_B" $PORT connect_only
	kill -INT "$td" 2>/dev/null; wait "$td" 2>/dev/null
	nsrun "$NB" nft delete table inet "tcps_$TAG"
	sed "s/^C PORT/C $(client_port y4)/" <<'X' | is y4
orig CLOSE>SYN_SENT packet
C PORT SYN_SENT/CLOSE S0 S 0/0
X
}

# The IPv4 close-by-client capture without its first three packets (the
# handshake): tcpscope picks it up ESTABLISHED both ways (midstream) and
# follows the close; Zeek sees both sides PARTIAL, then both FINs: SF with
# history DadAFf (no S, h).
test_real_midstream_cut() {
	[ -f "$PC/c4.pcap" ] || record c4 client_close "$IP4_B" || return 1
	"$PY" - "$PC/c4.pcap" "$PC/m4.pcap" <<'X' 2>/dev/null
import sys
from scapy.all import rdpcap, wrpcap
wrpcap(sys.argv[2], rdpcap(sys.argv[1])[3:])
X
	sed "s/^C PORT/C $(client_port c4)/" <<'X' | is m4
orig CLOSE>ESTABLISHED packet
resp CLOSE>ESTABLISHED packet
orig ESTABLISHED>FIN_WAIT1 packet
resp ESTABLISHED>CLOSE_WAIT packet
orig FIN_WAIT1>FIN_WAIT2 packet
resp CLOSE_WAIT>LAST_ACK packet
orig FIN_WAIT2>TIME_WAIT packet
resp LAST_ACK>CLOSE packet
C PORT TIME_WAIT/CLOSE SF DadAFf 100/200
X
}

# The same real capture with an 802.1Q tag added to every frame.
test_real_vlan_tagged() {
	[ -f "$PC/c4.pcap" ] || record c4 client_close "$IP4_B" || return 1
	"$PY" - "$PC/c4.pcap" "$PC/v4.pcap" <<'X' 2>/dev/null
import sys
from scapy.all import rdpcap, wrpcap, Ether, Dot1Q
out = []
for p in rdpcap(sys.argv[1]):
    q = Ether(src=p.src, dst=p.dst) / Dot1Q(vlan=42) / p.payload
    q.time = p.time
    out.append(q)
wrpcap(sys.argv[2], out)
X
	[ "$(summary v4)" = "$(summary c4)" ] || fail "VLAN-tagged replay differs"
}

# Every capture above through the native path too: the same bytes as the
# kernel's (test_native.sh does the corpus and the crafted captures).
test_native_path_is_byte_identical_on_the_real_captures() {
	local f n=0
	PATHS_DIR=$PC/paths
	mkdir -p "$PATHS_DIR"
	for f in "$PC"/*.pcap; do
		[ -s "$f" ] || continue
		same_paths "$f" text || return 1
		n=$((n + 1))
	done
	[ $n -gt 0 ] || fail "no capture recorded"
	log "real captures: $n identical (JSON and text)"
}

for t in test_real_close_by_client_ipv4_matches_live test_real_close_by_client_ipv6_matches_live \
	 test_real_close_by_server test_real_rst test_real_refused test_real_syn_only \
	 test_real_midstream_cut test_real_vlan_tagged; do
	run_test "$t"
	PORT=$((PORT + 1))
done
run_test test_native_path_is_byte_identical_on_the_real_captures
suite_done
