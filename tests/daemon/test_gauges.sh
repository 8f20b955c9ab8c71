#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The per-state gauges (issue 11.3) equal a full walk of the tables, in
# exact numbers, at quiet moments after: short-connection churn over IPv4
# and IPv6, a SYN flood that fills the half-open table, expiry with short
# timeouts, a restart that adopts the pins (with churn while no daemon
# ran), and a fresh start that seeds from the socket table, then removes
# a vanished listener. Three readings must agree: `stat --json` (the
# gauges), `stat --walk --json` (a map iterator over both tables) and the
# rows of `list --json`. tcpscope runs in namespace A on IF_A (host mode);
# servers in B. Every process is bounded in time and ended by PID.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/lib_daemon.sh"
need_root

CONN="python3 $(dirname "$0")/conn.py"
A=ggA$TAG B=ggB$TAG
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
mk_pair "$A" "$B"
mk_pindir gauges
PORT=8080
FLOOD_PORT=9090
MAX_CONNS=16384
MAX_HALFOPEN=4096	# (the default would be 16384/16)
nsenter --net=/run/netns/$B $CONN serve 0.0.0.0 $PORT 300 &
track_pid $!
nsenter --net=/run/netns/$B $CONN serve :: $((PORT + 1)) 300 &
track_pid $!
wait_for 5 nsrun "$B" sh -c "ss -tln | grep -q :$((PORT + 1))"

# The daemon in A, quiet, with the suite's table size; sets TP.
start_gauged() { start_tcpscope gauges -q --max-conns $MAX_CONNS --max-halfopen $MAX_HALFOPEN "$@"; }

# One reading of each kind, as one JSON line: {"gauges": stat, "walk":
# stat --walk, "rows": list}. A stat exit of 5 (stale) is a failure here.
reading() {
	local g w l g2
	g=$(nsrun "$A" "$TCPSCOPE" stat --json --pin-dir "$PIN_DIR") || return 1
	w=$(nsrun "$A" "$TCPSCOPE" stat --walk --json --pin-dir "$PIN_DIR") || return 1
	l=$(nsrun "$A" "$TCPSCOPE" list --json --pin-dir "$PIN_DIR") || return 1
	g2=$(nsrun "$A" "$TCPSCOPE" stat --json --pin-dir "$PIN_DIR") || return 1
	printf '{"gauges": %s, "walk": %s, "rows": %s, "gauges2": %s}\n' "$g" "$w" "$l" "$g2"
}

# compare: reads a reading on stdin; prints "quiet" if the gauges did not
# move while it was taken, then "same" or what differs; and the summary.
compare() {
	python3 -c '
import json, sys
r = json.load(sys.stdin)
def view(s):
    return {"states": s["states"], "closed": s["closed"], "conns": s["conns"],
            "halfopen": s["halfopen"]}
g, w, g2 = view(r["gauges"]), view(r["walk"]), view(r["gauges2"])
rows = {"states": {k: 0 for k in g["states"]}, "closed": 0, "conns": 0, "halfopen": 0}
for c in r["rows"]["connections"]:
    if c["state"] == "CLOSE":
        rows["closed"] += 1
    else:
        rows["states"][c["state"]] += 1
    rows["halfopen" if c["halfopen"] else "conns"] += 1
print("quiet" if g == g2 else "moving")
bad = [(n, v) for n, v in (("walk", w), ("rows", rows)) if v != g]
print("same" if not bad else "gauges %s but %s" % (json.dumps(g), "; ".join(
    "%s %s" % (n, json.dumps(v)) for n, v in bad)))
nz = {k: v for k, v in g["states"].items() if v}
print("states %s closed %d conns %d halfopen %d" % (json.dumps(nz), g["closed"], g["conns"], g["halfopen"]))
'
}

# expect_exact LABEL: at a quiet moment (the gauges equal before and after
# the walk and the list; bounded retries while expiry moves the table),
# all three readings are equal. Leaves the gauge reading in $G.
expect_exact() {
	local label=$1 i res
	for ((i = 0; i < 30; i++)); do
		reading >"$WORK/r.json" || { fail "$label: a query failed"; return 1; }
		res=$(compare <"$WORK/r.json") || { fail "$label: unreadable output"; return 1; }
		[ "$(sed -n 1p <<<"$res")" = quiet ] && break
		sleep 0.3
	done
	log "$label: $(sed -n 3p <<<"$res")"
	[ "$(sed -n 1p <<<"$res")" = quiet ] || { fail "$label: the table never stood still"; return 1; }
	[ "$(sed -n 2p <<<"$res")" = same ] || { fail "$label: $(sed -n 2p <<<"$res")"; return 1; }
	G=$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["gauges"]))' <"$WORK/r.json")
}

# gauges_jq FILTER: the gauges (stat --json) satisfy the jq FILTER.
gauges_jq() { nsrun "$A" "$TCPSCOPE" stat --json --pin-dir "$PIN_DIR" | jq -e "$1" >/dev/null; }

# g_get EXPR: a field of the last gauge reading, e.g. states.TIME_WAIT.
g_get() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(eval('d' + ''.join('[%r]' % k for k in sys.argv[2].split('.'))))" "$G" "$1"; }

# churn N: N short connections each over IPv4 and IPv6 (we close first:
# TIME_WAIT here, the server's side goes through LAST_ACK).
churn() {
	nsrun "$A" timeout 60 $CONN close "$IP4_B" $PORT "$1" &&
		nsrun "$A" timeout 60 $CONN close "$IP6_B" $((PORT + 1)) "$1"
}

test_gauges_equal_walk_after_churn_ipv4_ipv6() {
	# Nothing expires before the expiry test: not the churn's TIME_WAIT,
	# nor the flood's half-open entries (local side CLOSE).
	start_gauged --persist --time-wait 600 --timeout CLOSE=600 || return 1
	churn 150 || { fail "churn failed"; return 1; }
	# Some that stay open: ESTABLISHED, and half-closed (FIN_WAIT2 here,
	# CLOSE_WAIT on the server, which never closes: tcpdrive).
	nsenter --net=/run/netns/$A timeout 200 $CONN hold "$IP6_B" $((PORT + 1)) 20 200 \
		>"$WORK/hold.out" &
	track_pid $!
	nsenter --net=/run/netns/$B timeout 200 "$TOOLS/tcpdrive" listen "$IP4_B" $((PORT + 2)) \
		-n 10 -L 200 -e "wait-conn;sleep 190000" >/dev/null 2>&1 &
	track_pid $!
	wait_for 5 nsrun "$B" sh -c "ss -tln | grep -q :$((PORT + 2))"
	nsenter --net=/run/netns/$A timeout 200 "$TOOLS/tcpdrive" connect "$IP4_B" $((PORT + 2)) \
		-n 10 -L 200 -e "wait-conn;shutdown;sleep 190000" >"$WORK/drive.out" 2>&1 &
	track_pid $!
	wait_for 10 grep -q ready "$WORK/hold.out" || { fail "hold did not connect"; return 1; }
	wait_for 10 grep -q "ok shutdown" "$WORK/drive.out" || { fail "tcpdrive: $(cat "$WORK/drive.out")"; return 1; }
	sleep 0.5
	expect_exact "after churn" || return 1
	# We close first: TIME_WAIT, or CLOSE where a reply came after close().
	[ $(($(g_get states.TIME_WAIT) + $(g_get closed))) -ge 300 ] ||
		fail "only $(g_get states.TIME_WAIT) TIME_WAIT, $(g_get closed) closed" || return 1
	[ "$(g_get states.ESTABLISHED)" -ge 20 ] || fail "only $(g_get states.ESTABLISHED) ESTABLISHED" || return 1
	[ "$(g_get states.FIN_WAIT2)" -eq 10 ] || fail "$(g_get states.FIN_WAIT2) FIN_WAIT2, want 10" || return 1
}

test_gauges_equal_walk_after_syn_flood() {
	nsenter --net=/run/netns/$A timeout 200 $CONN listen "$IP4_A" $FLOOD_PORT 200 &
	track_pid $!
	wait_for 5 nsrun "$A" sh -c "ss -tln | grep -q :$FLOOD_PORT"
	local mac; mac=$(ip -n "$A" link show "$IF_A" | awk '/ether/{print $2}')
	# Spoofed sources with no route back: the half-open entries stay.
	nsrun "$B" timeout 20 "$TOOLS/synflood" -i "$IF_B" --dst-mac "$mac" --dst "$IP4_A" \
		--dport $FLOOD_PORT --src-net 198.19.0.0/16 --count 20000 --seconds 5 --rate 50000 \
		>"$WORK/flood.out" 2>&1 || { fail "synflood: $(cat "$WORK/flood.out")"; return 1; }
	sleep 0.5
	expect_exact "after a SYN flood" || return 1
	[ "$(g_get halfopen)" -ge 4000 ] || fail "half-open table not full: $(g_get halfopen)" || return 1
}

test_gauges_kept_by_a_restart_that_adopts_the_pins() {
	local before; before=$(g_get conns)
	stop_tcpscope || { fail "--persist exit failed"; return 1; }
	# Transitions and new entries while no daemon runs: the data path
	# alone keeps the gauges.
	churn 40 || { fail "churn without a daemon failed"; return 1; }
	start_gauged --persist --time-wait 600 --timeout CLOSE=600 || return 1
	grep -q "adopted the pins" "$OUT" || { fail "did not adopt: $(cat "$OUT")"; return 1; }
	expect_exact "after adoption" || return 1
	# 80 connections of the gap, 1 listener seeded.
	[ "$(g_get conns)" -ge $((before + 80)) ] ||
		fail "$(g_get conns) entries after adoption, $before before and 80 made in the gap" || return 1
	[ "$(g_get halfopen)" -ge 4000 ] || fail "half-open entries lost: $(g_get halfopen)" || return 1
}

test_gauges_follow_expiry_with_short_timeouts() {
	stop_tcpscope || { fail "--persist exit failed"; return 1; }
	# Adopted again; TIME_WAIT and CLOSE go within seconds, the flood's
	# half-open entries (local side CLOSE) with them.
	start_gauged --persist --time-wait 2 --timeout CLOSE=1 || return 1
	churn 30 || { fail "churn failed"; return 1; }
	# Until the gauges show them gone (bounded; it took a fixed 4 s before),
	# then the three readings must agree.
	wait_for 12 gauges_jq '.states.TIME_WAIT == 0 and .halfopen == 0'
	expect_exact "after expiry" || return 1
	[ "$(g_get states.TIME_WAIT)" -eq 0 ] || fail "$(g_get states.TIME_WAIT) TIME_WAIT left" || return 1
	[ "$(g_get halfopen)" -eq 0 ] || fail "$(g_get halfopen) half-open entries left" || return 1
	[ "$(g_get states.ESTABLISHED)" -ge 20 ] || fail "held connections expired too" || return 1
}

test_gauges_count_seeded_sockets_on_a_fresh_start() {
	stop_tcpscope || { fail "--persist exit failed"; return 1; }
	nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$PIN_DIR" || { fail "detach failed"; return 1; }
	# Sockets that exist before the start: the held ones, the half-closed
	# ones, a listener, and TIME_WAIT from a last churn.
	nsenter --net=/run/netns/$A timeout 30 $CONN listen "$IP4_A" $((FLOOD_PORT + 1)) 30 &
	local lpid=$!
	track_pid $lpid
	wait_for 5 nsrun "$A" sh -c "ss -tln | grep -q :$((FLOOD_PORT + 1))"
	churn 20 || { fail "churn failed"; return 1; }
	start_gauged --seed-interval 1 || return 1
	grep -q "seed: [1-9]" "$OUT" || { fail "nothing seeded: $(cat "$OUT")"; return 1; }
	expect_exact "after seeding" || return 1
	[ "$(g_get states.LISTEN)" -ge 2 ] || fail "$(g_get states.LISTEN) LISTEN seeded" || return 1
	[ "$(g_get states.TIME_WAIT)" -ge 40 ] || fail "$(g_get states.TIME_WAIT) TIME_WAIT seeded" || return 1
	[ "$(g_get states.FIN_WAIT2)" -eq 10 ] || fail "$(g_get states.FIN_WAIT2) FIN_WAIT2 seeded" || return 1
	local listen; listen=$(g_get states.LISTEN)
	# A listener that goes away is deleted by the seed refresh.
	kill "$lpid"; wait "$lpid" 2>/dev/null
	wait_for 5 sh -c "! nsenter --net=/run/netns/$A ss -tln | grep -q :$((FLOOD_PORT + 1))"
	# Until the seed refresh (every 1 s) has removed it from the gauges
	# (bounded; a fixed 2.5 s before), then the three readings must agree.
	wait_for 8 gauges_jq ".states.LISTEN == $((listen - 1))"
	expect_exact "after a listener vanished" || return 1
	[ "$(g_get states.LISTEN)" -eq $((listen - 1)) ] || fail "LISTEN $(g_get states.LISTEN), want $((listen - 1))" || return 1
	stop_tcpscope || fail "daemon exited non-zero"
}

run_test test_gauges_equal_walk_after_churn_ipv4_ipv6
run_test test_gauges_equal_walk_after_syn_flood
run_test test_gauges_kept_by_a_restart_that_adopts_the_pins
run_test test_gauges_follow_expiry_with_short_timeouts
run_test test_gauges_count_seeded_sockets_on_a_fresh_start
suite_done
