#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A short libFuzzer round over the parser + state machine (tests/fuzz/
# fuzz_track.c) for CI: the seed corpus replays clean, then FUZZ_CI_SECONDS
# (default 20) of fuzzing find no invariant violation, ASan or UBSan report.
# `make fuzz` is the long version.
. "$(dirname "$0")/../lib/lib.sh"

BUILD=${BUILD:-build}
FUZZ_CI_SECONDS=${FUZZ_CI_SECONDS:-20}
BIN=$TOP/$BUILD/fuzz/fuzz_track
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"

test_fuzz_harness_builds() {
	make -s -C "$TOP" -f tests/fuzz/fuzz.mk BUILD="$BUILD" build >"$WORK/build.log" 2>&1 ||
		fail "build failed: $(tail -3 "$WORK/build.log" | tr '\n' ' ')"
}

test_seed_corpus_replays_clean() {
	[ -x "$BIN" ] || { fail "no harness"; return; }
	local n
	n=$(find "$TOP/tests/fuzz/corpus" -type f | wc -l)
	[ "$n" -ge 5 ] || { fail "only $n seeds in tests/fuzz/corpus"; return; }
	(cd "$WORK" && FUZZ_ARCS=1 "$BIN" -runs=0 "$TOP/tests/fuzz/corpus") >"$WORK/replay.log" 2>&1 ||
		{ fail "replay failed: $(grep -m3 -E 'invariant|ERROR|runtime error' "$WORK/replay.log" | tr '\n' ' ')"; return; }
	log "seeds: $(grep 'arcs covered' "$WORK/replay.log")"
}

test_fuzzing_finds_no_violation_in_short_round() {
	[ -x "$BIN" ] || { fail "no harness"; return; }
	mkdir -p "$WORK/corpus"
	(cd "$WORK" && timeout $((FUZZ_CI_SECONDS + 60)) "$BIN" -max_total_time="$FUZZ_CI_SECONDS" \
		-timeout=10 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
		corpus "$TOP/tests/fuzz/corpus") >"$WORK/fuzz.log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ] || ls "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* >/dev/null 2>&1; then
		cp "$WORK"/crash-* "$WORK"/leak-* "$WORK"/timeout-* "$TOP/$BUILD/fuzz/" 2>/dev/null
		fail "exit $rc: $(grep -m3 -E 'invariant|ERROR|runtime error|SUMMARY' "$WORK/fuzz.log" | tr '\n' ' ') (reproducer in $BUILD/fuzz/)"
		return
	fi
	log "$(grep -E 'average_exec_per_sec|number_of_executed_units' "$WORK/fuzz.log" | tr -s ' ' | tr '\n' ' ')"
	log "$(grep -E '^#[0-9]+[[:space:]]+DONE' "$WORK/fuzz.log")"
}

run_test test_fuzz_harness_builds
run_test test_seed_corpus_replays_clean
run_test test_fuzzing_finds_no_violation_in_short_round
suite_done
