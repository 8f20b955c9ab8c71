#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tcpscope top under tmux at 80x24: the screen shows the states and counts
# of the test's connections (and their remote and port), keys work, q exits
# and the terminal is restored; off a terminal it prints -n snapshots.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/helpers.sh"
need_root

N=3
TMUX_SOCK=tcpscope-top-$TAG
tm() { tmux -L "$TMUX_SOCK" "$@"; }
screen() { tm capture-pane -p -t top; }

setup_pair top
start_daemon || { echo "not ok daemon_starts"; exit 1; }
serve $N 60
sleep 0.3
connect_hold $N 60
wait_for 15 established_is $N

test_top_screen_shows_states_and_counts() {
	command -v tmux >/dev/null || { skip "tmux not installed"; return; }
	on_exit tmux -L "$TMUX_SOCK" kill-server
	tm new-session -d -s top -x 80 -y 24 "env -i TERM=screen PATH=$PATH bash --norc --noprofile" ||
		fail "tmux" || return
	tm send-keys -t top "PS1='$ '; stty -g > $WORK/stty.before" Enter
	sleep 0.3
	tm send-keys -t top "$TCPSCOPE top -d 0.5 --pin-dir $PIN_DIR; echo top-rc=\$?; stty -g > $WORK/stty.after" Enter
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -Eq '^ESTABLISHED +$N '" ||
		{ screen >&2; fail "no 'ESTABLISHED $N' line on the screen"; return; }
	screen >"$WORK/screen.txt"
	grep -Eq '^SYN_SENT +0 ' "$WORK/screen.txt" || fail "no SYN_SENT row" || return
	grep -Eq "\| $SRV_PORT +$N \| $IP4_A +$N\$" "$WORK/screen.txt" ||
		{ cat "$WORK/screen.txt" >&2; fail "top port/remote columns lack $SRV_PORT/$IP4_A x $N"; return; }
	grep -q 'conns' "$WORK/screen.txt" || fail "no summary line" || return
	grep -q 'q quit' "$WORK/screen.txt" || fail "no key help on the status line" || return
	[ "$(awk 'length > 80' "$WORK/screen.txt" | wc -l)" = 0 ] || fail "lines wider than 80"
}

test_top_keys_sort_pause_filter_help() {
	[ -f "$WORK/screen.txt" ] || { fail "top not running"; return; }
	tm send-keys -t top s
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q 'sort:count'" || fail "s did not change the sort" || return
	# Sorted by count: ESTABLISHED (the only non-zero state) comes first.
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | sed -n 4p | grep -q '^ESTABLISHED'" ||
		fail "sort by count does not put ESTABLISHED first" || return
	tm send-keys -t top p
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q PAUSED" || fail "p did not pause" || return
	tm send-keys -t top p
	tm send-keys -t top / SYN_SENT Enter
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -Eq '^ESTABLISHED +0 '" ||
		{ screen >&2; fail "filter SYN_SENT still counts ESTABLISHED"; return; }
	tm send-keys -t top / Enter
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -Eq '^ESTABLISHED +$N '" || fail "empty filter did not clear" || return
	tm send-keys -t top h
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q 'tcpscope top - keys'" || fail "h shows no help" || return
	tm send-keys -t top x
	wait_for 5 sh -c "! tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q 'tcpscope top - keys'" || fail "help did not close"
}

test_top_q_exits_and_restores_terminal() {
	[ -f "$WORK/screen.txt" ] || { fail "top not running"; return; }
	tm send-keys -t top q
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q 'top-rc=0'" ||
		{ screen >&2; fail "q did not exit 0"; return; }
	[ "$(tm display -p -t top '#{alternate_on}')" = 0 ] || fail "still on the alternate screen" || return
	! screen | grep -q 'q quit' || fail "top's screen is still shown" || return
	wait_for 5 test -s "$WORK/stty.after" || fail "no stty after" || return
	cmp -s "$WORK/stty.before" "$WORK/stty.after" || fail "terminal modes not restored"
}

test_top_sigterm_restores_terminal() {
	local pid
	tm send-keys -t top "rm -f $WORK/stty.after; $TCPSCOPE top --pin-dir $PIN_DIR; echo top-rc2=\$?; stty -g > $WORK/stty.after" Enter
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -Eq '^ESTABLISHED +$N '" || fail "top did not start" || return
	pid=$(tm display -p -t top '#{pane_pid}')
	pid=$(pgrep -P "$pid" -x tcpscope) || fail "no top process" || return
	kill -TERM "$pid"
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q 'top-rc2=0'" || fail "SIGTERM: no clean exit" || return
	wait_for 5 test -s "$WORK/stty.after"
	cmp -s "$WORK/stty.before" "$WORK/stty.after" || fail "terminal modes not restored after SIGTERM"
}

test_top_plain_snapshots_when_not_a_terminal() {
	local out
	out=$("$TCPSCOPE" top -n 2 -d 0.2 --pin-dir "$PIN_DIR" </dev/null) || fail "exit $?" || return
	[ "$(grep -c '^--- ' <<<"$out")" = 2 ] || fail "not 2 snapshots" || return
	grep -Eq "^ESTABLISHED +$N " <<<"$out" || fail "no ESTABLISHED $N" || return
	grep -Eq "^  $IP4_A +$N\$" <<<"$out" || fail "no top remote $IP4_A"
}

run_test test_top_screen_shows_states_and_counts
run_test test_top_keys_sort_pause_filter_help
run_test test_top_q_exits_and_restores_terminal
run_test test_top_sigterm_restores_terminal
run_test test_top_plain_snapshots_when_not_a_terminal
suite_done
