#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Replay throughput: N packets (default 2M) of short connections generated
# by mkpcaps.py, replayed three times; prints the median packets/s of the
# replay loop (BPF_PROG_TEST_RUN per packet + Zeek classification, from
# `tcpscope -v replay`) and of the whole command (with JSON output).
# Not a test (performance is never asserted); for bench/run.sh.
# Usage: tests/replay/bench_replay.sh [N]
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-2000000}
f=$(mktemp /tmp/tcps-bench-XXXXXX.pcap)
trap 'rm -f "$f"' EXIT
/usr/bin/python3 "$TOP/tests/replay/mkpcaps.py" "$f" bench "$N"
loop=() whole=()
for i in 1 2 3; do
	s=$(date +%s.%N)
	l=$("$TOP/build/tcpscope" -v replay --json "$f" 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) packets\/s/\1/p')
	e=$(date +%s.%N)
	loop+=("$l")
	whole+=("$(echo "$N / ($e - $s)" | bc)")
done
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
echo "replay_loop_pps $(med "${loop[@]}")"
echo "replay_total_pps $(med "${whole[@]}")"
