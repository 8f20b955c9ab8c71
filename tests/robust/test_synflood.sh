#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# SYN flood: tools/synflood sends spoofed SYNs (random sources in
# 198.18.128.0/17) from the client namespace at >= 100k SYN/s for at most
# 10 s while 1,000 real connections are open to the server, where tcpscope
# runs (tc ingress/egress on the server's veth). The server has a route back
# to the spoofed prefix, so its kernel answers with SYN+ACKs (SYN cookies
# once the backlog is full): both the half-open table and the main table
# are under attack. Asserts: every established connection keeps its entry
# and state, the SYN counters rise, table-full is counted, `tcpscope stat`
# answers within 1 s throughout, the daemon's RSS stays bounded.
. "$(dirname "$0")/../lib/lib.sh"
need_root

CL=rsfc$TAG SV=rsfs$TAG
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
mk_pair "$CL" "$SV"
mk_pindir flood
N_CONNS=${N_CONNS:-1000}
PORT=8080
FLOOD_RATE=${FLOOD_RATE:-300000}
FLOOD_SECONDS=${FLOOD_SECONDS:-10}
MAX_CONNS=16384		# half-open table: 1024

counter() { # counter NAME: from 'stat --counters --json'
	"$TCPSCOPE" stat --counters --json --pin-dir "$PIN_DIR" 2>/dev/null |
		/usr/bin/python3 -c "import json,sys;d=json.load(sys.stdin);c=d.get('counters',{});print(c.get('$1',-1))"
}

established_ours() { # how many of our $N_CONNS are ESTABLISHED on both sides
	"$TCPSCOPE" list --json --port "$PORT" --pin-dir "$PIN_DIR" 2>/dev/null |
		/usr/bin/python3 -c "
import json,sys
d=json.load(sys.stdin)
print(sum(1 for c in d['connections'] if c['remote_addr']=='$IP4_A' and c['state']=='ESTABLISHED' and c['remote_state']=='ESTABLISHED'))"
}

all_established() { [ "$(established_ours)" -ge "$N_CONNS" ]; }

rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

test_flood_does_not_blind_tracking_of_established_connections() {
	nsrun "$SV" ip route add 198.18.128.0/17 via "$IP4_A"
	nsenter --net="/run/netns/$SV" "$TCPSCOPE" run -i "$IF_B" -q --max-conns $MAX_CONNS \
		--pin-dir "$PIN_DIR" --event-socket "$WORK/ev.sock" >/dev/null 2>"$WORK/daemon.err" </dev/null &
	local dpid=$!
	track_pid $dpid
	wait_for 10 test -e "$PIN_DIR/info" || { fail "daemon did not start: $(cat "$WORK/daemon.err")"; return; }

	# 1,000 real connections, held open for the whole test (bounded: 120 s).
	nsrun "$SV" timeout 120 /usr/bin/python3 -c "
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('$IP4_B',$PORT)); s.listen(4096)
cs=[s.accept()[0] for _ in range($N_CONNS)]
time.sleep(120)" &
	track_pid $!
	sleep 0.5
	nsrun "$CL" timeout 120 /usr/bin/python3 -c "
import socket,time
cs=[socket.create_connection(('$IP4_B',$PORT)) for _ in range($N_CONNS)]
print('connected',flush=True)
time.sleep(120)" >"$WORK/client.out" &
	track_pid $!
	wait_for 30 grep -q connected "$WORK/client.out" || { fail "clients did not connect"; return; }
	# A function of this shell: `sh -c` would not know it (it waited out
	# the 10 s every time).
	wait_for 10 all_established
	local est0; est0=$(established_ours)
	[ "$est0" -eq "$N_CONNS" ] || { fail "before the flood: $est0 of $N_CONNS tracked ESTABLISHED"; return; }
	local rss0; rss0=$(rss_kb $dpid)
	local ho0; ho0=$(counter halfopen_new)

	local mac; mac=$(ip -n "$SV" link show "$IF_B" | awk '/ether/{print $2}')
	nsrun "$CL" "$TOOLS/synflood" -i "$IF_A" --dst-mac "$mac" --dst "$IP4_B" --dport $PORT \
		--seconds "$FLOOD_SECONDS" --count $((FLOOD_RATE * FLOOD_SECONDS)) --rate "$FLOOD_RATE" \
		>"$WORK/flood.out" 2>&1 &
	local fpid=$!
	track_pid $fpid

	# During the flood: stat must answer within 1 s, every time.
	local slow=0 n=0 maxms=0 synsent=0 rssmax=$rss0 t0 t1 ms s
	while kill -0 $fpid 2>/dev/null; do
		t0=$(date +%s%N)
		s=$(timeout 1 "$TCPSCOPE" stat --json --pin-dir "$PIN_DIR" 2>/dev/null) || slow=$((slow + 1))
		t1=$(date +%s%N)
		ms=$(((t1 - t0) / 1000000)); [ $ms -gt $maxms ] && maxms=$ms
		local ss_=$(/usr/bin/python3 -c "import json,sys;print(json.loads(sys.argv[1])['states']['SYN_RECV'])" "$s" 2>/dev/null || echo 0)
		[ "${ss_:-0}" -gt "$synsent" ] && synsent=$ss_
		local r; r=$(rss_kb $dpid); [ "$r" -gt "$rssmax" ] && rssmax=$r
		n=$((n + 1))
		sleep 0.5
	done
	wait $fpid
	log "flood: $(cat "$WORK/flood.out")"
	local rate; rate=$(sed -n 's/.*: \([0-9]*\) SYN\/s/\1/p' "$WORK/flood.out")
	local est1; est1=$(established_ours)
	local ho1 tf; ho1=$(counter halfopen_new); tf=$(counter table_full)
	log "stat during flood: $n calls, $slow over 1 s, slowest ${maxms} ms; max SYN_RECV (local) seen $synsent"
	log "halfopen_new $ho0 -> $ho1, table_full $tf; RSS ${rss0} kB -> max ${rssmax} kB"
	log "established after the flood: $est1 of $N_CONNS"

	[ "${rate:-0}" -ge 100000 ] || fail "flood reached only ${rate:-0} SYN/s"
	[ "$est1" -eq "$N_CONNS" ] || fail "only $est1 of $N_CONNS connections still tracked ESTABLISHED"
	[ $slow -eq 0 ] || fail "stat took over 1 s $slow of $n times"
	[ "$ho1" -gt "$ho0" ] || fail "halfopen_new did not rise ($ho0 -> $ho1)"
	[ "$tf" -gt 0 ] || fail "table_full not counted"
	[ $((rssmax - rss0)) -lt 65536 ] || fail "RSS grew from $rss0 to $rssmax kB"
	kill -0 $dpid || fail "daemon died"
	kill $dpid; wait $dpid || fail "daemon exited $?"
}

# synflood's own command line: --help on stdout (exit 0); a bad number, a
# bad MAC or a missing option is one "synflood: ..." line on stderr, exit 2,
# and nothing is sent.
test_synflood_rejects_bad_arguments_with_one_line() {
	local sf=$TOOLS/synflood ok="-i $IF_A --dst-mac 02:00:00:00:00:01 --dst $IP4_B" a rc
	"$sf" --help >"$WORK/help" 2>"$WORK/err" || { fail "--help exited $?"; return; }
	grep -q -- '--dport PORT' "$WORK/help" && [ ! -s "$WORK/err" ] ||
		fail "--help: no usage on stdout, or stderr not empty"
	for a in "--dport 80x" "--dport 0" "--dport 65536" "--dport -1" "--dport ''" \
		"--dport 80 --count 0" "--dport 80 --count 10k" "--dport 80 --count 100000001" \
		"--dport 80 --seconds 0" "--dport 80 --seconds 601" "--dport 80 --seconds nan" \
		"--dport 80 --rate -5" "--dport 80 --rate 1e9" "--dport 80 --src-net 198.18.0.0/7" \
		"--dport 80 --src-net 198.18.0.0/16x" "--dport 80 extra"; do
		eval "nsrun \"\$CL\" \"\$sf\" $ok $a" >"$WORK/out" 2>"$WORK/err"
		rc=$?
		[ $rc -eq 2 ] || fail "'$a' exited $rc, expected 2"
		[ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -q '^synflood: ' "$WORK/err" ||
			fail "'$a': expected one synflood: line, got: $(tr '\n' '|' <"$WORK/err")"
		[ ! -s "$WORK/out" ] || fail "'$a' printed on stdout: $(cat "$WORK/out")"
	done
	for a in "--dst-mac 02:00:00:00:00" "--dst-mac 02:00:00:00:00:01x"; do
		"$sf" -i "$IF_A" --dst "$IP4_B" --dport 80 $a >/dev/null 2>"$WORK/err"
		rc=$?
		[ $rc -eq 2 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] ||
			fail "'$a' exited $rc: $(tr '\n' '|' <"$WORK/err")"
	done
	"$sf" -i "$IF_A" --dport 80 >/dev/null 2>"$WORK/err"
	rc=$?
	[ $rc -eq 2 ] && grep -q 'needs' "$WORK/err" || fail "missing --dst: exited $rc"
}

run_test test_synflood_rejects_bad_arguments_with_one_line
run_test test_flood_does_not_blind_tracking_of_established_connections
suite_done
