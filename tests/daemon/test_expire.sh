#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Expiry by the in-kernel scan (issue 11, point 3: bpf/expire.bpf.c finds
# the expired entries, user/gc.c removes them). Real connections from a
# client namespace A (tcpscope watches it) to a server in B, with short
# --timeout values: idle ESTABLISHED, TIME_WAIT and unanswered SYNs (the
# half-open table) leave with timeout transitions that continue each
# connection's seq numbering, over IPv4 and IPv6. Then tables filled by a
# tool (build/bench/scale): of 200k entries exactly the few idle ones go;
# more expired entries than one scan hands back all go; a nearly full table
# drops its closing entries first.
. "$(dirname "$0")/../lib/lib.sh"
need_root

CONN="python3 $(dirname "$0")/conn.py"
SCALE=${SCALE:-$TOP/$BUILD/bench/scale}
A=exA$TAG B=exB$TAG
mk_pair "$A" "$B"
PORT=8080
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
on_exit "rm -f /run/tcpscope/tcpscope-test-$TAG-*"
nsenter --net=/run/netns/$B $CONN serve 0.0.0.0 $PORT 180 &
track_pid $!
nsenter --net=/run/netns/$B $CONN serve :: $((PORT + 1)) 180 &
track_pid $!
wait_for 5 nsrun "$B" sh -c "ss -tln | grep -q ':$((PORT + 1))'"
# Addresses nobody answers for: the SYNs leave A's veth (a neighbour entry
# exists) and B drops the frames (not its MAC), so they stay unanswered.
N4=${IP4_B%.*}.99 N6=${IP6_B%::*}::99
nsrun "$A" ip neigh add "$N4" lladdr 02:00:00:00:00:99 dev "$IF_A"
nsrun "$A" ip -6 neigh add "$N6" lladdr 02:00:00:00:00:99 dev "$IF_A"

# start NAME ARGS...: tcpscope run in A, JSON events in $OUT; sets TP.
start() {
	local name=$1; shift
	[ -n "${TP:-}" ] && stop	# a test that failed half-way left it
	mk_pindir "$name"
	OUT=$WORK/$name.out
	nsenter --net=/run/netns/$A "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" --no-seed \
		--json "$@" >"$OUT" 2>"$WORK/$name.err" &
	TP=$!
	track_pid $TP
	wait_for 10 grep -q "tracking on" "$WORK/$name.err" || { cat "$WORK/$name.err" >&2; return 1; }
}

stop() { kill -TERM "$TP" 2>/dev/null; wait "$TP" 2>/dev/null; TP=; }
TP=

q() { nsrun "$A" "$TCPSCOPE" "$@" --pin-dir "$PIN_DIR"; }
timeouts() { grep -c '"reason":"timeout"' "$OUT"; }
state_count() { q stat --json | jq -r ".states.$1"; }

# check_events FILE FAMILY MIN_IDLE: every connection of FAMILY that got a
# timeout transition got it for each endpoint not already CLOSE, from that
# endpoint's last state, after at least MIN_IDLE s of silence, as its last
# events, numbered on from its packet transitions (seq +1 each, no gap).
# Prints "ESTABLISHED:n TIME_WAIT:n SYN_SENT:n" counts of timeout 'from's.
check_events() {
	python3 - "$1" "$2" "$3" <<'EOF'
import collections, datetime, json, sys
path, fam, min_idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
def t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
conns = collections.defaultdict(list)
for line in open(path):
    if not line.startswith("{"):
        continue
    e = json.loads(line)
    if e["family"] != fam:
        continue
    conns[(e["local_addr"], e["local_port"], e["remote_addr"], e["remote_port"])].append(e)
froms = collections.Counter()
for k, evs in conns.items():
    tos = [e for e in evs if e["reason"] == "timeout"]
    if not tos:
        continue
    seqs = [e["seq"] for e in evs]
    if seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        sys.exit("%s: seq %s, not consecutive" % (k, seqs))
    first = evs.index(tos[0])
    if evs[first:] != tos:
        sys.exit("%s: events after its timeout: %s" % (k, evs[first:]))
    state, last = {}, None
    for e in evs[:first]:
        state[e["side"]] = e["to"]
        last = t(e["time"])
    for e in tos:
        if e["to"] != "CLOSE" or e["from"] != state.get(e["side"], e["from"]):
            sys.exit("%s: timeout %s -> %s for side %s in %s" %
                     (k, e["from"], e["to"], e["side"], state.get(e["side"])))
        if last is not None and t(e["time"]) - last < min_idle - 0.05:
            sys.exit("%s: expired after %.2f s of silence" % (k, t(e["time"]) - last))
        state[e["side"]] = "CLOSE"
        froms[e["from"]] += 1
    if any(s != "CLOSE" for s in state.values()):
        sys.exit("%s: an endpoint left open: %s" % (k, state))
print(" ".join("%s:%d" % (s, froms[s]) for s in ("ESTABLISHED", "TIME_WAIT", "SYN_SENT")))
EOF
}

# unanswered FAMILY_ADDR: one connect that gives up after 1.5 s (two SYNs).
unanswered() {
	nsrun "$A" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.settimeout(1.5)
s.connect_ex((sys.argv[1], 9))' "$1"
}

# silently_gone SRV PORT: the kernel in A forgets its sockets to SRV PORT
# without a packet tcpscope could see: their RSTs (ss -K) are dropped by
# netfilter, which runs before tc egress.
silently_gone() {
	local d=$1
	[[ $d == *:* ]] && d="[$d]"
	nsrun "$A" nft add table inet gone &&
		nsrun "$A" nft add chain inet gone out '{ type filter hook output priority 0; }' &&
		nsrun "$A" nft add rule inet gone out tcp dport "$2" drop || return 1
	nsrun "$A" ss -tnK state established dst "$d" dport = :"$2" >/dev/null
	nsrun "$A" nft delete table inet gone
	[ -z "$(nsrun "$A" ss -tnH state established dst "$d" dport = :"$2")" ]
}

# Per family: 2 idle connections (ESTABLISHED; held while A's kernel still
# has the sockets, then both sides expire once it forgets them silently),
# 2 closed by the client (TIME_WAIT here), 1 unanswered SYN (half-open table).
expire_real_traffic() {
	local fam=$1 srv=$2 port=$3 dead=$4 h got u
	start "real$fam" --timeout ESTABLISHED=2 --time-wait 2 --timeout SYN_SENT=2 || return 1
	nsenter --net=/run/netns/$A $CONN hold "$srv" $port 2 30 >"$WORK/hold$fam" &
	h=$!
	track_pid $h
	nsrun "$A" $CONN close "$srv" $port 2 || { fail "close connections"; return; }
	# The unanswered SYNs (1.5 s) go out meanwhile: nothing below looks at
	# them before the 4 s idle check is over, when they are done.
	unanswered "$dead" &
	u=$!
	wait_for 5 grep -q ready "$WORK/hold$fam" || { fail "hold: $(cat "$WORK/hold$fam")"; return; }
	# Idle past their timeout and two scans: the kernel still has them.
	sleep 4
	wait "$u"
	[ "$(state_count ESTABLISHED)" = 2 ] && ! grep -q '"from":"ESTABLISHED","to":"CLOSE","reason":"timeout"' "$OUT" ||
		{ fail "idle connections A still has were expired: $(q stat)"; return; }
	silently_gone "$srv" $port || { fail "ss -K"; return; }
	# 2 x 2 ESTABLISHED sides + 2 TIME_WAIT + 1 SYN_SENT, within the
	# timeouts plus a scan interval (1 s at this table size) and a tick.
	wait_for 12 sh -c "[ \$(grep -c '\"reason\":\"timeout\"' '$OUT') -ge 7 ]" ||
		{ fail "$(timeouts) timeout transitions, want 7: $(grep timeout "$OUT")"; return; }
	sleep 1.5	# nothing more may come
	got=$(check_events "$OUT" "$fam" 2 2>&1) || { fail "$got"; return; }
	[ "$got" = "ESTABLISHED:4 TIME_WAIT:2 SYN_SENT:1" ] ||
		{ fail "timeout transitions from $got, want ESTABLISHED:4 TIME_WAIT:2 SYN_SENT:1"; return; }
	[ "$(q stat --json | jq .total)" = 0 ] && [ "$(state_count TIME_WAIT)" = 0 ] ||
		{ fail "entries left: $(q stat)"; return; }
	kill "$h" 2>/dev/null; wait "$h" 2>/dev/null
	stop
}

test_real_connections_expire_with_timeout_transitions_ipv4() {
	expire_real_traffic ipv4 "$IP4_B" $PORT "$N4"
}

test_real_connections_expire_with_timeout_transitions_ipv6() {
	expire_real_traffic ipv6 "$IP6_B" $((PORT + 1)) "$N6"
}

# The remote address scale gives entry i (198.19.x.y, i mod 65536).
scale_addr() { echo "198.19.$(( ($1 % 65536) / 256 )).$(( $1 % 256 ))"; }

test_large_table_expires_exactly_the_idle_entries() {
	local n=200000 want got i
	start large --time-wait 2 --timeout CLOSE_WAIT=3 || return 1
	"$SCALE" "$PIN_DIR" 0 $n >/dev/null || { fail "scale fill"; return; }
	"$SCALE" "$PIN_DIR" $n $((n + 4)) TIME_WAIT >/dev/null &&
		"$SCALE" "$PIN_DIR" $((n + 4)) $((n + 7)) CLOSE_WAIT 1 >/dev/null || { fail "scale idle"; return; }
	# 4 local TIME_WAIT + 3 x (local CLOSE_WAIT, remote FIN_WAIT2).
	wait_for 20 sh -c "[ \$(grep -c '\"reason\":\"timeout\"' '$OUT') -ge 10 ]" ||
		{ fail "$(timeouts) timeout transitions of 10"; return; }
	sleep 2
	[ "$(timeouts)" = 10 ] || { fail "$(timeouts) timeout transitions, want 10"; return; }
	want=$(for ((i = n; i < n + 7; i++)); do scale_addr $i; done | sort -u)
	got=$(grep '"reason":"timeout"' "$OUT" | jq -r .remote_addr | sort -u)
	[ "$got" = "$want" ] || { fail "expired $(echo $got), want $(echo $want)"; return; }
	# The tool's entries carry seq 5: a timeout continues at 6 (then 7).
	got=$(grep '"reason":"timeout"' "$OUT" | jq -r '"\(.from) \(.side) \(.seq)"' | sort | uniq -c |
		awk '{print $1, $2, $3, $4}' | tr '\n' ';')
	[ "$got" = "3 CLOSE_WAIT local 6;3 FIN_WAIT2 remote 7;4 TIME_WAIT local 6;" ] ||
		{ fail "timeout transitions: $got"; return; }
	[ "$(state_count ESTABLISHED)" = $n ] && [ "$(q stat --json | jq .total)" = $n ] ||
		{ fail "left: $(q stat | tr '\n' ' ')"; return; }
	stop
	grep -q "gc: 7 entries expired, 0 dropped early" "$WORK/large.err" ||
		fail "no expiry count in the log: $(tail -3 "$WORK/large.err")"
}

test_more_expired_than_one_scan_returns_all_leave() {
	local n=20000
	start many --time-wait 1 -q || return 1
	"$SCALE" "$PIN_DIR" 0 1000 >/dev/null && "$SCALE" "$PIN_DIR" 1000 $((1000 + n)) TIME_WAIT 5 >/dev/null ||
		{ fail "scale"; return; }
	wait_for 20 sh -c "[ \"\$(nsenter --net=/run/netns/$A '$TCPSCOPE' stat --json --pin-dir '$PIN_DIR' | jq .total)\" = 1000 ]" ||
		{ fail "left: $(q stat | tr '\n' ' ')"; return; }
	[ "$(state_count ESTABLISHED)" = 1000 ] || { fail "ESTABLISHED entries went too"; return; }
	stop
	grep -q "gc: $n entries expired" "$WORK/many.err" || fail "log: $(tail -2 "$WORK/many.err")"
}

test_nearly_full_table_drops_closing_entries_first() {
	start full --max-conns 1000 -q || return 1
	# 850 ESTABLISHED + 100 TIME_WAIT = 95 % full: the TIME_WAIT go, no
	# ESTABLISHED one does (down to 80 % would need 50 of them).
	"$SCALE" "$PIN_DIR" 0 850 >/dev/null && "$SCALE" "$PIN_DIR" 850 950 TIME_WAIT >/dev/null ||
		{ fail "scale"; return; }
	wait_for 10 sh -c "[ \"\$(nsenter --net=/run/netns/$A '$TCPSCOPE' stat --json --pin-dir '$PIN_DIR' | jq .states.TIME_WAIT)\" = 0 ]" ||
		{ fail "closing entries kept: $(q stat | tr '\n' ' ')"; return; }
	[ "$(state_count ESTABLISHED)" = 850 ] || { fail "ESTABLISHED: $(state_count ESTABLISHED)"; return; }
	stop
	grep -q "gc: 0 entries expired, 100 dropped early" "$WORK/full.err" ||
		fail "log: $(tail -3 "$WORK/full.err")"
}

run_test test_real_connections_expire_with_timeout_transitions_ipv4
run_test test_real_connections_expire_with_timeout_transitions_ipv6
run_test test_large_table_expires_exactly_the_idle_entries
run_test test_more_expired_than_one_scan_returns_all_leave
run_test test_nearly_full_table_drops_closing_entries_first
suite_done
