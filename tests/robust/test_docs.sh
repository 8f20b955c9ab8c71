#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Help, man page and messages agree (issue 12, point 12): the man page,
# rendered with man -l, has a section for every subcommand of
# 'tcpscope --help', with every --long-option of that command's --help, the
# JSON fields of stat/list/events and every metric a live /metrics serves;
# no --help cites DESIGN; -p means one thing; --timeout LISTEN=5 says which
# states take a timeout; pin-dir hints never suggest mounting bpffs over
# /tmp nor call a missing directory an unmounted filesystem.
source "$(dirname "$0")/../lib/lib.sh"
need_root

MAN=$TOP/contrib/tcpscope.8
WORK=$(mktemp -d /tmp/tcpscope-docs.XXXXXX)
on_exit rm -rf "$WORK"
NS_A=da$TAG NS_B=db$TAG
mk_pair "$NS_A" "$NS_B"

commands() { "$TCPSCOPE" --help | awk '/^Commands:/ {c = 1; next} c && /^  [a-z]/ {print $1} c && /^$/ {c = 0}'; }

# The section of COMMAND in the rendered page: from "   tcpscope CMD" to
# the next subsection or section.
section() {
	awk -v h="   tcpscope $1" '$0 == h {on = 1; next} on && (/^   tcpscope / || /^[A-Z]/) {on = 0} on' "$WORK/man.txt"
}

test_man_page_renders_without_warnings() {
	command -v man >/dev/null || { skip "man not installed (make test-deps)"; return; }
	LANG=C MANWIDTH=100 man --warnings -l "$MAN" >"$WORK/man.txt" 2>"$WORK/man.err" ||
		{ fail "man -l exited $?: $(head -3 "$WORK/man.err")"; return; }
	[ ! -s "$WORK/man.err" ] || { fail "groff warnings: $(head -3 "$WORK/man.err")"; return; }
	grep -q '^NAME' "$WORK/man.txt" || fail "nothing rendered"
}

test_man_page_covers_every_command_and_long_option() {
	local c o sec n=0
	[ -s "$WORK/man.txt" ] || { fail "no rendered page"; return; }
	for c in $(commands); do
		sec=$(section "$c")
		[ -n "$sec" ] || { fail "no section 'tcpscope $c' in the man page"; return; }
		# Every long option of the command's --help, in its own section
		# (--help and --verbose are global, in DESCRIPTION).
		for o in $("$TCPSCOPE" "$c" --help | grep -oE -- '^ +(-[a-zA-Z0-9], )?--[a-z][a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' | sort -u); do
			case $o in --help | --verbose) grep -q -- "$o" "$WORK/man.txt" || { fail "$o not in the man page"; return; }; continue ;; esac
			grep -q -- "$o\b" <<<"$sec" || { fail "'tcpscope $c $o' (in its --help) is not in the man page's $c section"; return; }
			n=$((n + 1))
		done
	done
	[ $n -ge 40 ] || fail "only $n options checked: is --help parsed right?"
	for sec in 'FILTER EXPRESSIONS' 'OUTPUT FORMATS' 'HTTP API' 'METRICS' 'EXIT STATUS'; do
		grep -q "^$sec" "$WORK/man.txt" || { fail "no $sec section"; return; }
	done
}

# The global options the man page names are in 'tcpscope --help' too, and
# every command's usage line names every option its --help lists.
test_global_options_and_usage_lines_are_complete() {
	local c o usage
	for o in --verbose --version; do
		"$TCPSCOPE" --help | grep -q -- "$o" || { fail "tcpscope --help lacks $o"; return; }
	done
	"$TCPSCOPE" --version | grep -qE '^tcpscope [0-9]' || { fail "--version: $("$TCPSCOPE" --version)"; return; }
	for c in stat top events detach replay; do
		usage=$("$TCPSCOPE" "$c" --help | sed -n '/^Usage:/,/^$/p')
		# "-d, --delay" may appear in the usage line as either form.
		for o in $("$TCPSCOPE" "$c" --help | grep -oE -- '^ +(-[a-zA-Z0-9], )?--[a-z][a-z0-9-]+' | tr -d ' ' | sort -u); do
			case $o in *--help | *--verbose | *--interface) continue ;; esac
			grep -qE -- "(${o%%,*}|${o#*,})\b" <<<"$usage" ||
				{ fail "'tcpscope $c --help': $o is not in its Usage line"; return; }
		done
	done
}

test_no_help_cites_design() {
	local c
	for c in $(commands); do
		! "$TCPSCOPE" "$c" --help | grep -q 'DESIGN' || { fail "$c --help cites DESIGN"; return; }
	done
}

# -p is what ss -p and netstat -p are: the owning processes (list). stat's
# per-port view is --by-port only (-p still accepted there, undocumented).
test_short_p_means_one_thing() {
	local c
	for c in $(commands); do
		"$TCPSCOPE" "$c" --help | grep -E -- '^ +-p, ' | grep -v -- '--processes' | grep -q . &&
			{ fail "$c --help: -p is not --processes: $("$TCPSCOPE" "$c" --help | grep -E -- '-p, ')"; return; }
	done
	"$TCPSCOPE" list --help | grep -q -- '-p, --processes' || fail "list lost -p, --processes"
	"$TCPSCOPE" stat --help | grep -q -- ' --by-port' || fail "stat lost --by-port"
}

test_timeout_listen_names_the_states_that_take_one() {
	local st
	nsrun "$NS_A" "$TCPSCOPE" run -i "$IF_A" --timeout LISTEN=5 >/dev/null 2>"$WORK/err"
	[ $? = 2 ] || { fail "exit $?"; return; }
	! grep -q 'no such state' "$WORK/err" || { fail "says 'no such state': $(cat "$WORK/err")"; return; }
	grep -q 'LISTEN never expires' "$WORK/err" || { fail "does not say why: $(cat "$WORK/err")"; return; }
	for st in ESTABLISHED SYN_SENT SYN_RECV FIN_WAIT1 FIN_WAIT2 TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK CLOSING; do
		grep -q "\b$st\b" "$WORK/err" || { fail "does not list $st: $(cat "$WORK/err")"; return; }
	done
	nsrun "$NS_A" "$TCPSCOPE" run -i "$IF_A" --timeout FOO=5 >/dev/null 2>"$WORK/err"
	grep -q "no such state 'FOO'.*states with a timeout: ESTABLISHED" "$WORK/err" || fail "FOO: $(cat "$WORK/err")"
}

test_pin_dir_hints_are_right() {
	local d=/tmp/tcpscope-docs-$TAG
	on_exit rm -rf "$d"
	# Not a bpffs: never "mount -t bpf bpf /tmp".
	nsrun "$NS_A" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$d/pins" >/dev/null 2>"$WORK/err"
	[ $? = 1 ] || { fail "/tmp pin dir: exit $?"; return; }
	! grep -q 'mount -t bpf bpf /tmp' "$WORK/err" || { fail "suggests mounting bpffs on /tmp: $(cat "$WORK/err")"; return; }
	grep -q 'choose --pin-dir under /sys/fs/bpf' "$WORK/err" || { fail "no hint: $(cat "$WORK/err")"; return; }
	[ ! -e "$d" ] || { fail "created $d"; return; }
	# On bpffs, a missing parent directory is just that.
	nsrun "$NS_A" "$TCPSCOPE" run -i "$IF_A" --pin-dir "/sys/fs/bpf/nonexistent-$TAG/x/y" >/dev/null 2>"$WORK/err"
	[ $? = 1 ] || { fail "missing parent: exit $?"; return; }
	! grep -qi 'mount' "$WORK/err" || { fail "blames the mount: $(cat "$WORK/err")"; return; }
	grep -q "/sys/fs/bpf/nonexistent-$TAG/x does not exist" "$WORK/err" || fail "does not name the missing directory: $(cat "$WORK/err")"
}

# The JSON fields and metric names a live daemon produces are all in the
# man page (OUTPUT FORMATS, METRICS).
test_man_page_has_every_json_field_and_metric() {
	local m f port=9717
	[ -s "$WORK/man.txt" ] || { fail "no rendered page"; return; }
	mk_pindir docs
	"${IN_A[@]}" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" -q --no-seed --listen "0.0.0.0:$port" \
		>/dev/null 2>"$WORK/run.err" &
	track_pid $!
	wait_for 10 grep -q 'tracking on' "$WORK/run.err" || { fail "daemon: $(cat "$WORK/run.err")"; return; }
	"$TCPSCOPE" events --json -n 1 --pin-dir "$PIN_DIR" >"$WORK/ev.json" 2>/dev/null &
	track_pid $!
	sleep 0.5
	nsrun "$NS_B" curl -sS --max-time 5 "http://$IP4_A:$port/metrics" >"$WORK/metrics" || { fail "curl"; return; }
	wait_for 5 test -s "$WORK/ev.json" || { fail "no event"; return; }
	for m in $(awk '/^# TYPE / {print $3}' "$WORK/metrics"); do
		grep -q "$m" "$WORK/man.txt" || { fail "metric $m is not in the man page"; return; }
	done
	for f in $(jq -r 'keys[]' "$WORK/ev.json") \
		$("$TCPSCOPE" list --json --pin-dir "$PIN_DIR" | jq -r '.connections[0] | keys[]') \
		$("$TCPSCOPE" stat --json --by-remote --by-port --counters --pin-dir "$PIN_DIR" | jq -r 'keys[], (.counters | keys[])'); do
		grep -q "\b$f\b" "$WORK/man.txt" || { fail "JSON field $f is not in the man page"; return; }
	done
}

IN_A=(nsenter --net=/run/netns/$NS_A)
run_test test_man_page_renders_without_warnings
run_test test_man_page_covers_every_command_and_long_option
run_test test_global_options_and_usage_lines_are_complete
run_test test_no_help_cites_design
run_test test_short_p_means_one_thing
run_test test_timeout_listen_names_the_states_that_take_one
run_test test_pin_dir_hints_are_right
run_test test_man_page_has_every_json_field_and_metric
suite_done
