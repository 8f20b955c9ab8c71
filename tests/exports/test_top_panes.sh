#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# top's health and rate panes (issue 13, points 3 and 5) on real TCP across
# tools/impair:  client ns --veth-- relay ns (impair) --veth-- server ns,
# tcpscope in host mode in the client namespace:
#  - a connection made with 30 ms one way leads SLOWEST HANDSHAKES (others
#    have 2 ms), with the handshake RTT that list --json gives (60-200 ms);
#  - connections that retransmitted under 3 % loss are in MOST
#    RETRANSMISSIONS, the most first, with list -i --json's out/in counts;
#  - a bulk transfer leads FASTEST with the rate its byte counts show over
#    the same time (within a factor of 2);
#  - at 80x24 (tmux), v brings the panes up and every line fits;
#  - with run --no-health the health panes say that health is off;
#  - a big table (--max-conns 1100000) is swept, not walked in the kernel,
#    TCPS_VIEWS_SLICE slots of the slot array a refresh (~10 refreshes for
#    its 1,257,143 slots), and top's groups then equal stat --by-port /
#    --by-remote.
. "$(dirname "$0")/../lib/lib.sh"
. "$(dirname "$0")/../e2e/lib_e2e.sh"

IMPAIR=$TOOLS/impair
e2e_need
for t in ethtool tmux; do
	command -v "$t" >/dev/null || { echo "not ok $(basename "$0"): $t missing (make deps)"; exit 1; }
done
[ -x "$IMPAIR" ] || { echo "not ok $(basename "$0"): $IMPAIR not built (make)"; exit 1; }

NS_C="pc$TAG" NS_R="pr$TAG" NS_S="ps$TAG"
W=$E2E_WORK
TMUX_SOCK=tcpscope-panes-$TAG

RELAY_SEED=11

# The last snapshot of a plain top run, and the rows of one of its panes.
last_snapshot() { awk '/^--- / { s = "" } { s = s $0 "\n" } END { printf "%s", s }' "$1"; }
pane() {
	awk -v t="$2" 'index($0, t) == 1 { on = 1; next } on && /^  / { print; next } { on = 0 }' "$1"
}
# "60.53ms" / "850us" / "1.20s" -> µs
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /ms$/) n *= 1000; else if (v ~ /s$/ && v !~ /us$/) n *= 1000000; printf "%d", n }'; }
# "12.3MB/s" -> bytes/s
to_bps() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /kB/) n *= 1e3; if (v ~ /MB/) n *= 1e6; if (v ~ /GB/) n *= 1e9; printf "%d", n }'; }
conns_json() { "$TCPSCOPE" list -i --json --pin-dir "${SCOPE_PIN[client]}"; }

test_setup() {
	must "namespaces" mk_relay_pair "$NS_C" "$NS_R" "$NS_S" || return 1
	must "relay" relay_start --delay 2 || return 1
	# Both load at once (scope_launch), then each must be tracking.
	scope_launch client "$NS_C" "$IF_A" -q || return 1
	# A big table: top sweeps it (views.h) instead of one kernel pass.
	scope_launch server "$NS_S" "$IF_B" -q --no-health --max-conns 1100000 || return 1
	must "tcpscope in the client namespace" scope_ready client || return 1
	must "tcpscope --no-health in the server namespace" scope_ready server || return 1
	# Three connections at 2 ms one way, then one at 30 ms.
	must "fast server" drv_start hs1 "$NS_S" listen "$IP4_B" 7101 -n 3 -t 20000 || return 1
	must "fast clients" drv_start hc1 "$NS_C" connect "$IP4_B" 7101 -n 3 -t 20000 || return 1
	must "fast connect" drv hc1 wait-conn || return 1
	relay_stop
	must "slow relay" relay_start --delay 30 || return 1
	must "slow server" drv_start hs2 "$NS_S" listen "$IP4_B" 7102 -n 1 -t 20000 || return 1
	must "slow client" drv_start hc2 "$NS_C" connect "$IP4_B" 7102 -n 1 -t 20000 || return 1
	must "slow connect" drv hc2 wait-conn || return 1
	# Two connections under 3 % loss, 1.5 MB each.
	relay_stop
	must "lossy relay" relay_start --delay 1 --loss 3 || return 1
	must "lossy server" drv_start rs "$NS_S" listen "$IP4_B" 7103 -n 2 -t 60000 || return 1
	must "lossy clients" drv_start rc "$NS_C" connect "$IP4_B" 7103 -n 2 -t 60000 || return 1
	must "lossy connect" drv rc wait-conn && must "accept" drv rs wait-conn || return 1
	drv_send rc "send 1500000"
	drv_send rs "recv 1500000"
	must "lossy transfer" drv_wait rs 60 && must "sent" drv_wait rc 60 || return 1
	# Then a clean path and a bulk transfer, left running.
	relay_stop
	must "clean relay" relay_start || return 1
	must "bulk server" drv_start bs "$NS_S" listen "$IP4_B" 7104 -n 1 -t 120000 || return 1
	must "bulk client" drv_start bc "$NS_C" connect "$IP4_B" 7104 -n 1 -t 120000 || return 1
	must "bulk connect" drv bc wait-conn && must "bulk accept" drv bs wait-conn || return 1
	drv_send bc "send 4000000000"
	drv_send bs "recv 4000000000"
	sleep 1
	# A plain top run (3 refreshes, 1 s apart), with the bulk connection's
	# bytes read just before and after.
	local t0 t1
	conns_json >"$W/before.json"
	t0=$(date +%s.%N)
	"$TCPSCOPE" top -n 3 -d 1 --pin-dir "${SCOPE_PIN[client]}" >"$W/top.out" 2>"$W/top.err" ||
		{ fail "top: $(cat "$W/top.err")"; return 1; }
	t1=$(date +%s.%N)
	conns_json >"$W/after.json"
	echo "$t0 $t1" >"$W/times"
	last_snapshot "$W/top.out" >"$W/snap"
	sed 's/^/#   /' "$W/snap" >&2
}

test_known_delay_leads_slowest_handshakes() {
	local row port us want
	row=$(pane "$W/snap" "SLOWEST HANDSHAKES" | head -1)
	[ -n "$row" ] || { fail "no SLOWEST HANDSHAKES rows"; return; }
	port=$(jq -r '.connections[] | select(.remote_port == 7102) | .local_port' "$W/after.json")
	want=$(jq -r '.connections[] | select(.remote_port == 7102) | .handshake_rtt_us' "$W/after.json")
	grep -q ":$port $IP4_B:7102\$" <<<"$row" || { fail "first row is not the 30 ms connection: $row"; return; }
	us=$(to_us "$(awk '{ print $1 }' <<<"$row")")
	log "slowest handshake: $row (list: $want us)"
	# The pane rounds to 10 µs. The 30 ms delay each way makes it at least
	# 60 ms (55 for the clocks' ticks). Above that is the userspace relay's
	# and the server's scheduling on a loaded 2-core host: 83.75 ms was
	# seen once under the full suite. The upper bound only has to catch a
	# wrong unit or a wrong stamp, which would be off by 1000x or by the
	# connection's whole life (seconds).
	awk -v a="$us" -v b="$want" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.01 * b + 20 && b >= 55000 && b <= 200000) }' ||
		fail "pane $us us, list $want us (want 60-200 ms, equal)"
	# Every other connection is faster.
	[ "$(jq --argjson w "$want" '[.connections[] | select(.handshake_rtt_us != null and .handshake_rtt_us > $w)] | length' "$W/after.json")" = 0 ] ||
		fail "a connection slower than the one shown first"
}

test_retransmitting_connections_with_list_counts() {
	local rows cnt lep rep lport want prev=-1 tot
	rows=$(pane "$W/snap" "MOST RETRANSMISSIONS")
	[ -n "$rows" ] || { fail "no MOST RETRANSMISSIONS rows"; return; }
	# The lossy connections are idle now: their counts are final, and each
	# must be in the pane with list -i --json's out/in. (The bulk transfer
	# still runs: its count may have moved since.)
	while read -r lport want; do
		cnt=$(awk -v p=":$lport" '$2 ~ p "$" { print $1 }' <<<"$rows")
		log "retransmissions of :$lport > :7103: top ${cnt:-none}, list $want"
		[ "$cnt" = "$want" ] || { fail ":$lport: top ${cnt:-not shown}, list -i --json $want"; return; }
	done < <(jq -r '.connections[] | select(.remote_port == 7103) |
		"\(.local_port) \(.retrans_segs_out)/\(.retrans_segs_in)"' "$W/after.json")
	[ "$(jq '[.connections[] | select(.remote_port == 7103) | .retrans_segs_out] | add' "$W/after.json")" -gt 0 ] ||
		{ fail "no retransmission at 3 % loss"; return; }
	# Most first.
	while read -r cnt lep rep; do
		tot=$(awk -v c="$cnt" 'BEGIN { split(c, a, "/"); print a[1] + a[2] }')
		[ "$prev" -lt 0 ] || [ "$tot" -le "$prev" ] || { fail "not most first: $rows"; return; }
		prev=$tot
	done <<<"$rows"
}

test_bulk_transfer_leads_fastest() {
	local row rate b0 b1 t0 t1 avg
	row=$(pane "$W/snap" "FASTEST" | head -1)
	[ -n "$row" ] || { fail "no FASTEST rows"; return; }
	grep -q "$IP4_B:7104\$" <<<"$row" || { fail "first row is not the bulk transfer: $row"; return; }
	rate=$(to_bps "$(awk '{ print $1 }' <<<"$row")")
	b0=$(jq '.connections[] | select(.remote_port == 7104) | .bytes_out' "$W/before.json")
	b1=$(jq '.connections[] | select(.remote_port == 7104) | .bytes_out' "$W/after.json")
	read -r t0 t1 <"$W/times"
	avg=$(awk -v a="$b0" -v b="$b1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%d", (b - a) / (e - s) }')
	log "fastest: $row; $rate B/s shown, $avg B/s on average over the top run"
	[ "$avg" -gt 1000000 ] || { fail "the bulk transfer moved only $avg B/s"; return; }
	awk -v r="$rate" -v a="$avg" 'BEGIN { exit !(r >= a / 2 && r <= a * 2) }' ||
		fail "shown $rate B/s, measured $avg B/s"
}

test_panes_fit_80x24_and_v_cycles() {
	tm() { tmux -L "$TMUX_SOCK" "$@"; }
	on_exit tmux -L "$TMUX_SOCK" kill-server
	tm new-session -d -s top -x 80 -y 24 "env -i TERM=screen PATH=$PATH bash --norc --noprofile" ||
		{ fail "tmux"; return; }
	tm send-keys -t top "$TCPSCOPE top -d 0.5 --pin-dir ${SCOPE_PIN[client]}" Enter
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q '^RECENT TRANSITIONS'" ||
		{ tm capture-pane -p -t top >&2; fail "top did not start"; return; }
	tm send-keys -t top v
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q '^SLOWEST HANDSHAKES'" ||
		{ tm capture-pane -p -t top >&2; fail "v shows no SLOWEST HANDSHAKES"; return; }
	# Until a refresh has put it there (it was a fixed second).
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q ':7102\$'"
	tm capture-pane -p -t top >"$W/screen1"
	grep -q ":7102\$" "$W/screen1" || { cat "$W/screen1" >&2; fail "the 30 ms connection is not on the screen"; return; }
	tm send-keys -t top v
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q '^MOST RETRANSMISSIONS'" ||
		{ fail "v shows no MOST RETRANSMISSIONS"; return; }
	tm capture-pane -p -t top >"$W/screen2"
	tm send-keys -t top v
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q '^FASTEST'" ||
		{ fail "v shows no FASTEST"; return; }
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q ':7104\$'"
	tm capture-pane -p -t top >"$W/screen3"
	tm send-keys -t top q
	grep -q ":7104\$" "$W/screen3" || { cat "$W/screen3" >&2; fail "the bulk transfer is not on the screen"; return; }
	[ "$(cat "$W/screen1" "$W/screen2" "$W/screen3" | awk 'length > 80' | wc -l)" = 0 ] ||
		fail "lines wider than 80"
}

test_no_health_says_health_is_off() {
	local out
	out=$("$TCPSCOPE" top -n 1 --pin-dir "${SCOPE_PIN[server]}") || { fail "top"; return; }
	grep -q '^SLOWEST HANDSHAKES: health is off' <<<"$out" &&
		grep -q '^MOST RETRANSMISSIONS: health is off' <<<"$out" || fail "no 'health is off': $out"
	[ -z "$(pane <(printf '%s\n' "$out") "SLOWEST HANDSHAKES")" ] || fail "handshake rows with health off"
}

test_swept_groups_equal_stat() {
	local out
	# The four listeners come in with the daemon's next look at the
	# socket table (--seed-interval, 10 s): one that lands after top's last
	# complete sweep and before stat counts in stat only.
	wait_for 12 sh -c "[ \$('$TCPSCOPE' list --state LISTEN --pin-dir '${SCOPE_PIN[server]}' | tail -n +2 | wc -l) -ge 4 ]" ||
		{ fail "listeners not seeded: $("$TCPSCOPE" list --state LISTEN --pin-dir "${SCOPE_PIN[server]}")"; return; }
	out=$("$TCPSCOPE" top -n 16 -d 0.1 --pin-dir "${SCOPE_PIN[server]}") || { fail "top"; return; }
	last_snapshot <(printf '%s\n' "$out") >"$W/snap.server"
	grep -Eq '^\(groups and panes: a sweep of the table over (9|1[0-5]) refreshes\)' "$W/snap.server" ||
		{ cat "$W/snap.server" >&2; fail "no sweep note"; return; }
	diff <(pane "$W/snap.server" "TOP LOCAL PORT" | awk '{ print $2, $1 }') \
		<("$TCPSCOPE" stat --by-port --pin-dir "${SCOPE_PIN[server]}" | head -5 | awk '{ print $1, $2 }') >&2 ||
		{ fail "ports differ from stat --by-port"; return; }
	diff <(pane "$W/snap.server" "TOP REMOTE" | awk '{ print $2, $1 }') \
		<("$TCPSCOPE" stat --by-remote --pin-dir "${SCOPE_PIN[server]}" | head -5 | awk '{ print $1, $2 }') >&2 ||
		fail "remotes differ from stat --by-remote"
}

run_test test_setup
run_test test_known_delay_leads_slowest_handshakes
run_test test_retransmitting_connections_with_list_counts
run_test test_bulk_transfer_leads_fastest
run_test test_panes_fit_80x24_and_v_cycles
run_test test_no_health_says_health_is_off
run_test test_swept_groups_equal_stat
suite_done
