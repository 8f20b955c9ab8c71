#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# run --ring-size: the transitions' ring buffer is made at the size asked
# for, it is what a stalled reader can lose or keep, and an adopted ring
# keeps its size; so do the half-open table's --max-halfopen (default
# --max-conns/16) and its adoption. And the data path makes events only while something reads
# them (user/run.c events_gate): with -q and no reader none reach the ring.
# (The daemons here print JSON to a file: stdout reads the events, unless -q.)
#
# The stall: the daemon is stopped (SIGSTOP) while bench/ringload runs 2,000
# connection lives (20,000 transitions, ~1.8 MB of records) through its own
# XDP program (so the daemons here take --hook xdp: on a veth, auto loads
# none); then it is let go. A 64K ring holds ~740 records: the rest
# are counted as ringbuf_dropped. The default 4M ring holds them all.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/helpers.sh"
need_root

RINGLOAD=$TOP/$BUILD/bench/ringload
[ -x "$RINGLOAD" ] || { echo "not ok $(basename "$0"): $RINGLOAD missing (make)"; exit 1; }

setup_pair ringsize

counter() { "$TCPSCOPE" stat --counters --json --pin-dir "$PIN_DIR" | jq ".counters.$1"; }
ring_bytes() { bpftool map show pinned "$PIN_DIR/events" -j | jq .max_entries; }
halfopen_max() { bpftool map show pinned "$PIN_DIR/halfopen" -j | jq .max_entries; }

# stalled_drops: ring-buffer drops of 20,000 transitions made while the
# daemon is stopped.
stalled_drops() {
	local d0 d1 load
	d0=$(counter ringbuf_dropped)
	kill -STOP "$DAEMON_PID"
	load=$("$RINGLOAD" "$PIN_DIR" 20000 1)
	kill -CONT "$DAEMON_PID"
	log "ringload: $load"
	d1=$(counter ringbuf_dropped)
	echo $((d1 - d0))
}

stop_daemon() {
	kill -TERM "$DAEMON_PID"
	wait_gone 10 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null
}

test_small_ring_is_made_and_drops_while_the_reader_stalls() {
	local n
	start_daemon --hook xdp --ring-size 64K --max-halfopen 64 --persist ||
		{ fail "daemon did not start: $(cat "$WORK/daemon.err")"; return; }
	[ "$(ring_bytes)" = 65536 ] || { fail "ring is $(ring_bytes) bytes, want 65536"; return; }
	[ "$(halfopen_max)" = 64 ] || { fail "half-open table of $(halfopen_max), want 64"; return; }
	n=$(stalled_drops)
	[ "$n" -gt 0 ] || fail "a 64K ring lost nothing of 20,000 transitions"
	log "64K ring: $n of 20000 transitions dropped while the daemon was stopped"
}

test_adopted_ring_keeps_its_size() {
	stop_daemon
	[ -e "$PIN_DIR/events" ] || { fail "--persist left no pins"; return; }
	start_daemon --hook xdp --ring-size 1M --max-halfopen 128 ||
		{ fail "daemon did not adopt: $(cat "$WORK/daemon.err")"; return; }
	grep -q "adopted ring buffer keeps its size 65536 (--ring-size 1048576 ignored" "$WORK/daemon.err" ||
		fail "no warning: $(cat "$WORK/daemon.err")"
	grep -q "adopted half-open table keeps its size 64 (--max-halfopen 128 ignored" "$WORK/daemon.err" ||
		fail "no half-open warning: $(cat "$WORK/daemon.err")"
	[ "$(ring_bytes)" = 65536 ] || fail "adopted ring is $(ring_bytes) bytes, want 65536"
	[ "$(halfopen_max)" = 64 ] || fail "adopted half-open table of $(halfopen_max), want 64"
	stop_daemon
	[ ! -e "$PIN_DIR/events" ] || fail "pins left after a run without --persist"
}

test_default_ring_keeps_what_the_small_one_dropped() {
	local n
	start_daemon --hook xdp || { fail "daemon did not start: $(cat "$WORK/daemon.err")"; return; }
	[ "$(ring_bytes)" = $((4 << 20)) ] || { fail "default ring is $(ring_bytes) bytes, want 4M"; return; }
	[ "$(halfopen_max)" = $((262144 / 16)) ] || { fail "default half-open table of $(halfopen_max), want 16384"; return; }
	n=$(stalled_drops)
	[ "$n" -eq 0 ] || fail "the default ring dropped $n of 20,000 transitions"
	stop_daemon
}

# -q and a 64K ring: no drops with nobody reading (no events are made; the
# transitions are still counted), drops once a 'tcpscope events' reader is
# there, none again once it has left.
test_no_events_while_nobody_reads_them() {
	local n t0 t1 reader
	start_daemon --hook xdp -q --ring-size 64K || { fail "daemon did not start: $(cat "$WORK/daemon.err")"; return; }
	t0=$(counter transitions)
	n=$(stalled_drops)
	t1=$(counter transitions)
	[ "$n" -eq 0 ] || fail "$n drops with nobody reading: events were made"
	[ $((t1 - t0)) -ge 19000 ] || fail "transitions not counted: $((t1 - t0))"
	"$TCPSCOPE" events --json --pin-dir "$PIN_DIR" >"$WORK/reader.out" 2>"$WORK/reader.err" &
	reader=$!
	track_pid $reader
	wait_for 10 grep -q 'reading transitions' "$WORK/reader.err" || { fail "reader did not connect"; return; }
	sleep 0.3	# the daemon's next loop turn (at most 100 ms) turns events on
	n=$(stalled_drops)
	[ "$n" -gt 0 ] || fail "no drops with a reader and a stopped daemon: no events were made"
	kill "$reader"
	wait "$reader" 2>/dev/null
	sleep 0.3
	n=$(stalled_drops)
	[ "$n" -eq 0 ] || fail "$n drops after the reader left"
	stop_daemon
	grep -q "detached; [1-9][0-9]* transitions seen" "$WORK/daemon.err" ||
		fail "exit line: $(tail -1 "$WORK/daemon.err")"
}

test_bad_sizes_are_usage_errors() {
	local a out rc
	for a in 3M 32K 2G 4MB 0x10000 '' K; do
		out=$("$TCPSCOPE" run --ring-size "$a" -i lo 2>&1)
		rc=$?
		[ $rc -eq 2 ] || fail "--ring-size '$a': exit $rc, want 2"
		[ "$(wc -l <<<"$out")" -eq 1 ] && grep -q "power of two from 64K to 1G" <<<"$out" ||
			fail "--ring-size '$a': $out"
	done
}

run_test test_small_ring_is_made_and_drops_while_the_reader_stalls
run_test test_adopted_ring_keeps_its_size
run_test test_default_ring_keeps_what_the_small_one_dropped
run_test test_no_events_while_nobody_reads_them
run_test test_bad_sizes_are_usage_errors
suite_done
