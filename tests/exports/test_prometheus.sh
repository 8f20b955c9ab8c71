#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# /metrics is valid Prometheus text (promtool check metrics), has the
# documented families, and a real Prometheus server (Debian's package),
# started in the test namespace on loopback, scrapes it: the ESTABLISHED
# gauge it returns is the number of connections the test holds open.
# deploy/prometheus.yml passes promtool check config. The health histograms
# (tcpscope_handshake_rtt_seconds) are scraped too.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/helpers.sh"
need_root

N=5
PROM_PORT=9090
setup_pair prom
start_daemon --listen "$HTTP_PORT" || { echo "not ok daemon_starts"; exit 1; }
serve $N 90
sleep 0.3
connect_hold $N 90
wait_for 15 established_is $N

test_promtool_check_metrics_passes() {
	local out
	command -v promtool >/dev/null || { skip "promtool not installed (apt-get install prometheus)"; return; }
	ncurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$WORK/metrics.txt" || fail "curl /metrics" || return
	out=$(promtool check metrics <"$WORK/metrics.txt" 2>&1) || fail "promtool: $out"
}

test_metrics_have_documented_families() {
	local m=$WORK/metrics.txt st f
	ncurl "http://127.0.0.1:$HTTP_PORT/metrics" >"$m" || fail "curl /metrics" || return
	for st in ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK LISTEN CLOSING; do
		grep -q "^tcpscope_connections{state=\"$st\"} " "$m" || fail "no gauge for $st" || return
	done
	grep -q "^tcpscope_connections{state=\"ESTABLISHED\"} $N\$" "$m" || fail "ESTABLISHED != $N" || return
	for f in tcpscope_packets_total tcpscope_parse_errors_total tcpscope_ringbuf_dropped_total \
		tcpscope_table_full_total tcpscope_out_of_window_total tcpscope_build_info; do
		grep -q "^$f[ {]" "$m" || fail "no $f" || return
	done
	# Exact from the per-CPU map: N server endpoints went SYN_RECV -> ESTABLISHED.
	grep -q "^tcpscope_transitions_total{from=\"SYN_RECV\",to=\"ESTABLISHED\"} $N\$" "$m" ||
		fail "transitions SYN_RECV->ESTABLISHED != $N" || return
	grep -q 'version="' "$m" || fail "build_info has no version" || return
	# Cardinality: no label carries a peer's address.
	! grep -q "$IP4_A" "$m" || fail "a metric carries the remote address"
	ncurl -D - -o /dev/null "http://127.0.0.1:$HTTP_PORT/metrics" | grep -qi '^content-type: text/plain; version=0.0.4' ||
		fail "content type is not text/plain; version=0.0.4"
}

test_promtool_check_config_passes_on_deploy() {
	local out
	out=$(cd "$TOP/deploy" && promtool check config prometheus.yml 2>&1) || fail "$out"
}

prom_value() {
	local q='tcpscope_connections{state="ESTABLISHED"}'
	nsrun "$NS_S" curl -sS --max-time 3 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" \
		--data-urlencode "query=$q" | jq -r '.data.result[0].value[1] // empty'
}

prom_says_n() { [ "$(prom_value)" = "$N" ]; }

# The health histograms, scraped: every one of the N handshakes observed.
prom_histogram_n() {
	local v
	v=$(nsrun "$NS_S" curl -sS --max-time 3 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" \
		--data-urlencode 'query=sum(tcpscope_handshake_rtt_seconds_count)' | jq -r '.data.result[0].value[1] // empty')
	[ -n "$v" ] && [ "$v" -ge "$N" ]
}

test_real_prometheus_scrapes_established_gauge() {
	local dir pid v
	command -v prometheus >/dev/null || { skip "prometheus not installed"; return; }
	dir=$(mktemp -d /tmp/tcpscope-prom.XXXXXX)
	on_exit rm -rf "$dir"
	cat >"$dir/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tcpscope
    static_configs:
      - targets: ['127.0.0.1:$HTTP_PORT']
EOC
	"${IN_S[@]}" prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$dir/prom.log" 2>&1 &
	pid=$!
	track_pid $pid
	if ! wait_for 45 prom_says_n; then
		v=$(prom_value)
		tail -5 "$dir/prom.log" >&2
		fail "Prometheus says ESTABLISHED=${v:-nothing}, want $N"
	fi
	wait_for 10 prom_histogram_n || fail "Prometheus has no tcpscope_handshake_rtt_seconds_count >= $N"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

run_test test_promtool_check_metrics_passes
run_test test_metrics_have_documented_families
run_test test_promtool_check_config_passes_on_deploy
run_test test_real_prometheus_scrapes_established_gauge
suite_done
