#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs every suite: native unit tests (and the same under ASan/UBSan, built
# by make test), BPF_PROG_TEST_RUN tests, shell suites
# (end-to-end in network namespaces, CLI, exports...). Each prints one line
# per test (ok / not ok / skip); the last line is "N passed, N failed".
# A skip counts as a failure when CI=true. Usage: tests/run.sh [PATTERN]
set -u
cd "$(dirname "$0")/.."
pattern=${1:-}
BUILD=${BUILD:-build}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-900}

# BPF and namespace suites need root and a BPF filesystem.
if [ "$(id -u)" -eq 0 ] && ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf || echo "# cannot mount bpffs on /sys/fs/bpf"
fi
ulimit -n 65536 2>/dev/null || true

suites=()
for f in "$BUILD"/tests/unit/test_* "$BUILD"/tests/unit-san/test_* "$BUILD"/tests/bpf/test_* tests/*/test_*.sh; do
	[ -x "$f" ] || continue
	[ -z "$pattern" ] || [[ $f == *$pattern* ]] || continue
	suites+=("$f")
done

passed=0 failed=0 skipped=0 crashed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for s in "${suites[@]}"; do
	printf '== %s\n' "$s"
	t0=$SECONDS
	timeout --kill-after=10 "$SUITE_TIMEOUT" "$s" >"$log" 2>&1
	rc=$?
	cat "$log"
	printf '# %s: %ds\n' "$s" $((SECONDS - t0))
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	k=$(grep -c '^skip ' "$log")
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + k))
	# A suite that dies (or times out) without reporting a failure is one.
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ] && { [ $k -eq 0 ] || [ "${CI:-}" != true ]; }; then
		echo "not ok $s: suite exited $rc"
		failed=$((failed + 1))
	fi
done
if [ "${CI:-}" = true ] && [ $skipped -gt 0 ]; then
	echo "# CI=true: $skipped skipped test(s) count as failures"
	failed=$((failed + skipped))
	skipped=0
fi
if [ $((passed + failed)) -eq 0 ]; then
	echo "no tests ran"
	echo "0 passed, 1 failed"
	exit 1
fi
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ]
