#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Errors belong on stderr in every mode (issue 12, point 9): with --json an
# error is still one {"error": "..."} object, but on stderr, so that stdout
# carries only data ('stat --json 2>/dev/null' prints nothing on failure,
# and 'stat --json | jq' never parses an error as a result).
. "$(dirname "$0")/../lib/lib.sh"
need_root

WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
NONE=/sys/fs/bpf/tcpscope-none-$TAG

# json_error_on_stderr RC CMD...: CMD exits RC, prints nothing on stdout,
# and exactly one line on stderr: a JSON object with a non-empty "error".
json_error_on_stderr() {
	local want=$1 rc; shift
	"$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	rc=$?
	[ "$rc" -eq "$want" ] || { fail "'$*' exited $rc, want $want: $(cat "$WORK/err")"; return 1; }
	[ ! -s "$WORK/out" ] || { fail "'$*' wrote to stdout: $(head -c 200 "$WORK/out")"; return 1; }
	[ "$(wc -l <"$WORK/err")" -eq 1 ] || { fail "'$*': stderr is not one line: $(cat "$WORK/err")"; return 1; }
	jq -e '.error | type == "string" and length > 0' "$WORK/err" >/dev/null ||
		{ fail "'$*': stderr is not a JSON error: $(cat "$WORK/err")"; return 1; }
}

test_stat_json_error_goes_to_stderr() {
	json_error_on_stderr 4 "$TCPSCOPE" stat --json --pin-dir "$NONE" || return
	json_error_on_stderr 4 "$TCPSCOPE" stat --json --by-remote --pin-dir "$NONE"
}

test_list_json_error_goes_to_stderr() {
	json_error_on_stderr 4 "$TCPSCOPE" list --json --pin-dir "$NONE"
}

test_usage_error_with_json_goes_to_stderr() {
	json_error_on_stderr 2 "$TCPSCOPE" stat --json --no-such-option || return
	json_error_on_stderr 2 "$TCPSCOPE" list --json --state NOSUCHSTATE || return
	# Wherever --json stands: an option before it is reported as JSON too.
	json_error_on_stderr 2 "$TCPSCOPE" list --state NOSUCHSTATE --json || return
	json_error_on_stderr 2 "$TCPSCOPE" stat --no-such-option --json || return
	json_error_on_stderr 2 "$TCPSCOPE" replay x.pcap --time-wait 0 -j
}

test_replay_json_error_goes_to_stderr() {
	local rc
	"$TCPSCOPE" replay "$WORK/missing.pcap" --json >"$WORK/out" 2>"$WORK/err" </dev/null
	rc=$?
	[ $rc -ne 0 ] || { fail "replay of a missing file exited 0"; return; }
	[ ! -s "$WORK/out" ] || { fail "replay --json wrote its error to stdout: $(cat "$WORK/out")"; return; }
	grep -q . "$WORK/err" || fail "replay --json: no error on stderr"
}

test_text_mode_errors_stay_on_stderr() {
	"$TCPSCOPE" stat --pin-dir "$NONE" >"$WORK/out" 2>"$WORK/err"
	[ $? -eq 4 ] && [ ! -s "$WORK/out" ] && grep -q '^tcpscope: ' "$WORK/err" ||
		fail "stat (text): out=[$(cat "$WORK/out")] err=[$(cat "$WORK/err")]"
}

run_test test_stat_json_error_goes_to_stderr
run_test test_list_json_error_goes_to_stderr
run_test test_usage_error_with_json_goes_to_stderr
run_test test_replay_json_error_goes_to_stderr
run_test test_text_mode_errors_stay_on_stderr
suite_done
