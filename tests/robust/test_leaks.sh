#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Leaks: the daemon runs under valgrind (memcheck, full leak check) with
# every module on (socket seeding with a fast refresh, event socket, HTTP,
# events file with a SIGHUP reopen) while 2,000 short connections churn
# through the server namespace, two 'events' readers and HTTP requests come
# and go; then SIGTERM: exit 0, no definite or indirect leak, no memory
# error. The one-shot commands (stat, list, events, replay of a capture of
# the churn) run under valgrind too.
#
# --undef-value-errors=no: valgrind 3.19 does not model every bpf() command
# ("unhandled eBPF command 24/35": BPF_MAP_LOOKUP_BATCH, BPF_PROG_BIND_MAP)
# and checks BPF_MAP_CREATE attrs past the size libbpf passes, so kernel
# writes look undefined and libbpf's calls look wrong. Definedness is the
# ASan/UBSan build's job (make SANITIZE=1); here: leaks and bad accesses.
# One suppression, for replay: valgrind 3.19 assumes BPF_PROG_TEST_RUN
# writes data_size_in bytes to test.data_out even when data_out is NULL,
# which the kernel never does (bpf_test_finish copies only to a non-NULL
# data_out).
. "$(dirname "$0")/../lib/lib.sh"
need_root

DRIVE=$TOOLS/tcpdrive
CL=rlkc$TAG SV=rlks$TAG
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
ROUNDS=${ROUNDS:-4}
PER_ROUND=${PER_ROUND:-500}	# 4 x 500 = 2,000 connect/close cycles
PORT=9100
HPORT=$((20000 + 0x$TAG % 20000))
cat >"$WORK/vg.supp" <<'EOF'
{
   valgrind-3.19-bpf-prog-test-run-null-data-out
   Memcheck:Param
   bpf(attr->test.data_out)
   fun:syscall
   fun:bpf_prog_test_run_opts
}
EOF
# shellcheck disable=SC2054	# commas inside option values
VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
	--error-exitcode=99 --undef-value-errors=no --num-callers=30 --suppressions="$WORK/vg.supp")

for t in "$TCPSCOPE" "$DRIVE"; do
	[ -x "$t" ] || { echo "not ok $(basename "$0"): $t not built (make)"; exit 1; }
done
for t in valgrind tcpdump curl jq; do
	command -v "$t" >/dev/null || { echo "not ok $(basename "$0"): $t missing"; exit 1; }
done

mk_pair "$CL" "$SV"
mk_pindir leaks

# checked NAME: sets CHK, the command prefix of a checked run, its report
# in WORK/vg.NAME. An ASan build (TCPSCOPE=build-san/tcpscope) cannot run
# under valgrind: then LeakSanitizer checks it, exit 99 on a leak.
if ldd "$TCPSCOPE" | grep -q libasan; then
	LEAK_TOOL=lsan
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
else
	LEAK_TOOL=valgrind
fi
checked() {
	if [ $LEAK_TOOL = lsan ]; then
		CHK=(env "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=1:exitcode=99:log_path=$WORK/vg.$1")
	else
		CHK=("${VG[@]}" "--log-file=$WORK/vg.$1")
	fi
}

# verdict NAME: fails when the run's report shows anything definitely or
# indirectly lost, or any error.
verdict() {
	if [ $LEAK_TOOL = lsan ]; then
		# LSan writes vg.NAME.PID only when it has something to say.
		local f
		for f in "$WORK/vg.$1".*; do
			[ -e "$f" ] || continue
			fail "$1: $(grep -m1 -E 'ERROR|SUMMARY' "$f")"
			head -40 "$f" | sed 's/^/#   /' >&2
			return 1
		done
		log "$1: LeakSanitizer silent"
		return 0
	fi
	vg_verdict "$WORK/vg.$1"
}

# vg_verdict LOG: the leak and error summary of one valgrind run.
vg_verdict() {
	local f=$1 what
	what=$(basename "$f")
	if ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
		fail "$what: $(grep -m1 'ERROR SUMMARY' "$f")"
		# The report of each error: from its headline to the blank line.
		grep -v -e 'WARNING: unhandled eBPF' -e '^==[0-9]*== *$' "$f" | sed -n '/^==[0-9]*== Command:/,/HEAP SUMMARY/p' |
			head -60 | sed 's/^/#   /' >&2
		return 1
	fi
	if grep -qE '(definitely|indirectly) lost: [1-9]' "$f"; then
		fail "$what: $(grep -E 'definitely lost|indirectly lost' "$f" | tr -s ' ' | tr '\n' ' ')"
		return 1
	fi
	log "$what: $(grep -E 'total heap usage|definitely lost|All heap blocks' "$f" | sed 's/^==[0-9]*== *//' | tr '\n' ' ')"
}

# vg NAME CMD...: CMD under valgrind in the server namespace, bounded;
# stdout in WORK/NAME.out, valgrind's report in WORK/vg.NAME.
vg() {
	local name=$1 rc; shift
	checked "$name"
	nsenter --net="/run/netns/$SV" timeout 120 "${CHK[@]}" "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null
	rc=$?
	[ $rc -eq 0 ] || { fail "$name exited $rc: $(tail -3 "$WORK/$name.err" | tr '\n' ' ')"; verdict "$name"; return 1; }
	verdict "$name"
}

daemon_start() {
	# timeout execs nothing: it forwards SIGTERM/SIGHUP to valgrind, which
	# runs tcpscope in its own process, and returns its exit status.
	checked daemon
	nsenter --net="/run/netns/$SV" timeout 170 "${CHK[@]}" \
		"$TCPSCOPE" run -i "$IF_B" --pin-dir "$PIN_DIR" -q --seed-interval 2 \
		--listen "127.0.0.1:$HPORT" --events-file "$WORK/events.jsonl" --event-socket "$WORK/ev.sock" \
		>"$WORK/daemon.out" 2>"$WORK/daemon.err" </dev/null &
	DPID=$!
	track_pid $DPID
	# Under valgrind, loading takes a few seconds.
	wait_for 60 grep -q 'tracking on' "$WORK/daemon.err" ||
		{ fail "daemon did not start: $(tail -5 "$WORK/daemon.err" | tr '\n' ' ')"; return 1; }
	wait_for 20 test -S "$WORK/ev.sock" || { fail "no event socket"; return 1; }
}

# The daemon's accepted connections on the event socket (ss shows them
# with the socket's path; the listener is the one in LISTEN).
readers_connected() {
	[ "$(ss -xH state connected | grep -cF "$WORK/ev.sock")" -ge "$1" ]
}

http_get() { nsrun "$SV" curl -sf --max-time 20 "http://127.0.0.1:$HPORT$1"; }

# churn N ROUND: N connections from the client namespace, each closed by the
# client (FIN) and then by the server after reading the FIN: every one
# goes the whole way to TIME_WAIT / CLOSE.
churn() {
	local n=$1 r=$2 spid cpid rc=0
	nsenter --net="/run/netns/$SV" "$DRIVE" listen "$IP4_B" $((PORT + r)) -n "$n" -L 60 -t 20000 \
		-e 'wait-conn; wait-eof; close; exit' </dev/null >"$WORK/srv$r.out" 2>"$WORK/srv$r.err" &
	spid=$!
	track_pid $spid
	wait_for 5 sh -c "nsenter --net=/run/netns/$SV ss -Hltn 'sport = :$((PORT + r))' | grep -q ." ||
		{ fail "server $r not listening: $(cat "$WORK/srv$r.err")"; return 1; }
	nsenter --net="/run/netns/$CL" "$DRIVE" connect "$IP4_B" $((PORT + r)) -n "$n" -L 60 -t 20000 \
		-e 'wait-conn; close; exit' </dev/null >"$WORK/cli$r.out" 2>"$WORK/cli$r.err" &
	cpid=$!
	track_pid $cpid
	wait $cpid || { fail "client round $r: $(cat "$WORK/cli$r.err")"; rc=1; }
	wait $spid || { fail "server round $r: $(cat "$WORK/srv$r.err")"; rc=1; }
	return $rc
}

test_daemon_under_churn_exits_0_without_leaks() {
	daemon_start || return
	# A capture of the first round, replayed below.
	nsenter --net="/run/netns/$SV" timeout 60 tcpdump -i "$IF_B" -n -U -Z root -c 3000 -s 128 \
		-w "$WORK/churn.pcap" "tcp port $((PORT + 1))" 2>"$WORK/tcpdump.err" &
	local tpid=$!
	track_pid $tpid
	wait_for 10 grep -q 'listening on' "$WORK/tcpdump.err" || { fail "tcpdump did not start"; return; }

	# Two readers that leave after 50 transitions each, under valgrind too.
	local r rpids=()
	for r in 1 2; do
		checked reader$r
		timeout 120 "${CHK[@]}" "$TCPSCOPE" events --json -n 50 \
			--socket "$WORK/ev.sock" >"$WORK/reader$r.out" 2>"$WORK/reader$r.err" </dev/null &
		rpids+=($!)
		track_pid $!
	done
	# Under valgrind the readers take a few seconds to connect: wait for
	# both before the first transition.
	wait_for 30 readers_connected 2 || { fail "readers did not connect: $(cat "$WORK/reader1.err")"; return; }

	local i t0=$SECONDS
	for ((i = 1; i <= ROUNDS; i++)); do
		churn "$PER_ROUND" "$i" || return
		http_get /metrics >"$WORK/metrics.$i" || fail "GET /metrics failed (round $i)"
		http_get /v1/connections >"$WORK/conns.$i" || fail "GET /v1/connections failed (round $i)"
		http_get /v1/stat >/dev/null || fail "GET /v1/stat failed (round $i)"
		[ $i -eq 2 ] && { mv "$WORK/events.jsonl" "$WORK/events.jsonl.1"; kill -HUP $DPID; }
	done
	log "$((ROUNDS * PER_ROUND)) connect/close cycles in $((SECONDS - t0)) s"
	kill $tpid 2>/dev/null
	wait $tpid

	for ((i = 0; i < ${#rpids[@]}; i++)); do
		wait "${rpids[$i]}"
		local rc=$?
		[ $rc -eq 0 ] || fail "reader $((i + 1)) exited $rc: $(tail -2 "$WORK/reader$((i + 1)).err" | tr '\n' ' ')"
		[ "$(grep -c '^{' "$WORK/reader$((i + 1)).out")" -eq 50 ] ||
			fail "reader $((i + 1)) printed $(grep -c '^{' "$WORK/reader$((i + 1)).out") of 50 transitions"
		verdict reader$((i + 1))
	done
	grep -q '^tcpscope_connections{' "$WORK/metrics.$ROUNDS" || fail "/metrics has no tcpscope_connections"
	jq -e '.connections | length > 0' "$WORK/conns.$ROUNDS" >/dev/null || fail "/v1/connections is empty"
	wait_for 20 test -s "$WORK/events.jsonl" || fail "events file not reopened after SIGHUP"
	log "events file: $(wc -l <"$WORK/events.jsonl.1") lines before SIGHUP, $(wc -l <"$WORK/events.jsonl") after"

	# One-shot commands against the live maps, while the daemon runs.
	vg stat "$TCPSCOPE" stat --pin-dir "$PIN_DIR"
	vg stat_json "$TCPSCOPE" stat --counters --json --pin-dir "$PIN_DIR"
	vg stat_by_remote "$TCPSCOPE" stat --by-remote --json --pin-dir "$PIN_DIR"
	vg list_json "$TCPSCOPE" list --json --pin-dir "$PIN_DIR"
	vg list_text "$TCPSCOPE" list --state TIME_WAIT --pin-dir "$PIN_DIR"
	local n; n=$(jq '.connections | length' "$WORK/list_json.out")
	log "daemon table after the churn: $n entries; ringbuf_dropped $(jq .counters.ringbuf_dropped "$WORK/stat_json.out")"

	kill -TERM $DPID
	wait $DPID
	local drc=$?
	log "daemon: $(grep -m1 'detached' "$WORK/daemon.err")"
	[ $drc -eq 0 ] || fail "daemon exited $drc after SIGTERM: $(grep -v '^--' "$WORK/daemon.err" | tail -3 | tr '\n' ' ')"
	verdict daemon
	[ ! -e "$PIN_DIR" ] || fail "pins left after exit"
}

test_replay_of_the_churn_has_no_leaks() {
	[ -s "$WORK/churn.pcap" ] || { fail "no capture from the churn test"; return; }
	log "capture: $(tcpdump -r "$WORK/churn.pcap" -n 2>/dev/null | wc -l) packets"
	vg replay "$TCPSCOPE" replay "$WORK/churn.pcap" || return
	vg replay_json "$TCPSCOPE" replay --json "$WORK/churn.pcap" || return
	jq -e '.connections | length > 0' "$WORK/replay_json.out" >/dev/null || fail "replay found no connections"
}

run_test test_daemon_under_churn_exits_0_without_leaks
run_test test_replay_of_the_churn_has_no_leaks
suite_done
