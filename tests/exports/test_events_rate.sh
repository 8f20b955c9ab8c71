#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# An 'events --json' reader writing to a file keeps up with 100k
# transitions/s without losing one (issue 12, point 5).
#
# The load: bench/ringload runs whole connection lives (SYN ... last ACK,
# 10 endpoint transitions each, new tuples from 198.19.0.0/16) through the
# daemon's own XDP program with BPF_PROG_TEST_RUN, paced every millisecond.
# Live TCP between two namespaces cannot be trusted to reach 100k
# transitions/s (10k connections/s) on 2 cores next to the daemon and the
# reader; test-run packets reach the same program, the same maps and the
# same ring buffer, so the fan-out under test sees exactly what live
# traffic would give it, at a rate we choose and can measure.
#
# The check: the transitions the data path counted over the period (the
# per-CPU 'transitions' counter) equal the 'packet' lines in the reader's
# file, no ring-buffer drop, no "dropped" notice to the reader.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/helpers.sh"
need_root

RINGLOAD=$TOP/$BUILD/bench/ringload
RATE=${RATE:-150000}	# asked for; at least MIN_RATE must be reached
MIN_RATE=100000
SECS=3
# Under ASan/UBSan (make test SANITIZE=1) the daemon renders a JSON line
# 4-5x slower (7 us instead of 1.7 us, measured): at 100k/s it would need
# most of a core that ringload and the reader share on 2 cores, and the
# ring buffer overflows before the fan-out is even reached. That run is
# for memory errors on the same paths, so it drives 40k/s; the 100k/s
# claim is checked on the optimised build.
if ldd "$TCPSCOPE" 2>/dev/null | grep -q libasan; then
	RATE=${SAN_RATE:-40000} MIN_RATE=30000
	log "sanitizer build: driving $RATE transitions/s (at least $MIN_RATE)"
fi

setup_pair evrate
# --hook xdp: on a veth, auto loads no XDP program for ringload to drive.
start_daemon --hook xdp -q --listen "$HTTP_PORT" || { echo "not ok daemon_starts"; exit 1; }

counter() { "$TCPSCOPE" stat --counters --json --pin-dir "$PIN_DIR" | jq ".counters.$1"; }
packet_lines() { grep -c '"reason":"packet"' "$1"; }

test_file_reader_keeps_up_with_100k_transitions_per_second() {
	[ -x "$RINGLOAD" ] || { fail "$RINGLOAD missing (make)"; return; }
	local out=$WORK/reader.json c0 c1 d0 d1 load rate n i
	"$TCPSCOPE" events --json --pin-dir "$PIN_DIR" >"$out" 2>"$WORK/reader.err" &
	local reader=$!
	track_pid $reader
	wait_for 10 grep -q 'reading transitions' "$WORK/reader.err" || { fail "reader did not connect"; return; }
	c0=$(counter transitions) d0=$(counter ringbuf_dropped)
	load=$("$RINGLOAD" "$PIN_DIR" "$RATE" "$SECS" "$DAEMON_PID") || { fail "ringload failed: $load"; return; }
	log "ringload: $load"
	rate=$(jq -r '.per_second | floor' <<<"$load")
	# The reader may still be writing its last batch: wait until its file
	# holds every counted transition, or stops growing (bounded).
	c1=$(counter transitions) d1=$(counter ringbuf_dropped)
	for ((i = 0; i < 100; i++)); do
		n=$(packet_lines "$out")
		[ "$n" -ge $((c1 - c0)) ] && break
		sleep 0.1
	done
	[ $((d1 - d0)) -eq 0 ] || { fail "$((d1 - d0)) transitions lost in the ring buffer"; return; }
	[ "$n" -eq $((c1 - c0)) ] ||
		{ fail "reader wrote $n of $((c1 - c0)) transitions at $rate/s: $(cat "$WORK/reader.err")"; return; }
	! grep -q dropped "$WORK/reader.err" || { fail "reader was told of drops: $(cat "$WORK/reader.err")"; return; }
	[ "$rate" -ge $MIN_RATE ] ||
		{ fail "the load reached only $rate transitions/s (want >= $MIN_RATE; machine too busy?)"; return; }
	# Whole lines only: every line is one JSON object.
	jq -e -s 'length > 0' "$out" >/dev/null || fail "the file is not JSON lines"
	kill "$reader"; wait "$reader" 2>/dev/null
	log "reader kept $n transitions at $rate/s"
}

test_daemon_counts_no_reader_drops() {
	local m
	# The daemon's own count of transitions it could not queue for a reader.
	m=$(ncurl "http://127.0.0.1:$HTTP_PORT/metrics") || { fail "no /metrics"; return; }
	grep -qx 'tcpscope_event_reader_dropped_total 0' <<<"$m" ||
		fail "$(grep '^tcpscope_event_reader_dropped_total' <<<"$m")"
	kill -0 "$DAEMON_PID" || fail "daemon died under load"
}

run_test test_file_reader_keeps_up_with_100k_transitions_per_second
run_test test_daemon_counts_no_reader_drops
suite_done
