#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# State never goes stale silently (issue 12, point 3). Expiry lives in the
# daemon: after a kill -9 or during a --persist gap nothing leaves the
# table. Then stat, list and top apply the daemon's recorded timeouts
# themselves, say so on stderr and in JSON, and exit 5; the next run that
# adopts the pins expires what timed out meanwhile before it serves.
# tcpscope watches the client namespace A (its endpoints go to TIME_WAIT:
# the client closes first); the server runs in B. Timeouts are short
# (--time-wait 3) so the gap is seconds, not minutes.
. "$(dirname "$0")/../lib/lib.sh"
need_root

CONN="python3 $(dirname "$0")/conn.py"
A=stA$TAG B=stB$TAG
mk_pair "$A" "$B"
PORT=8080 HTTP_PORT=9718 N=4 TW=3
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
# What a killed daemon leaves beside its pins (socket, recorded timeouts).
on_exit "rm -f /run/tcpscope/tcpscope-test-$TAG-*"
nsenter --net=/run/netns/$B $CONN serve 0.0.0.0 $PORT 120 &
track_pid $!
wait_for 5 nsrun "$B" sh -c "ss -tln | grep -q :$PORT"

# start NAME ARGS...: tcpscope run in A; sets TP. Waits until it tracks.
start() {
	local name=$1; shift
	OUT=$WORK/$name.out
	nsenter --net=/run/netns/$A "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" --no-seed \
		--time-wait $TW "$@" >"$OUT" 2>&1 &
	TP=$!
	track_pid $TP
	wait_for 10 grep -q "tracking on" "$OUT" || { cat "$OUT" >&2; return 1; }
}

q() { nsrun "$A" "$TCPSCOPE" "$@" --pin-dir "$PIN_DIR"; }
tw_count() { awk '$1 == "TIME_WAIT" {print $2}' "$1"; }

# N connections closed by the client: N TIME_WAIT entries in A.
make_time_wait() {
	nsrun "$A" $CONN close "$IP4_B" $PORT $N || return 1
	wait_for 5 sh -c "[ \"\$(nsenter --net=/run/netns/$A '$TCPSCOPE' stat --pin-dir '$PIN_DIR' | awk '\$1==\"TIME_WAIT\"{print \$2}')\" = $N ]"
}

# A test that failed half-way may have left programs on IF_A.
clean_iface() { nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$PIN_DIR" >/dev/null 2>&1; true; }

test_after_kill_9_queries_expire_and_say_so() {
	mk_pindir kill9
	clean_iface
	local rc pid
	start kill9 || return 1
	make_time_wait || { fail "no $N TIME_WAIT entries"; return; }
	pid=$TP
	kill -9 "$pid"; wait "$pid" 2>/dev/null
	# Right away: nothing has timed out yet, but the answer says no daemon runs.
	q stat >"$WORK/s1" 2>"$WORK/e1"; rc=$?
	[ $rc -eq 5 ] || { fail "stat right after kill -9 exited $rc, want 5: $(cat "$WORK/e1")"; return; }
	[ "$(tw_count "$WORK/s1")" = $N ] || { fail "TIME_WAIT $(tw_count "$WORK/s1") right after, want $N"; return; }
	grep -q "no daemon is running for $PIN_DIR (pid $pid gone): states as of 20[0-9-]*T[0-9:.]*Z, expired by query" "$WORK/e1" ||
		{ fail "no warning: $(cat "$WORK/e1")"; return; }
	[ "$(wc -l <"$WORK/e1")" -eq 1 ] || { fail "warning is not one line: $(cat "$WORK/e1")"; return; }
	# After the TIME_WAIT lifetime the daemon would have expired them: so does the query.
	sleep $((TW + 1))
	q stat >"$WORK/s2" 2>"$WORK/e2"; rc=$?
	[ $rc -eq 5 ] || { fail "stat exited $rc, want 5"; return; }
	[ "$(tw_count "$WORK/s2")" = 0 ] || { fail "stale table shown: TIME_WAIT $(tw_count "$WORK/s2") after ${TW}s of a --time-wait $TW daemon"; return; }
	q stat --json >"$WORK/j" 2>/dev/null; rc=$?
	[ $rc -eq 5 ] || { fail "stat --json exited $rc"; return; }
	jq -e --argjson pid "$pid" --argjson n $N '.daemon.running == false and .daemon.pid == $pid
		and .daemon.expired_by_query == $n and (.daemon.as_of | test("Z$"))
		and .states.TIME_WAIT == 0' "$WORK/j" >/dev/null ||
		{ fail "stat --json: $(cat "$WORK/j")"; return; }
	q list --json >"$WORK/l" 2>/dev/null; rc=$?
	[ $rc -eq 5 ] && jq -e '.daemon.running == false and ([.connections[] | select(.state == "TIME_WAIT")] | length == 0)' "$WORK/l" >/dev/null ||
		{ fail "list --json exited $rc: $(head -c 300 "$WORK/l")"; return; }
	q list >"$WORK/l2" 2>"$WORK/e3"; rc=$?
	[ $rc -eq 5 ] && ! grep -q TIME_WAIT "$WORK/l2" && grep -q "no daemon is running" "$WORK/e3" ||
		{ fail "list exited $rc: $(cat "$WORK/l2" "$WORK/e3")"; return; }
	q top -n 1 >"$WORK/t" 2>"$WORK/e4"; rc=$?
	[ $rc -eq 5 ] && grep -q "NO DAEMON (pid $pid gone)" "$WORK/t" && grep -Eq '^TIME_WAIT +0 ' "$WORK/t" ||
		{ fail "top -n 1 exited $rc: $(cat "$WORK/t" "$WORK/e4")"; return; }
	[ -s "/run/tcpscope/tcpscope-test-$TAG-kill9.timeouts" ] || { fail "no recorded timeouts"; return; }
	nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$PIN_DIR" 2>/dev/null
	# detach clears what the daemon recorded beside its pins too.
	[ ! -e "/run/tcpscope/tcpscope-test-$TAG-kill9.timeouts" ] || fail "recorded timeouts left after detach"
}

test_persist_gap_expired_by_query_then_on_adoption() {
	mk_pindir gap
	clean_iface
	local rc
	start gap --persist || return 1
	make_time_wait || { fail "no $N TIME_WAIT entries"; return; }
	kill -TERM "$TP"; wait "$TP"
	sleep $((TW + 1))
	q stat >"$WORK/g1" 2>"$WORK/ge1"; rc=$?
	[ $rc -eq 5 ] && [ "$(tw_count "$WORK/g1")" = 0 ] &&
		grep -q "no daemon is running for $PIN_DIR (none since a --persist exit)" "$WORK/ge1" ||
		{ fail "during the gap: rc $rc, TIME_WAIT $(tw_count "$WORK/g1"): $(cat "$WORK/ge1")"; return; }
	# The table itself still holds them: the adopting run expires them
	# (timeout transitions) before it says it tracks, and before HTTP serves.
	start adopt --persist --json --listen $HTTP_PORT || return 1
	grep -q "expired $N entries that timed out while no daemon ran" "$OUT" ||
		{ fail "adoption did not expire: $(grep -v '^{' "$OUT")"; return; }
	local to track
	to=$(grep -n '"from":"TIME_WAIT","to":"CLOSE","reason":"timeout"' "$OUT" | head -1 | cut -d: -f1)
	track=$(grep -n 'tracking on' "$OUT" | cut -d: -f1)
	[ -n "$to" ] && [ "$to" -lt "$track" ] || { fail "timeout events not before 'tracking on' ($to / $track)"; return; }
	nsrun "$A" curl -sS --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/m" ||
		{ fail "no /metrics"; return; }
	grep -qx 'tcpscope_connections{state="TIME_WAIT"} 0' "$WORK/m" ||
		{ fail "/metrics after adoption: $(grep TIME_WAIT "$WORK/m")"; return; }
	q stat --json >"$WORK/g2" 2>"$WORK/ge2"; rc=$?
	[ $rc -eq 0 ] && [ ! -s "$WORK/ge2" ] && jq -e --argjson pid "$TP" '.daemon.running and .daemon.pid == $pid' "$WORK/g2" >/dev/null ||
		{ fail "with a daemon again: rc $rc $(cat "$WORK/g2" "$WORK/ge2")"; return; }
	kill -TERM "$TP"; wait "$TP"
	nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$PIN_DIR" 2>/dev/null
	true
}

# patch_info OFFSET DELTA: add DELTA to the u64 at OFFSET of the pinned
# info map's value (struct tcps_info: pid in the high half of the u64 at 8,
# started_ns at 16, start_ticks at 368).
patch_info() {
	local f=$PIN_DIR/info v
	v=$(bpftool -j map lookup pinned "$f" key hex 00 00 00 00 |
		python3 -c "import sys, json, struct
v = bytes(int(x, 16) for x in json.load(sys.stdin)['value'])
o, d = $1, $2
n = (struct.unpack_from('<Q', v, o)[0] + d) % 2**64
print(' '.join('%02x' % b for b in v[:o] + struct.pack('<Q', n) + v[o + 8:]))") &&
		bpftool map update pinned "$f" key hex 00 00 00 00 value hex $v
}

# The daemon is known by its start in clock ticks since boot, which no
# clock adjustment moves: a wall clock that drifted from boot time (2 s an
# hour was seen under NTP slew) must not make a live daemon look gone
# (stat would fall back to a full table read and apply the timeouts
# itself), and a pid reused by another process must.
test_owner_known_by_start_not_by_clock() {
	mk_pindir owner
	clean_iface
	local rc err=""
	start owner || return 1
	if ! patch_info 16 -3600000000000; then
		err="cannot patch started_ns"
	else
		q stat --json >"$WORK/o1" 2>"$WORK/oe1"; rc=$?
		[ $rc -eq 0 ] && jq -e --argjson pid "$TP" '.daemon.running and .daemon.pid == $pid' "$WORK/o1" >/dev/null ||
			err="an hour of clock drift made the daemon look gone: rc $rc $(cat "$WORK/oe1")"
	fi
	if [ -z "$err" ] && ! patch_info 368 1; then
		err="cannot patch start_ticks"
	elif [ -z "$err" ]; then
		q stat >"$WORK/o2" 2>"$WORK/oe2"; rc=$?
		[ $rc -eq 5 ] && grep -q "no daemon is running for $PIN_DIR (pid $TP gone)" "$WORK/oe2" ||
			err="a pid of another start still taken for the daemon: rc $rc $(cat "$WORK/oe2")"
	fi
	kill -TERM "$TP"; wait "$TP"
	[ -z "$err" ] || fail "$err"
}

# A daemon killed with -9 whose pid now belongs to another tcpscope
# process (a query, a later daemon): that process owns nothing. Queries say
# no daemon runs, and the next run adopts the pins instead of refusing
# them as in use.
test_pid_reused_by_another_tcpscope_owns_nothing() {
	mk_pindir reuse
	clean_iface
	local rc err="" imp old
	start reuse --persist || return 1
	old=$TP
	kill -9 "$old"; wait "$old" 2>/dev/null
	# comm "tcpscope-impost": what the owner check reads.
	cp /bin/sleep "$WORK/tcpscope-impostor"
	"$WORK/tcpscope-impostor" 60 &
	imp=$!
	track_pid $imp
	patch_info 8 $(((imp - old) * 4294967296)) || { fail "cannot patch pid"; kill $imp; return; }
	q stat >"$WORK/r1" 2>"$WORK/re1"; rc=$?
	[ $rc -eq 5 ] && grep -q "no daemon is running for $PIN_DIR (pid $imp gone)" "$WORK/re1" ||
		err="stat took the impostor for the daemon: rc $rc $(cat "$WORK/re1")"
	if [ -z "$err" ]; then
		start reuse2 || err="run refused the pins: $(cat "$OUT")"
		[ -z "$err" ] && ! grep -q "adopted the pins" "$OUT" && err="run did not adopt: $(cat "$OUT")"
		[ -n "${TP:-}" ] && [ "$TP" != "$old" ] && { kill -TERM "$TP"; wait "$TP"; }
	fi
	kill "$imp"; wait "$imp" 2>/dev/null
	nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$PIN_DIR" >/dev/null 2>&1
	[ -z "$err" ] || fail "$err"
}

run_test test_owner_known_by_start_not_by_clock
run_test test_pid_reused_by_another_tcpscope_owns_nothing
run_test test_after_kill_9_queries_expire_and_say_so
run_test test_persist_gap_expired_by_query_then_on_adoption
suite_done
