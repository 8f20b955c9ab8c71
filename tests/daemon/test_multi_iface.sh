#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# One daemon on two interfaces (-i a -i b): one shared table, each entry
# names the interface it came through, and the exit detaches from both.
#
#   peer1 (198.18.N.2) --veth-- hub (198.18.N.1 | 198.18.M.1) --veth-- peer2 (198.18.M.2)
source "$(dirname "$0")/../lib/lib.sh"
need_root

HUB=tcpmh$TAG P1=tcpm1$TAG P2=tcpm2$TAG
N=$(( 0x$TAG % 120 + 1 )) M=$(( 0x$TAG % 120 + 121 ))
IF1=h1$TAG IF2=h2$TAG
for ns in $HUB $P1 $P2; do ip netns add $ns && on_exit ip netns del $ns; done
ip link add $IF1 netns $HUB type veth peer name p1 netns $P1
ip link add $IF2 netns $HUB type veth peer name p2 netns $P2
nsrun $HUB ip addr add 198.18.$N.1/24 dev $IF1
nsrun $HUB ip addr add 198.18.$M.1/24 dev $IF2
nsrun $P1 ip addr add 198.18.$N.2/24 dev p1
nsrun $P2 ip addr add 198.18.$M.2/24 dev p2
for l in "$HUB $IF1" "$HUB $IF2" "$HUB lo" "$P1 p1" "$P1 lo" "$P2 p2" "$P2 lo"; do
	set -- $l; nsrun $1 ip link set $2 up
done
mk_pindir multi
OUT=$(mktemp); on_exit rm -f "$OUT"

# hold N connections open from a peer to the hub's port, for S seconds
serve() { nsenter --net=/run/netns/$HUB /usr/bin/python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $1)); s.listen(16); s.settimeout(10)
c = [s.accept()[0] for _ in range($2)]; time.sleep($3)" & track_pid $!; }
dial() { nsenter --net=/run/netns/$1 /usr/bin/python3 -c "
import socket, time
c = [socket.create_connection(('$2', $3), timeout=5) for _ in range($4)]; time.sleep($5)" & track_pid $!; }

json_count() { # IFNAME STATE: connections of that interface in that local state
	nsrun $HUB "$TCPSCOPE" list --json --pin-dir "$PIN_DIR" |
		jq "[.connections[] | select(.ifname == \"$1\" and .state == \"$2\")] | length"
}

has_count() { [ "$(json_count "$1" "$2")" = "$3" ]; }

test_one_daemon_tracks_both_interfaces_in_one_table() {
	nsenter --net=/run/netns/$HUB "$TCPSCOPE" run -i $IF1 -i $IF2 --pin-dir "$PIN_DIR" -q --no-seed >"$OUT" 2>&1 &
	TP=$!; track_pid $TP
	wait_for 10 grep -q "tracking on 2 interfaces" "$OUT" || fail "did not start: $(cat "$OUT")" || return
	grep -q "$IF1: ingress tc, egress tc" "$OUT" && grep -q "$IF2: ingress tc, egress tc" "$OUT" ||
		fail "hook lines: $(cat "$OUT")" || return
	serve 7001 3 6; serve 7002 2 6
	sleep 0.3
	dial $P1 198.18.$N.1 7001 3 5; dial $P2 198.18.$M.1 7002 2 5
	wait_for 5 has_count $IF1 ESTABLISHED 3 || fail "$IF1: $(json_count $IF1 ESTABLISHED) of 3 ESTABLISHED" || return
	wait_for 5 has_count $IF2 ESTABLISHED 2 || fail "$IF2: $(json_count $IF2 ESTABLISHED) of 2 ESTABLISHED" || return
	[ "$(nsrun $HUB "$TCPSCOPE" stat --pin-dir "$PIN_DIR" | awk '$1 == "ESTABLISHED" {print $2}')" = 5 ] ||
		fail "stat does not count 5 ESTABLISHED across both interfaces" || return
}

test_exit_detaches_from_both_interfaces() {
	kill -TERM $TP; wait $TP; local rc=$?
	[ $rc -eq 0 ] || fail "exit code $rc" || return
	nsrun $HUB bpftool net show | grep -q tcps_ && fail "programs left: $(nsrun $HUB bpftool net show)" && return
	[ ! -e "$PIN_DIR" ] || fail "pin dir left"
}

run_test test_one_daemon_tracks_both_interfaces_in_one_table
run_test test_exit_detaches_from_both_interfaces
suite_done
