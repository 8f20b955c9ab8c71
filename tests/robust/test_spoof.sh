#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Spoofing (RFC 5961): a real kernel TCP connection from the client
# namespace to the server namespace, where tcpscope runs; from the client
# namespace, segments with the connection's exact 4-tuple are injected
# (scapy, tests/robust/inject.py). Out of window (RST, FIN+ACK, ACK, and an
# ACK of data never sent): tcpscope's state and the kernel's (ss) stay
# ESTABLISHED and out_of_window rises. An in-window RST that is not exactly
# RCV.NXT draws a challenge ACK from the kernel and changes nothing in
# either. An RST at exactly RCV.NXT resets the kernel's socket and
# tcpscope's entry goes to CLOSE. Linux's other exact RSTs: at the end of
# out-of-order data the server holds (the right edge of its SACK blocks)
# when SACK is on (without SACK only RCV.NXT counts), and at the FIN's seq
# in CLOSE_WAIT; an RST at a pure ACK's seq past a hole (data lost on the
# way) is not exact. A half-open server (SYN from an address nobody owns)
# takes only an RST at exactly ISN+1. RCV.NXT comes from a capture (tcpdump
# in the server namespace) of the connection's last genuine segments.
. "$(dirname "$0")/../lib/lib.sh"
need_root

PY=/usr/bin/python3	# Debian's, with python3-scapy (python3 on PATH may not have it)
INJECT=$TOP/tests/robust/inject.py
DRIVE=$TOOLS/tcpdrive
CL=rspc$TAG SV=rsps$TAG
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"

for t in "$TCPSCOPE" "$DRIVE"; do
	[ -x "$t" ] || { echo "not ok $(basename "$0"): $t not built (make)"; exit 1; }
done
for t in tcpdump jq ss nstat; do
	command -v "$t" >/dev/null || { echo "not ok $(basename "$0"): $t missing"; exit 1; }
done
"$PY" -c 'import scapy' 2>/dev/null || { echo "not ok $(basename "$0"): $PY has no scapy (python3-scapy)"; exit 1; }

mk_pair "$CL" "$SV"
mk_pindir spoof
FAKE=${IP4_A%.*}.77	# owned by nobody; the server's frames to it reach the client ns
nsrun "$SV" ip neigh add "$FAKE" dev "$IF_B" \
	lladdr "$(nsrun "$CL" ip -o link show "$IF_A" | awk '{ for (i = 1; i < NF; i++) if ($i == "link/ether") print $(i + 1) }')"
PORT=9000
SPORT=$((40000 + 0x$TAG % 10000))	# each test: its own client port, SPORT + n
N=0

# The whole suite is bounded: the daemon, capture and drivers end by
# themselves after 170 s even if the trap never runs.
start_suite() {
	nsenter --net="/run/netns/$SV" timeout 170 "$TCPSCOPE" run -i "$IF_B" --pin-dir "$PIN_DIR" \
		--no-seed --json >"$WORK/scope.events" 2>"$WORK/scope.log" </dev/null &
	DPID=$!
	track_pid $DPID
	wait_for 10 grep -q 'tracking on' "$WORK/scope.log" ||
		{ echo "not ok $(basename "$0"): tcpscope did not start: $(tr '\n' ' ' <"$WORK/scope.log")"; exit 1; }
	# -U: every packet reaches the file at once; -Z root: WORK is 0700.
	nsenter --net="/run/netns/$SV" timeout 170 tcpdump -i "$IF_B" -n -U -Z root -c 5000 \
		-w "$WORK/cap.pcap" tcp 2>"$WORK/tcpdump.err" &
	track_pid $!
	wait_for 10 grep -q 'listening on' "$WORK/tcpdump.err" ||
		{ echo "not ok $(basename "$0"): tcpdump did not start: $(cat "$WORK/tcpdump.err")"; exit 1; }
}

# listen_start: a tcpdrive listener on $IP4_B:$SRV_PORT in the server ns.
listen_start() {
	nsenter --net="/run/netns/$SV" "$DRIVE" listen "$IP4_B" "$SRV_PORT" -n 1 -L 150 -e wait-conn \
		</dev/null >"$WORK/s$N.out" 2>"$WORK/s$N.err" &
	track_pid $!
	wait_for 5 sh -c "nsenter --net=/run/netns/$SV ss -Hltn 'sport = :$SRV_PORT' | grep -q ." ||
		{ fail "server not listening: $(cat "$WORK/s$N.err")"; return 1; }
}

# conn_open: a new connection $IP4_A:$CPORT -> $IP4_B:$SPORT_SRV held by
# two tcpdrive processes; sets CPORT, SRV_PORT, SRC, EXP (the client's next
# sequence number as the server expects it), SRV_NXT (the server's) and
# the states a spoofed segment must leave alone: HELD_SCOPE (tcpscope's
# "STATE REMOTE_STATE") and HELD_SS (the kernel's, as ss prints it).
conn_open() {
	N=$((N + 1))
	CPORT=$((SPORT + N)) SRV_PORT=$((PORT + N)) SRC=$IP4_A
	HELD_SCOPE="ESTABLISHED ESTABLISHED" HELD_SS=ESTAB
	listen_start || return 1
	nsenter --net="/run/netns/$CL" "$DRIVE" connect "$IP4_B" "$SRV_PORT" -n 1 -b "$IP4_A" -s "$CPORT" \
		-L 150 -e wait-conn </dev/null >"$WORK/c$N.out" 2>"$WORK/c$N.err" &
	track_pid $!
	wait_for 5 grep -q '^ok wait-conn' "$WORK/c$N.out" ||
		{ fail "client did not connect: $(cat "$WORK/c$N.err")"; return 1; }
	wait_for 5 both_established || { fail "not ESTABLISHED/ESTABLISHED in tcpscope: $(scope_state)"; return 1; }
	# The handshake's last ACK must be in the capture before we read it.
	local i nx
	for ((i = 0; i < 30; i++)); do
		nx=$("$PY" "$INJECT" nxt "$WORK/cap.pcap" "$IP4_A" "$CPORT" "$IP4_B" "$SRV_PORT" 2>/dev/null) &&
			[ "$(tcpdump -r "$WORK/cap.pcap" -n "tcp port $CPORT and tcp port $SRV_PORT" 2>/dev/null | wc -l)" -ge 3 ] &&
			break
		nx=
		sleep 0.1
	done
	[ -n "$nx" ] || { fail "handshake not in the capture"; return 1; }
	read -r EXP SRV_NXT <<<"$nx"
	log "connection $IP4_A:$CPORT > $IP4_B:$SRV_PORT: client next seq $EXP, server next seq $SRV_NXT"
}

# half_open: a SYN from FAKE, an address nobody owns, to a new listener;
# the server's SYN+ACK goes to the client namespace's MAC (a static
# neighbour), where nothing takes it, so the server stays in SYN_RECV.
# Sets CPORT, SRV_PORT, SRC, ISN (the SYN's) and the HELD_ states.
half_open() {
	N=$((N + 1))
	CPORT=$((SPORT + N)) SRV_PORT=$((PORT + N)) SRC=$FAKE ISN=$((1000000 + N * 7919))
	# The remote end is ESTABLISHED for tcpscope once a SYN+ACK of its SYN
	# left for it (where it goes when that arrives).
	HELD_SCOPE="SYN_RECV ESTABLISHED" HELD_SS=SYN-RECV
	listen_start || return 1
	inject S "$ISN" 0 || return 1
	wait_for 3 ss_is "$HELD_SS" || { fail "the kernel is not in SYN_RECV: ss $(ss_state)"; return 1; }
	wait_for 3 scope_is "$HELD_SCOPE" || { fail "tcpscope says $(scope_state)"; return 1; }
	log "half-open $FAKE:$CPORT > $IP4_B:$SRV_PORT, client ISN $ISN"
}

# "STATE REMOTE_STATE" of the test's connection in tcpscope, or "absent".
scope_state() {
	"$TCPSCOPE" list --json --pin-dir "$PIN_DIR" 2>/dev/null | jq -r --argjson l "$SRV_PORT" \
		--argjson r "$CPORT" --arg a "$SRC" '[.connections[] |
		select(.local_port == $l and .remote_port == $r and .remote_addr == $a) |
		"\(.state) \(.remote_state)"] | if length == 0 then "absent" else .[0] end'
}

both_established() { [ "$(scope_state)" = "ESTABLISHED ESTABLISHED" ]; }
local_closed() { [ "$(scope_state | cut -d' ' -f1)" = CLOSE ]; }
scope_is() { [ "$(scope_state)" = "$1" ]; }

# The kernel's state of the server's socket, as ss prints it, or "absent".
ss_state() {
	local s
	s=$(nsrun "$SV" ss -tanH "( sport = :$SRV_PORT and dport = :$CPORT )" | awk '{print $1}' | head -1)
	echo "${s:-absent}"
}
ss_is() { [ "$(ss_state)" = "$1" ]; }

oow() {
	"$TCPSCOPE" stat --counters --json --pin-dir "$PIN_DIR" 2>/dev/null | jq -r '.counters.out_of_window'
}
oow_above() { [ "$(oow)" -gt "$1" ]; }

challenge_acks() {
	nsrun "$SV" nstat -asz TcpExtTCPChallengeACK | awk '$1 == "TcpExtTCPChallengeACK" {print $2}'
}
challenge_acks_above() { [ "$(challenge_acks)" -gt "$1" ]; }

# inject FLAGS SEQ ACK [LEN]: one segment client -> server with the
# 4-tuple, with LEN bytes of payload.
inject() {
	nsrun "$CL" "$PY" "$INJECT" send "$SRC" "$IP4_B" "$CPORT" "$SRV_PORT" "$1" "$2" "$3" ${4:-} ||
		{ fail "inject $1 failed"; return 1; }
}

# spoof_ignored WHAT FLAGS SEQ ACK: inject; tcpscope counts it out of
# window, and neither it nor the kernel moves the connection from its
# HELD_ states.
spoof_ignored() {
	local what=$1 o0 o1 st
	o0=$(oow)
	inject "$2" "$3" "$4" || return 1
	wait_for 3 oow_above "$o0"
	o1=$(oow)
	# Give the kernel, after tcpscope on the same path, time to act on it.
	sleep 0.3
	st=$(scope_state)
	log "$what: out_of_window $o0 -> $o1; tcpscope $st; ss $(ss_state)"
	[ "$o1" -gt "$o0" ] || fail "$what: out_of_window did not rise ($o0 -> $o1)"
	[ "$st" = "$HELD_SCOPE" ] || fail "$what: tcpscope now says $st"
	[ "$(ss_state)" = "$HELD_SS" ] || fail "$what: the kernel now says $(ss_state)"
	[ "$_T_FAILED" -eq 0 ]
}

# challenge_rst WHAT SEQ: an RST at SEQ, which the kernel must answer with
# a challenge ACK, changing nothing in it or in tcpscope.
challenge_rst() {
	local c0 c1
	c0=$(challenge_acks)
	spoof_ignored "$1" R "$2" 0 || return
	wait_for 2 challenge_acks_above "$c0"
	c1=$(challenge_acks)
	log "challenge ACKs sent by the server: $c0 -> $c1"
	[ "$c1" -gt "$c0" ] || fail "the kernel sent no challenge ACK ($c0 -> $c1)"
}

# exact_rst WHAT SEQ: an RST at SEQ, which the kernel must take: its socket
# is gone and tcpscope's local side goes to CLOSE.
exact_rst() {
	local o0 o1 st
	o0=$(oow)
	inject R "$2" 0 || return
	wait_for 3 ss_gone || fail "$1: the kernel did not reset the connection: ss $(ss_state)"
	wait_for 3 local_closed
	st=$(scope_state)
	o1=$(oow)
	log "$1: tcpscope $st; ss $(ss_state); out_of_window $o0 -> $o1"
	[ "${st%% *}" = CLOSE ] || fail "$1: tcpscope says $st, expected CLOSE for the local side"
	[ "$o1" -eq "$o0" ] || fail "$1: counted out of window ($o0 -> $o1)"
}
ss_gone() { [ "$(ss_state)" = absent ]; }

FAR=$((1 << 31))	# half the sequence space away: outside any window

test_out_of_window_rst_changes_nothing() {
	conn_open || return
	spoof_ignored "RST at RCV.NXT+2^31" R $((EXP + FAR)) 0
}

test_out_of_window_fin_ack_changes_nothing() {
	conn_open || return
	spoof_ignored "FIN+ACK at RCV.NXT+2^31" FA $((EXP + FAR)) "$SRV_NXT"
}

test_out_of_window_ack_of_unsent_data_changes_nothing() {
	conn_open || return
	spoof_ignored "ACK at RCV.NXT+2^31 acking SND.NXT+1e9" A $((EXP + FAR)) $((SRV_NXT + 1000000000))
}

# RFC 9293 §3.10.7.4 / RFC 5961 §5: seq in window, but the ack covers data
# the server never sent: dropped (with an ACK), nothing changes.
test_in_window_ack_of_unsent_data_changes_nothing() {
	conn_open || return
	spoof_ignored "ACK at RCV.NXT acking SND.NXT+1e9" A "$EXP" $((SRV_NXT + 1000000000))
}

# RFC 5961 §3.2: in window but not RCV.NXT: the kernel answers with a
# challenge ACK and keeps the connection; tcpscope keeps it too.
test_in_window_inexact_rst_draws_challenge_ack_and_changes_nothing() {
	conn_open || return
	challenge_rst "RST at RCV.NXT+100" $((EXP + 100))
}

# RFC 5961 §3.2: an RST at exactly RCV.NXT resets the connection.
test_in_window_exact_rst_resets_the_connection() {
	conn_open || return
	exact_rst "exact RST" "$EXP" || return
	jq -c --argjson l "$SRV_PORT" --argjson r "$CPORT" \
		'select(.local_port == $l and .remote_port == $r and .side == "local" and .from == "ESTABLISHED" and .to == "CLOSE" and (.flags | test("R")))' \
		"$WORK/scope.events" | grep -q . || fail "no ESTABLISHED -> CLOSE event with flag R"
}

# A half-open server (request sock) takes only an RST at exactly ISN+1:
# one in window but inexact changes nothing in the kernel or in tcpscope.
test_half_open_server_takes_only_the_exact_rst() {
	half_open || return
	spoof_ignored "RST at ISN+101" R $((ISN + 101)) 0 || return
	exact_rst "RST at ISN+1" $((ISN + 1))
}

# The client's data is lost on the way; its next pure ACK (seq = its
# SND.NXT, past the hole) arrives. The server's RCV.NXT is still at the
# hole: an RST at the ACK's seq is not exact (a challenge ACK).
test_rst_past_a_hole_draws_challenge_ack_and_changes_nothing() {
	conn_open || return
	inject A $((EXP + 1000)) "$SRV_NXT" || return
	challenge_rst "RST at a pure ACK's seq past a 1000-byte hole" $((EXP + 1000))
}

# Out-of-order data past a hole: the server holds it and SACKs it; Linux
# takes an RST at its end (the right edge of the SACK blocks).
test_rst_at_the_end_of_sacked_data_resets_the_connection() {
	conn_open || return
	inject PA $((EXP + 1000)) "$SRV_NXT" 100 || return
	exact_rst "RST at the end of out-of-order data" $((EXP + 1100))
}

# Without SACK (the server's SYN+ACK does not offer it) the server keeps
# no SACK blocks: RCV.NXT stays at the gap, and an RST at the end of the
# out-of-order data past it only draws a challenge ACK.
test_rst_at_the_end_of_out_of_order_data_without_sack_changes_nothing() {
	nsrun "$SV" sysctl -qw net.ipv4.tcp_sack=0
	conn_open
	local rc=$?
	nsrun "$SV" sysctl -qw net.ipv4.tcp_sack=1
	[ $rc -eq 0 ] || return
	inject PA $((EXP + 1000)) "$SRV_NXT" 100 || return
	challenge_rst "RST at the end of out-of-order data, no SACK" $((EXP + 1100))
}

# After the client's FIN (the server in CLOSE_WAIT), an RST at the FIN's
# seq, RCV.NXT - 1, resets (Linux tcp_reset_check).
test_rst_at_the_fin_seq_in_close_wait_resets_the_connection() {
	conn_open || return
	inject FA "$EXP" "$SRV_NXT" || return
	wait_for 3 ss_is CLOSE-WAIT || { fail "the kernel did not take the FIN: ss $(ss_state)"; return; }
	wait_for 3 scope_is "CLOSE_WAIT FIN_WAIT2" || { fail "tcpscope did not take the FIN: $(scope_state)"; return; }
	exact_rst "RST at the FIN's seq in CLOSE_WAIT" "$EXP"
}

test_daemon_exits_0_after_spoofing() {
	kill -TERM "$DPID"
	wait "$DPID"
	local rc=$?
	[ $rc -eq 0 ] || fail "tcpscope exited $rc: $(tail -3 "$WORK/scope.log" | tr '\n' ' ')"
	[ ! -e "$PIN_DIR" ] || fail "pins left after exit"
}

start_suite
run_test test_out_of_window_rst_changes_nothing
run_test test_out_of_window_fin_ack_changes_nothing
run_test test_out_of_window_ack_of_unsent_data_changes_nothing
run_test test_in_window_ack_of_unsent_data_changes_nothing
run_test test_in_window_inexact_rst_draws_challenge_ack_and_changes_nothing
run_test test_in_window_exact_rst_resets_the_connection
run_test test_half_open_server_takes_only_the_exact_rst
run_test test_rst_past_a_hole_draws_challenge_ack_and_changes_nothing
run_test test_rst_at_the_end_of_sacked_data_resets_the_connection
run_test test_rst_at_the_end_of_out_of_order_data_without_sack_changes_nothing
run_test test_rst_at_the_fin_seq_in_close_wait_resets_the_connection
run_test test_daemon_exits_0_after_spoofing
suite_done
