#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make bench` in its short mode (BENCH_QUICK=1) into a temporary directory:
# it must finish, leave the committed BENCHMARKS.md alone, and write a
# well-formed table and JSON. No figure is asserted: performance is never
# a pass/fail condition here.
. "$(dirname "$0")/../lib/lib.sh"
need_root

OUT=$(mktemp -d /tmp/tcpscope-bench-test.XXXXXX)
on_exit rm -rf "$OUT"
BENCH_RC=1

run_quick_bench() {
	local before
	PINS_BEFORE=$(ls -d /sys/fs/bpf/tcpscope-test-*-{tp,churn,ring,scale}-* 2>/dev/null)
	NS_BEFORE=$(ip netns list | awk '/^(bcli|bsrv|bsck)/ { print $1 }')
	before=$(cksum "$TOP/BENCHMARKS.md" 2>/dev/null)
	BENCH_QUICK=1 timeout 600 "$TOP/bench/run.sh" -o "$OUT" >"$OUT/log" 2>&1
	BENCH_RC=$?
	[ $BENCH_RC -eq 0 ] || { tail -20 "$OUT/log" >&2; fail "bench/run.sh exited $BENCH_RC"; return; }
	[ "$(cksum "$TOP/BENCHMARKS.md" 2>/dev/null)" = "$before" ] ||
		fail "the committed BENCHMARKS.md was overwritten"
}

test_quick_bench_runs_into_output_dir() {
	[ $BENCH_RC -eq 0 ] || return 1
	[ -s "$OUT/BENCHMARKS.md" ] || fail "no BENCHMARKS.md in $OUT"
	[ -s "$OUT/results.json" ] || fail "no results.json in $OUT"
}

test_results_json_parses_with_machine_and_targets() {
	[ $BENCH_RC -eq 0 ] || return 1
	jq -e '.machine.cpu and .machine.cores > 0 and .machine.kernel and .machine.date' \
		"$OUT/results.json" >/dev/null || fail "machine block missing"
	jq -e '(.targets | length) >= 10 and all(.targets[]; has("met"))' "$OUT/results.json" \
		>/dev/null || fail "targets missing"
	jq -e '.raw.pktcost.cases | length >= 10' "$OUT/results.json" >/dev/null ||
		fail "per-packet cases missing"
}

# Every table row has as many cells as its header, and the figures are
# "median (min–max)" numbers.
test_tables_are_well_formed() {
	[ $BENCH_RC -eq 0 ] || return 1
	local md=$OUT/BENCHMARKS.md bad
	bad=$(awk -F'|' '
		/^\|/ { line = $0; gsub(/\\\|/, "", line); n = gsub(/\|/, "|", line) }
		/^\|/ && !inside { cols = n; inside = 1; next }
		/^\|/ && n != cols { print NR ": " $0 }
		!/^\|/ { inside = 0 }' "$md")
	[ -z "$bad" ] || fail "rows with a wrong cell count: $bad"
	grep -q '^- \*\*Machine\*\*: .*cores, kernel ' "$md" || fail "machine line missing"
	grep -q '^- \*\*Date\*\*: ' "$md" || fail "date line missing"
	for h in '## 1. Per-packet cost' '## 2. Throughput' '## 3. Churn' '## 4. Scale' '## Targets'; do
		grep -qF "$h" "$md" || fail "section '$h' missing"
	done
	grep -Eq '^\| established_ack \|.*\| [0-9.,]+ \([0-9.,]+–[0-9.,]+\) \|.*\| [0-9.]+× \|$' "$md" ||
		fail "hot path row without a figure or a ratio"
	grep -Eq '^\| nothing attached \| 1 \| [0-9.]+ \(' "$md" || fail "throughput baseline row missing"
	grep -Eq '^\| tcpscope \(auto.*\| [0-9.]+ \|' "$md" || fail "tcpscope auto throughput ratio missing"
	grep -Eq '^\| 100,000 \| [0-9,]+ \(' "$md" || fail "ring-buffer row at 100k/s missing"
	grep -Eq '^\| 10,000 \| [0-9.]+ \(.*\| [0-9]+ \|' "$md" || fail "scale row missing"
	grep -Eq '\*\*(met|missed)\*\*' "$md" || fail "no target marked met or missed"
}

test_nothing_left_behind() {
	[ $BENCH_RC -eq 0 ] || return 1
	local ns
	# Only names that were not there before the run count (other runs
	# may be going on).
	for ns in $(ip netns list | awk '/^(bcli|bsrv|bsck)/ { print $1 }'); do
		grep -qx "$ns" <<<"$NS_BEFORE" || fail "namespace $ns left behind"
	done
	[ -z "$(ls -d /sys/fs/bpf/tcpscope-test-*-{tp,churn,ring,scale}-* 2>/dev/null | grep -vxF "$PINS_BEFORE")" ] ||
		fail "pin directories left behind"
}

run_quick_bench
run_test test_quick_bench_runs_into_output_dir
run_test test_results_json_parses_with_machine_and_targets
run_test test_tables_are_well_formed
run_test test_nothing_left_behind
suite_done
