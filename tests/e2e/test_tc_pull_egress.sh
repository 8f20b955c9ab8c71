#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tc's pull path on egress, live (test_tc_pull.sh does ingress): frames
# that leave with their headers not in the skb's linear part, pulled in and
# run again through slot 1 of tcps_tc_again. An AF_PACKET socket with
# PACKET_VNET_HDR sends frames of a page or more with only the Ethernet
# header linear, and dev_queue_xmit runs tc egress on them (tap_peer.py
# --packet says why). So the local end of each connection is tap_peer.py
# on veth A, at addresses configured nowhere: A has no IPv4 address and
# IPv6 off, and B's frames go to a MAC that is not A's, so A's kernel
# neither answers nor resets them. The remote end is a real listening
# socket (tcpdrive) in namespace B, which reaches the local end through
# permanent neighbours. tcpscope runs on A's tc hooks in host mode (egress:
# local to remote). Its view of every remote endpoint must equal ss's in B
# (the kernel is the oracle there) at each step, its transitions on both
# sides must be exact through a connection's life closed by either end,
# IPv4 and IPv6, and no packet may count as a parse error. Then with the
# egress slot emptied the same frames count as parse errors and still reach
# B (fail open), which proves that they take the pull path.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/lib_e2e.sh"

e2e_need
command -v bpftool >/dev/null || { echo "not ok $(basename "$0"): bpftool missing (make deps)"; exit 1; }
NS_A="egpa$TAG" NS_B="egpb$TAG"
PORT=9311	# the first test's; the others' are PORT + 1 and PORT + 2
MTU=9000	# takes tap_peer.py's 4500-byte frames (a page or more: not linear)

mk_pair "$NS_A" "$NS_B"
N=$(( 0x$TAG % 250 + 1 ))
HOST_MAC=02:00:00:00:$(printf '%02x' "$N"):02
PEER_MAC=02:00:00:00:$(printf '%02x' "$N"):01
nsrun "$NS_A" ip -4 addr flush dev "$IF_A"
nsrun "$NS_A" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "net.ipv6.conf.$IF_A.disable_ipv6=1"
nsrun "$NS_A" ip link set dev "$IF_A" mtu "$MTU" address "02:00:00:00:$(printf '%02x' "$N"):03"
nsrun "$NS_B" ip link set dev "$IF_B" mtu "$MTU" address "$HOST_MAC"
nsrun "$NS_B" ip neigh add "$IP4_A" lladdr "$PEER_MAC" dev "$IF_B" nud permanent
nsrun "$NS_B" ip -6 neigh add "$IP6_A" lladdr "$PEER_MAC" dev "$IF_B" nud permanent

# egress_peer NAME SPORT PORT: tap_peer.py, the local end, sending on veth A.
egress_peer() {
	peer_start "$1" "$NS_A" "$2" "$3" --packet "$IF_A" --host-mac "$HOST_MAC" \
		--peer-mac "$PEER_MAC" --v4 "$IP4_B" "$IP4_A" --v6 "$IP6_B" "$IP6_A"
}

# listeners NAME PORT: tcpdrive servers NAME4 and NAME6 in B, one
# connection each.
listeners() {
	drv_start "${1}4" "$NS_B" listen "$IP4_B" "$2" -n 1 && drv_start "${1}6" "$NS_B" listen "$IP6_B" "$2" -n 1
}

# srv NAME CMD: CMD on both listeners.
srv() { drv "${1}4" "$2" && drv "${1}6" "$2"; }

# view PORT STATE: the remote endpoints on PORT in tcpscope (remote_state)
# and ss in B: both connections in STATE.
view() { view_check_remote "$NS_B" eg "$1" "$2" 2; }

# list_sum PORT JQ: over the connections to PORT, the sum of JQ's number.
list_sum() {
	"$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[eg]}" |
		jq --argjson p "$1" "[.connections[] | select(.remote_port == \$p) | $2] | add // 0"
}

declare -A PEER_PORT	# each peer's server port

# frames_out NAME FAM: tcpscope's packets_out of the peer's connection in
# FAM, and the frames the peer wrote for it, as "SEEN WRITTEN".
frames_out() {
	local f=ipv$2 p=${PEER_PORT[$1]}
	printf '%s %s\n' "$(list_sum "$p" "select(.family == \"$f\") | .packets_out")" \
		"$(tail -n 1 "$E2E_WORK/$1.out" | sed -n "s/.* $2 \([0-9]*\)[,)].*/\1/p")"
}

# No parse error, and tcpscope saw every frame the peer wrote (the local
# end's packets_out) in both families.
exact_and_clean() {
	local fam got
	for fam in 4 6; do
		got=$(frames_out "$1" $fam)
		[ "${got% *}" = "${got#* }" ] || fail "IPv$fam: packets_out ${got% *}, frames written ${got#* }" ||
			return 1
	done
	log "$1: frames written, packets_out: $(frames_out "$1" 4) (IPv4), $(frames_out "$1" 6) (IPv6)"
	got=$(scope_counter eg parse_errors)
	[ "$got" = 0 ] || fail "parse_errors $got, expected 0"
}

test_tracks_a_local_end_whose_headers_leave_in_fragments() {
	local want got
	must "listeners" listeners srv "$PORT" || return 1
	must "tcpscope on veth A (tc)" scope_start eg "$NS_A" "$IF_A" --hook tc || return 1
	PEER_PORT[peer]=$PORT
	must "peer" egress_peer peer 41001 "$PORT" || return 1
	must "handshakes" peer_both peer connect && must "accepts" srv srv wait-conn || return 1
	must "ESTABLISHED" view "$PORT" ESTABLISHED || return 1
	# Health: each handshake timed (the pulled SYN out, the SYN+ACK in).
	got=$("$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[eg]}" | jq --argjson p "$PORT" \
		'[.connections[] | select(.remote_port == $p and .state == "ESTABLISHED")
		  | .. | .handshake_rtt_us? // empty | select(. > 0)] | length')
	[ "$got" = 2 ] || fail "$got connections with a handshake RTT, expected 2" || return 1
	must "data out" peer_both peer send 700 && must "server reads" srv srv "recv 700" || return 1
	must "data in" srv srv "send 300" && must "peer reads" peer_both peer recv 300 || return 1
	must "still ESTABLISHED" view "$PORT" ESTABLISHED || return 1
	got=$(list_sum "$PORT" '.bytes_out')
	[ "$got" = 1400 ] || fail "bytes_out $got, expected 1400" || return 1
	must "the local FIN" peer_both peer fin && must "server sees EOF" srv srv wait-eof || return 1
	must "CLOSE_WAIT" view "$PORT" CLOSE_WAIT || return 1
	must "server closes" srv srv close && must "the remote FIN acknowledged" peer_both peer wait-fin ||
		return 1
	must "gone" view "$PORT" CLOSE || return 1
	want="local:CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT
remote:CLOSE>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE"
	wait_for 3 grep -q '"to":"CLOSE"' "$E2E_WORK/eg.events"
	must "transitions" transitions_check eg "$PORT" 41001 "$want" || return 1
	exact_and_clean peer || return 1
	must "peer exits" peer_stop peer
}

# The other order: B's socket closes first, so the local end's pulled ACK
# of its FIN takes it to FIN_WAIT2, its pulled FIN to TIME_WAIT.
test_remote_end_closing_first() {
	local p=$((PORT + 1)) want
	peers_gone peer
	must "listeners" listeners srv2 "$p" || return 1
	PEER_PORT[peer2]=$p
	must "peer" egress_peer peer2 41002 "$p" || return 1
	must "handshakes" peer_both peer2 connect && must "accepts" srv srv2 wait-conn || return 1
	must "ESTABLISHED" view "$p" ESTABLISHED || return 1
	must "server closes" srv srv2 close || return 1
	must "FIN_WAIT1" view "$p" FIN_WAIT1 || return 1
	must "the remote FIN acknowledged" peer_both peer2 wait-fin || return 1
	must "FIN_WAIT2" view "$p" FIN_WAIT2 || return 1
	must "the local FIN" peer_both peer2 fin || return 1
	must "TIME_WAIT" view "$p" TIME_WAIT || return 1
	want="local:CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE
remote:CLOSE>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT"
	must "transitions" transitions_check eg "$p" 41002 "$want" || return 1
	must "transition chains" events_chain_check eg || return 1
	exact_and_clean peer2 || return 1
	must "peer exits" peer_stop peer2
}

# The prog array's egress slot emptied (the pin is the running daemon's
# map): the program cannot run again after its pull, so each frame the
# peer sends counts as one parse error, and leaves all the same.
test_empty_egress_slot_counts_parse_errors_and_passes() {
	local p=$((PORT + 2))
	peers_gone peer peer2
	must "listener" drv_start srv3 "$NS_B" listen "$IP4_B" "$p" -n 1 || return 1
	must "peer" egress_peer peer3 41003 "$p" || return 1
	empty_slot_check eg 1 peer3 srv3 "$NS_B" "$p" && must "peer exits" peer_stop peer3
}

test_stops_and_detaches() {
	must "tcpscope exits 0" scope_stop eg || return 1
	[ ! -e "${SCOPE_PIN[eg]}" ] || fail "pins left in ${SCOPE_PIN[eg]}: $(ls "${SCOPE_PIN[eg]}")"
}

run_test test_tracks_a_local_end_whose_headers_leave_in_fragments
run_test test_remote_end_closing_first
run_test test_empty_egress_slot_counts_parse_errors_and_passes
run_test test_stops_and_detaches
suite_done
