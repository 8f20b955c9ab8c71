#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tc's pull path, live: frames whose headers are not in the skb's linear
# part. tcps_handle_skb pulls them in and runs the program again (a tail
# call through tcps_tc_again); BPF_PROG_TEST_RUN only makes linear skbs,
# so this suite makes real ones: a tap with IFF_VNET_HDR, whose receive
# path leaves all but hdr_len bytes in page fragments (tap_peer.py says
# why). tap_peer.py plays the remote TCP peer over the tap's fd, against
# a real listening socket (tcpdrive) in the namespace, IPv4 and IPv6, with
# tcpscope on the tap's tc hooks (health on). Its view of every local
# endpoint must equal ss's at each step, its transitions must be exact,
# and no packet may count as a parse error. Then with the slot emptied the
# same frames must count as parse errors and still reach the socket (fail
# open): which also proves they do take the pull path.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/lib_e2e.sh"

e2e_need
command -v bpftool >/dev/null || { echo "not ok $(basename "$0"): bpftool missing (make deps)"; exit 1; }
[ -c /dev/net/tun ] || { echo "not ok $(basename "$0"): no /dev/net/tun"; exit 1; }
NS="tpul$TAG"
TAP="tp$TAG"
N=$(( 0x$TAG % 250 + 1 ))
IP4="198.18.$N.1" PEER4="198.18.$N.2"
IP6="2001:db8:$N::1" PEER6="2001:db8:$N::2"
TAP_MAC=02:00:00:00:$(printf '%02x' "$N"):01
PEER_MAC=02:00:00:00:$(printf '%02x' "$N"):02
PORT=9301	# the first test's; the second's is PORT + 1

# The tap in its own namespace, the peer's addresses as permanent
# neighbours (the peer answers no ARP or neighbour solicitation).
ip netns add "$NS" && on_exit ip netns del "$NS"
nsrun "$NS" ip link set lo up
nsrun "$NS" ip tuntap add dev "$TAP" mode tap vnet_hdr
nsrun "$NS" ip link set dev "$TAP" address "$TAP_MAC"
nsrun "$NS" ip addr add "$IP4/24" dev "$TAP"
nsrun "$NS" ip -6 addr add "$IP6/64" dev "$TAP" nodad
nsrun "$NS" ip link set dev "$TAP" up
nsrun "$NS" ip neigh add "$PEER4" lladdr "$PEER_MAC" dev "$TAP" nud permanent
nsrun "$NS" ip -6 neigh add "$PEER6" lladdr "$PEER_MAC" dev "$TAP" nud permanent

# tap_peer NAME SPORT PORT: tap_peer.py, the remote peer, on the tap.
tap_peer() {
	peer_start "$1" "$NS" "$2" "$3" --tap "$TAP" --host-mac "$TAP_MAC" --peer-mac "$PEER_MAC" \
		--v4 "$IP4" "$PEER4" --v6 "$IP6" "$PEER6"
}

# The server's endpoints on PORT in tcpscope and ss: STATE COUNT.
view() { view_check "$NS" pull "$PORT" "$1" "$2"; }

# listeners NAME PORT COUNT: tcpdrive servers NAME4 and NAME6 (one socket
# each: a dual-stack one would show IPv4 peers as ::ffff:x in ss).
listeners() {
	drv_start "${1}4" "$NS" listen "$IP4" "$2" -n "$3" && drv_start "${1}6" "$NS" listen "$IP6" "$2" -n "$3"
}

# srv NAME CMD: CMD on both listeners.
srv() { drv "${1}4" "$2" && drv "${1}6" "$2"; }

test_tracks_a_connection_whose_headers_arrive_in_fragments() {
	local want got
	must "listeners" listeners srv "$PORT" 1 || return 1
	must "tcpscope on the tap (tc)" scope_start pull "$NS" "$TAP" --hook tc || return 1
	must "peer" tap_peer peer 40001 "$PORT" || return 1
	must "handshakes through the tap" peer_both peer connect && must "accepts" srv srv wait-conn || return 1
	must "ESTABLISHED" view ESTABLISHED 2 || return 1
	# Health: each handshake timed (SYN+ACK out, the peer's pulled ACK in).
	got=$("$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[pull]}" | jq --argjson p "$PORT" \
		'[.connections[] | select(.local_port == $p and .state == "ESTABLISHED")
		  | .. | .handshake_rtt_us? // empty | select(. > 0)] | length')
	[ "$got" = 2 ] || fail "$got connections with a handshake RTT, expected 2" || return 1
	must "data" peer_both peer send 700 && must "server reads" srv srv "recv 700" || return 1
	must "still ESTABLISHED" view ESTABLISHED 2 || return 1
	must "the peer's FIN" peer_both peer fin && must "server sees EOF" srv srv wait-eof || return 1
	must "CLOSE_WAIT" view CLOSE_WAIT 2 || return 1
	must "server closes" srv srv close && must "the host's FIN acknowledged" peer_both peer wait-fin ||
		return 1
	must "gone" view CLOSE 2 || return 1
	want="local:CLOSE>SYN_RECV SYN_RECV>ESTABLISHED ESTABLISHED>CLOSE_WAIT CLOSE_WAIT>LAST_ACK LAST_ACK>CLOSE
remote:CLOSE>SYN_SENT SYN_SENT>ESTABLISHED ESTABLISHED>FIN_WAIT1 FIN_WAIT1>FIN_WAIT2 FIN_WAIT2>TIME_WAIT"
	wait_for 3 grep -q 'TIME_WAIT' "$E2E_WORK/pull.events"
	must "transitions" transitions_check pull "$PORT" 40001 "$want" || return 1
	must "transition chains" events_chain_check pull || return 1
	got=$(scope_counter pull parse_errors)
	[ "$got" = 0 ] || fail "parse_errors $got, expected 0" || return 1
	log "frames written: $(tail -n 1 "$E2E_WORK/peer.out")"
	must "peer exits" peer_stop peer
}

# The prog array's slot of tc ingress emptied (the pin is the running
# daemon's map): the program cannot run again after its pull, so each frame
# the peer writes counts as one parse error, and passes all the same.
test_empty_slot_counts_parse_errors_and_passes() {
	local p=$((PORT + 1))
	peers_gone peer peer2 peer3
	must "listener" drv_start srv2 "$NS" listen "$IP4" "$p" -n 1 || return 1
	must "peer" tap_peer peer2 40002 "$p" || return 1
	empty_slot_check pull 0 peer2 srv2 "$NS" "$p"
}

test_stops_and_detaches() {
	must "tcpscope exits 0" scope_stop pull || return 1
	[ ! -e "${SCOPE_PIN[pull]}" ] || fail "pins left in ${SCOPE_PIN[pull]}: $(ls "${SCOPE_PIN[pull]}")"
}

# After a --persist exit the programs stay on the tap and the pinned prog
# array keeps them in their slots (the kernel empties a prog array when its
# last fd and pin go): a connection made in the gap is tracked through the
# pull path all the same.
test_persist_gap_keeps_the_pull_path() {
	local p=$((PORT + 2)) pin out
	peers_gone peer peer2 peer3
	must "listeners" listeners gap "$p" 1 || return 1
	must "tcpscope --persist" scope_start gap "$NS" "$TAP" --hook tc --persist -q || return 1
	pin=${SCOPE_PIN[gap]}
	must "--persist exit" scope_stop gap || return 1
	[ -e "$pin/tc_again" ] || fail "no tc_again pin after --persist" || return 1
	must "peer" tap_peer peer3 40003 "$p" || return 1
	must "handshakes in the gap" peer_both peer3 connect && must "accepts" srv gap wait-conn || return 1
	must "data in the gap" peer_both peer3 send 100 && must "server reads" srv gap "recv 100" || return 1
	# No daemon: list answers, exit 5 (DESIGN: queries without a daemon).
	out=$("$TCPSCOPE" list --json --pin-dir "$pin" | jq -r --argjson p "$p" \
		'[.connections[] | select(.local_port == $p and .state != "LISTEN") | .state] | sort | join(" ")')
	[ "$out" = "ESTABLISHED ESTABLISHED" ] || fail "gap connections: '$out'" || return 1
	out=$("$TCPSCOPE" stat --counters --json --pin-dir "$pin" | jq -e .counters.parse_errors)
	[ "$out" = 0 ] || fail "parse_errors $out in the gap" || return 1
	must "peer exits" peer_stop peer3 || return 1
	must "detach" nsrun "$NS" "$TCPSCOPE" detach --pin-dir "$pin" || return 1
	[ ! -e "$pin" ] || fail "pins left after detach: $(ls "$pin")"
}

run_test test_tracks_a_connection_whose_headers_arrive_in_fragments
run_test test_empty_slot_counts_parse_errors_and_passes
run_test test_stops_and_detaches
run_test test_persist_gap_keeps_the_pull_path
suite_done
