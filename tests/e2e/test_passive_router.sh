#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# End-to-end, passive mode on a router: one tcpscope on both interfaces of a
# namespace that forwards between a client and a server, so every packet
# crosses tcpscope twice (ingress of one interface, egress of the other).
# Each connection must still be one entry whose orig/resp states equal the
# client's and the server's kernels (ss), and whose packet and byte counts
# equal what each endpoint put on the wire: every forwarded packet counts
# once.
#
#   client 198.18.N.1 --veth-- .N.2 router .M.1 --veth-- 198.18.M.2 server
#          2001:db8:N::1                                  2001:db8:M::2
#
# Every test runs on IPv4 and IPv6, once per ingress hook: tc (what auto
# takes on veth), xdp generic, xdp native; ROUTER_HOOKS picks some of them
# (auto too).
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/lib_e2e.sh"

e2e_need
for t in tcpdump ethtool; do
	command -v "$t" >/dev/null || { echo "not ok $(basename "$0"): $t missing (make deps)"; exit 1; }
done

NS_C="tcprc$TAG" NS_R="tcprr$TAG" NS_S="tcprs$TAG"
mk_pair "$NS_C" "$NS_R"
IF_C=$IF_A IF_RC=$IF_B
C4=$IP4_A RC4=$IP4_B C6=$IP6_A RC6=$IP6_B
# The server link by hand: mk_pair wants two new namespaces, the router's
# exists already.
M=$(( 0x$TAG % 250 + 1 ))
M=$(( M % 250 + 1 ))
IF_RS="r$TAG" IF_S="s$TAG"
RS4=198.18.$M.1 S4=198.18.$M.2 RS6=2001:db8:$M::1 S6=2001:db8:$M::2
ip netns add "$NS_S" && on_exit ip netns del "$NS_S"
ip link add "$IF_RS" netns "$NS_R" type veth peer name "$IF_S" netns "$NS_S"
nsrun "$NS_R" ip addr add "$RS4/24" dev "$IF_RS"
nsrun "$NS_R" ip -6 addr add "$RS6/64" dev "$IF_RS" nodad
nsrun "$NS_S" ip addr add "$S4/24" dev "$IF_S"
nsrun "$NS_S" ip -6 addr add "$S6/64" dev "$IF_S" nodad
nsrun "$NS_S" ip link set lo up
nsrun "$NS_R" ip link set "$IF_RS" up
nsrun "$NS_S" ip link set "$IF_S" up
nsrun "$NS_C" ip route add default via "$RC4"
nsrun "$NS_C" ip -6 route add default via "$RC6"
nsrun "$NS_S" ip route add default via "$RS4"
nsrun "$NS_S" ip -6 route add default via "$RS6"
# Forwarding in the router namespace only (net.* sysctls are per namespace).
nsrun "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

# No segmentation offload and no GRO anywhere: a segment on the wire is a
# segment of the sender's stack, and the router forwards it as it came.
# Kernels without "veth: do not manipulate GRO when using XDP" turn GRO
# back on when a native XDP program attaches (veth_xdp_set()), so this runs
# again after every start.
offloads_off() {
	local l
	for l in "$NS_C $IF_C" "$NS_R $IF_RC" "$NS_R $IF_RS" "$NS_S $IF_S"; do
		set -- $l
		nsrun "$1" ethtool -K "$2" tso off gso off gro off 2>/dev/null ||
			{ log "ethtool -K $2 tso off gso off gro off failed"; return 1; }
	done
}
offloads_off || { echo "not ok $(basename "$0"): cannot turn offloads off"; exit 1; }

# use_family 4|6: the addresses the tests' connections use.
use_family() {
	FAM=$1
	if [ "$FAM" = 4 ]; then CA=$C4 SA=$S4; else CA=$C6 SA=$S6; fi
}

# conn_open PFX PORT: a server and a client tcpdrive (PFX$FAM s / c) and
# one established connection between them.
conn_open() {
	must "server on $SA port $2" drv_start "$1${FAM}s" "$NS_S" listen "$SA" "$2" &&
		must "client to $SA port $2" drv_start "$1${FAM}c" "$NS_C" connect "$SA" "$2" &&
		must "handshake on port $2" drv "$1${FAM}c" wait-conn &&
		must "accept on port $2" drv "$1${FAM}s" wait-conn
}

# on PFX s|c CMD: run a tcpdrive command on the server (s) or client (c).
on() { must "$1${FAM}$2: $3" drv "$1${FAM}$2" "$3"; }

# ss_states NS PORT: the kernel's states of the non-listening sockets on PORT.
ss_states() {
	nsrun "$1" ss -tanH "( sport = :$2 or dport = :$2 )" | awk '$1 != "LISTEN" {print $1}' | sort | paste -sd ' '
}

# closed_by_client PORT: the client in TIME_WAIT, the server's socket gone.
closed_by_client() {
	[ "$(ss_states "$NS_C" "$1")" = TIME-WAIT ] && [ -z "$(ss_states "$NS_S" "$1")" ]
}

# The router's one table seen as two host-mode views, for E2E_PY_COMPARE:
# the orig side as the client's local endpoint, the resp side as the
# server's.
ROUTER_AS_CLIENT='{connections: [.connections[] | {local_addr: .orig_addr, local_port: .orig_port,
	remote_addr: .resp_addr, remote_port: .resp_port, state: .orig_state}]}'
ROUTER_AS_SERVER='{connections: [.connections[] | {local_addr: .resp_addr, local_port: .resp_port,
	remote_addr: .orig_addr, remote_port: .orig_port, state: .resp_state}]}'

# views_once VERBOSE PORT:ORIG:RESP...: each port has one connection, whose
# orig state equals ss in the client namespace and is ORIG, and whose resp
# state equals ss in the server namespace and is RESP.
views_once() {
	local verbose=$1 w=$E2E_WORK spec p o r out bad=0
	shift
	nsrun "$NS_C" ss -tanH >"$w/ss.client" && nsrun "$NS_S" ss -tanH >"$w/ss.server" &&
		"$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[$SCOPE]}" >"$w/list.router" &&
		jq "$ROUTER_AS_CLIENT" "$w/list.router" >"$w/list.client" &&
		jq "$ROUTER_AS_SERVER" "$w/list.router" >"$w/list.server" || return 1
	for spec in "$@"; do
		IFS=: read -r p o r <<<"$spec"
		out=$("$PYTHON" -c "$E2E_PY_COMPARE" "$p" "$o" 1 "$w/ss.client" "$w/list.client" "$verbose") || bad=1
		[ -z "$out" ] || printf '%s\n' "$out" | sed "s/^/port $p client (orig): /"
		out=$("$PYTHON" -c "$E2E_PY_COMPARE" "$p" "$r" 1 "$w/ss.server" "$w/list.server" "$verbose") || bad=1
		[ -z "$out" ] || printf '%s\n' "$out" | sed "s/^/port $p server (resp): /"
	done
	return $bad
}

# views_check PORT:ORIG:RESP...: views_once until it holds, for up to 3 s of
# wall time (each try takes a while: the CLOSE linger must not run out);
# the last try's differences in VIEWS_DIFF.
views_check() {
	local end=$((SECONDS + 3)) out
	while :; do
		out=$(views_once 1 "$@") && return 0
		VIEWS_DIFF=$(printf '%s\n' "$out" | grep -v '): ss {' | paste -sd ';')
		[ $SECONDS -lt $end ] || return 1
		sleep 0.2
	done
}

# link_drops: packets the four veths dropped (tx and rx, each end) and the
# host's softnet backlog drops (a veth hands a frame to the peer through
# the backlog; a full one drops it before any hook): a segment an endpoint
# sent (its capture has it) that the router never received was lost on the
# way, not miscounted. Printed before and after the traffic on a mismatch.
link_drops() {
	local l d=0 cpu dropped
	for l in "$NS_C $IF_C" "$NS_R $IF_RC" "$NS_R $IF_RS" "$NS_S $IF_S"; do
		set -- $l
		printf '%s tx/rx %s; ' "$2" "$(nsrun "$1" ip -j -s link show dev "$2" |
			jq -r '.[0].stats64 | "\(.tx.dropped)/\(.rx.dropped)"')"
	done
	while read -r cpu dropped _; do
		d=$((d + 16#$dropped))
	done </proc/net/softnet_stat
	printf 'softnet backlog %s\n' "$d"
}

# scope_counts PORT: "ORIG_PKTS RESP_PKTS ORIG_BYTES RESP_BYTES" of the one
# connection to PORT, or how many entries there are instead.
scope_counts() {
	"$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[$SCOPE]}" | jq -r --argjson p "$1" '
		[.connections[] | select(.resp_port == $p)] |
		if length == 1 then .[0] | "\(.orig_packets) \(.resp_packets) \(.orig_bytes) \(.resp_bytes)"
		else "\(length) entries" end'
}

# cap_start NAME NS IFACE FILTER / cap_stop NAME: a bounded capture in
# $E2E_WORK/NAME.pcap. --immediate-mode: no packet waits in a TPACKET_V3
# block that SIGINT would drop; -U: each reaches the file at once; -Z root:
# E2E_WORK is 0700.
declare -A CAP_PID
cap_start() {
	nsenter --net="/run/netns/$2" timeout 120 tcpdump -i "$3" -n --immediate-mode -U -Z root -s 200 \
		-w "$E2E_WORK/$1.pcap" "$4" 2>"$E2E_WORK/$1.caperr" &
	CAP_PID[$1]=$!
	track_pid $!
	wait_for 10 grep -q 'listening on' "$E2E_WORK/$1.caperr" ||
		{ log "tcpdump $1: $(cat "$E2E_WORK/$1.caperr")"; return 1; }
}
# Stops once the file has not grown for 0.3 s (at most 3 s).
cap_stop() {
	local f=$E2E_WORK/$1.pcap a b i
	for ((i = 0; i < 10; i++)); do
		a=$(stat -c %s "$f")
		sleep 0.3
		b=$(stat -c %s "$f")
		[ "$a" = "$b" ] && break
	done
	kill -INT "${CAP_PID[$1]}" 2>/dev/null
	wait "${CAP_PID[$1]}"
	return 0
}

# wire NAME FILTER: "PACKETS PAYLOAD_BYTES" of the packets of a capture
# that match FILTER (tcpdump prints the TCP payload as the last "length").
wire() {
	tcpdump -r "$E2E_WORK/$1.pcap" -n "$2" 2>/dev/null |
		awk '{ for (i = NF - 1; i > 0; i--) if ($i == "length") { b += $(i + 1); break } n++ }
			END { print n + 0, b + 0 }'
}

# Distinct ports per hook, family and test: a TIME_WAIT left by one never
# meets another's instance. PORT_BASE is set per hook.
port_of() { echo $((PORT_BASE + (FAM == 6 ? 50 : 0) + $1)); }

test_passive_on_both_router_interfaces() {
	must "tcpscope on $IF_RC and $IF_RS" \
		scope_start "$SCOPE" "$NS_R" "$IF_RC" -i "$IF_RS" --mode passive "${HOOK_ARGS[@]}" || return 1
	must "offloads off again" offloads_off || return 1
	local ifc
	for ifc in "$IF_RC" "$IF_RS"; do
		grep -q "[ :]$ifc: ingress .*, egress tc, mode passive" "$E2E_WORK/$SCOPE.log" ||
			{ fail "$ifc: no 'ingress ..., egress tc, mode passive' line: $(tr '\n' ' ' <"$E2E_WORK/$SCOPE.log")"; return 1; }
	done
}

# Five connections in five states, each seen by the router as one entry
# whose two sides match the two kernels.
_states() {
	local b d=$HOOK_ID
	b=$(port_of 0)
	conn_open "est$d" $((b + 1)) && on "est$d" c "send 3000" && on "est$d" s "recv 3000" &&
		on "est$d" s "send 2000" && on "est$d" c "recv 2000" || return 1
	conn_open "cc$d" $((b + 2)) && on "cc$d" c close && on "cc$d" s wait-eof && on "cc$d" s close || return 1
	conn_open "sc$d" $((b + 3)) && on "sc$d" s close && on "sc$d" c wait-eof && on "sc$d" c close || return 1
	conn_open "rst$d" $((b + 4)) && on "rst$d" c rst && on "rst$d" s wait-reset || return 1
	conn_open "hc$d" $((b + 5)) && on "hc$d" c shutdown && on "hc$d" s wait-eof &&
		on "hc$d" s "send 20000" && on "hc$d" c "recv 20000" || return 1
	local specs=("$((b + 1)):ESTABLISHED:ESTABLISHED" "$((b + 2)):TIME_WAIT:CLOSE"
		"$((b + 3)):CLOSE:TIME_WAIT" "$((b + 4)):CLOSE:CLOSE" "$((b + 5)):FIN_WAIT2:CLOSE_WAIT")
	if views_check "${specs[@]}"; then
		log "ports $((b + 1))-$((b + 5)): established, closed by client, closed by server, reset, half-closed: orig = client's ss, resp = server's ss"
		return 0
	fi
	fail "router's orig/resp states differ from the client's/server's ss (expected" \
		"est ESTABLISHED/ESTABLISHED, client-closed TIME_WAIT/CLOSE, server-closed CLOSE/TIME_WAIT," \
		"reset CLOSE/CLOSE, half-closed FIN_WAIT2/CLOSE_WAIT): $VIEWS_DIFF"
}

test_states_match_client_and_server_kernels() {
	_states
	local rc=$? s
	for s in est cc sc rst hc; do flows_stop "$s$HOOK_ID"; done
	return $rc
}

# 100000 bytes client -> server, 5000 back, then a close from the client:
# each direction's packets and payload bytes, as captured on the sender's
# own veth, equal the router's counts.
_counts() {
	local p d="cnt$HOOK_ID" up=100000 down=5000
	p=$(port_of 10)
	must "capture on the client" cap_start "c$d$FAM" "$NS_C" "$IF_C" "tcp port $p" &&
		must "capture on the server" cap_start "s$d$FAM" "$NS_S" "$IF_S" "tcp port $p" || return 1
	conn_open "$d" "$p" || return 1
	local drops0
	drops0=$(link_drops)
	on "$d" c "send $up" && on "$d" s "recv $up" && on "$d" s "send $down" && on "$d" c "recv $down" &&
		on "$d" c close && on "$d" s wait-eof && on "$d" s close || return 1
	# The last ACK has left once the client is TIME_WAIT and the server gone.
	wait_for 5 closed_by_client "$p" ||
		{ fail "not closed: client ss '$(ss_states "$NS_C" "$p")', server ss '$(ss_states "$NS_S" "$p")'"; return 1; }
	cap_stop "c$d$FAM"
	cap_stop "s$d$FAM"
	local op ob rp rb
	read -r op ob < <(wire "c$d$FAM" "src host $CA and tcp dst port $p")
	read -r rp rb < <(wire "s$d$FAM" "src host $SA and tcp src port $p")
	[ "$ob" -ge $up ] && [ "$rb" -ge $down ] ||
		{ fail "captures incomplete: client sent $ob of $up bytes, server $rb of $down"; return 1; }
	[ "$ob" -eq $up ] && [ "$rb" -eq $down ] || log "retransmissions: on the wire $ob and $rb payload bytes"
	# No polling: the router counted every packet before forwarding it, and
	# both endpoints have had their last one.
	local got gop grp gob grb
	got=$(scope_counts "$p")
	if [ "$got" = "$op $rp $ob $rb" ]; then
		log "port $p: orig $op packets $ob bytes, resp $rp packets $rb bytes, as on the wire"
		return 0
	fi
	read -r gop grp gob grb <<<"$got"
	[ -n "${grb:-}" ] || { fail "port $p: expected one entry, tcpscope has $got"; return 1; }
	fail "port $p (client sent $up bytes, server $down, then closed): expected orig $op pkts $ob bytes," \
		"resp $rp pkts $rb bytes (segments each endpoint sent, captured on its veth); tcpscope" \
		"orig $gop pkts $gob bytes, resp $grp pkts $grb bytes; drops before: $drops0; after: $(link_drops)"
}


test_counts_equal_what_each_endpoint_sent() {
	_counts
	local rc=$?
	flows_stop "cnt$HOOK_ID"
	return $rc
}

# SYN, SYN-ACK, ACK and nothing more: 2 packets from orig, 1 from resp.
_handshake() {
	local p d="hs$HOOK_ID"
	p=$(port_of 20)
	conn_open "$d" "$p" || return 1
	# The server has accepted: the last ACK went through the router.
	local got gop grp gob grb
	got=$(scope_counts "$p")
	[ "$got" = "2 1 0 0" ] && return 0
	read -r gop grp gob grb <<<"$got"
	[ -n "${grb:-}" ] || { fail "port $p: expected one entry, tcpscope has $got"; return 1; }
	fail "port $p after a 3-packet handshake, no data: expected orig 2 resp 1 pkts, 0/0 bytes;" \
		"tcpscope orig $gop resp $grp pkts, $gob/$grb bytes"
}

test_handshake_counts_two_orig_one_resp() {
	_handshake
	local rc=$?
	flows_stop "hs$HOOK_ID"
	return $rc
}

test_detach_from_both_interfaces() {
	must "tcpscope exits 0" scope_stop "$SCOPE" || return 1
	nsrun "$NS_R" bpftool net show | grep -q tcps_ &&
		{ fail "programs left: $(nsrun "$NS_R" bpftool net show | tr '\n' ' ')"; return 1; }
	# E2E_PY_CHAIN reads host-mode names: orig as local, resp as remote.
	jq -c 'select(.orig_addr) | .local_addr = .orig_addr | .local_port = .orig_port |
		.remote_addr = .resp_addr | .remote_port = .resp_port |
		.side = (if .side == "orig" then "local" else "remote" end)' \
		"$E2E_WORK/$SCOPE.events" >"$E2E_WORK/$SCOPE.as_host.events" || { fail "events not JSON"; return 1; }
	must "events chain" events_chain_check "$SCOPE.as_host"
}

# One name per hook and family: "test_x__tc", "test_x__xdp_native_ipv6"...
run_router() {
	local fn=$1 name=$1__$HOOK_ID${2:+_ipv$2}
	eval "$name() { ${2:+use_family $2;} $fn; }"
	run_test "$name"
}

i=0
for hook in ${ROUTER_HOOKS:-tc xdp-generic xdp-native}; do
	case $hook in
	auto) HOOK_ARGS=() ;;
	tc) HOOK_ARGS=(--hook tc) ;;
	xdp-generic) HOOK_ARGS=(--hook xdp --xdp-mode generic) ;;
	xdp-native) HOOK_ARGS=(--hook xdp --xdp-mode native) ;;
	*) echo "not ok $(basename "$0"): ROUTER_HOOKS: '$hook' (auto, tc, xdp-generic, xdp-native)"; exit 1 ;;
	esac
	HOOK_ID=${hook//-/_} SCOPE=router_$HOOK_ID PORT_BASE=$((9300 + 100 * i))
	i=$((i + 1))
	log "hook $hook: ${HOOK_ARGS[*]:-(default)}"
	run_router test_passive_on_both_router_interfaces
	[ -n "${SCOPE_PID[$SCOPE]:-}" ] && kill -0 "${SCOPE_PID[$SCOPE]}" 2>/dev/null || continue
	for fam in 4 6; do
		run_router test_states_match_client_and_server_kernels $fam
		run_router test_counts_equal_what_each_endpoint_sent $fam
		run_router test_handshake_counts_two_orig_one_resp $fam
	done
	run_router test_detach_from_both_interfaces
done
suite_done
