# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Helpers of the end-to-end suites: tcpscope instances and tcpdrive traffic
# drivers in namespaces, and the checkpoints that compare tcpscope's view of
# every local endpoint with the kernel's own (ss) in the same namespace.
# Source after tests/lib/lib.sh.

DRIVE=$TOOLS/tcpdrive
PYTHON=${PYTHON:-python3}
E2E_WORK=$(mktemp -d /tmp/tcpscope-e2e.XXXXXX)
[ -n "${E2E_KEEP:-}" ] && log "keeping $E2E_WORK" || on_exit rm -rf "$E2E_WORK"

declare -A DRV_FD DRV_PID DRV_WANT SCOPE_PID SCOPE_PIN

e2e_need() {
	need_root
	local t
	for t in "$TCPSCOPE" "$DRIVE"; do
		[ -x "$t" ] || { echo "not ok $(basename "$0"): $t not built (make)"; exit 1; }
	done
	for t in ss nft jq "$PYTHON" nsenter; do
		command -v "$t" >/dev/null || { echo "not ok $(basename "$0"): $t missing (make deps)"; exit 1; }
	done
}

# must DESCRIPTION CMD...: run CMD; on failure fail the test with DESCRIPTION.
must() {
	local what=$1
	shift
	"$@" || fail "$what"
}

# scope_start NAME NS IFACE [RUN OPTIONS...]: tcpscope run --json in NS, its
# transitions in $E2E_WORK/NAME.events, diagnostics in NAME.log.
scope_start() {
	scope_launch "$@" && scope_ready "$1"
}

# scope_launch NAME NS IFACE [RUN OPTIONS...]: scope_start without the wait,
# and scope_ready NAME the wait: two instances (in two namespaces) load
# their BPF objects at once, the verifier's seconds on a CPU each.
scope_launch() {
	local name=$1 ns=$2 ifc=$3
	shift 3
	mk_pindir "$name"
	SCOPE_PIN[$name]=$PIN_DIR
	# nsenter itself, not the nsrun function: in the background a function
	# runs in a subshell, and $! would be that subshell, not tcpscope.
	nsenter --net="/run/netns/$ns" "$TCPSCOPE" run -i "$ifc" --pin-dir "$PIN_DIR" --json "$@" \
		>"$E2E_WORK/$name.events" 2>"$E2E_WORK/$name.log" &
	SCOPE_PID[$name]=$!
	track_pid $!
}

scope_ready() {
	local name=$1
	if ! wait_for 30 grep -q 'tracking on' "$E2E_WORK/$name.log"; then
		log "tcpscope $name did not start:"
		sed 's/^/#   /' "$E2E_WORK/$name.log" >&2
		return 1
	fi
	log "$name: $(grep -m1 'ingress' "$E2E_WORK/$name.log")"
}

# scope_stop NAME: SIGTERM, then it must exit 0 within 5 s having detached.
scope_stop() {
	local name=$1 pid=${SCOPE_PID[$1]} rc
	kill -TERM "$pid" 2>/dev/null || { log "$name: not running"; return 1; }
	wait_gone 5 "$pid"
	wait "$pid"
	rc=$?
	[ $rc -eq 0 ] || { log "$name exited $rc:"; sed 's/^/#   /' "$E2E_WORK/$name.log" >&2; return 1; }
}

# drv_start NAME NS listen|connect ADDR PORT [OPTIONS...]: a tcpdrive fed by
# a fifo; stdout (ok lines) in $E2E_WORK/NAME.out, errors in NAME.err.
drv_start() {
	local name=$1 ns=$2
	shift 2
	drv_launch "$name" "$ns" "$DRIVE" "$@" -L 240
}

# drv_launch NAME NS CMD...: drv_start for any driver CMD that prints
# "ready", then answers each command line with "ok CMD".
drv_launch() {
	local name=$1 ns=$2 fifo="$E2E_WORK/$1.in" fd
	shift 2
	mkfifo "$fifo"
	nsenter --net="/run/netns/$ns" "$@" <"$fifo" >"$E2E_WORK/$name.out" 2>"$E2E_WORK/$name.err" &
	DRV_PID[$name]=$!
	track_pid $!
	# Blocks until the driver opens its end; keeping it open holds the
	# driver's stdin, so it waits for our next command.
	exec {fd}>"$fifo"
	DRV_FD[$name]=$fd
	DRV_WANT[$name]=0
	wait_for 5 grep -q '^ready' "$E2E_WORK/$name.out" || { _drv_died "$name"; return 1; }
}

_drv_died() {
	log "driver $1: $(tail -n 3 "$E2E_WORK/$1.err" "$E2E_WORK/$1.out" 2>/dev/null | tr '\n' ' ')"
}

# drv_send NAME CMD: queue a command (see tcpdrive --help), don't wait.
drv_send() {
	printf '%s\n' "$2" >&"${DRV_FD[$1]}" || { log "driver $1: cannot write '$2'"; return 1; }
	DRV_WANT[$1]=$((DRV_WANT[$1] + 1))
}

# drv_wait NAME [SECONDS]: until every command sent so far has printed ok.
drv_wait() {
	local name=$1 t=${2:-15} i n
	for ((i = 0; i < t * 20; i++)); do
		n=$(grep -c '^ok ' "$E2E_WORK/$name.out")
		[ "$n" -ge "${DRV_WANT[$name]}" ] && return 0
		kill -0 "${DRV_PID[$name]}" 2>/dev/null || break
		sleep 0.05
	done
	_drv_died "$name"
	return 1
}

# drv NAME CMD: send and wait.
drv() { drv_send "$1" "$2" && drv_wait "$1"; }

# peer_start NAME NS SPORT PORT OPTIONS...: tap_peer.py (a TCP peer whose
# frames carry their headers in page fragments) as driver NAME in NS, its
# connections from SPORT to PORT; OPTIONS say which way its frames go.
peer_start() {
	local name=$1 ns=$2 sport=$3 port=$4
	shift 4
	drv_launch "$name" "$ns" "$PYTHON" "$TOP/tests/e2e/tap_peer.py" "$@" --port "$port" \
		--sport "$sport" --lifetime 120
}

# peer_stop NAME: "exit", and it must be gone (a tap takes one fd).
peer_stop() {
	local rc
	kill -0 "${DRV_PID[$1]}" 2>/dev/null && drv_send "$1" exit
	exec {DRV_FD[$1]}>&-
	wait_gone 5 "${DRV_PID[$1]}"
	wait "${DRV_PID[$1]}" 2>/dev/null
	rc=$?
	unset "DRV_PID[$1]"
	return $rc
}

# peers_gone NAME...: end those of the peers an earlier test left running
# (one that failed).
peers_gone() {
	local n
	for n in "$@"; do
		[ -n "${DRV_PID[$n]:-}" ] && peer_stop "$n"
	done
	return 0
}

# peer_both NAME CMD [ARG]: the peer's CMD for IPv4 then IPv6.
peer_both() { drv "$1" "$2 4${3:+ $3}" && drv "$1" "$2 6${3:+ $3}"; }

# Each endpoint's transitions, in order, as "FAM SIDE FROM>TO ..." lines,
# for connections between PORT and SPORT. argv: events_file port sport.
E2E_PY_SIDES='
import json, sys
port, sport = int(sys.argv[2]), int(sys.argv[3])
seen = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if {e["local_port"], e["remote_port"]} != {port, sport}:
        continue
    fam = "6" if ":" in e["local_addr"] else "4"
    seen.setdefault((fam, e["side"]), []).append("%s>%s" % (e["from"], e["to"]))
for k in sorted(seen):
    print("%s %s %s" % (k[0], k[1], " ".join(seen[k])))
'

# transitions_check SCOPE PORT SPORT WANT: in both families, the transitions
# of the connection between PORT and SPORT are WANT, two lines (sorted by
# side): "local:FROM>TO ..." and "remote:FROM>TO ...".
transitions_check() {
	local got fam
	got=$("$PYTHON" -c "$E2E_PY_SIDES" "$E2E_WORK/$1.events" "$2" "$3")
	for fam in 4 6; do
		[ "$(printf '%s\n' "$got" | awk -v f=$fam '$1 == f { $1 = ""; sub(/^ /, ""); sub(/ /, ":"); print }')" = "$4" ] && continue
		log "IPv$fam transitions: $(printf '%s\n' "$got" | tr '\n' ';'), expected $(printf '%s' "$4" | tr '\n' ';')"
		return 1
	done
}

# scope_counter SCOPE NAME: a counter of tcpscope instance SCOPE.
scope_counter() {
	"$TCPSCOPE" stat --counters --json --pin-dir "${SCOPE_PIN[$1]}" | jq -e ".counters.$2"
}

# empty_slot_check SCOPE SLOT PEER SRV NS PORT: slot SLOT of the tc programs'
# prog array (tc_again: 0 ingress, 1 egress) emptied through the pin of the
# running instance SCOPE, the program cannot run again after its pull: the
# three frames of peer PEER's IPv4 handshake and data (the tcpdrive server
# SRV in NS on PORT) count three parse errors and pass all the same. Then
# the slot filled again, more data counts none.
empty_slot_check() {
	local scope=$1 slot=$2 peer=$3 srv=$4 ns=$5 port=$6 pin=${SCOPE_PIN[$1]} prog before after
	prog=prog_tc_ingress
	[ "$slot" = 1 ] && prog=prog_tc_egress
	must "empty the slot" bpftool map delete pinned "$pin/tc_again" key "$slot" 0 0 0 || return 1
	before=$(scope_counter "$scope" parse_errors)
	must "handshake" drv "$peer" "connect 4" && must "accept" drv "$srv" wait-conn || return 1
	must "data passes" drv "$peer" "send 4 300" && must "server reads" drv "$srv" "recv 300" || return 1
	after=$(scope_counter "$scope" parse_errors)
	[ $((after - before)) -eq 3 ] || fail "parse_errors +$((after - before)), expected +3" || return 1
	must "fill the slot again" bpftool map update pinned "$pin/tc_again" key "$slot" 0 0 0 \
		value pinned "$pin/$prog" || return 1
	must "data" drv "$peer" "send 4 200" && must "server reads" drv "$srv" "recv 500" || return 1
	[ "$(scope_counter "$scope" parse_errors)" = "$after" ] ||
		fail "parse errors with the slot filled again" || return 1
	must "still ESTABLISHED in ss" nsrun "$ns" ss -tanH state established "( sport = :$port )" |
		grep -q .
}

# Flows: one scenario's connections, COUNT per family, IPv4 and IPv6 at
# once, server in $NS_S on PORT, client in $NS_C. Drivers are NAME4s NAME4c
# NAME6s NAME6c. FLOW_SPORT=P binds the clients to source ports P, P+1...
# Pass "noserver" as 4th argument for clients only.
flows_start() {
	local name=$1 port=$2 count=$3 listen=${4:-listen}
	if [ "$listen" = listen ]; then
		drv_start "${name}4s" "$NS_S" listen "$IP4_B" "$port" -n "$count" || return 1
		drv_start "${name}6s" "$NS_S" listen "$IP6_B" "$port" -n "$count" || return 1
	fi
	local o4=() o6=()
	if [ -n "${FLOW_SPORT:-}" ]; then
		o4=(-b "$IP4_A" -s "$FLOW_SPORT")
		o6=(-b "$IP6_A" -s "$FLOW_SPORT")
	fi
	drv_start "${name}4c" "$NS_C" connect "$IP4_B" "$port" -n "$count" "${o4[@]}" || return 1
	drv_start "${name}6c" "$NS_C" connect "$IP6_B" "$port" -n "$count" "${o6[@]}" || return 1
}

# flows NAME s|c CMD: run CMD on the server (s) or client (c) drivers of
# both families and wait for both.
flows() {
	local name=$1 side=$2 cmd=$3
	drv_send "${name}4$side" "$cmd" && drv_send "${name}6$side" "$cmd" &&
		drv_wait "${name}4$side" && drv_wait "${name}6$side"
}

# flows_stop NAME: end all four drivers (the kernel closes what they hold).
flows_stop() {
	local d pid
	for d in "${1}4s" "${1}6s" "${1}4c" "${1}6c"; do
		[ -n "${DRV_PID[$d]:-}" ] || continue
		pid=${DRV_PID[$d]}
		exec {DRV_FD[$d]}>&-
		kill -TERM "$pid" 2>/dev/null
		wait_gone 5 "$pid"
		unset "DRV_PID[$d]"
	done
}

# nft_drop NS NAME RULE: a drop rule in NS only (table tcpscope_e2e,
# chains "in" and "out"), e.g. nft_drop $NS_S x 'out tcp sport 9000'.
nft_drop() {
	local ns=$1 handle=$2 chain=${3%% *} match=${3#* }
	nsrun "$ns" nft -f - <<-EOF || return 1
		table inet tcpscope_e2e {
			chain in { type filter hook input priority 0; policy accept; }
			chain out { type filter hook output priority 0; policy accept; }
		}
		add rule inet tcpscope_e2e $chain $match counter drop comment "$handle"
	EOF
}

nft_undrop() {
	local ns=$1 name=$2 h
	h=$(nsrun "$ns" nft -a list table inet tcpscope_e2e |
		awk -v c="\"$name\"" '$0 ~ c { for (i = 1; i <= NF; i++) if ($i == "handle") print $(i + 1) }')
	[ -n "$h" ] || { log "nft rule $name not found"; return 1; }
	local chain
	for chain in in out; do
		nsrun "$ns" nft delete rule inet tcpscope_e2e "$chain" handle "$h" 2>/dev/null && return 0
	done
	return 1
}

# Compares ss -tanH with tcpscope list --json for the connections on the
# given server ports. argv: ports expect count ss_file list_file verbose
# [side] (expect: the netstat state every connection must be in, or -;
# count: how many connections, or -; side: local (default), or remote when
# ss runs where tcpscope's remote end is: its remote_state against ss, the
# tuple turned round). A connection absent from ss is CLOSE.
E2E_PY_COMPARE='
import json, sys
ports = {int(p) for p in sys.argv[1].split(",")}
expect, count, ss_file, list_file, verbose = sys.argv[2:7]
side = sys.argv[7] if len(sys.argv) > 7 else "local"
NORM = {"ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RECV",
        "FIN-WAIT-1": "FIN_WAIT1", "FIN-WAIT-2": "FIN_WAIT2", "TIME-WAIT": "TIME_WAIT",
        "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "CLOSING": "CLOSING",
        "UNCONN": "CLOSE", "CLOSE": "CLOSE", "LISTEN": "LISTEN"}
def ep(s):
    a, _, p = s.rpartition(":")
    a = a.strip("[]").split("%")[0]
    return a, int(p)
kernel = {}
for line in open(ss_file):
    f = line.split()
    if len(f) < 5:
        continue
    st = NORM.get(f[0], f[0])
    if st == "LISTEN":
        continue
    la, lp = ep(f[3]); ra, rp = ep(f[4])
    if lp not in ports and rp not in ports:
        continue
    k = (la, lp, ra, rp)
    if st == "CLOSE" and k in kernel:
        continue
    kernel[k] = st
scope = {}
for c in json.load(open(list_file))["connections"]:
    if c["state"] == "LISTEN":
        continue
    if c["local_port"] not in ports and c["remote_port"] not in ports:
        continue
    if side == "remote":
        scope[(c["remote_addr"], c["remote_port"], c["local_addr"], c["local_port"])] = c["remote_state"]
    else:
        scope[(c["local_addr"], c["local_port"], c["remote_addr"], c["remote_port"])] = c["state"]
bad = []
ks, ts = {}, {}
for k in sorted(set(kernel) | set(scope)):
    kst = kernel.get(k, "CLOSE")
    tst = scope.get(k, "(absent)")
    ks[kst] = ks.get(kst, 0) + 1
    ts[tst] = ts.get(tst, 0) + 1
    if kst != tst:
        bad.append("%s:%d > %s:%d ss %s%s, tcpscope %s" % (k + (kst, "" if k in kernel else " (absent)", tst)))
    elif expect != "-" and kst != expect:
        bad.append("%s:%d > %s:%d both %s, expected %s" % (k + (kst, expect)))
n = len(set(kernel) | set(scope))
if count != "-" and n != int(count):
    bad.insert(0, "%d connections, expected %s" % (n, count))
if verbose == "1":
    print("ss %s; tcpscope %s" % (ks, ts))
    for b in bad[:10]:
        print(b)
    if len(bad) > 10:
        print("... %d more" % (len(bad) - 10))
sys.exit(1 if bad else 0)
'

_view_once() {
	local ns=$1 scope=$2 ports=$3 expect=$4 count=$5 verbose=$6
	nsrun "$ns" ss -tanH >"$E2E_WORK/ss.$scope" || return 1
	"$TCPSCOPE" list --json --pin-dir "${SCOPE_PIN[$scope]}" >"$E2E_WORK/list.$scope" || return 1
	"$PYTHON" -c "$E2E_PY_COMPARE" "$ports" "$expect" "$count" "$E2E_WORK/ss.$scope" \
		"$E2E_WORK/list.$scope" "$verbose" "${E2E_VIEW_SIDE:-local}"
}

# view_check NS SCOPE PORTS EXPECT COUNT [SECONDS]: poll (default up to 3 s)
# until tcpscope's state of every local endpoint on PORTS equals ss's, all
# in state EXPECT, COUNT of them; else log the differences and fail.
# view_check_remote: the same for tcpscope's remote endpoints, NS being
# where they are local (their remote_state against ss there).
view_check() {
	local t=${6:-3} out=$E2E_WORK/view.$2
	# Each poll keeps its report: the log shows the last one's, not a
	# further comparison's (ss, list and python once more per check).
	if wait_for "$t" _view_report "$out" "$1" "$2" "$3" "$4" "$5"; then
		log "$2 view, port $3: $(cat "$out")"
		return 0
	fi
	log "checkpoint in $1 ($2): ports $3, expected $5 x $4:"
	sed 's/^/#   /' "$out" >&2
	return 1
}

# _view_report FILE ARGS...: _view_once ARGS (verbose), its report in FILE.
_view_report() {
	local out=$1
	shift
	_view_once "$@" 1 >"$out"
}

view_check_remote() { E2E_VIEW_SIDE=remote view_check "$@"; }

# Every transition's "from" equals the previous "to" of the same endpoint
# (addresses, ports, side) over a whole events file: no gap, no reordering.
E2E_PY_CHAIN='
import json, sys
last, bad, n = {}, [], 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    n += 1
    k = (e["local_addr"], e["local_port"], e["remote_addr"], e["remote_port"], e["side"])
    prev = last.get(k)
    if prev is None and e.get("reason") == "seed":
        prev = e["from"]
    if e["from"] != (prev or "CLOSE"):
        bad.append("%s:%d > %s:%d %s: %s -> %s after -> %s" % (k + (e["from"], e["to"], prev or "(start)")))
    last[k] = e["to"]
print("%d transitions, %d endpoints, %d gaps" % (n, len(last), len(bad)))
for b in bad[:10]:
    print(b)
sys.exit(1 if bad or n == 0 else 0)
'

events_chain_check() {
	local out rc
	out=$("$PYTHON" -c "$E2E_PY_CHAIN" "$E2E_WORK/$1.events")
	rc=$?
	printf '%s\n' "$out" | sed "s/^/# $1: /" >&2
	return $rc
}

# ringbuf_dropped NAME: print the ring-buffer reserve failures of an instance.
ringbuf_dropped() {
	"$TCPSCOPE" stat --counters --json --pin-dir "${SCOPE_PIN[$1]}" | jq -e '.counters.ringbuf_dropped'
}

# events_have SCOPE PORT STATE: some endpoint on PORT went to STATE.
events_have() {
	# Not jq -e: jq 1.6 judges only the last input.
	jq -c --argjson p "$2" --arg s "$3" 'select((.local_port == $p or .remote_port == $p) and .to == $s)' \
		"$E2E_WORK/$1.events" | grep -q .
}

# The impair relay (tools/impair) between the relay namespace's veths
# (mk_relay_pair: NS_R, IF_RA, IF_RB), its output in $E2E_WORK/relay:
# relay_start [IMPAIR OPTIONS], relay_stop. RELAY_SEED picks the loss
# pattern. The relay's delay is the reference: real-time priority keeps its
# wake-ups on time on a busy host (it sleeps in poll() otherwise; -T bounds
# its life).
relay_start() {
	nsenter --net="/run/netns/$NS_R" chrt -f 5 "$TOOLS/impair" -a "$IF_RA" -b "$IF_RB" -T 300 \
		--tcp-only --seed "${RELAY_SEED:-7}" "$@" >"$E2E_WORK/relay" 2>&1 &
	RELAY_PID=$!
	track_pid $RELAY_PID
	wait_for 5 grep -q '^impair: ready' "$E2E_WORK/relay" || { log "relay: $(cat "$E2E_WORK/relay")"; return 1; }
}

relay_stop() {
	kill -TERM "$RELAY_PID" 2>/dev/null
	wait_gone 5 "$RELAY_PID"
	wait "$RELAY_PID" 2>/dev/null
}
