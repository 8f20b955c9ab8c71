#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# End-to-end: real kernel TCP between two namespaces joined by veth, one
# tcpscope attached in the server namespace and one in the client namespace.
# At every checkpoint tcpscope's state of each local endpoint must equal
# `ss -tan` in the same namespace (a connection ss no longer has is CLOSE).
# IPv4 and IPv6 run side by side in every scenario.
#
# E2E_HOOK picks the ingress hook: tc (default), xdp-generic, xdp-native;
# test_core_xdp_*.sh run this suite with the other two.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/lib_e2e.sh"

E2E_HOOK=${E2E_HOOK:-tc}
case $E2E_HOOK in
tc) HOOK_ARGS=(--hook tc) ;;
xdp-generic) HOOK_ARGS=(--hook xdp --xdp-mode generic) ;;
xdp-native) HOOK_ARGS=(--hook xdp --xdp-mode native) ;;
*) echo "not ok $(basename "$0"): E2E_HOOK=$E2E_HOOK (tc, xdp-generic, xdp-native)"; exit 1 ;;
esac
HOOK_ID=${E2E_HOOK//-/_}

e2e_need
NS_C="tcpc$TAG"
NS_S="tcps$TAG"
mk_pair "$NS_C" "$NS_S"	# client: A side (.1), server: B side (.2)
N=3			# connections per family in each small scenario
BIG=1000		# per family in the concurrency scenario

# Both views at one checkpoint: PORT CLIENT_STATE SERVER_STATE COUNT [S].
check_both() {
	view_check "$NS_C" client "$1" "$2" "$4" "${5:-3}" &&
		view_check "$NS_S" server "$1" "$3" "$4" "${5:-3}"
}

test_attach_in_server_and_client_namespaces() {
	# Both load at once (scope_launch), then each must be tracking.
	scope_launch server "$NS_S" "$IF_B" "${HOOK_ARGS[@]}" &&
		scope_launch client "$NS_C" "$IF_A" "${HOOK_ARGS[@]}" &&
		must "tcpscope in the server namespace" scope_ready server &&
		must "tcpscope in the client namespace" scope_ready client
}

test_established_with_data_matches_ss() {
	local p=9101
	must "start drivers" flows_start est $p $N || return 1
	must "handshakes" flows est c wait-conn && must "accepts" flows est s wait-conn || return 1
	must "client data" flows est c "send 20000" && must "server reads" flows est s "recv 20000" || return 1
	must "server data" flows est s "send 3000" && must "client reads" flows est c "recv 3000" || return 1
	must "ESTABLISHED on both sides" check_both $p ESTABLISHED ESTABLISHED $((2 * N))
}

# Client closes first: client FIN_WAIT2 (server CLOSE_WAIT), then after
# the server's close the client is TIME_WAIT and the server gone.
test_active_close_goes_fin_wait2_then_time_wait() {
	local p=9102
	must "start drivers" flows_start ac $p $N || return 1
	must "handshakes" flows ac c wait-conn && must "accepts" flows ac s wait-conn || return 1
	must "client closes" flows ac c close || return 1
	must "client FIN_WAIT2, server CLOSE_WAIT" check_both $p FIN_WAIT2 CLOSE_WAIT $((2 * N)) || return 1
	must "server sees FIN" flows ac s wait-eof && must "server closes" flows ac s close || return 1
	must "client TIME_WAIT, server gone" check_both $p TIME_WAIT CLOSE $((2 * N))
}

# Server closes first; the client, passive, goes CLOSE_WAIT, then LAST_ACK,
# held there by dropping the server's last ACK (in the server namespace,
# before tc egress: neither tcpscope sees it), then gone once the rule goes
# and a retransmitted FIN is acknowledged.
test_passive_close_goes_close_wait_last_ack_then_gone() {
	local p=9103
	must "start drivers" flows_start pc $p $N || return 1
	must "handshakes" flows pc c wait-conn && must "accepts" flows pc s wait-conn || return 1
	must "server closes" flows pc s close || return 1
	must "client CLOSE_WAIT, server FIN_WAIT2" check_both $p CLOSE_WAIT FIN_WAIT2 $((2 * N)) || return 1
	must "drop the server's ACKs" nft_drop "$NS_S" lastack "out tcp sport $p" || return 1
	must "client sees FIN" flows pc c wait-eof && must "client closes" flows pc c close || return 1
	must "client LAST_ACK, server TIME_WAIT" check_both $p LAST_ACK TIME_WAIT $((2 * N)) || return 1
	must "remove the drop" nft_undrop "$NS_S" lastack || return 1
	# LAST_ACK retransmits its FIN with backoff (0.2, 0.4, 0.8, 1.6 s...).
	must "client gone, server TIME_WAIT" check_both $p CLOSE TIME_WAIT $((2 * N)) 8
}

test_rst_from_client_closes_both_ends() {
	local p=9104
	must "start drivers" flows_start rc $p $N || return 1
	must "handshakes" flows rc c wait-conn && must "accepts" flows rc s wait-conn || return 1
	must "client aborts (SO_LINGER 0)" flows rc c rst && must "server reset" flows rc s wait-reset || return 1
	must "both CLOSE" check_both $p CLOSE CLOSE $((2 * N))
}

test_rst_from_server_closes_both_ends() {
	local p=9105
	must "start drivers" flows_start rs $p $N || return 1
	must "handshakes" flows rs c wait-conn && must "accepts" flows rs s wait-conn || return 1
	must "server aborts (SO_LINGER 0)" flows rs s rst && must "client reset" flows rs c wait-reset || return 1
	must "both CLOSE" check_both $p CLOSE CLOSE $((2 * N))
}

test_connect_to_closed_port_is_refused_and_close() {
	local p=9106
	must "start clients" flows_start rf $p $N noserver || return 1
	must "refused" flows rf c wait-refused || return 1
	must "both CLOSE" check_both $p CLOSE CLOSE $((2 * N))
}

# SYNs dropped in the server namespace's input (after XDP/tc ingress, so
# the server-side tcpscope still sees them): the client stays SYN_SENT.
test_unanswered_syn_stays_syn_sent() {
	local p=9107
	must "drop SYNs" nft_drop "$NS_S" synsent "in tcp dport $p" || return 1
	must "start drivers" flows_start ss $p $N || return 1
	must "client SYN_SENT, server nothing" check_both $p SYN_SENT CLOSE $((2 * N)) || return 1
	flows_stop ss
}

# Half-close: the client's FIN does not stop the server's data; bulk data
# (window scaling, many segments) flows into FIN_WAIT2 before the server's FIN.
test_half_close_carries_data_until_fin() {
	local p=9109
	must "start drivers" flows_start hc $p $N || return 1
	must "handshakes" flows hc c wait-conn && must "accepts" flows hc s wait-conn || return 1
	must "client shuts down" flows hc c shutdown || return 1
	must "client FIN_WAIT2, server CLOSE_WAIT" check_both $p FIN_WAIT2 CLOSE_WAIT $((2 * N)) || return 1
	must "server sends 4 MB" flows hc s "send 4000000" && must "client reads" flows hc c "recv 4000000" || return 1
	must "still FIN_WAIT2 / CLOSE_WAIT" check_both $p FIN_WAIT2 CLOSE_WAIT $((2 * N)) || return 1
	must "server sees FIN" flows hc s wait-eof && must "server closes" flows hc s close || return 1
	must "client TIME_WAIT, server gone" check_both $p TIME_WAIT CLOSE $((2 * N))
}

# Both FINs in flight at once: each side's FIN is dropped in the peer's
# netfilter input (after both tcpscopes saw it on the wire) until both have
# closed; the retransmitted FINs then cross: CLOSING, then TIME_WAIT. (A FIN
# dropped in the sender's own output would never reach the wire: no
# observer could tell FIN_WAIT1 from ESTABLISHED then.)
test_simultaneous_close_goes_closing_then_time_wait() {
	local p=9110
	must "start drivers" flows_start sc $p $N || return 1
	must "handshakes" flows sc c wait-conn && must "accepts" flows sc s wait-conn || return 1
	must "hold server FINs" nft_drop "$NS_C" simc "in tcp sport $p" &&
		must "hold client FINs" nft_drop "$NS_S" sims "in tcp dport $p" || return 1
	must "client closes" flows sc c close && must "server closes" flows sc s close || return 1
	must "release client" nft_undrop "$NS_C" simc && must "release server" nft_undrop "$NS_S" sims || return 1
	must "both TIME_WAIT" check_both $p TIME_WAIT TIME_WAIT $((2 * N)) 8 || return 1
	must "CLOSING seen (client view)" events_have client $p CLOSING &&
		must "CLOSING seen (server view)" events_have server $p CLOSING
}

# The server closed first and sits in TIME_WAIT; a new SYN on the same
# 4-tuple (newer timestamp) reopens it (RFC 6191), in the kernel and in
# tcpscope alike.
test_time_wait_tuple_reused_by_new_syn() {
	local p=9111
	FLOW_SPORT=41000 must "start drivers" flows_start tw $p $N || return 1
	must "handshakes" flows tw c wait-conn && must "accepts" flows tw s wait-conn || return 1
	must "server closes" flows tw s close && must "client sees FIN" flows tw c wait-eof || return 1
	must "client closes" flows tw c close || return 1
	must "client gone, server TIME_WAIT" check_both $p CLOSE TIME_WAIT $((2 * N)) || return 1
	FLOW_SPORT=41000 must "reconnect from the same ports" flows_start tw2 $p $N noserver || return 1
	must "handshakes again" flows tw2 c wait-conn || return 1
	must "ESTABLISHED again" check_both $p ESTABLISHED ESTABLISHED $((2 * N))
}

test_thousand_concurrent_connections_match_ss() {
	local p=9108 t0=$SECONDS
	must "start drivers" flows_start big $p $BIG || return 1
	must "handshakes" flows big c wait-conn && must "accepts" flows big s wait-conn || return 1
	must "client data" flows big c "send 100" && must "server reads" flows big s "recv 100" || return 1
	must "all ESTABLISHED" check_both $p ESTABLISHED ESTABLISHED $((2 * BIG)) 5 || return 1
	must "clients close" flows big c close || return 1
	must "all FIN_WAIT2 / CLOSE_WAIT" check_both $p FIN_WAIT2 CLOSE_WAIT $((2 * BIG)) 5 || return 1
	must "servers see FIN" flows big s wait-eof && must "servers close" flows big s close || return 1
	must "all TIME_WAIT / gone" check_both $p TIME_WAIT CLOSE $((2 * BIG)) 5 || return 1
	log "$((2 * BIG)) connections opened, checked, closed in $((SECONDS - t0)) s"
}

test_ringbuf_dropped_is_zero() {
	local s v
	for s in server client; do
		v=$(ringbuf_dropped $s) || { fail "$s: stat --counters --json"; return 1; }
		log "$s: ringbuf_dropped=$v"
		[ "$v" -eq 0 ] || { fail "$s: ringbuf_dropped=$v"; return 1; }
	done
}

test_detach_and_events_chain_without_gaps() {
	must "server tcpscope exits 0" scope_stop server &&
		must "client tcpscope exits 0" scope_stop client || return 1
	must "server events chain" events_chain_check server &&
		must "client events chain" events_chain_check client
}

# One name per hook: "test_x__tc", "test_x__xdp_native"...
run_e2e() {
	eval "$1__$HOOK_ID() { $1; }"
	run_test "$1__$HOOK_ID"
}

log "hook: ${HOOK_ARGS[*]}"
run_e2e test_attach_in_server_and_client_namespaces
run_e2e test_established_with_data_matches_ss
run_e2e test_active_close_goes_fin_wait2_then_time_wait
run_e2e test_passive_close_goes_close_wait_last_ack_then_gone
run_e2e test_rst_from_client_closes_both_ends
run_e2e test_simultaneous_close_goes_closing_then_time_wait
# The hooks differ only in how a frame reaches the shared parser and state
# machine: these FSM-only scenarios run with the default hook (tc), and the
# XDP repeats keep the ones that put each kind of segment through the hook
# (handshake, data, FIN, RST, a thousand at once). The 15-minute budget.
if [ "$E2E_HOOK" = tc ]; then
	run_e2e test_rst_from_server_closes_both_ends
	run_e2e test_connect_to_closed_port_is_refused_and_close
	run_e2e test_unanswered_syn_stays_syn_sent
	run_e2e test_half_close_carries_data_until_fin
	run_e2e test_time_wait_tuple_reused_by_new_syn
fi
run_e2e test_thousand_concurrent_connections_match_ss
run_e2e test_ringbuf_dropped_is_zero
run_e2e test_detach_and_events_chain_without_gaps
suite_done
