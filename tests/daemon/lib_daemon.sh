# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The daemon under test in the daemon suites: sourced after tests/lib/lib.sh,
# with A (its namespace), IF_A and PIN_DIR set (or made by daemon_pair).

# daemon_pair PREFIX PORT SECS: namespaces A (tcpscope watches it) and B, a
# tests/daemon/conn.py server in B on PORT for SECS s, and WORK, a
# temporary directory; all of it (and what a killed daemon leaves in
# /run/tcpscope) removed on exit.
daemon_pair() {
	A=$1A$TAG B=$1B$TAG
	mk_pair "$A" "$B"
	WORK=$(mktemp -d)
	on_exit rm -rf "$WORK"
	on_exit "rm -f /run/tcpscope/tcpscope-test-$TAG-*"
	nsenter --net=/run/netns/$B python3 "$TOP/tests/daemon/conn.py" serve 0.0.0.0 "$2" "$3" &
	track_pid $!
	wait_for 5 nsrun "$B" sh -c "ss -tln | grep -q ':$2'"
}

# start_tcpscope NAME ARGS...: tcpscope in A on IF_A, output in $OUT (NAME
# labels its output in the log if it does not start). Sets TP (its PID).
# Waits until it says "tracking on".
start_tcpscope() {
	local name=$1; shift
	# A test that failed half-way may have left one running.
	[ -n "${TP:-}" ] && kill -0 "$TP" 2>/dev/null && stop_tcpscope
	OUT=$(mktemp); on_exit rm -f "$OUT"
	nsenter --net=/run/netns/$A "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" "$@" >"$OUT" 2>&1 &
	TP=$!
	track_pid $TP
	wait_for 10 grep -q "tracking on" "$OUT" || { log "$name did not start:"; cat "$OUT" >&2; return 1; }
}

stop_tcpscope() {
	kill -TERM "$TP" 2>/dev/null
	wait "$TP"
	local rc=$?
	TP=
	return $rc
}
