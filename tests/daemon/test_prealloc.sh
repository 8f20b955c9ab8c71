#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The connection table is a slot array (include/tcps_slots.h), allocated
# whole at start: run --prealloc is accepted and changes nothing, with
# health and without; tracking is the same: real connections from
# namespace A (watched) to a server in B are held, then closed, and stat
# agrees with ss in A; an adopted table keeps its size.
. "$(dirname "$0")/../lib/lib.sh"
need_root
. "$(dirname "$0")/lib_daemon.sh"

CONN="python3 $(dirname "$0")/conn.py"
PORT=8091
daemon_pair pa $PORT 120
mk_pindir prealloc
MAX=4096

conns_map() { bpftool map show pinned "$PIN_DIR/conns" -j; }
# stat_of STATE: tcpscope's count of the local side in STATE
stat_of() { nsrun "$A" "$TCPSCOPE" stat --json --pin-dir "$PIN_DIR" | jq ".states.$1 // 0"; }

# tracks_like_ss: 20 connections held (ESTABLISHED: tcpscope's count is the
# kernel's in A), then 20 opened and closed by us (TIME_WAIT: tcpscope
# counts each of them; the kernel also holds earlier tests' for 60 s).
tracks_like_ss() {
	local tw0 tw1 n
	nsenter --net=/run/netns/$A $CONN hold "$IP4_B" $PORT 20 6 >/dev/null &
	track_pid $!
	wait_for 5 sh -c "[ \$(nsenter --net=/run/netns/$A ss -tnH state established | wc -l) -ge 20 ]" ||
		{ fail "connections not up"; return 1; }
	wait_for 5 sh -c "[ \"\$(nsenter --net=/run/netns/$A '$TCPSCOPE' stat --json --pin-dir '$PIN_DIR' | jq '.states.ESTABLISHED // 0')\" = \"\$(nsenter --net=/run/netns/$A ss -tnH state established | wc -l)\" ]" ||
		{ fail "ESTABLISHED: tcpscope $(stat_of ESTABLISHED), ss $(nsrun "$A" ss -tnH state established | wc -l)"; return 1; }
	tw0=$(nsrun "$A" ss -tnH state time-wait | wc -l)
	nsenter --net=/run/netns/$A $CONN close "$IP4_B" $PORT 20 >/dev/null ||
		{ fail "close failed"; return 1; }
	tw1=$(nsrun "$A" ss -tnH state time-wait | wc -l)
	wait_for 5 sh -c "[ \"\$(nsenter --net=/run/netns/$A '$TCPSCOPE' stat --json --pin-dir '$PIN_DIR' | jq '.states.TIME_WAIT // 0')\" -ge $((tw1 - tw0)) ]" ||
		{ fail "TIME_WAIT: tcpscope $(stat_of TIME_WAIT), ss $tw0 -> $tw1"; return 1; }
	n=$(stat_of TIME_WAIT)
	[ "$n" -le "$tw1" ] || { fail "TIME_WAIT: tcpscope $n, more than ss's $tw1"; return 1; }
	log "ESTABLISHED as ss; TIME_WAIT $n (ss $tw0 -> $tw1)"
}

test_prealloc_table_is_made_whole_and_tracks() {
	local j
	start_tcpscope pre --prealloc --no-seed -q --max-conns $MAX --persist || { fail "did not start"; return; }
	j=$(conns_map)
	[ $(($(jq .flags <<<"$j") & 1)) -eq 0 ] || fail "conns still has BPF_F_NO_PREALLOC: $j"
	# Every slot is there already, at load 7/8 when full: bytes_memlock
	# covers them, of the value's size each.
	[ "$(jq .max_entries <<<"$j")" = $(((MAX * 8 + 6) / 7)) ] || fail "slots for $MAX: $j"
	[ "$(jq .bytes_memlock <<<"$j")" -ge $(((MAX * 8 + 6) / 7 * $(jq .bytes_value <<<"$j"))) ] ||
		fail "memlock $(jq .bytes_memlock <<<"$j") for the slots of $MAX of $(jq .bytes_value <<<"$j") B"
	grep -q "prealloc changes nothing" "$OUT" || fail "no word that --prealloc changes nothing: $(cat "$OUT")"
	nsrun "$A" "$TCPSCOPE" stat --json --pin-dir "$PIN_DIR" >/dev/null || fail "stat failed"
	tracks_like_ss
}

test_adopted_table_keeps_its_allocation() {
	stop_tcpscope
	start_tcpscope adopt --no-seed -q --max-conns $MAX || { fail "did not adopt"; return; }
	[ $(($(conns_map | jq .flags) & 1)) -eq 0 ] || fail "the adopted table lost its preallocation"
	stop_tcpscope
	[ ! -e "$PIN_DIR/conns" ] || fail "pins left"
}

test_prealloc_without_health() {
	local j
	start_tcpscope slim --prealloc --no-health --no-seed -q --max-conns $MAX || { fail "did not start"; return; }
	j=$(conns_map)
	[ $(($(jq .flags <<<"$j") & 1)) -eq 0 ] || fail "conns has BPF_F_NO_PREALLOC: $j"
	[ "$(jq .bytes_value <<<"$j")" -lt 200 ] || fail "not the slim value: $j"
	tracks_like_ss
	stop_tcpscope
}

test_default_table_is_whole_too() {
	start_tcpscope default --no-seed -q --max-conns $MAX || { fail "did not start"; return; }
	[ "$(conns_map | jq -r .type)" = array ] || fail "conns is not the slot array: $(conns_map)"
	[ "$(conns_map | jq .max_entries)" = $(((MAX * 8 + 6) / 7)) ] || fail "slots for $MAX: $(conns_map)"
	stop_tcpscope
}

run_test test_prealloc_table_is_made_whole_and_tracks
run_test test_adopted_table_keeps_its_allocation
run_test test_prealloc_without_health
run_test test_default_table_is_whole_too
suite_done
