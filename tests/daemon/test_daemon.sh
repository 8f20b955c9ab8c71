#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The daemon (issue 3): seeding from the socket table, --persist and
# adoption, detach, --daemon pidfile, expiry, a full table, coexistence
# with another XDP program. tcpscope watches the client namespace A; the
# server runs in B. Every process is bounded in time and ended by PID.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/lib_daemon.sh"
need_root

CONN="python3 $(dirname "$0")/conn.py"
A=dmA$TAG B=dmB$TAG
mk_pair "$A" "$B"
PORT=8080
# The server lives for the whole suite (bounded), replying to every client.
nsenter --net=/run/netns/$B $CONN serve 0.0.0.0 $PORT 240 &
track_pid $!
nsenter --net=/run/netns/$B $CONN serve :: $((PORT + 1)) 240 &
track_pid $!
wait_for 5 nsrun "$B" sh -c "ss -tln | grep -q :$((PORT + 1))"


# netstat names for ss's state column.
ss_norm() {
	sed -e 's/^ESTAB\b/ESTABLISHED/' -e 's/^SYN-SENT/SYN_SENT/' -e 's/^SYN-RECV/SYN_RECV/' \
	    -e 's/^FIN-WAIT-1/FIN_WAIT1/' -e 's/^FIN-WAIT-2/FIN_WAIT2/' -e 's/^TIME-WAIT/TIME_WAIT/' \
	    -e 's/^CLOSE-WAIT/CLOSE_WAIT/' -e 's/^LAST-ACK/LAST_ACK/' -e 's/^UNCONN/CLOSE/'
}

# The issue's check: per-state counts of ss -tan vs tcpscope stat.
ss_counts() { nsrun "$A" ss -tan | awk 'NR>1{++S[$1]} END{for(k in S) print k,S[k]}' | ss_norm | sort; }
tcps_counts() { nsrun "$A" "$TCPSCOPE" stat --pin-dir "$PIN_DIR" | awk '$2 > 0' | sort; }

# Every socket: "STATE local peer", ss's spelling of addresses.
ss_conns() { nsrun "$A" ss -tanH | awk '{print $1, $4, $5}' | ss_norm | sed 's/\[::\]:/*:/g' | sort; }
tcps_conns() {
	nsrun "$A" "$TCPSCOPE" list --json --pin-dir "$PIN_DIR" | python3 -c '
import json, sys
def ep(a, p):
    # ss writes a dual-stack [::] as *
    a = "*" if a == "::" else "[%s]" % a if ":" in a else a
    return "%s:%s" % (a, p if p else "*")
for c in json.load(sys.stdin)["connections"]:
    print(c["state"], ep(c["local_addr"], c["local_port"]), ep(c["remote_addr"], c["remote_port"]))
' | sort
}

# NO_TW=1: leave TIME_WAIT out of both (a daemon run with a --time-wait
# shorter than the kernel's 60 s ends its TIME_WAITs first, by design).
no_tw() { if [ -n "${NO_TW:-}" ]; then grep -v '^TIME_WAIT '; else cat; fi; }

same_as_ss() {
	local a b
	a=$(ss_counts | no_tw) b=$(tcps_counts | no_tw)
	[ "$a" = "$b" ] || { DIFF="ss: $(echo $a) / tcpscope: $(echo $b)"; return 1; }
	a=$(ss_conns | no_tw) b=$(tcps_conns | no_tw)
	[ "$a" = "$b" ] || { DIFF="$(diff <(echo "$a") <(echo "$b") | tr '\n' ' ')"; return 1; }
}

# Wait (bounded) for tcpscope's view to equal ss at a quiet moment.
expect_same_as_ss() {
	local i
	for ((i = 0; i < 30; i++)); do
		same_as_ss && return 0
		sleep 0.2
	done
	fail "differs from ss: $DIFF"
}

test_existing_sockets_and_listeners_seeded_as_ss_shows() {
	mk_pindir seed
	nsenter --net=/run/netns/$A $CONN listen 0.0.0.0 9000 60 & local l4=$!
	nsenter --net=/run/netns/$A $CONN listen :: 9001 60 & local l6=$!
	nsenter --net=/run/netns/$A $CONN hold "$IP4_B" $PORT 3 60 & local h4=$!
	nsenter --net=/run/netns/$A $CONN hold "$IP6_B" $((PORT + 1)) 2 60 & local h6=$!
	track_pid $l4; track_pid $l6; track_pid $h4; track_pid $h6
	nsrun "$A" $CONN close "$IP4_B" $PORT 2 || return 1
	wait_for 5 sh -c "nsenter --net=/run/netns/$A ss -tanH | grep -c ESTAB | grep -qx 5" || return 1
	start_tcpscope seed || return 1
	grep -q '(seed)' "$OUT" || fail "no seed events" || return 1
	expect_same_as_ss || return 1
	# A seeded TIME_WAIT is dated back to when the kernel's timer started:
	# its first_seen with it, never after its last_seen.
	nsrun "$A" "$TCPSCOPE" list --json --pin-dir "$PIN_DIR" --state TIME_WAIT |
		jq -e '[.connections[]] | length >= 2 and all(.[]; .first_seen <= .last_seen)' >/dev/null ||
		fail "seeded TIME_WAIT: $(nsrun "$A" "$TCPSCOPE" list --json --pin-dir "$PIN_DIR" --state TIME_WAIT |
			jq -c '[.connections[] | {first_seen, last_seen}]')" || return 1
	nsrun "$A" "$TCPSCOPE" list --pin-dir "$PIN_DIR" --state LISTEN | grep -q ':9001' ||
		fail "IPv6 listener missing" || return 1
	# A listener that goes away is removed at the next refresh (here 1 s).
	stop_tcpscope; start_tcpscope seed2 --seed-interval 1 || return 1
	kill "$l6"; wait "$l6" 2>/dev/null
	wait_for 5 sh -c "! nsenter --net=/run/netns/$A '$TCPSCOPE' list --pin-dir '$PIN_DIR' --state LISTEN | grep -q :9001" ||
		fail "vanished listener still listed" || return 1
	wait_for 2 grep -q 'LISTEN -> CLOSE (seed)' "$OUT" || fail "no event for the vanished listener" || return 1
	kill "$l4" "$h4" "$h6" 2>/dev/null; wait "$l4" "$h4" "$h6" 2>/dev/null
	stop_tcpscope
}

test_persist_restart_adopts_and_matches_ss() {
	mk_pindir persist
	nsenter --net=/run/netns/$A $CONN hold "$IP4_B" $PORT 2 60 & local h1=$!
	track_pid $h1
	# -q: nothing reads events while it runs (the data path makes none),
	# but its --persist exit turns them on for the gap.
	start_tcpscope persist --persist -q || return 1
	nsrun "$A" $CONN close "$IP4_B" $PORT 1 || return 1
	stop_tcpscope
	[ $? -eq 0 ] || fail "--persist exit code $?" || return 1
	[ -e "$PIN_DIR/conns" ] || fail "pins gone after a --persist exit" || return 1
	nsrun "$A" bpftool net show dev "$IF_A" | grep -q tcps_ || fail "programs gone after --persist" || return 1
	# While no daemon runs: new connections, and old ones closed.
	nsenter --net=/run/netns/$A $CONN hold "$IP6_B" $((PORT + 1)) 2 60 & local h2=$!
	track_pid $h2
	nsrun "$A" $CONN close "$IP4_B" $PORT 2 || return 1
	kill "$h1"; wait "$h1" 2>/dev/null
	sleep 0.5
	start_tcpscope adopt --persist --timeout CLOSE=1 || return 1
	grep -q "adopted the pins" "$OUT" || fail "did not adopt: $(cat "$OUT")" || return 1
	grep -Eq "([1-9][0-9]*) transitions queued" "$OUT" || fail "gap transitions not consumed: $(grep adopted "$OUT")" || return 1
	grep -q "(packet" "$OUT" || fail "gap transitions not printed" || return 1
	expect_same_as_ss || return 1
	stop_tcpscope
	kill "$h2"; wait "$h2" 2>/dev/null
	# detach: nothing of ours left on the interface, no pins.
	nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$PIN_DIR" || fail "detach failed" || return 1
	! nsrun "$A" bpftool net show | grep -q tcps_ || fail "programs left: $(nsrun "$A" bpftool net show)" || return 1
	[ ! -e "$PIN_DIR" ] || fail "pin dir left: $(ls "$PIN_DIR")" || return 1
}

# bytes_value of a pinned map (bpftool's view, not ours).
pin_value_size() { bpftool map show pinned "$1" -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_value"])'; }

# --no-health makes the connection tables with states only: 64-byte entries
# (the half-open hash map's values; the slot array's after its 40-byte slot
# header), against 216 with health on; the
# seed, list, stat, top, expiry and adoption all work on them, and a restart
# with the other health setting is refused (the setting goes with the pins).
test_no_health_tables_are_slim() {
	mk_pindir slim
	nsenter --net=/run/netns/$A $CONN listen 0.0.0.0 9002 60 & local l=$!
	nsenter --net=/run/netns/$A $CONN hold "$IP4_B" $PORT 2 60 & local h4=$!
	nsenter --net=/run/netns/$A $CONN hold "$IP6_B" $((PORT + 1)) 2 60 & local h6=$!
	track_pid $l; track_pid $h4; track_pid $h6
	no_health_checks
	local rc=$?
	# Also after a failure half-way: no daemon, nothing attached, no pins.
	[ -n "${TP:-}" ] && stop_tcpscope
	kill "$l" "$h4" "$h6" 2>/dev/null; wait "$l" "$h4" "$h6" 2>/dev/null
	nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$PIN_DIR" >/dev/null 2>&1
	return $rc
}

held_counts() { tcps_counts | grep -E '^(ESTABLISHED|LISTEN) ' | tr '\n' ' '; }

no_health_checks() {
	local out rc n
	wait_for 5 sh -c "nsenter --net=/run/netns/$A ss -tanH | grep -c ESTAB | grep -qx 4" || return 1
	start_tcpscope slim --no-health --persist --time-wait 2 --json || return 1
	for m in conns:104 halfopen:64; do
		n=$(pin_value_size "$PIN_DIR/${m%%:*}")
		[ "$n" = "${m#*:}" ] || fail "--no-health: ${m%%:*} value size $n, want ${m#*:}" || return 1
	done
	grep -q '"reason":"seed"' "$OUT" || fail "no seed events" || return 1
	# --time-wait 2 (for the expiry below) ends tcpscope's TIME_WAITs, seeded
	# or new, 2 s in, the kernel's at 60: compared without them (with them,
	# the check passed only where it ran within those 2 s).
	NO_TW=1 expect_same_as_ss || return 1
	nsrun "$A" $CONN close "$IP4_B" $PORT 3 || return 1
	nsrun "$A" $CONN close "$IP6_B" $((PORT + 1)) 1 || return 1
	NO_TW=1 expect_same_as_ss || return 1
	nsrun "$A" "$TCPSCOPE" top -n 1 --pin-dir "$PIN_DIR" >"$OUT.top" 2>&1 || fail "top: $(head -3 "$OUT.top")" || return 1
	grep -Eq '^ESTABLISHED +4 ' "$OUT.top" && grep -q 'SLOWEST HANDSHAKES: health is off' "$OUT.top" &&
		grep -q "$IP4_B" "$OUT.top" || fail "top: $(head -c 600 "$OUT.top")" || return 1
	# Expiry (in the kernel scan) on the short values: TIME_WAIT times out.
	wait_for 8 sh -c "[ \$(grep -c '\"from\":\"TIME_WAIT\",\"to\":\"CLOSE\",\"reason\":\"timeout\"' '$OUT') -ge 4 ]" ||
		fail "no timeout events: $(grep -c timeout "$OUT")" || return 1
	stop_tcpscope
	# No daemon (--persist gap): queries read (and expire) the short values.
	# (TIME_WAIT entries, seeded from earlier tests' sockets, time out
	# on the kernel's timer: left out.)
	[ "$(held_counts)" = "ESTABLISHED 4 LISTEN 1 " ] ||
		fail "stat with no daemon: $(tcps_counts | tr '\n' ' ')" || return 1
	[ "$(nsrun "$A" "$TCPSCOPE" list --json --pin-dir "$PIN_DIR" --state ESTABLISHED | jq '.connections | length')" = 4 ] ||
		fail "list with no daemon" || return 1
	# States only: no counters and no interface, shown as unknown.
	nsrun "$A" "$TCPSCOPE" list --json --pin-dir "$PIN_DIR" --state ESTABLISHED |
		jq -e '.connections | all(.packets_in == null and .bytes_out == null and .ifname == null and .first_seen == null)' >/dev/null ||
		fail "counters with --no-health" || return 1
	nsrun "$A" "$TCPSCOPE" list --pin-dir "$PIN_DIR" --state ESTABLISHED | awk 'NR > 1 && $6 != "-" { bad = 1 } END { exit bad }' ||
		fail "list shows packets with --no-health: $(nsrun "$A" "$TCPSCOPE" list --pin-dir "$PIN_DIR" | head -3)" || return 1
	out=$(nsrun "$A" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" -q 2>&1); rc=$?
	[ $rc -ne 0 ] && echo "$out" | grep -q "made with health off; run with --no-health" ||
		fail "health-on restart on --no-health pins: rc $rc: $out" || return 1
	start_tcpscope slim2 --no-health || return 1
	grep -q "adopted the pins" "$OUT" || fail "did not adopt: $(cat "$OUT")" || return 1
	# the slot array: the 40-byte slot header and the 64-byte slim entry
	[ "$(pin_value_size "$PIN_DIR/conns")" = 104 ] || fail "adopted pins changed size" || return 1
	[ "$(held_counts)" = "ESTABLISHED 4 LISTEN 1 " ] ||
		fail "stat after adoption: $(tcps_counts | tr '\n' ' ')" || return 1
	stop_tcpscope
	# Health on: the whole struct, 216 bytes, after the slot header.
	start_tcpscope full -q --no-seed || return 1
	n=$(pin_value_size "$PIN_DIR/conns")
	[ "$n" = 256 ] || fail "health on: conns value size $n, want 256" || return 1
	stop_tcpscope
}

test_adopt_refuses_pins_of_another_layout() {
	mk_pindir abi
	mkdir -p "$PIN_DIR"
	bpftool map create "$PIN_DIR/info" type array key 4 value 4096 entries 1 name tcps_info || return 1
	local out rc
	out=$(nsrun "$A" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" -q 2>&1); rc=$?
	[ $rc -ne 0 ] || fail "started on foreign pins" || return 1
	echo "$out" | grep -q "tcpscope detach --pin-dir $PIN_DIR" || fail "no hint: $out" || return 1
	nsrun "$A" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" -i "$IF_A" 2>/dev/null
	[ ! -e "$PIN_DIR" ] || fail "detach did not clear foreign pins" || return 1
	# A connection table of neither legal value size (256, or 120 with
	# --no-health): refused by queries and by run, before any read.
	mkdir -p "$PIN_DIR"
	bpftool map create "$PIN_DIR/conns" type array key 4 value 150 entries 16 name tcps_conns || return 1
	out=$(nsrun "$A" "$TCPSCOPE" stat --pin-dir "$PIN_DIR" 2>&1); rc=$?
	[ $rc -ne 0 ] && echo "$out" | grep -q "conns: map of another layout" || fail "stat on a 150-byte table: rc $rc: $out" || return 1
	out=$(nsrun "$A" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" -q 2>&1); rc=$?
	[ $rc -ne 0 ] && echo "$out" | grep -q "conns: map of another layout" || fail "run on a 150-byte table: rc $rc: $out" || return 1
	rm -rf "$PIN_DIR"
}

test_second_daemon_start_is_refused() {
	mk_pindir daemon
	local pidf=/run/tcpscope-test-$TAG.pid pid out rc
	on_exit rm -f "$pidf"
	nsrun "$A" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" --daemon --pidfile "$pidf" ||
		fail "--daemon start failed" || return 1
	pid=$(cat "$pidf"); track_pid "$pid"
	kill -0 "$pid" || fail "daemon $pid not running" || return 1
	[ "$(readlink /proc/$pid/cwd)" = / ] || fail "cwd not /" || return 1
	out=$(nsrun "$A" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR-2" --daemon --pidfile "$pidf" 2>&1); rc=$?
	[ $rc -ne 0 ] && echo "$out" | grep -q "already running (pid $pid" ||
		fail "second start: rc $rc: $out" || return 1
	kill -HUP "$pid"; sleep 0.3
	kill -0 "$pid" || fail "SIGHUP killed the daemon" || return 1
	kill -TERM "$pid"
	wait_gone 5 "$pid" || fail "daemon did not stop" || return 1
	[ ! -e "$pidf" ] && [ ! -e "$PIN_DIR" ] || fail "pidfile or pins left" || return 1
	# A stale pidfile (its process gone) is taken over.
	echo 4194000 >"$pidf"
	nsrun "$A" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" --daemon --pidfile "$pidf" 2>/dev/null ||
		fail "stale pidfile not taken over" || return 1
	pid=$(cat "$pidf"); track_pid "$pid"
	kill -TERM "$pid"; wait_gone 5 "$pid"
}

test_time_wait_expires_with_timeout_event() {
	mk_pindir tw
	start_tcpscope tw --time-wait 2 --json --no-seed || return 1
	nsrun "$A" $CONN close "$IP4_B" $PORT 3 || return 1
	wait_for 3 grep -q '"to":"TIME_WAIT"' "$OUT" || fail "no TIME_WAIT" || return 1
	wait_for 8 sh -c "[ \$(grep -c '\"from\":\"TIME_WAIT\",\"to\":\"CLOSE\",\"reason\":\"timeout\"' '$OUT') -ge 3 ]" ||
		fail "no timeout events: $(grep -c timeout "$OUT")" || return 1
	[ -z "$(nsrun "$A" "$TCPSCOPE" list --pin-dir "$PIN_DIR" --state TIME_WAIT | tail -n +2)" ] ||
		fail "TIME_WAIT entries left" || return 1
	stop_tcpscope
}

test_full_table_counted_and_traffic_flows() {
	mk_pindir full
	start_tcpscope full --max-conns 16 -q || return 1
	nsenter --net=/run/netns/$A $CONN hold "$IP4_B" $PORT 40 30 >/dev/null & local h=$!
	track_pid $h
	wait_for 10 sh -c "nsenter --net=/run/netns/$A ss -tanH state established | wc -l | awk '{exit !(\$1 >= 40)}'" ||
		fail "connections not up" || return 1
	timeout 30 nsenter --net=/run/netns/$A $CONN transfer "$IP4_B" $PORT 4000000 ||
		fail "transfer failed with a full table" || return 1
	local full
	full=$(nsrun "$A" "$TCPSCOPE" stat --counters --pin-dir "$PIN_DIR" | awk '$2=="table_full"{print $3}')
	[ "${full:-0}" -gt 0 ] || fail "table_full counter did not rise" || return 1
	kill "$h"; wait "$h" 2>/dev/null
	stop_tcpscope
}

test_foreign_xdp_program_not_replaced() {
	mk_pindir xdp
	local obj=/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o before after out rc
	[ -f "$obj" ] || { skip "no $obj (xdp-tools)"; return 0; }
	nsrun "$A" ip link set dev "$IF_A" xdpgeneric obj "$obj" sec xdp 2>/dev/null ||
		nsrun "$A" xdp-loader load -m skb "$IF_A" "$obj" || return 1
	on_exit nsrun "$A" ip link set dev "$IF_A" xdpgeneric off
	before=$(nsrun "$A" ip -j link show "$IF_A" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["xdp"]["prog"]["id"])')
	out=$(nsrun "$A" "$TCPSCOPE" run -i "$IF_A" --hook xdp --pin-dir "$PIN_DIR" -q 2>&1); rc=$?
	after=$(nsrun "$A" ip -j link show "$IF_A" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["xdp"]["prog"]["id"])')
	[ $rc -ne 0 ] || fail "started over a foreign XDP program" || return 1
	echo "$out" | grep -q "another XDP program" || fail "no message: $out" || return 1
	[ "$before" = "$after" ] || fail "XDP program replaced ($before -> $after)" || return 1
	[ ! -e "$PIN_DIR" ] || fail "pins left after a refused start" || return 1
	nsrun "$A" ip link set dev "$IF_A" xdpgeneric off
	nsrun "$A" ip link set dev "$IF_A" xdp off 2>/dev/null
	true
}

run_test test_existing_sockets_and_listeners_seeded_as_ss_shows
run_test test_persist_restart_adopts_and_matches_ss
run_test test_adopt_refuses_pins_of_another_layout
run_test test_no_health_tables_are_slim
run_test test_second_daemon_start_is_refused
run_test test_time_wait_expires_with_timeout_event
run_test test_full_table_counted_and_traffic_flows
run_test test_foreign_xdp_program_not_replaced
suite_done
