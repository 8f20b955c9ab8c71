#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Replay throughput: N packets (default 2M) of short connections generated
# by mkpcaps.py, replayed three times through each data path (--bpf:
# BPF_PROG_TEST_RUN per packet; --native: the same headers compiled in);
# prints the median packets/s of the replay loop (parse + data path + Zeek
# classification, from `tcpscope -v replay`) and of the whole command
# (with JSON output). Not a test (performance is never asserted); for
# bench/run.sh. The bpf figures keep their old names.
# Usage: tests/replay/bench_replay.sh [N]   (PATHS="bpf native" by default)
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-2000000}
TCPSCOPE=${TCPSCOPE:-$TOP/build/tcpscope}
f=$(mktemp /tmp/tcps-bench-XXXXXX.pcap)
trap 'rm -f "$f"' EXIT
/usr/bin/python3 "$TOP/tests/replay/mkpcaps.py" "$f" bench "$N"
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
for p in ${PATHS:-bpf native}; do
	loop=() whole=()
	for i in 1 2 3; do
		s=$(date +%s.%N)
		l=$("$TCPSCOPE" -v replay --$p --json "$f" 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) packets\/s/\1/p')
		e=$(date +%s.%N)
		loop+=("$l")
		whole+=("$(echo "$N / ($e - $s)" | bc)")
	done
	name=replay
	[ "$p" = bpf ] || name=replay_$p
	echo "${name}_loop_pps $(med "${loop[@]}")"
	echo "${name}_total_pps $(med "${whole[@]}")"
done
