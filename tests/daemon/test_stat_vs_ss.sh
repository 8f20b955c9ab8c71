#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# 'stat' equals 'ss -tan' at any moment, not only when traffic stops
# (issue 12, point 7). Lingering CLOSE entries are not sockets: they are
# reported apart ("closed (last Ns)", JSON "closed", top, /metrics) and
# never in the per-state counts.
#
# tcpscope watches the server namespace A. A client in B churns steadily
# (RATE connections/s, bounded): even ones close client-first (A goes
# CLOSE_WAIT -> LAST_ACK -> CLOSE: the entries that lingered as "CLOSE
# 80"), odd ones server-first (A goes through FIN_WAIT1/2 to TIME_WAIT, 60 s
# in both the kernel and tcpscope: the test is shorter). HELD connections
# stay ESTABLISHED throughout, three listeners (two servers, the HTTP
# export) are seeded as LISTEN.
#
# Each comparison takes ss, then stat, then ss again (T = the time between
# the two ss). LISTEN and CLOSE are compared exactly. Every other state's
# stat count must lie within [min(ss1, ss2) - K, max(ss1, ss2) + K],
# K = ceil(RATE * T) + 2: within T at most RATE*T connections start or
# end, and each connection in flight can be counted in a neighbouring
# state by one side (tcpscope stamps a transition when the packet crosses
# the hook, the kernel when it processes it), plus 2 for the connections
# whose packets are in flight at the two instants.
. "$(dirname "$0")/../lib/lib.sh"
need_root

CONN="python3 $(dirname "$0")/conn.py"
A=svA$TAG B=svB$TAG
mk_pair "$A" "$B"
mk_pindir ss
P1=8080 P2=8081 HTTP_PORT=9719 RATE=20 SECS=16 HELD=3
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"

# Servers in A: P1 replies and closes after the client's FIN, P2 closes
# each connection at once (server first).
nsenter --net=/run/netns/$A $CONN serve 0.0.0.0 $P1 60 &
track_pid $!
nsenter --net=/run/netns/$A python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(512); s.settimeout(0.2)
end = time.time() + 60
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.close()
' $P2 &
track_pid $!
wait_for 5 nsrun "$A" sh -c "ss -tln | grep -q :$P2" || { echo "not ok servers"; exit 1; }

nsenter --net=/run/netns/$A "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" -q --listen $HTTP_PORT \
	>"$WORK/run.out" 2>&1 &
TP=$!
track_pid $TP
wait_for 10 grep -q "tracking on" "$WORK/run.out" || { cat "$WORK/run.out" >&2; echo "not ok daemon"; exit 1; }

nsenter --net=/run/netns/$B $CONN hold "$IP4_A" $P1 $HELD 40 >/dev/null &
track_pid $!

ss_norm() {
	sed -e 's/^ESTAB\b/ESTABLISHED/' -e 's/^SYN-SENT/SYN_SENT/' -e 's/^SYN-RECV/SYN_RECV/' \
	    -e 's/^FIN-WAIT-1/FIN_WAIT1/' -e 's/^FIN-WAIT-2/FIN_WAIT2/' -e 's/^TIME-WAIT/TIME_WAIT/' \
	    -e 's/^CLOSE-WAIT/CLOSE_WAIT/' -e 's/^LAST-ACK/LAST_ACK/' -e 's/^UNCONN/CLOSE/'
}
# Loopback connections (curl to the HTTP export) cross no hook: tcpscope
# never has them (README, "What tcpscope cannot know", 9); listeners, the
# export's included, come from the socket table.
ss_counts() {
	nsrun "$A" ss -tanH | awk '$1 == "LISTEN" || $4 !~ /^(127\.|\[::1\])/ {++S[$1]} END{for(k in S) print k,S[k]}' |
		ss_norm
}
STATES="ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK LISTEN CLOSING"
get() { awk -v s="$2" '$1 == s {print $2; f=1} END {if (!f) print 0}' "$1"; }

# compare: one ss / stat / ss sandwich; stat's output stays in $WORK/stat.
compare() {
	local t0 t1 k st a b c lo hi
	t0=$(date +%s%N)
	ss_counts >"$WORK/ss1"
	nsrun "$A" "$TCPSCOPE" stat --pin-dir "$PIN_DIR" >"$WORK/stat" 2>"$WORK/stat.err" ||
		{ echo "stat exited $?: $(cat "$WORK/stat.err")"; return 1; }
	ss_counts >"$WORK/ss2"
	t1=$(date +%s%N)
	k=$(( (RATE * (t1 - t0) + 999999999) / 1000000000 + 2 ))
	for st in $STATES; do
		a=$(get "$WORK/ss1" $st) b=$(get "$WORK/ss2" $st) c=$(get "$WORK/stat" $st)
		lo=$((a < b ? a : b)) hi=$((a > b ? a : b))
		case $st in
		LISTEN | CLOSE)	# long-lived / never a socket here: exact
			[ "$c" -eq "$a" ] && [ "$c" -eq "$b" ] ||
				{ echo "$st: stat $c, ss $a / $b"; return 1; } ;;
		*)
			[ "$c" -ge $((lo - k)) ] && [ "$c" -le $((hi + k)) ] ||
				{ echo "$st: stat $c, ss $a / $b (bound $k in $(( (t1 - t0) / 1000000 )) ms)"; return 1; } ;;
		esac
	done
	log "ss $(tr '\n' ' ' <"$WORK/ss2")| stat closed $(awk '$1 == "closed" {print $NF}' "$WORK/stat"), K=$k"
}

test_stat_equals_ss_during_steady_churn() {
	nsenter --net=/run/netns/$B python3 -c '
import socket, sys, time
host, p1, p2, rate, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
t0 = time.time(); i = 0
while time.time() - t0 < secs:
    d = t0 + i / rate - time.time()
    if d > 0:
        time.sleep(d)
    try:
        c = socket.create_connection((host, p1 if i % 2 == 0 else p2), timeout=2)
        if i % 2 == 0:
            c.shutdown(socket.SHUT_WR)      # client first: the server ends in CLOSE
        c.recv(100)
        c.close()
    except OSError:
        pass
    i += 1
' "$IP4_A" $P1 $P2 $RATE $SECS &
	local churn=$! i bad=0 why
	track_pid $churn
	# Comparisons from 3 s (steady state) until the churn ends; past the
	# 10 s CLOSE linger the old count of lingering CLOSE entries is ~100.
	sleep 3
	for ((i = 0; i < 8; i++)); do
		why=$(compare) || { bad=1; break; }
		sleep 1
	done
	[ $bad -eq 0 ] || { fail "stat differs from ss -tan during churn: $why"; return; }
	[ "$(get "$WORK/stat" LISTEN)" -eq 3 ] || { fail "LISTEN $(get "$WORK/stat" LISTEN), want 3 (P1, P2, HTTP)"; return; }
	[ "$(get "$WORK/stat" ESTABLISHED)" -ge $HELD ] || { fail "held connections missing"; return; }
	# The closed connections are there, apart: about RATE/2 per second of linger.
	local CLOSED
	CLOSED=$(awk '$1 == "closed" {print $NF}' "$WORK/stat")
	[ "${CLOSED:-0}" -ge $((RATE / 2 * 5)) ] ||
		{ fail "closed count ${CLOSED:-none}, want >= $((RATE / 2 * 5)): $(cat "$WORK/stat")"; return; }
	grep -Eq '^closed \(last 10s\) [0-9]+$' "$WORK/stat" || fail "no 'closed (last 10s) N' line: $(cat "$WORK/stat")"
	# The next test compares the gauges (stat's totals) with a walk
	# (--by-remote): no connection may open or close in between.
	wait_gone $((SECS + 5)) $churn || fail "the churn did not end"
}

test_closed_apart_in_json_top_and_metrics() {
	local j t m i
	j=$(nsrun "$A" "$TCPSCOPE" stat --json --pin-dir "$PIN_DIR") || { fail "stat --json"; return; }
	jq -e '.states.CLOSE == 0 and .closed > 0 and .closed_window_s == 10
		and .total == ([.states[]] | add) and .daemon.running' <<<"$j" >/dev/null ||
		{ fail "stat --json: $j"; return; }
	# Per-remote counts are sockets too: no closed entry among them. The
	# total is the gauges' and the counts a walk just after: the last
	# closes of the churn may land in between (seen in CI: a LAST_ACK
	# gone to CLOSE, 166 of 167), so until both agree, for 5 s at most;
	# counted closed entries (110 here) would never let them.
	for ((i = 0; i < 25; i++)); do
		j=$(nsrun "$A" "$TCPSCOPE" stat --json --by-remote --pin-dir "$PIN_DIR") ||
			{ fail "stat --by-remote"; return; }
		jq -e '([.by_remote[].count] | add // 0) == .total' <<<"$j" >/dev/null && break
		sleep 0.2
	done
	jq -e '([.by_remote[].count] | add // 0) == .total' <<<"$j" >/dev/null ||
		{ fail "by_remote counts closed entries: $j"; return; }
	t=$(nsrun "$A" "$TCPSCOPE" top -n 1 --pin-dir "$PIN_DIR" </dev/null) || { fail "top"; return; }
	grep -Eq '^CLOSE +0 ' <<<"$t" && grep -Eq '^closed \(last 10s\) [1-9][0-9]*$' <<<"$t" ||
		{ fail "top: $(grep -i close <<<"$t")"; return; }
	m=$(nsrun "$A" curl -sS --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics") || { fail "no /metrics"; return; }
	grep -qx 'tcpscope_connections{state="CLOSE"} 0' <<<"$m" &&
		grep -Eq '^tcpscope_closed_connections [1-9][0-9]*$' <<<"$m" ||
		fail "/metrics: $(grep -i close <<<"$m")"
}

run_test test_stat_equals_ss_during_steady_churn
run_test test_closed_apart_in_json_top_and_metrics
suite_done
