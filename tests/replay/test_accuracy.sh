#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tests/accuracy.sh as a suite: every capture of the shared Zeek corpus
# (../shared/corpus beside the repository, as the CI clone has it; CORPUS
# overrides) replayed, each connection's conn_state and history equal to
# Zeek's conn.log or a documented exception. Without the corpus the test is
# skipped, which CI=true counts as a failure.
. "$(dirname "$0")/../lib/lib.sh"
need_root

CORPUS=${CORPUS:-$TOP/../shared/corpus}

test_zeek_corpus_agrees_with_zeek() {
	local out rc
	if [ ! -f "$CORPUS/MANIFEST.tsv" ]; then
		if [ "${CI:-}" = true ]; then
			fail "no Zeek corpus at $CORPUS (MANIFEST.tsv missing)"
			return 1
		fi
		skip "no Zeek corpus at $CORPUS"
		return 0
	fi
	out=$(CORPUS=$CORPUS TCPSCOPE=$TCPSCOPE "$TOP/tests/accuracy.sh" 2>&1)
	rc=$?
	printf '%s\n' "$out" | grep -E '^(conn_state|history|both):' | sed 's/^/# /' >&2
	[ $rc -eq 0 ] || fail "accuracy.sh exited $rc:
$(printf '%s\n' "$out" | grep -E '^  (miss|extra)|FAILED|replay failed')"
}

run_test test_zeek_corpus_agrees_with_zeek
suite_done
