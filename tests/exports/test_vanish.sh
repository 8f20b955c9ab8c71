#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Readers notice when the instance vanishes and when their output cannot
# be written (issue 12, point 4): 'top' (plain and on a terminal) and
# 'events' end with one line on stderr and exit 4 when the daemon is
# killed or the pins are removed; HTTP says the pins are gone; 'top' and
# 'events' exit 1 on a full or closed stdout. Nothing runs forever: every
# wait is bounded.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/helpers.sh"
need_root

setup_pair vanish
on_exit "rm -f /run/tcpscope/tcpscope-test-$TAG-*"
TMUX_SOCK=tcpscope-vanish-$TAG
tm() { tmux -L "$TMUX_SOCK" "$@"; }

# fresh NAME [ARGS]: a new daemon on its own pin dir (the tests kill them).
fresh() {
	local name=$1; shift
	# What a test that failed half-way left: its daemon, programs, pins.
	if [ -n "${DAEMON_PID:-}" ]; then
		kill "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null
		nsrun "$NS_S" "$TCPSCOPE" detach -i "$IF_B" --pin-dir "$PIN_DIR" >/dev/null 2>&1
	fi
	mk_pindir "$name"
	start_daemon "$@"
}

# exits_within SECS PID: PID ends within SECS; sets RC to its exit code.
exits_within() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		kill -0 "$2" 2>/dev/null || { wait "$2"; RC=$?; return 0; }
		sleep 0.1
	done
	return 1
}

# one_line FILE PATTERN: FILE is one line matching PATTERN.
one_line() { [ "$(wc -l <"$1")" -eq 1 ] && grep -q "$2" "$1"; }

test_top_plain_exits_when_the_daemon_is_killed() {
	fresh top-kill || { fail "daemon did not start"; return; }
	"$TCPSCOPE" top -d 0.2 --pin-dir "$PIN_DIR" >"$WORK/top.out" 2>"$WORK/top.err" </dev/null &
	local top=$!
	track_pid $top
	wait_for 5 grep -q '^--- ' "$WORK/top.out" || { fail "top printed nothing"; return; }
	kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
	exits_within 5 $top || { fail "top -d 0.2 > file still runs 5 s after the daemon was killed"; return; }
	[ "$RC" -eq 4 ] || { fail "top exited $RC, want 4: $(cat "$WORK/top.err")"; return; }
	one_line "$WORK/top.err" "the daemon of $PIN_DIR (pid $DAEMON_PID) is gone" ||
		fail "top's message: $(cat "$WORK/top.err")"
	nsrun "$NS_S" "$TCPSCOPE" detach -i "$IF_B" --pin-dir "$PIN_DIR" >/dev/null 2>&1
}

test_top_plain_exits_when_the_pins_are_removed() {
	fresh top-pins || { fail "daemon did not start"; return; }
	"$TCPSCOPE" top -d 0.2 --pin-dir "$PIN_DIR" >"$WORK/top2.out" 2>"$WORK/top2.err" </dev/null &
	local top=$!
	track_pid $top
	wait_for 5 grep -q '^--- ' "$WORK/top2.out" || { fail "top printed nothing"; return; }
	rm -rf "$PIN_DIR"
	exits_within 5 $top || { fail "top still runs 5 s after the pins were removed"; return; }
	[ "$RC" -eq 4 ] && one_line "$WORK/top2.err" "the pins in $PIN_DIR are gone" ||
		fail "top exited $RC: $(cat "$WORK/top2.err")"
	kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
	true
}

test_top_on_a_terminal_exits_when_the_daemon_is_killed() {
	command -v tmux >/dev/null || { skip "tmux not installed"; return; }
	fresh top-tty || { fail "daemon did not start"; return; }
	on_exit tmux -L "$TMUX_SOCK" kill-server
	tm new-session -d -s top -x 80 -y 24 "env -i TERM=screen PATH=$PATH bash --norc --noprofile" ||
		{ fail "tmux"; return; }
	tm send-keys -t top "PS1='$ '; $TCPSCOPE top -d 0.2 --pin-dir $PIN_DIR 2>$WORK/tty.err; echo top-rc=\$?" Enter
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q '^ESTABLISHED'" ||
		{ fail "top did not start on the terminal"; return; }
	kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q 'top-rc=4'" ||
		{ fail "the terminal view did not end with exit 4: $(tm capture-pane -p -t top | tail -3)"; return; }
	one_line "$WORK/tty.err" "is gone" || fail "message: $(cat "$WORK/tty.err")"
	tm kill-server
	nsrun "$NS_S" "$TCPSCOPE" detach -i "$IF_B" --pin-dir "$PIN_DIR" >/dev/null 2>&1
	true
}

test_events_exits_when_the_daemon_is_killed() {
	fresh ev-kill || { fail "daemon did not start"; return; }
	"$TCPSCOPE" events --json --pin-dir "$PIN_DIR" >"$WORK/ev.out" 2>"$WORK/ev.err" &
	local ev=$!
	track_pid $ev
	wait_for 5 grep -q 'reading transitions' "$WORK/ev.err" || { fail "reader did not connect"; return; }
	kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
	exits_within 5 $ev || { fail "events still runs after the daemon was killed"; return; }
	[ "$RC" -eq 4 ] && grep -q 'the daemon closed the event stream' "$WORK/ev.err" ||
		fail "events exited $RC: $(cat "$WORK/ev.err")"
	nsrun "$NS_S" "$TCPSCOPE" detach -i "$IF_B" --pin-dir "$PIN_DIR" >/dev/null 2>&1
	true
}

test_http_says_when_the_pins_are_gone() {
	fresh http-pins --listen "$HTTP_PORT" || { fail "daemon did not start"; return; }
	local code
	code=$(ncurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/metrics")
	[ "$code" = 200 ] || { fail "/metrics: $code before"; return; }
	rm -rf "$PIN_DIR"
	code=$(ncurl -o "$WORK/body" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/metrics")
	[ "$code" = 503 ] && grep -q 'pins of this tcpscope are gone' "$WORK/body" ||
		fail "/metrics after the pins were removed: $code $(cat "$WORK/body")"
	kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
	true
}

test_failed_writes_exit_1() {
	fresh writes || { fail "daemon did not start"; return; }
	local c rc
	for c in "top -n 1" "events -n 1"; do
		# shellcheck disable=SC2086
		"$TCPSCOPE" $c --pin-dir "$PIN_DIR" >&- 2>"$WORK/err" </dev/null; rc=$?
		[ $rc -eq 1 ] && one_line "$WORK/err" '^tcpscope: cannot write the output' ||
			{ fail "$c >&-: exit $rc: $(cat "$WORK/err")"; return; }
	done
	"$TCPSCOPE" top -n 1 --pin-dir "$PIN_DIR" >/dev/full 2>"$WORK/err" </dev/null; rc=$?
	[ $rc -eq 1 ] && one_line "$WORK/err" '^tcpscope: cannot write the output: No space left' ||
		{ fail "top -n 1 >/dev/full: exit $rc: $(cat "$WORK/err")"; return; }
	# events to a full disk: one transition is enough to find out.
	"$TCPSCOPE" events -n 1 --pin-dir "$PIN_DIR" >/dev/full 2>"$WORK/err" </dev/null &
	local ev=$!
	track_pid $ev
	wait_for 5 grep -q 'reading transitions' "$WORK/err" || { fail "reader did not connect"; return; }
	serve 1 3 8090
	sleep 0.3
	connect_hold 1 0.2 8090
	exits_within 10 $ev || { fail "events -n 1 >/dev/full still runs"; return; }
	[ "$RC" -eq 1 ] && grep -q '^tcpscope: cannot write the output: No space left' "$WORK/err" ||
		fail "events -n 1 >/dev/full: exit $RC: $(cat "$WORK/err")"
}

run_test test_top_plain_exits_when_the_daemon_is_killed
run_test test_top_plain_exits_when_the_pins_are_removed
run_test test_top_on_a_terminal_exits_when_the_daemon_is_killed
run_test test_events_exits_when_the_daemon_is_killed
run_test test_http_says_when_the_pins_are_gone
run_test test_failed_writes_exit_1
suite_done
