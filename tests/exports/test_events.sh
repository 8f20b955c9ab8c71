#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The transition fan-out: two concurrent 'events --json' readers both get
# every transition of a scripted run, exactly as the daemon's own --json
# stdout has them; a stalled reader never holds the daemon up and is told
# what it lost; text mode; --events-file is reopened on SIGHUP.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/helpers.sh"
need_root

setup_pair events
# --hook xdp: the stall test drives the daemon's XDP program (bench/ringload).
# No expiry while the file runs: the stall test counts every line of its
# lives, and the CLOSE linger's (10 s by default) adds one per life (the
# other side's TIME_WAIT -> CLOSE, a timeout) once a busy machine takes
# that long to drain the stalled reader (seen in CI: 8,361 lines over).
# With nothing after the load, the drop notice must come at a tick, not
# with a later transition.
start_daemon --hook xdp --timeout CLOSE=600 --time-wait 600 --events-file "$WORK/events.json" ||
	{ echo "not ok daemon_starts"; exit 1; }
SOCK=$(sed -n "s/.*'tcpscope events' on \(.*\)$/\1/p" "$WORK/daemon.err")

# start_reader NAME ARGS...: a reader whose stdout is $WORK/NAME.out
start_reader() {
	local name=$1; shift
	"$TCPSCOPE" events --pin-dir "$PIN_DIR" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	track_pid $!
	READER_PID=$!
	wait_for 10 grep -q 'reading transitions' "$WORK/$name.err"
}

port_lines() { grep "\"local_port\":$2," "$1" | sort; }
# lines_ge FILE PORT N: FILE has at least N transitions of PORT (a command,
# so that wait_for re-evaluates it on every try).
lines_ge() { [ "$(port_lines "$1" "$2" | wc -l)" -ge "$3" ]; }

test_event_socket_is_root_only() {
	[ -S "$SOCK" ] || fail "no socket at '$SOCK'" || return
	[ "$(stat -c %a "$SOCK")" = 600 ] || fail "mode $(stat -c %a "$SOCK")" || return
	[ "$SOCK" = "/run/tcpscope/tcpscope-test-$TAG-events.sock" ] || fail "unexpected default path $SOCK"
}

test_two_readers_get_every_transition() {
	local p=8081 a b d
	start_reader r1 --json || fail "reader 1 did not connect" || return
	start_reader r2 --json || fail "reader 2 did not connect" || return
	serve 3 3 $p
	sleep 0.3
	connect_hold 3 1 $p
	wait "$CONN_PID"
	# Client FINs, server closes at 3 s: every side ends in a closing state.
	sleep 3
	wait_for 10 lines_ge "$WORK/daemon.out" $p 12 || fail "daemon saw too few transitions" || return
	# The daemon's stdout and the readers are written in batches: compare
	# all three again until they agree (bounded), not one early snapshot.
	local i
	for ((i = 0; i < 50; i++)); do
		d=$(port_lines "$WORK/daemon.out" $p)
		a=$(port_lines "$WORK/r1.out" $p) b=$(port_lines "$WORK/r2.out" $p)
		[ "$a" = "$d" ] && [ "$b" = "$d" ] && break
		sleep 0.1
	done
	[ "$a" = "$d" ] || fail "reader 1 has $(wc -l <<<"$a") of $(wc -l <<<"$d") transitions: $(diff <(echo "$d") <(echo "$a") | head -5)" || return
	[ "$b" = "$d" ] || fail "reader 2 has $(wc -l <<<"$b") of $(wc -l <<<"$d") transitions: $(diff <(echo "$d") <(echo "$b") | head -5)" || return
	# Every line is one JSON object with the documented fields.
	jq -e -s 'all(.[]; has("time") and has("family") and has("local_addr") and has("local_port")
		and has("remote_addr") and has("remote_port") and has("side") and has("from")
		and has("to") and has("reason") and has("flags"))' "$WORK/r1.out" >/dev/null ||
		fail "reader 1 output is not JSON lines with the documented fields" || return
	grep -q '"to":"ESTABLISHED"' <<<"$a" || fail "no ESTABLISHED transition"
}

test_text_reader_matches_json_reader() {
	local p=8082 t j
	start_reader t1 || fail "text reader did not connect" || return
	start_reader j1 --json || fail "json reader did not connect" || return
	serve 1 2 $p
	sleep 0.3
	connect_hold 1 0.5 $p
	wait "$CONN_PID"
	wait_for 5 grep -q '"to":"ESTABLISHED"' "$WORK/j1.out" || fail "no transition" || return
	sleep 0.5
	# Same transitions: "addr:port > addr:port side FROM -> TO" both ways.
	j=$(jq -r --argjson p $p 'select(.local_port == $p) | "\(.local_addr):\(.local_port) > \(.remote_addr):\(.remote_port) \(.side) \(.from) -> \(.to)"' "$WORK/j1.out")
	t=$(grep ":$p > " "$WORK/t1.out" | awk '{print $2, $3, $4, $5, $6, $7, $8}')
	[ -n "$t" ] && [ "$t" = "$j" ] || fail "text: [$t] json: [$j]"
}

test_stalled_reader_does_not_block_daemon() {
	local stalled fast dn fn load
	local ringload=$TOP/$BUILD/bench/ringload
	[ -x "$ringload" ] || { fail "$ringload missing (make)"; return; }
	start_reader stall --json || fail "reader did not connect" || return
	stalled=$READER_PID
	start_reader fast --json || fail "reader did not connect" || return
	kill -STOP "$stalled"
	# 250k transitions (whole connection lives run through the daemon's
	# own XDP program, see test_events_rate.sh): far more than a stalled
	# reader's socket buffer and queue (65536 lines) hold.
	load=$("$ringload" "$PIN_DIR" 100000 2.5) || { kill -CONT "$stalled"; fail "ringload: $load"; return; }
	dn=$(jq '.transitions - .rb_drops' <<<"$load")	# what reached the daemon
	wait_for 20 sh -c "[ \$(grep -c '\"remote_addr\":\"198.19.' '$WORK/fast.out') -ge $dn ]"
	fn=$(grep -c '"remote_addr":"198.19.' "$WORK/fast.out")
	[ "$fn" -ge "$dn" ] || { kill -CONT "$stalled"; fail "fast reader has $fn of $dn"; return; }
	kill -CONT "$stalled"
	# Once it drains, it has every transition or was told of each one it
	# lost. Beyond its socket buffer and queue (~78k lines) it must lose.
	local got told i
	for ((i = 0; i < 100; i++)); do
		got=$(grep -c '"remote_addr":"198.19.' "$WORK/stall.out")
		told=$(sed -n 's/.*dropped \([0-9]*\) transitions.*/\1/p' "$WORK/stall.err" | awk '{s += $1} END {print s + 0}')
		[ $((got + told)) -ge "$dn" ] && break
		sleep 0.1
	done
	[ $((got + told)) -eq "$dn" ] ||
		{ fail "stalled reader: $got received + $told told of != $dn: $(cat "$WORK/stall.err")"; return; }
	[ "$dn" -lt 100000 ] || [ "$told" -gt 0 ] || { fail "$dn transitions and a stalled reader lost none?"; return; }
	log "stalled reader: $got received, told of $told lost, of $dn"
	kill -0 "$DAEMON_PID" || fail "daemon died"
}

test_events_file_reopened_on_sighup() {
	local p=8084
	wait_for 5 test -s "$WORK/events.json" || fail "events file empty" || return
	jq -e -s 'length > 0' "$WORK/events.json" >/dev/null || fail "events file is not JSON lines" || return
	mv "$WORK/events.json" "$WORK/events.json.1"
	kill -HUP "$DAEMON_PID"
	sleep 0.5
	serve 1 2 $p
	sleep 0.3
	connect_hold 1 0.3 $p
	wait "$CONN_PID"
	wait_for 5 grep -q "\"local_port\":$p," "$WORK/events.json" ||
		fail "no new transitions in the reopened file" || return
	! grep -q "\"local_port\":$p," "$WORK/events.json.1" || fail "rotated file still written"
	kill -0 "$DAEMON_PID" || fail "SIGHUP killed the daemon"
}

test_events_without_daemon_says_so() {
	local rc=0
	"$TCPSCOPE" events --pin-dir /sys/fs/bpf/tcpscope-none-$TAG 2>"$WORK/none.err" || rc=$?
	[ $rc = 4 ] || fail "exit $rc, want 4 (not running)" || return
	grep -q 'no event socket' "$WORK/none.err" || fail "$(cat "$WORK/none.err")"
}

run_test test_event_socket_is_root_only
run_test test_two_readers_get_every_transition
run_test test_text_reader_matches_json_reader
run_test test_stalled_reader_does_not_block_daemon
run_test test_events_file_reopened_on_sighup
run_test test_events_without_daemon_says_so
suite_done
