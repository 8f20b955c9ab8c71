#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The promises of list, events, replay and the HTTP API (issue 12, points
# 10, 13, 14): list's table is sized to its content (IPv4 within 100
# columns, every column labelled), and replay prints the same table and
# stat's summary; list, events and /v1/connections take ss-style filter
# expressions, and a bad one is pointed at with a caret; /v1/connections
# takes list's filters and a limit, gzips for clients that accept it, and
# / lists the endpoints.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/helpers.sh"
need_root

N=3
setup_pair filters
serve $N 50
sleep 0.3
# Not start_daemon: this daemon seeds, so the listener on SRV_PORT is a
# LISTEN entry.
"${IN_S[@]}" "$TCPSCOPE" run -i "$IF_B" --pin-dir "$PIN_DIR" --json --listen "$HTTP_PORT" \
	>"$WORK/daemon.out" 2>"$WORK/daemon.err" &
track_pid $!
wait_for 10 grep -q 'tracking on' "$WORK/daemon.err" || { cat "$WORK/daemon.err" >&2; echo "not ok daemon_starts"; exit 1; }
connect_hold $N 50
wait_for 15 established_is $N
NET=${IP4_A%.*}.0/24
URL=http://127.0.0.1:$HTTP_PORT
# Rows by identity and state: times move (listeners are re-seeded).
ROWS='[.connections[] | {local_addr, local_port, remote_addr, remote_port, state, remote_state}] | sort'

list() { "$TCPSCOPE" list --pin-dir "$PIN_DIR" "$@"; }

test_list_ipv4_table_fits_100_columns_with_labelled_columns() {
	local out wide
	out=$(list) || { fail "list exited $?"; return; }
	[ "$(grep -c ESTABLISHED <<<"$out")" -ge $N ] || { fail "no $N rows: $out"; return; }
	wide=$(awk 'length > 100' <<<"$out")
	[ -z "$wide" ] || { fail "lines wider than 100: $(awk '{print length}' <<<"$out" | sort -n | tail -1)"; return; }
	# Every column has a label: the header has as many words as a row
	# has fields, counting "Local Address" and "Foreign Address" as two.
	[ "$(head -1 <<<"$out" | wc -w)" = $(( $(sed -n 2p <<<"$out" | wc -w) + 2 )) ] ||
		fail "header and rows differ in columns: $(head -2 <<<"$out")"
	# Columns align: the State column starts at the same place in each line.
	[ "$(awk 'NR == 1 {c = index($0, "State")} NR > 1 && /ESTABLISHED/ {if (index($0, "ESTABLISHED") != c) bad = 1} END {print bad + 0}' <<<"$out")" = 0 ] ||
		fail "State column misaligned: $out"
}

# list -i is sized as list is (it had 46-column address fields: 157
# columns for IPv4) and writes a listener's remote end as list does.
test_list_info_is_sized_to_its_content() {
	local out wide
	out=$(list -i) || { fail "list -i exited $?"; return; }
	wide=$(awk 'length > 100' <<<"$out")
	[ -z "$wide" ] || { fail "lines wider than 100: $(head -2 <<<"$out")"; return; }
	out=$(list -i -p) || { fail "list -i -p exited $?"; return; }
	[ "$(grep -c ESTABLISHED <<<"$out")" -ge $N ] || { fail "no $N rows: $out"; return; }
	grep -E "^tcp6? +[^ ]+:$SRV_PORT +[^ ]+:\* +LISTEN " <<<"$out" >/dev/null ||
		{ fail "listener's remote end is not ADDR:*: $(grep LISTEN <<<"$out")"; return; }
	[ "$(awk 'NR == 1 {c = index($0, "State")} NR > 1 && /ESTABLISHED/ {if (index($0, "ESTABLISHED") != c) bad = 1} END {print bad + 0}' <<<"$out")" = 0 ] ||
		fail "State column misaligned: $out"
}

# list -p names a listener's owner as ss -tlnp does (listeners were left
# out of the owners' dump: "-").
test_list_p_names_a_listeners_owner() {
	local want got
	want=$(nsrun "$NS_S" ss -Htlnp "sport = :$SRV_PORT" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -n | head -1)
	[ -n "$want" ] || { fail "ss -tlnp shows no owner of :$SRV_PORT"; return; }
	got=$(list -p state listening sport = :$SRV_PORT | awk 'NR == 2 {print $NF}')
	[ "${got%%/*}" = "$want" ] || { fail "list -p: listener's owner '$got', ss -tlnp pid $want"; return; }
	got=$(list -p --json state listening sport = :$SRV_PORT | jq '.connections[0].pid')
	[ "$got" = "$want" ] || fail "list -p --json: pid $got, ss -tlnp pid $want"
}

test_list_takes_ss_filter_expressions() {
	local n
	n=$(list state established "( dport = :443 or sport = :$SRV_PORT )" dst "$NET" | grep -c ESTABLISHED)
	[ "$n" = $N ] || { fail "state established (sport $SRV_PORT) dst $NET: $n rows, want $N"; return; }
	# The daemon's own HTTP listener is seeded too: ask for ours.
	n=$(list state listening sport = :$SRV_PORT | tail -n +2 | wc -l)
	[ "$n" = 1 ] || { fail "state listening sport = :$SRV_PORT: $n rows"; return; }
	n=$(list state listening | tail -n +2 | grep -vc LISTEN)
	[ "$n" = 0 ] || { fail "state listening shows other states"; return; }
	n=$(list state connected | tail -n +2 | grep -c LISTEN)
	[ "$n" = 0 ] || { fail "connected shows LISTEN"; return; }
	# -4 -6 together is either family, as ss -4 -6 (not the last one given).
	n=$(list -6 -4 state established | grep -c ESTABLISHED)
	[ "$n" = $N ] || { fail "list -6 -4: $n rows, want $N"; return; }
	[ "$(list -4 -6 | wc -l)" = "$(list | wc -l)" ] || { fail "list -4 -6 differs from list"; return; }
	n=$(list dport = :1 | tail -n +2 | wc -l)
	[ "$n" = 0 ] || { fail "dport = :1 matched $n"; return; }
	n=$(list --json state established and not dst "$IP4_A" | jq '.connections | length')
	[ "$n" = 0 ] || { fail "not dst $IP4_A matched $n"; return; }
	n=$(list --json state established and dst "$IP4_A" | jq '.connections | length')
	[ "$n" = $N ] || { fail "dst $IP4_A matched $n"; return; }
	n=$(list --json state established and not dst "$IP4_A" | jq '.connections | length')
	[ "$n" = 0 ] || { fail "not dst $IP4_A matched $n"; return; }
	n=$(list --json 'dport > 1023' sport = :$SRV_PORT | jq '.connections | length')
	[ "$n" = $N ] || fail "dport > 1023 sport = :$SRV_PORT: $n"
}

test_bad_filter_points_at_the_token() {
	local rc
	list state established "( dport = :443 or sprt = :80 )" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	[ $rc = 2 ] || { fail "exit $rc, want 2"; return; }
	grep -q "^tcpscope: list: bad filter at column 37: unknown keyword 'sprt'" "$WORK/err" ||
		{ fail "no column/message: $(cat "$WORK/err")"; return; }
	[ "$(sed -n 2p "$WORK/err")" = "  state established ( dport = :443 or sprt = :80 )" ] ||
		{ fail "no text line: $(cat "$WORK/err")"; return; }
	# The caret sits under the 's' of 'sprt'.
	[ "$(sed -n 3p "$WORK/err")" = "$(printf '  %36s^' '')" ] || fail "caret misplaced: $(cat "$WORK/err")"
	[ ! -s "$WORK/out" ] || fail "stdout not empty"
}

test_port_option_is_spelled_alike() {
	local n
	n=$(list --port $SRV_PORT | grep -c ESTABLISHED)
	[ "$n" = $N ] || { fail "list --port: $n"; return; }
	# -p is what it is in ss and netstat: the owning processes (list). The
	# port filter and stat's per-port view are long options only.
	"$TCPSCOPE" stat --help | grep -q -- ' --by-port' || { fail "stat --help lacks --by-port"; return; }
	! "$TCPSCOPE" stat --help | grep -q -- '-p,' || { fail "stat --help still documents -p"; return; }
	"$TCPSCOPE" list --help | grep -q -- '-p, --processes' || { fail "list --help lacks -p, --processes"; return; }
	n=$(list -p --port $SRV_PORT | grep -c ESTABLISHED)
	[ "$n" = $N ] || fail "list -p --port: $n"
}

test_http_connections_takes_list_filters_and_limit() {
	local j c
	j=$(ncurl "$URL/v1/connections?state=LISTEN") || { fail "curl"; return; }
	jq -e --argjson p $SRV_PORT 'any(.connections[]; .local_port == $p) and all(.connections[]; .state == "LISTEN")' <<<"$j" >/dev/null ||
		{ fail "?state=LISTEN: $(jq -c '[.connections[].state]' <<<"$j")"; return; }
	j=$(ncurl "$URL/v1/connections?state=ESTABLISHED&limit=2")
	[ "$(jq '.connections | length' <<<"$j")" = 2 ] || { fail "limit=2: $(jq '.connections | length' <<<"$j")"; return; }
	j=$(ncurl "$URL/v1/connections?port=$SRV_PORT&family=6")
	[ "$(jq '.connections | length' <<<"$j")" = 0 ] || { fail "family=6 shows IPv4"; return; }
	j=$(ncurl -G "$URL/v1/connections" --data-urlencode "filter=state established ( sport = :$SRV_PORT ) dst $NET")
	[ "$(jq '.connections | length' <<<"$j")" = $N ] || { fail "filter=: $j"; return; }
	# Same answer as list with the same filter, in the daemon's namespace.
	c=$(nsrun "$NS_S" "$TCPSCOPE" list --json --pin-dir "$PIN_DIR" state established "( sport = :$SRV_PORT )" dst "$NET")
	[ "$(jq -S "$ROWS" <<<"$j")" = "$(jq -S "$ROWS" <<<"$c")" ] ||
		{ fail "/v1/connections?filter= differs from list"; return; }
	c=$(ncurl -o "$WORK/bad" -w '%{http_code}' "$URL/v1/connections?state=BOGUS")
	[ "$c" = 400 ] || { fail "?state=BOGUS gave $c"; return; }
	# A bad sort= names every key list --sort takes, as list does.
	c=$(ncurl -o "$WORK/bad" -w '%{http_code}' "$URL/v1/connections?sort=slowest")
	[ "$c" = 400 ] && grep -q 'bytes, rtt or retrans' "$WORK/bad" || { fail "?sort=slowest gave $c: $(cat "$WORK/bad")"; return; }
	c=$(ncurl -o "$WORK/sorted" -w '%{http_code}' "$URL/v1/connections?sort=retrans&limit=1")
	[ "$c" = 200 ] || { fail "?sort=retrans gave $c"; return; }
	c=$(ncurl -o "$WORK/bad" -w '%{http_code}' -G "$URL/v1/connections" --data-urlencode "filter=dport = :99999")
	[ "$c" = 400 ] && grep -q 'column 9' "$WORK/bad" || fail "bad filter gave $c: $(cat "$WORK/bad")"
}

test_http_gzip_when_accepted() {
	local plain
	ncurl -H 'Accept-Encoding: gzip, deflate' -D "$WORK/h" -o "$WORK/body.gz" "$URL/v1/connections" ||
		{ fail "curl"; return; }
	grep -qi '^content-encoding: gzip' "$WORK/h" || { fail "no Content-Encoding: gzip: $(cat "$WORK/h")"; return; }
	gzip -t "$WORK/body.gz" 2>/dev/null || { fail "body is not gzip"; return; }
	plain=$(ncurl "$URL/v1/connections")
	[ "$(gunzip -c "$WORK/body.gz" | jq -S "$ROWS")" = "$(jq -S "$ROWS" <<<"$plain")" ] ||
		{ diff <(gunzip -c "$WORK/body.gz" | jq -S "$ROWS") <(jq -S "$ROWS" <<<"$plain") | head -10 >&2
		  fail "gunzipped body differs"; return; }
	ncurl -D "$WORK/h2" -o /dev/null "$URL/metrics"
	! grep -qi '^content-encoding' "$WORK/h2" || { fail "gzip without Accept-Encoding"; return; }
	ncurl -H 'Accept-Encoding: gzip;q=0' -D "$WORK/h3" -o /dev/null "$URL/metrics"
	! grep -qi '^content-encoding' "$WORK/h3" || fail "gzip despite q=0"
	ncurl --compressed "$URL/metrics" | grep -q '^tcpscope_connections{state="ESTABLISHED"} ' || fail "curl --compressed /metrics"
}

test_http_index_lists_endpoints() {
	local c e
	c=$(ncurl -o "$WORK/index" -w '%{http_code}' "$URL/")
	[ "$c" = 200 ] || { fail "/ gave $c"; return; }
	for e in /metrics /v1/stat /v1/connections limit filter; do
		grep -q "$e" "$WORK/index" || { fail "index lacks $e"; return; }
	done
}

test_events_take_filter_expressions() {
	local p=8091
	"$TCPSCOPE" events --json --pin-dir "$PIN_DIR" state established sport = :$p >"$WORK/ej.out" 2>"$WORK/ej.err" &
	track_pid $!
	"$TCPSCOPE" events --pin-dir "$PIN_DIR" "( sport = :$p )" >"$WORK/et.out" 2>"$WORK/et.err" &
	track_pid $!
	wait_for 10 grep -q 'reading transitions' "$WORK/ej.err" || { fail "reader 1: $(cat "$WORK/ej.err")"; return; }
	wait_for 10 grep -q 'reading transitions' "$WORK/et.err" || { fail "reader 2: $(cat "$WORK/et.err")"; return; }
	serve 2 3 $p
	sleep 0.3
	connect_hold 2 0.5 $p
	# Two server endpoints enter ESTABLISHED on port $p.
	wait_for 10 sh -c "[ \$(wc -l <'$WORK/ej.out') -ge 2 ]" || { fail "filtered JSON reader got $(wc -l <"$WORK/ej.out")"; return; }
	wait_for 10 grep -q "FIN_WAIT1\|CLOSE_WAIT" "$WORK/et.out" || { fail "text reader got no close: $(cat "$WORK/et.out")"; return; }
	jq -e -s --argjson p $p 'length >= 2 and all(.[]; .to == "ESTABLISHED" and .local_port == $p)' "$WORK/ej.out" >/dev/null ||
		{ fail "JSON reader let through: $(head -3 "$WORK/ej.out")"; return; }
	# Text lines have run's format and only port $p on the local side.
	grep -Evq "^[0-9T:.-]+Z [0-9.]+:$p > [0-9.]+:[0-9]+ (local|remote) +[A-Z_0-9]+ -> [A-Z_0-9]+ \\((packet|timeout|seed)( [A-Z]+)?\\)\$" "$WORK/et.out" &&
		{ fail "text reader line: $(grep -Ev ":$p > " "$WORK/et.out" | head -2)"; return; }
	"$TCPSCOPE" events --pin-dir "$PIN_DIR" state bogus >/dev/null 2>"$WORK/err"
	[ $? = 2 ] && grep -q 'column 7' "$WORK/err" || fail "events bad filter: $(cat "$WORK/err")"
}

test_replay_prints_list_table_and_stat_summary() {
	local p=8093 out pid states
	"${IN_C[@]}" tcpdump -i "$IF_A" -U -w "$WORK/cap.pcap" "tcp port $p" 2>"$WORK/tcpdump.err" &
	pid=$!
	track_pid $pid
	wait_for 10 grep -q 'listening on' "$WORK/tcpdump.err" || { fail "tcpdump: $(cat "$WORK/tcpdump.err")"; return; }
	serve 2 1 $p
	sleep 0.3
	connect_hold 2 0.3 $p
	wait "$CONN_PID"
	sleep 1.5
	kill "$pid"; wait "$pid" 2>/dev/null
	out=$("$TCPSCOPE" replay "$WORK/cap.pcap") || { fail "replay exited $?"; return; }
	# The table: list's header plus ConnState and History, labelled.
	grep -q '^Proto  *Orig Address  *Resp Address  *OrigState  *RespState  *PktOrig  *PktResp  *ByteOrig  *ByteResp  *Age  *ConnState  *History$' <<<"$out" ||
		{ fail "no labelled table header: $out"; return; }
	awk '/^tcp /' <<<"$out" | awk 'NF != 12 {exit 1}' || { fail "rows without 12 fields"; return; }
	# The summary: stat's eleven lines, in stat's order.
	states=$("$TCPSCOPE" stat --pin-dir "$PIN_DIR" | awk '/^[A-Z_0-9]+ [0-9]+$/{print $1}')
	[ "$(grep -E '^[A-Z_0-9]+ [0-9]+$' <<<"$out" | awk '{print $1}')" = "$states" ] ||
		fail "replay's summary is not stat's: $(grep -E '^[A-Z_]+ ' <<<"$out" | tr '\n' '|')"
}

run_test test_list_ipv4_table_fits_100_columns_with_labelled_columns
run_test test_list_info_is_sized_to_its_content
run_test test_list_p_names_a_listeners_owner
run_test test_list_takes_ss_filter_expressions
run_test test_bad_filter_points_at_the_token
run_test test_port_option_is_spelled_alike
run_test test_http_connections_takes_list_filters_and_limit
run_test test_http_gzip_when_accepted
run_test test_http_index_lists_endpoints
run_test test_events_take_filter_expressions
run_test test_replay_prints_list_table_and_stat_summary
suite_done
