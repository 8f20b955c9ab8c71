#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Interfaces come and go under a running daemon (issue 12, point 2): a
# deleted interface is said and counted, one of that name that comes back
# is attached again and its connections tracked, and -i patterns take
# matching interfaces at start and as they appear. Interfaces are created
# and deleted inside our own namespaces:
#
#   peer (198.18.N.2 | 198.18.M.2 | 198.18.K.2) --veths-- hub (.1 each), tcpscope in hub
. "$(dirname "$0")/../lib/lib.sh"
need_root

HUB=olh$TAG PEER=olp$TAG
N=$(( 0x$TAG % 80 + 1 )) M=$(( 0x$TAG % 80 + 81 )) K=$(( 0x$TAG % 80 + 161 ))
NAMED=ln$TAG		# watched by name
PAT=lp$TAG		# watched by the pattern "lp$TAG*"
for ns in $HUB $PEER; do ip netns add $ns && on_exit ip netns del $ns; done
nsrun $HUB ip link set lo up
mk_pindir links
OUT=$(mktemp); on_exit rm -f "$OUT"
PORT=$((20000 + 0x$TAG % 20000))

# veth HUBSIDE PEERSIDE SUBNET: a veth hub<->peer, 198.18.SUBNET.1/.2, up.
veth() {
	ip link add "$1" netns $HUB type veth peer name "$2" netns $PEER || return
	nsrun $HUB ip addr add 198.18.$3.1/24 dev "$1"
	nsrun $PEER ip addr add 198.18.$3.2/24 dev "$2"
	nsrun $HUB ip link set "$1" up
	nsrun $PEER ip link set "$2" up
}

# tracked SUBNET IFNAME: a connection peer -> hub over that subnet shows in
# 'list --json' as ESTABLISHED through IFNAME.
tracked() {
	local port=$((PORT + $1))
	nsenter --net=/run/netns/$HUB timeout 8 python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('198.18.$1.1', $port)); s.listen(4); s.settimeout(6); c = s.accept()[0]; time.sleep(3)" &
	track_pid $!
	sleep 0.3
	nsenter --net=/run/netns/$PEER timeout 8 python3 -c "
import socket, time
c = socket.create_connection(('198.18.$1.1', $port), timeout=5); time.sleep(3)" &
	track_pid $!
	wait_for 5 sh -c "nsenter --net=/run/netns/$HUB '$TCPSCOPE' list --json --pin-dir '$PIN_DIR' |
		jq -e '[.connections[] | select(.local_port == $port and .state == \"ESTABLISHED\" and .ifname == \"$2\")] | length == 1'"
}

test_pattern_matches_at_start_and_names_are_watched() {
	veth $NAMED pn$TAG $N || return
	veth ${PAT}a pa$TAG $M || return
	nsenter --net=/run/netns/$HUB "$TCPSCOPE" run -i $NAMED -i "$PAT*" --pin-dir "$PIN_DIR" -q --no-seed >"$OUT" 2>&1 &
	TP=$!; track_pid $TP
	wait_for 10 grep -q "tracking on 2 interfaces" "$OUT" || fail "did not start on 2: $(cat "$OUT")" || return
	grep -q "${PAT}a: new interface matching '$PAT\*'" "$OUT" || fail "no pattern match at start: $(cat "$OUT")" || return
	tracked $M ${PAT}a || fail "connection over ${PAT}a not tracked" || return
}

test_deleted_interface_is_said_and_counted() {
	nsrun $HUB ip link del $NAMED || return
	wait_for 5 grep -q "$NAMED: interface gone" "$OUT" || fail "no message: $(cat "$OUT")" || return
	grep -q "(1 interface gone so far)" "$OUT" || fail "not counted: $(grep gone "$OUT")" || return
	kill -0 $TP || fail "daemon died" || return
	# The info map keeps the name, without an ifindex, while it is away.
	nsrun $HUB bpftool map dump pinned "$PIN_DIR/info" | grep -q "$NAMED" || fail "info map lost the name"
}

test_interface_of_that_name_comes_back_and_is_tracked() {
	veth $NAMED pn$TAG $N || return
	wait_for 5 grep -q "$NAMED: interface back (ifindex [0-9]*): attached again (1 time so far)" "$OUT" ||
		fail "not attached again: $(cat "$OUT")" || return
	tracked $N $NAMED || fail "connection over the re-created $NAMED not tracked"
}

test_pattern_attaches_an_interface_as_it_appears_and_forgets_it() {
	veth ${PAT}b pb$TAG $K || return
	wait_for 5 grep -q "${PAT}b: new interface matching" "$OUT" || fail "not attached: $(cat "$OUT")" || return
	tracked $K ${PAT}b || fail "connection over ${PAT}b not tracked" || return
	veth xx$TAG px$TAG 250 || return	# matches nothing: not attached
	sleep 0.5
	grep -q "xx$TAG" "$OUT" && fail "attached to an interface matching no pattern" && return
	nsrun $HUB ip link del ${PAT}b
	wait_for 5 grep -q "${PAT}b: interface gone .*no longer watched" "$OUT" || fail "gone not said: $(cat "$OUT")"
}

test_exit_detaches_everything_it_watches() {
	kill -TERM $TP; wait $TP; local rc=$?
	[ $rc -eq 0 ] || fail "exit $rc: $(tail -3 "$OUT")" || return
	grep -q "interfaces gone 2, come back 1" "$OUT" || fail "no summary: $(tail -3 "$OUT")" || return
	nsrun $HUB bpftool net show | grep -q tcps_ && fail "programs left: $(nsrun $HUB bpftool net show)" && return
	[ ! -e "$PIN_DIR" ] || fail "pin dir left"
}

run_test test_pattern_matches_at_start_and_names_are_watched
run_test test_deleted_interface_is_said_and_counted
run_test test_interface_of_that_name_comes_back_and_is_tracked
run_test test_pattern_attaches_an_interface_as_it_appears_and_forgets_it
run_test test_exit_detaches_everything_it_watches
suite_done
