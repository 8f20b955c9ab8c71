#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Kernel oracle: the kernel's own sock:inet_sock_set_state tracepoint
# (bpftrace, set_state.bt) is the truth for every local endpoint's
# transitions, on a clean and on an impaired path (DESIGN.md §2, §5.5).
#
#   client ns --veth-- relay ns (tools/impair) --veth-- server ns
#   tcpscope run (host mode, tc on veth) in the client ns and in the server ns
#
# The relay ns has no addresses, no forwarding, no IPv6 (mk_relay_pair):
# only the relay moves frames, which the setup test checks first. Clean:
# 2 ms each way. Impaired: loss 5 %, 2 ms, reorder 10 %, duplicate 2 %
# (TCP frames; ARP/ND only delayed), between the two tcpscope hooks.
#
# Scenarios, each IPv4 and IPv6 at once, N connections per family, on a port
# of their own: close by client, close by server, RST by client, RST by
# server (SO_LINGER 0), connection refused, crossing FINs, bulk (3 MB + 1 MB)
# then close, FIN+ACK on one segment. The six driven by tcpdrive run at
# once, crossing FINs and FIN+ACK each alone. After a scenario settles
# (nothing left but TIME_WAIT; with those it ran beside), for each local
# endpoint tcpscope reported (side "local")
# and each socket the kernel had:
#   - final state: tcpscope's (list, or its last event once the entry is
#     gone) equals the kernel's (ss after the settle, or CLOSE), 100 %; an
#     entry in a non-final state the kernel no longer has is "stuck";
#   - causal order: each event's "from" is the previous "to" of the same
#     endpoint (and a per-connection "seq", once there is one, grows);
#   - sequence (test *_sequences): the whole path equals the kernel's, except
#     for the kinds of difference in SEQ_ALLOW below; the agreement and every
#     kind, with its count and one example, are printed. How the tracepoint
#     is mapped to the path tcpscope must report (passive open: the child
#     socket's LISTEN>SYN_RECV; TIME_WAIT: the full socket's X>CLOSE, the
#     timewait socket followed with ss polls, sspoll.py) is explained at the
#     top of oracle.py.
# Per phase: no stuck entry on any of its ports, `tcpscope stat --json`
# equals ss -tan's counts in each namespace, and the crossing-FIN scenario,
# captured by tcpdump in both namespaces (as are the RST scenarios: a
# socket reset while its FIN was held back sent none, oracle.py), replayed
# with `tcpscope replay`
# gives the kernel's final states for 100 % of the capturing host's own
# endpoints (and of the far ones on the clean path; under loss a far end's
# lost segment never reached the capture, so those are only reported).
#
# Knobs: ORACLE_N, ORACLE_N_IMPAIRED, ORACLE_N_BULK (connections per family),
# ORACLE_SEED (relay PRNG), ORACLE_LOSS (the impaired path's loss, %),
# E2E_KEEP=1 keeps the work directory (traces, events, ss snapshots,
# captures, reports). To chase one difference:
# ORACLE_PHASES (default "clean impaired"), ORACLE_SCENARIOS (names of the
# sc_ functions, default all), ORACLE_CAPTURE=1 captures every scenario in
# both namespaces. In CI none is set: every test runs.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../e2e/lib_e2e.sh"

HERE=$TOP/tests/oracle
IMPAIR=$TOOLS/impair
ORACLE=("$PYTHON" "$HERE/oracle.py")
N=${ORACLE_N:-100}		# connections per family in each scenario, clean path
N_IMP=${ORACLE_N_IMPAIRED:-60}	# and impaired (tail latency: RTO backoff)
N_BULK=${ORACLE_N_BULK:-8}	# per family in the bulk scenario (3 MB + 1 MB each)
PORT_LO=9300 PORT_HI=9400	# every scenario port is in [PORT_LO, PORT_HI)
MARK_PORT=9399			# trace flush marker (a refused connect)
IMPAIRED_ARGS=(--loss "${ORACLE_LOSS:-5}" --delay 2 --reorder 10 --dup 2)
# The clean path has the same 2 ms one-way delay: with it both FINs of the
# crossing scenario are in flight at once reliably.
CLEAN_ARGS=(--delay 2)

# Kinds of sequence difference tolerated ("kernel A>B vs tcpscope A>C", as
# printed by the sequence tests). Empty: the FSM must match the kernel.
SEQ_ALLOW=(
)

e2e_need
for t in bpftrace tcpdump ethtool; do
	command -v "$t" >/dev/null || { echo "not ok $(basename "$0"): $t missing (make deps)"; exit 1; }
done
[ -x "$IMPAIR" ] || { echo "not ok $(basename "$0"): $IMPAIR not built (make)"; exit 1; }

NS_C="orc$TAG" NS_R="orr$TAG" NS_S="ors$TAG"
OW=$E2E_WORK
printf '%s\n' "${SEQ_ALLOW[@]}" >"$OW/allow"

# ------------------------------------------------------------------ plumbing

# relay_start NAME ARGS...: tools/impair between the veths of the relay ns,
# bounded to 10 minutes.
relay_start() {
	local name=$1
	shift
	nsenter --net="/run/netns/$NS_R" "$IMPAIR" -a "$IF_RA" -b "$IF_RB" -T 600 --tcp-only \
		--seed "${ORACLE_SEED:-1}" "$@" >"$OW/$name.relay" 2>&1 &
	RELAY_PID=$!
	track_pid $RELAY_PID
	wait_for 5 grep -q '^impair: ready' "$OW/$name.relay" || { log "relay: $(cat "$OW/$name.relay")"; return 1; }
	log "$(head -n1 "$OW/$name.relay")"
}

relay_stop() {
	kill -TERM "$RELAY_PID" 2>/dev/null
	wait_gone 5 "$RELAY_PID"
	wait "$RELAY_PID" 2>/dev/null
	sed -n 's/^impair \(.\)>\(.\)/relay \1>\2/p' "$OW/$1.relay" | sed 's/a>b/client>server/;s/b>a/server>client/' |
		while read -r l; do log "$l"; done
}

trace_start() {
	# bpftrace needs tracefs; it is left mounted (systemd mounts it on
	# most hosts anyway, and another tracer may rely on it meanwhile).
	mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing || return 1
	# 4 MB of perf buffer per CPU: no "Lost N events" at our rates.
	BPFTRACE_PERF_RB_PAGES=1024 timeout -s INT 900 bpftrace -B line "$HERE/set_state.bt" $PORT_LO $PORT_HI \
		>"$OW/trace" 2>"$OW/trace.err" &
	TRACE_PID=$!
	track_pid $TRACE_PID
}

trace_wait() {
	wait_for 30 grep -q 'Attaching' "$OW/trace" "$OW/trace.err" || { log "bpftrace: $(cat "$OW/trace.err")"; return 1; }
	# Attached is not yet printing: wait for our own marker.
	trace_mark
}

# A refused connect to MARK_PORT in the client ns: once its SYN_SENT>CLOSE
# is in the trace file, everything traced before it is too.
trace_mark() {
	local before re
	re="^[0-9]+ [0-9a-f]+ $INO_C 4 2 7 .* $MARK_PORT\$"
	before=$(grep -Ec "$re" "$OW/trace")
	nsrun "$NS_C" "$PYTHON" -c "
import socket
s = socket.socket()
s.settimeout(2)
try:
    s.connect(('$IP4_A', $MARK_PORT))
except OSError:
    pass" 2>/dev/null
	wait_for 10 test "$(grep -Ec "$re" "$OW/trace")" -gt "$before"
}

ns_inode() { stat -L -c %i "/run/netns/$1"; }

# Wait until tcpscope's event streams stop growing (0.5 s unchanged, at
# most 5 s): its consumer wakes on a timer or past a fill mark.
events_quiet() {
	local i a b
	for ((i = 0; i < 10; i++)); do
		a=$(cat "$OW/client.events" "$OW/server.events" | wc -c)
		sleep 0.5
		b=$(cat "$OW/client.events" "$OW/server.events" | wc -c)
		[ "$a" = "$b" ] && return 0
	done
	return 1
}

# Drivers: NAME4s NAME6s (server) NAME4c NAME6c (client), waits bounded by
# WAIT_MS (longer on the impaired path: a lost SYN costs 1 s, 3 s...).
o_start() {
	local name=$1 port=$2 n=$3 listen=${4:-listen}
	if [ "$listen" = listen ]; then
		drv_start "${name}4s" "$NS_S" listen "$IP4_B" "$port" -n "$n" -t "$WAIT_MS" || return 1
		drv_start "${name}6s" "$NS_S" listen "$IP6_B" "$port" -n "$n" -t "$WAIT_MS" || return 1
	fi
	drv_start "${name}4c" "$NS_C" connect "$IP4_B" "$port" -n "$n" -t "$WAIT_MS" || return 1
	drv_start "${name}6c" "$NS_C" connect "$IP6_B" "$port" -n "$n" -t "$WAIT_MS" || return 1
}

# o NAME s|c|sc CMD: CMD on the server, client or both drivers of both
# families at once, then wait for all of them.
o() {
	local name=$1 sides=$2 cmd=$3 s f t0=$EPOCHREALTIME
	for ((s = 0; s < ${#sides}; s++)); do
		for f in 4 6; do drv_send "$name$f${sides:$s:1}" "$cmd" || return 1; done
	done
	for ((s = 0; s < ${#sides}; s++)); do
		for f in 4 6; do drv_wait "$name$f${sides:$s:1}" $((WAIT_MS / 1000 + 5)) || return 1; done
	done
	s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	[ "${s%.*}" -lt 2 ] || log "$name: $sides '$cmd' took $s s"
}

# Until no socket on PORT is in a non-final state in either namespace
# (TIME_WAIT stays 60 s; everything else must be gone).
settled_once() {
	local ns
	for ns in "$NS_C" "$NS_S"; do
		nsrun "$ns" ss -tanH "( sport = :$1 or dport = :$1 )" | grep -v -e '^TIME-WAIT' -e '^LISTEN' | grep -q . && return 1
	done
	return 0
}

# ------------------------------------------------------------------ scenarios
# Each gets NAME PORT COUNT and drives the traffic; the runner settles,
# snapshots and compares.

# Client closes first (orphaned: close()); the server reads EOF and closes.
sc_client_close() {
	o_start "$1" "$2" "$3" && o "$1" sc wait-conn && o "$1" sc "send 2000" && o "$1" sc "recv 2000" &&
		o "$1" c close && o "$1" s wait-eof && o "$1" s close
}

sc_server_close() {
	o_start "$1" "$2" "$3" && o "$1" sc wait-conn && o "$1" sc "send 2000" && o "$1" sc "recv 2000" &&
		o "$1" s close && o "$1" c wait-eof && o "$1" c close
}

# SO_LINGER 0 close: RST. The peer then closes whatever is still open
# (where the RST was lost, its FIN draws a fresh RST from the aborter).
sc_rst_client() {
	o_start "$1" "$2" "$3" && o "$1" sc wait-conn && o "$1" sc "send 1000" && o "$1" sc "recv 1000" &&
		o "$1" c rst && o "$1" s "sleep 300" && o "$1" s close
}

sc_rst_server() {
	o_start "$1" "$2" "$3" && o "$1" sc wait-conn && o "$1" sc "send 1000" && o "$1" sc "recv 1000" &&
		o "$1" s rst && o "$1" c "sleep 300" && o "$1" c close
}

# No listener: the SYN is answered by RST.
sc_refused() {
	o_start "$1" "$2" "$3" noserver && o "$1" c wait-refused
}

# pairs NAME PORT COUNT MODE: pairs.py, one process holding both ends of
# each connection (drivers in two processes cannot time the two ends of a
# connection within a millisecond of each other on 2 CPUs).
pairs() {
	local out="$OW/$1.pairs"
	nsrun "$NS_C" timeout $((WAIT_MS / 1000 + 10)) "$PYTHON" "$HERE/pairs.py" \
		--client-ns "/run/netns/$NS_C" --server-ns "/run/netns/$NS_S" --mode "$4" \
		--addr "$IP4_B" --addr "$IP6_B" --port "$2" --count "$3" --timeout $((WAIT_MS / 1000)) >"$out" 2>&1 ||
		{ log "pairs.py: $(tail -n 2 "$out")"; return 1; }
}

# Both ends shutdown(SHUT_WR) at the same moment: with 2 ms each way the
# FINs cross (CLOSING on both sides), then both close.
sc_crossing_fins() { pairs "$@" crossing; }

# The client closes, the server closes the moment it reads EOF: its FIN
# carries the ACK of the client's (FIN_WAIT1 > FIN_WAIT2 > TIME_WAIT on one
# segment, for every connection).
sc_fin_ack() { pairs "$@" close-on-eof; }

# A few MB each way (windows scale, many segments, loss recovery), then the
# client closes.
sc_bulk() {
	o_start "$1" "$2" "$3" && o "$1" sc wait-conn &&
		o "$1" c "send 3000000" && o "$1" s "recv 3000000" &&
		o "$1" s "send 1000000" && o "$1" c "recv 1000000" &&
		o "$1" c close && o "$1" s wait-eof && o "$1" s close
}

# drive PHASE NAME PORT COUNT: one scenario's traffic, until it has
# settled; run in the background (drives_start), its log lines to
# $OW/ID.drive_log, a failure to $OW/ID.drive_err.
drive() {
	local phase=$1 name=$2 port=$3 n=$4 id="$1_$2" t0=$SECONDS
	"sc_$name" "o$id" "$port" "$n" ||
		{ flows_stop "o$id"; echo "$name: driving the traffic failed" >"$OW/$id.drive_err"; return 1; }
	flows_stop "o$id"
	log "$id: driven in $((SECONDS - t0)) s"
	wait_for 30 settled_once "$port" || {
		log "not settled after 30 s:"
		nsrun "$NS_C" ss -tanH "( sport = :$port or dport = :$port )" | grep -v TIME-WAIT | head -5 | sed 's/^/#   client /' >&2
		nsrun "$NS_S" ss -tanH "( sport = :$port or dport = :$port )" | grep -v TIME-WAIT | head -5 | sed 's/^/#   server /' >&2
	}
	log "$id: $((2 * n)) connections on port $port driven and settled in $((SECONDS - t0)) s"
}

# captures ID PORT: tcpdump on PORT in the client and the server namespace
# (children of the suite's shell, so that each is gone the moment it ends;
# an orphan waits for init to reap it), their PIDs in $OW/ID.cap.
captures() {
	local v rc
	for v in "client $NS_C $IF_A" "server $NS_S $IF_B"; do
		set -- "$1" "$2" $v
		capture_start "$1.$3" "$4" "$5" "$2"
		rc=$?
		echo "$CAP_PID" >>"$OW/$1.cap"
		[ $rc -eq 0 ] || return 1
	done
}

# drives_start PHASE "NAME PORT COUNT [capture]"...: drive those scenarios
# at once, each in a subshell of its own (DRIVES: their PIDs), its captures
# started first. Each has its own port and drivers, and the checks wait for
# all of them to settle.
DRIVES=()
drives_start() {
	local phase=$1 spec name port n cap id
	shift
	for spec in "$@"; do
		read -r name port n cap <<<"$spec"
		id=${phase}_$name
		: >"$OW/$id.cap"
		: >"$OW/$id.drive_log"
		if [ -n "$cap" ] && ! captures "$id" "$port"; then
			echo "tcpdump did not start" >"$OW/$id.drive_err"
			continue
		fi
		drive "$phase" "$name" "$port" "$n" >"$OW/$id.drive_log" 2>&1 &
		DRIVES+=($!)
		track_pid $!
	done
}

# drives_wait: until the drives started last have all settled; then, once
# for all of them, the trace and tcpscope's events are flushed.
drives_wait() {
	local p
	[ ${#DRIVES[@]} -gt 0 ] || return 0
	for p in "${DRIVES[@]}"; do
		wait "$p" 2>/dev/null
	done
	DRIVES=()
	trace_mark || log "trace marker not seen (bpftrace stalled?)"
	events_quiet || log "tcpscope events still growing"
}

# run_scenario PHASE NAME PORT COUNT [capture]: once every scenario driven
# with it has settled: snapshot, compare; the report goes to stderr, the
# verdict to $OW/PHASE_NAME.verdict.
run_scenario() {
	local phase=$1 name=$2 port=$3 n=$4 cap=${5:-} id="$1_$2" td expect rc p t0
	drives_wait
	t0=$SECONDS
	# Its log lines, each a comment (no line of it may read as a verdict).
	sed 's/^\([^#]\)/# \1/' "$OW/$id.drive_log" >&2
	td=$(cat "$OW/$id.cap")
	[ ! -s "$OW/$id.drive_err" ] || { fail "$(cat "$OW/$id.drive_err")"; return 1; }
	nsrun "$NS_C" ss -tanH >"$OW/$id.ss.client"
	nsrun "$NS_S" ss -tanH >"$OW/$id.ss.server"
	"$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[client]}" >"$OW/$id.list.client" &&
		"$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[server]}" >"$OW/$id.list.server" ||
		{ fail "tcpscope list failed"; return 1; }
	sleep 0.2	# what the taps saw reaches the files
	for p in $td; do
		kill -INT "$p" 2>/dev/null
		wait_gone 5 "$p"
		wait "$p" 2>/dev/null
	done
	log "$id: snapshot in $((SECONDS - t0)) s"
	# Every connection has a client endpoint; all but refused ones a server one.
	[ "$name" = refused ] && expect=$((2 * n)) || expect=$((4 * n))
	"${ORACLE[@]}" compare --trace "$OW/trace" --ns-client "$INO_C" --ns-server "$INO_S" \
		--ss-client "$OW/$id.ss.client" --ss-server "$OW/$id.ss.server" \
		--events-client "$OW/client.events" --events-server "$OW/server.events" \
		--list-client "$OW/$id.list.client" --list-server "$OW/$id.list.server" \
		--ports "$port" --label "$phase/$name" --expect "$expect" --allow "$OW/allow" \
		--poll-client "$OW/poll.client" --poll-server "$OW/poll.server" \
		--verdict "$OW/$id.verdict" ${cap:+--pcap-client "$OW/$id.client.pcap" --pcap-server "$OW/$id.server.pcap"} \
		>"$OW/$id.report"
	rc=$?
	sed 's/^/# /' "$OW/$id.report" >&2
	[ $rc -eq 0 ] || { fail "oracle.py compare failed ($rc)"; return 1; }
	verdict_structure "$id" "$expect"
}

# v ID JQ: a field of a verdict.
v() { jq -r "$2" "$OW/$1.verdict"; }

# Final states, oracle sanity and causal order of one scenario.
verdict_structure() {
	local id=$1 expect=$2 e
	e=$(v "$id" .endpoints)
	[ "$e" -ge "$expect" ] || { fail "$e endpoints, expected $expect (did the tracepoint or tcpscope miss connections?)"; return 1; }
	[ "$(v "$id" '.oracle_problems | length')" -eq 0 ] ||
		{ fail "oracle inconsistent: $(v "$id" '.oracle_problems[0]')"; return 1; }
	[ "$(v "$id" .final_bad)" -eq 0 ] ||
		{ fail "final states: $(v "$id" .final_bad) of $e endpoints differ from the kernel, e.g. $(v "$id" '.final_first[0]')"; return 1; }
	[ "$(v "$id" .order_bad)" -eq 0 ] ||
		{ fail "causal order: $(v "$id" .order_bad) events out of chain, e.g. $(v "$id" '.order_first[0]')"; return 1; }
}

# Sequences of one scenario: every difference must be of an allowed kind.
verdict_sequences() {
	local id=$1 n
	[ -f "$OW/$id.verdict" ] || { fail "no verdict (the scenario failed earlier)"; return 1; }
	n=$(v "$id" '.seq_unallowed | length')
	[ "$n" -eq 0 ] || {
		fail "sequences $(v "$id" .seq_agree)/$(v "$id" .endpoints) equal the kernel's; $n kind(s) of difference not allowed: $(v "$id" '.seq_unallowed | join("; ")')"
		return 1
	}
}

# stat --json equals ss -tan's counts in each namespace (polled: listeners
# of the scenarios just ended leave tcpscope at its next sock_diag refresh,
# every 10 s).
stat_once() {
	local role ns
	for role in client server; do
		[ $role = client ] && ns=$NS_C || ns=$NS_S
		nsrun "$ns" ss -tanH >"$OW/stat.ss.$role" || return 1
		"$TCPSCOPE" stat --json --pin-dir "${SCOPE_PIN[$role]}" >"$OW/stat.json.$role" || return 1
		"${ORACLE[@]}" stat --stat "$OW/stat.json.$role" --ss "$OW/stat.ss.$role" >"$OW/stat.out.$role" || return 1
	done
}

stat_check() {
	local i first="" end=$((SECONDS + 45))
	# TIME_WAIT entries expire (60 s) in the kernel and in tcpscope (its GC
	# runs every second) at slightly different moments: poll. The clean
	# phase's hundreds of them may expire during the impaired phase's check,
	# over the seconds their closes were spread: up to 45 s.
	for ((i = 1; ; i++)); do
		if stat_once; then
			log "$1 stat client: $(head -n1 "$OW/stat.out.client")"
			log "$1 stat server: $(head -n1 "$OW/stat.out.server")"
			[ $i -eq 1 ] || log "$1 stat: equal at attempt $i, first difference: $first"
			return 0
		fi
		[ $i -eq 1 ] && first=$(grep -h differs "$OW/stat.out.client" "$OW/stat.out.server" | tr '\n' ';')
		[ $SECONDS -lt $end ] || break
		sleep 0.2
	done
	local role
	for role in client server; do
		sed "s/^/# $1 stat $role: /" "$OW/stat.out.$role" >&2
	done
	fail "tcpscope stat differs from ss -tan ($i attempts in 45 s): $(grep -h differs "$OW/stat.out.client" "$OW/stat.out.server" | head -3 | tr '\n' ';')"
}

# capture_start NAME NS IFACE PORT: tcpdump (headers only, bounded in count
# and time) into $OW/NAME.pcap; CAP_PID is its pid. Immediate mode: without
# it libpcap hands packets over a block at a time (TPACKET_V3), and the
# last segments before the SIGINT, e.g. the late ACK of a retransmitted FIN,
# could stay in a block nobody reads: the kernel had them, the capture not.
capture_start() {
	nsenter --net="/run/netns/$2" timeout -s INT 120 tcpdump -i "$3" -s 200 -B 65536 -U --immediate-mode -n -c 500000 \
		-w "$OW/$1.pcap" "tcp port $4" 2>"$OW/$1.tcpdump" &
	CAP_PID=$!
	track_pid $CAP_PID
	wait_for 5 grep -q 'listening on' "$OW/$1.tcpdump"
}

# replay_check ID PORT COUNT [strict]: replay the captures of scenario ID
# taken in the client and in the server namespace; the endpoints of each
# capture's own namespace must all end as the kernel's; with "strict" the
# far ones too (a clean path loses nothing between the two hosts).
replay_check() {
	local id=$1 port=$2 n=$3 strict=() rc v bad=0 pids=()
	[ "${4:-}" = strict ] && strict=(--strict-remote)
	# Both replays at once (each loads the BPF object: seconds).
	for v in client server; do
		[ -s "$OW/$id.$v.pcap" ] || { fail "no capture $id.$v.pcap"; return 1; }
		"$TCPSCOPE" replay --json "$OW/$id.$v.pcap" >"$OW/$id.$v.replay" 2>"$OW/$id.$v.replay.err" &
		pids+=($!)
	done
	for v in 0 1; do
		wait "${pids[$v]}" || { fail "tcpscope replay failed: $(cat "$OW/$id".*.replay.err)"; return 1; }
	done
	for v in client server; do
		"${ORACLE[@]}" replay --trace "$OW/trace" --ns-client "$INO_C" --ns-server "$INO_S" \
			--ss-client "$OW/$id.ss.client" --ss-server "$OW/$id.ss.server" \
			--replay "$OW/$id.$v.replay" --vantage $v "${strict[@]}" \
			--ports "$port" --label "$id" --expect $((2 * n)) >"$OW/$id.$v.replaycheck"
		rc=$?
		sed 's/^/# /' "$OW/$id.$v.replaycheck" >&2
		[ $rc -eq 0 ] || bad=1
	done
	[ $bad -eq 0 ] || fail "replay final states differ from the kernel's: $(grep -h -m1 '^differs' "$OW/$id".*.replaycheck | head -n1)"
}

# poll_start NAME NS: the ss poller (sspoll.py) in NS for the whole suite.
poll_start() {
	nsenter --net="/run/netns/$2" timeout 900 "$PYTHON" "$HERE/sspoll.py" --lo $PORT_LO --hi $PORT_HI \
		--interval-ms 5 --duration 900 >"$OW/poll.$1" 2>"$OW/poll.$1.err" &
	track_pid $!
	wait_for 5 grep -q 'sspoll: ready' "$OW/poll.$1"
}

# stuck_check PHASE LO-HI: once the phase is over, no tcpscope entry on its
# ports in either namespace is in a non-final state (anything but TIME_WAIT
# and CLOSE) unless the kernel has that socket in that state.
stuck_check() {
	local role ns rc=0
	for role in client server; do
		[ $role = client ] && ns=$NS_C || ns=$NS_S
		nsrun "$ns" ss -tanH >"$OW/$1.stuck.ss.$role" &&
			"$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[$role]}" >"$OW/$1.stuck.list.$role" ||
			{ fail "$role: ss or tcpscope list failed"; return 1; }
		"${ORACLE[@]}" stuck --list "$OW/$1.stuck.list.$role" --ss "$OW/$1.stuck.ss.$role" \
			--ports "$2" --label "$1 $role" >"$OW/$1.stuck.$role" || rc=1
		sed 's/^/# /' "$OW/$1.stuck.$role" >&2
	done
	[ $rc -eq 0 ] || fail "stuck entries: $(grep -h -m1 stuck "$OW/$1.stuck.client" "$OW/$1.stuck.server" | head -n1)"
}

# Before any relay runs nothing may pass between client and server: the
# relay namespace neither routes nor bridges.
only_the_relay_connects() {
	nsrun "$NS_C" "$PYTHON" -c "
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(('$IP4_B', 9))
except socket.timeout:
    sys.exit(0)
except OSError as e:
    print(e)
sys.exit(1)"
}

# ------------------------------------------------------------------ tests

test_setup_relay_topology_tracer_and_tcpscope() {
	# bpftrace takes seconds to start: the namespaces are made meanwhile.
	must "bpftrace" trace_start || return 1
	must "namespaces" mk_relay_pair "$NS_C" "$NS_R" "$NS_S" || return 1
	INO_C=$(ns_inode "$NS_C") INO_S=$(ns_inode "$NS_S")
	WAIT_MS=15000
	must "no path without the relay (connect times out)" only_the_relay_connects || return 1
	must "relay" relay_start clean "${CLEAN_ARGS[@]}" || return 1
	must "bpftrace on sock:inet_sock_set_state attached" trace_wait || return 1
	must "ss poller, client" poll_start client "$NS_C" && must "ss poller, server" poll_start server "$NS_S" || return 1
	must "tcpscope in the client namespace" scope_start client "$NS_C" "$IF_A" &&
		must "tcpscope in the server namespace" scope_start server "$NS_S" "$IF_B"
}

# scenarios PHASE "NAME PORT COUNT [capture]"...: those scenarios driven at
# once, then for each one test for the run (final states, structure) and
# one for the sequences.
scenarios() {
	local phase=$1 spec name specs=()
	shift
	for spec in "$@"; do
		read -r name _ <<<"$spec"
		[ -z "${ORACLE_SCENARIOS:-}" ] || [[ " $ORACLE_SCENARIOS " == *" $name "* ]] || continue
		[ "${ORACLE_CAPTURE:-0}" = 1 ] && [[ $spec != *capture ]] && spec+=" capture"
		specs+=("$spec")
	done
	drives_start "$phase" "${specs[@]}"
	for spec in "${specs[@]}"; do
		read -r name _ <<<"$spec"
		eval "test_${phase}_${name}() { run_scenario $phase $spec; }"
		eval "test_${phase}_${name}_sequences() { verdict_sequences ${phase}_${name}; }"
		tt "test_${phase}_${name}"
		tt "test_${phase}_${name}_sequences"
	done
}

# phase NAME BASE_PORT COUNT strict|local
phase() {
	local ph=$1 base=$2 N=$3
	# The tcpdrive scenarios at once: their waits (RTOs on the impaired
	# path) overlap. pairs.py's each alone: its closes are timed to the ms.
	scenarios "$ph" "client_close $((base + 1)) $N" "server_close $((base + 2)) $N" \
		"rst_client $((base + 3)) $N capture" "rst_server $((base + 4)) $N capture" \
		"refused $((base + 5)) $N" "bulk $((base + 7)) $N_BULK"
	scenarios "$ph" "crossing_fins $((base + 6)) $N capture"
	scenarios "$ph" "fin_ack $((base + 8)) $N"
	if [ -z "${ORACLE_SCENARIOS:-}" ] || [[ " $ORACLE_SCENARIOS " == *" crossing_fins "* ]]; then
		eval "test_${ph}_replay_of_capture_final_states() { replay_check ${ph}_crossing_fins $((base + 6)) $N $4; }"
		tt "test_${ph}_replay_of_capture_final_states"
	fi
	# After the replays: by now tcpscope's sock_diag refresh (10 s) has
	# seen the listeners of the last scenarios go.
	eval "test_${ph}_stat_equals_ss() { stat_check $ph; }"
	tt "test_${ph}_stat_equals_ss"
	eval "test_${ph}_no_stuck_entries() { stuck_check $ph $((base + 1))-$((base + 8)); }"
	tt "test_${ph}_no_stuck_entries"
}

test_switch_relay_to_impaired() {
	relay_stop clean
	WAIT_MS=40000
	must "impaired relay" relay_start impaired "${IMPAIRED_ARGS[@]}"
}

test_relay_impaired_and_tools_lost_nothing() {
	local s v
	relay_stop impaired
	# The impaired phase must really have been impaired, both ways.
	for s in lost dup reordered; do
		grep '^impair ' "$OW/impaired.relay" | grep -Eq " $s [1-9]" || { fail "relay: no frame $s"; return 1; }
	done
	grep -Eq 'Lost [0-9]+ events' "$OW/trace" "$OW/trace.err" && { fail "bpftrace lost events"; return 1; }
	for s in client server; do
		v=$(ringbuf_dropped $s) || { fail "$s: stat --counters --json"; return 1; }
		[ "$v" -eq 0 ] || { fail "$s: ringbuf_dropped=$v"; return 1; }
	done
	must "client tcpscope exits 0" scope_stop client && must "server tcpscope exits 0" scope_stop server
}

# tt NAME: run_test, and log how long it took.
tt() {
	local t=$EPOCHREALTIME
	run_test "$1"
	log "$1: $(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
}

t0=$SECONDS
tt test_setup_relay_topology_tracer_and_tcpscope
if [ $SUITE_FAILED -eq 0 ]; then
	PHASES=" ${ORACLE_PHASES:-clean impaired} "
	[[ $PHASES == *" clean "* ]] && phase clean 9300 "$N" strict
	if [[ $PHASES == *" impaired "* ]]; then
		tt test_switch_relay_to_impaired
		phase impaired 9310 "$N_IMP" local
		tt test_relay_impaired_and_tools_lost_nothing
	fi
fi
log "oracle suite: $((SECONDS - t0)) s"
suite_done
