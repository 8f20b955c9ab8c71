#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The expiry scan's cadence (user/gc.c gc_next): a scan that finds no entry
# due before the shortest timeout is followed by the next one a shortest
# timeout later, not a second later, so an idle daemon over live
# connections walks its table a tenth as often; and an entry that becomes
# due meanwhile still leaves on time, because the next scan comes at its
# deadline. Real connections from namespace A (watched) to a server in B;
# the daemon's debug log (-v) says when each scan plans the next.
. "$(dirname "$0")/../lib/lib.sh"
need_root
. "$(dirname "$0")/lib_daemon.sh"

CONN="python3 $(dirname "$0")/conn.py"
PORT=8090
daemon_pair gc $PORT 120

# start NAME ARGS...: tcpscope -v run in A, JSON events in $OUT, log in $ERR.
start() {
	mk_pindir "$1"
	OUT=$WORK/$1.out ERR=$WORK/$1.err
	shift
	nsenter --net=/run/netns/$A "$TCPSCOPE" -v run -i "$IF_A" --pin-dir "$PIN_DIR" --no-seed \
		--json "$@" >"$OUT" 2>"$ERR" &
	TP=$!
	track_pid $TP
	wait_for 10 grep -q "tracking on" "$ERR" || { cat "$ERR" >&2; return 1; }
}
stop() { stop_tcpscope; }
# plans: the "next in S s" of every scan so far, one a line
plans() { sed -n 's/^.*gc: .* next in \([0-9.]*\) s$/\1/p' "$ERR"; }

test_live_connections_are_scanned_every_shortest_timeout() {
	local n
	# Defaults: the shortest timeout is CLOSE's linger, 10 s.
	start live || return 1
	nsenter --net=/run/netns/$A $CONN hold "$IP4_B" $PORT 3 20 >/dev/null &
	track_pid $!
	wait_for 5 sh -c "[ \$(grep -c '\"to\":\"ESTABLISHED\"' '$OUT') -ge 6 ]" ||
		{ fail "connections not tracked: $(cat "$OUT")"; stop; return 1; }
	sleep 12
	n=$(plans | wc -l)
	log "scans in ~13 s: $n, planned $(plans | tr '\n' ' ')"
	# Every second before: 13. Now the first (at start, 1 s) and one or
	# two 10 s later.
	[ "$n" -ge 1 ] && [ "$n" -le 3 ] || { fail "$n scans in ~13 s, want 1-3"; stop; return 1; }
	plans | tail -n +2 | awk '$1 < 9 { bad = 1 } END { exit bad }' ||
		{ fail "a scan planned the next one in under 9 s: $(plans | tr '\n' ' ')"; stop; return 1; }
	stop
}

test_an_entry_due_between_scans_still_leaves_on_time() {
	local got
	# TIME_WAIT 4 s is the shortest timeout: scans every 4 s with a live
	# connection; a connection closed in between is due 4 s after its
	# close, and the scan after it comes then, not 4 s after the last.
	start due --time-wait 4 || return 1
	nsenter --net=/run/netns/$A $CONN hold "$IP4_B" $PORT 1 20 >/dev/null &
	track_pid $!
	sleep 5.5	# a scan or two with the live connection only
	nsrun "$A" $CONN close "$IP4_B" $PORT 1 || { fail "close"; stop; return 1; }
	wait_for 8 grep -q '"from":"TIME_WAIT","to":"CLOSE","reason":"timeout"' "$OUT" ||
		{ fail "TIME_WAIT did not expire: $(tail -3 "$OUT")"; stop; return 1; }
	got=$(python3 - "$OUT" <<'EOF'
import datetime, json, sys
t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
evs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
tw = [e for e in evs if e["to"] == "TIME_WAIT"]
out = [e for e in evs if e["from"] == "TIME_WAIT" and e["reason"] == "timeout"]
print("%.2f" % (t(out[0]["time"]) - t(tw[0]["time"])))
EOF
)
	log "TIME_WAIT left after $got s (timeout 4 s)"
	# Its deadline, plus what gc.c promises: scans at least 1 s apart,
	# started on the daemon's 100 ms tick, and the coarse clock's tick.
	# (Were the wait planned before the close kept, it would be up to 4 s.)
	awk -v g="$got" 'BEGIN { exit !(g >= 3.95 && g <= 5.4) }' ||
		{ fail "TIME_WAIT left after $got s, want 4-5.4 s"; stop; return 1; }
	stop
}

run_test test_live_connections_are_scanned_every_shortest_timeout
run_test test_an_entry_due_between_scans_still_leaves_on_time
suite_done
