#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# run loads only the ingress programs its hooks use (the verifier is most of
# a start): tc ingress for --hook tc and for auto on a veth, XDP for --hook
# xdp, both for auto with a pattern (a later interface may be of either
# kind) unless --xdp-mode makes it XDP on every kind; tc egress always.
# Adoption across hooks takes the old program off the other hook (nothing
# counted twice) and keeps the pins in step; detach
# removes pins of two programs; a watched name that comes back as a device
# needing a program the run did not load is refused in one line.
# tcpscope watches namespace A; B is the peer.
. "$(dirname "$0")/../lib/lib.sh"
need_root

A=ohA$TAG B=ohB$TAG
mk_pair "$A" "$B"
mk_pindir hooks
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
PORT=$((20000 + 0x$TAG % 20000))
TAP=ht$TAG	# a tap: bus_info "tap", so auto takes it for a NIC (XDP)

start() { # start NAME IFACE ARGS...: run in A, output in $WORK/NAME, PID in TP
	local name=$1 ifc=$2; shift 2
	[ -n "${TP:-}" ] && kill -0 "$TP" 2>/dev/null && stop
	OUT=$WORK/$name
	nsenter --net=/run/netns/$A "$TCPSCOPE" run -i "$ifc" --pin-dir "$PIN_DIR" -q --no-seed "$@" >"$OUT" 2>&1 &
	TP=$!; track_pid $TP
	wait_for 10 grep -q "tracking on" "$OUT" || { fail "did not start: $(cat "$OUT")"; return 1; }
}

stop() { kill -TERM "$TP" 2>/dev/null; wait "$TP"; }

# The ingress/egress programs the daemon holds (its fds), by name, sorted.
held() {
	local f
	for f in /proc/$TP/fdinfo/*; do awk '/^prog_id:/ { print $2 }' "$f" 2>/dev/null; done |
		sort -u | while read -r id; do bpftool prog show id "$id" -j | jq -r .name; done |
		grep -E '^tcps_(xdp|tc)_' | sort | tr '\n' ' '
}

pins() { (cd "$PIN_DIR" && ls -d prog_* 2>/dev/null | tr '\n' ' '); }
pin_id() { bpftool prog show pinned "$PIN_DIR/$1" -j | jq -r .id; }

# On IF_A now: "XDP_ID TC_INGRESS_ID TC_EGRESS_ID" (0: none; tc: tcpscope's
# slot, any of tcps_ name).
on_hooks() {
	local j
	j=$(nsrun "$A" bpftool net show dev "$IF_A" -j)
	echo "$(jq -r '[.[0].xdp[]?.id] | first // 0' <<<"$j")" \
		"$(jq -r '[.[0].tc[]? | select(.kind == "clsact/ingress") | .id] | first // 0' <<<"$j")" \
		"$(jq -r '[.[0].tc[]? | select(.kind == "clsact/egress") | .id] | first // 0' <<<"$j")"
}

# A connection B -> A: three request/replies, then idle. tcpscope's packets
# in/out must equal the segments B's kernel sent/received (ss -ti; B opens,
# so its counts include its SYN and the SYN+ACK), so a program left on the
# other hook, counting every packet again, shows.
counts_exact() {
	local port=$((PORT + $1)) seen ss_line out in
	nsenter --net=/run/netns/$A timeout 10 python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$IP4_A', $port)); s.listen(4); s.settimeout(6); c = s.accept()[0]
for i in range(3): c.sendall(c.recv(100))
time.sleep(6)" &
	track_pid $!
	sleep 0.3
	nsenter --net=/run/netns/$B timeout 10 python3 -c "
import socket, time
c = socket.create_connection(('$IP4_A', $port), timeout=5)
for i in range(3): c.sendall(b'x' * 50); c.recv(100)
open('$WORK/done$1', 'w').close(); time.sleep(6)" &
	track_pid $!
	wait_for 6 test -e "$WORK/done$1" || fail "exchange on $port did not finish" || return
	sleep 1	# delayed ACKs out; both ends idle
	ss_line=$(nsrun "$B" ss -tinH state established "( dport = :$port )")
	out=$(grep -oP '(?<![a-z_])segs_out:\K[0-9]+' <<<"$ss_line")
	in=$(grep -oP '(?<![a-z_])segs_in:\K[0-9]+' <<<"$ss_line")
	seen=$(nsrun "$A" "$TCPSCOPE" list --json --pin-dir "$PIN_DIR" |
		jq -r ".connections[] | select(.local_port == $port) | \"\(.packets_in) \(.packets_out)\"")
	[ -n "$out" ] && [ "$seen" = "$out $in" ] ||
		fail "port $port: tcpscope in/out '$seen', B's kernel sent/received '$out $in'"
}

test_auto_on_a_veth_loads_tc_ingress_and_egress_only() {
	start auto "$IF_A" || return
	grep -q "$IF_A: ingress tc, egress tc" "$OUT" || fail "hook line: $(cat "$OUT")" || return
	[ "$(held)" = "tcps_tc_egress tcps_tc_ingress " ] || fail "loaded: $(held)" || return
	[ "$(pins)" = "prog_tc_egress prog_tc_ingress " ] || fail "pins: $(pins)" || return
	counts_exact 0
}

test_hook_tc_loads_tc_ingress_and_egress_only() {
	start tc "$IF_A" --hook tc || return
	[ "$(held)" = "tcps_tc_egress tcps_tc_ingress " ] || fail "loaded: $(held)" || return
	[ "$(pins)" = "prog_tc_egress prog_tc_ingress " ] || fail "pins: $(pins)"
}

test_hook_xdp_loads_xdp_and_tc_egress_only() {
	start xdp "$IF_A" --hook xdp || return
	grep -q "$IF_A: ingress xdp (native), egress tc" "$OUT" || fail "hook line: $(cat "$OUT")" || return
	[ "$(held)" = "tcps_tc_egress tcps_xdp_ingress " ] || fail "loaded: $(held)" || return
	[ "$(pins)" = "prog_tc_egress prog_xdp_ingress " ] || fail "pins: $(pins)" || return
	counts_exact 1
}

test_auto_with_a_pattern_loads_both_unless_an_xdp_mode_makes_it_xdp() {
	start pattern "a$TAG*" || return
	grep -q "$IF_A: ingress tc, egress tc" "$OUT" || fail "hook line: $(cat "$OUT")" || return
	[ "$(held)" = "tcps_tc_egress tcps_tc_ingress tcps_xdp_ingress " ] || fail "loaded: $(held)" || return
	stop || fail "exit $?: $(tail -2 "$OUT")" || return
	# An XDP mode asked for: auto takes XDP on every kind, so only XDP.
	start pattern_generic "a$TAG*" --xdp-mode generic || return
	grep -q "$IF_A: ingress xdp (generic), egress tc" "$OUT" || fail "hook line: $(cat "$OUT")" || return
	[ "$(held)" = "tcps_tc_egress tcps_xdp_ingress " ] || fail "loaded: $(held)" || return
	stop || fail "exit $?: $(tail -2 "$OUT")"
}

# tcpscope takes a tap for a NIC (its ethtool bus_info is "tap"), so auto
# gives it XDP and loads no tc ingress; a veth of that name later needs tc.
test_a_name_back_as_another_kind_is_refused_in_one_line() {
	nsrun "$A" ip tuntap add mode tap name "$TAP" && nsrun "$A" ip link set "$TAP" up || return
	start kind "$TAP" || return
	grep -q "$TAP: ingress xdp" "$OUT" || fail "hook line: $(cat "$OUT")" || return
	[ "$(held)" = "tcps_tc_egress tcps_xdp_ingress " ] || fail "loaded: $(held)" || return
	nsrun "$A" ip link del "$TAP" || return
	nsrun "$A" ip link add "$TAP" type veth peer name "v$TAP" && nsrun "$A" ip link set "$TAP" up || return
	nsrun "$A" ip link set "v$TAP" up
	wait_for 5 grep -q "$TAP: needs tc ingress" "$OUT" || fail "no refusal: $(cat "$OUT")" || return
	sleep 0.5	# more link events of it (up, carrier) must not repeat the line
	[ "$(grep -c "$TAP: needs" "$OUT")" = 1 ] || fail "said $(grep -c "$TAP: needs" "$OUT") times" || return
	grep -q "$TAP: needs tc ingress (--hook auto on a virtual device), a program this run did not load .*not watched: restart tcpscope, or run with --hook tc or --hook xdp" "$OUT" ||
		fail "message: $(grep "$TAP: needs" "$OUT")" || return
	nsrun "$A" bpftool net show dev "$TAP" | grep -q tcps_ && fail "something attached to the veth" && return
	kill -0 "$TP" || fail "daemon died" || return
	# A tap of that name again: watched again.
	nsrun "$A" ip link del "$TAP"
	nsrun "$A" ip tuntap add mode tap name "$TAP" && nsrun "$A" ip link set "$TAP" up || return
	wait_for 5 grep -q "$TAP: interface back .*attached again" "$OUT" || fail "tap not attached again: $(cat "$OUT")" || return
	stop || fail "exit $?: $(tail -2 "$OUT")"
	nsrun "$A" ip link del "$TAP"
}

test_adoption_from_tc_to_xdp_and_back_moves_the_ingress() {
	local old_eg h
	start persist_tc "$IF_A" --hook tc --persist || return
	stop || fail "--persist exit $?" || return
	old_eg=$(pin_id prog_tc_egress)
	start adopt_xdp "$IF_A" --hook xdp --persist || return
	grep -q "adopted the pins" "$OUT" || fail "did not adopt: $(cat "$OUT")" || return
	h=$(on_hooks)
	[ "$h" = "$(pin_id prog_xdp_ingress) 0 $(pin_id prog_tc_egress)" ] ||
		fail "on $IF_A: '$h' (xdp, tc in, tc eg), pins: $(pins)" || return
	[ "$(pin_id prog_tc_egress)" != "$old_eg" ] || fail "egress not replaced" || return
	[ "$(pins)" = "prog_tc_egress prog_xdp_ingress " ] || fail "pins: $(pins)" || return
	counts_exact 2 || return
	stop || fail "--persist exit $?" || return
	start adopt_tc "$IF_A" --hook tc --persist || return
	h=$(on_hooks)
	[ "$h" = "0 $(pin_id prog_tc_ingress) $(pin_id prog_tc_egress)" ] ||
		fail "on $IF_A: '$h' (xdp, tc in, tc eg), pins: $(pins)" || return
	[ "$(pins)" = "prog_tc_egress prog_tc_ingress " ] || fail "pins: $(pins)" || return
	counts_exact 3 || return
	stop || fail "--persist exit $?"
}

# After the test above: pins of two programs, both on IF_A, no daemon.
test_detach_removes_pins_of_two_programs() {
	local out
	[ "$(pins)" = "prog_tc_egress prog_tc_ingress " ] || fail "set-up: pins $(pins)" || return
	out=$(nsrun "$A" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" 2>&1) || fail "detach: $out" || return
	echo "$out" | grep -q "removed 2 tcpscope programs" || fail "message: $out" || return
	nsrun "$A" bpftool net show dev "$IF_A" | grep -q tcps_ && fail "programs left: $(on_hooks)" && return
	nsrun "$A" tc qdisc show dev "$IF_A" | grep -q clsact && fail "clsact left" && return
	[ ! -e "$PIN_DIR" ] || fail "pins left: $(ls "$PIN_DIR")"
}

run_test test_auto_on_a_veth_loads_tc_ingress_and_egress_only
run_test test_hook_tc_loads_tc_ingress_and_egress_only
run_test test_hook_xdp_loads_xdp_and_tc_egress_only
run_test test_auto_with_a_pattern_loads_both_unless_an_xdp_mode_makes_it_xdp
run_test test_a_name_back_as_another_kind_is_refused_in_one_line
run_test test_adoption_from_tc_to_xdp_and_back_moves_the_ingress
run_test test_detach_removes_pins_of_two_programs
[ -n "${TP:-}" ] && kill -0 "$TP" 2>/dev/null && stop
suite_done
