#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Bad input to the program: unknown interface, no privilege, no bpffs, a
# pin directory that is someone else's or holds foreign pins, every option
# with a wrong value, a closed or full stdout. Each must give one clear
# "tcpscope: ..." line on stderr and its documented exit code
# (user/common.h: 1 runtime, 2 usage, 3 privilege, 4 no instance), never a
# crash, and leave nothing attached or pinned.
. "$(dirname "$0")/../lib/lib.sh"
need_root

NS=rbad$TAG NS_B=rbadb$TAG
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
mk_pair "$NS" "$NS_B"
mk_pindir bad

# Extra lines known to come from outside our code, tolerated but reported:
# getopt's own "unrecognized option" and libbpf's warnings before a failed
# load. Set STRICT=1 to fail on them.
KNOWN='^[a-z]+: (unrecognized|invalid|option)|^libbpf: '

nothing_left() {
	local j
	j=$(nsrun "$NS" bpftool -j net show 2>/dev/null)
	if grep -q tcps <<<"$j"; then echo "left attached: $j"; return 1; fi
	if [ -e "$PIN_DIR" ]; then echo "left pinned: $(ls "$PIN_DIR")"; return 1; fi
	return 0
}

# expect RC CMD...: run CMD (in the namespace) and check the outcome.
expect() {
	local want=$1 rc lines errs extra left; shift
	nsrun "$NS" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
	rc=$?
	errs=$(grep -c '^tcpscope: ' "$WORK/err")
	extra=$(grep -v '^tcpscope: ' "$WORK/err" | grep -cE "$KNOWN")
	lines=$(wc -l <"$WORK/err")
	if [ "$rc" -ne "$want" ]; then
		fail "'$*' exited $rc, expected $want: $(head -c 300 "$WORK/err")"; return 1
	fi
	if grep -qE 'Sanitizer|runtime error|Segmentation|core dumped|Aborted' "$WORK/err"; then
		fail "'$*' crashed: $(head -c 300 "$WORK/err")"; return 1
	fi
	if [ "$errs" -ne 1 ] || [ $((lines - extra)) -ne 1 ] || { [ "${STRICT:-0}" = 1 ] && [ "$extra" -ne 0 ]; }; then
		fail "'$*': expected one tcpscope: line on stderr, got: $(tr '\n' '|' <"$WORK/err" | head -c 400)"; return 1
	fi
	[ "$extra" -eq 0 ] || log "known extra stderr lines for '$*': $(grep -vE '^tcpscope: ' "$WORK/err" | tr '\n' '|' | head -c 200)"
	left=$(nothing_left) || { fail "after '$*': $left"; return 1; }
	return 0
}

test_unknown_interface_is_a_usage_error() {
	expect 2 "$TCPSCOPE" run -i nosuch$TAG --pin-dir "$PIN_DIR" || return
	grep -q "nosuch$TAG" "$WORK/err" || fail "message does not name the interface"
}

test_bad_option_values_are_usage_errors() {
	local -a cases=(
		"--mode bogus" "--mode" "--hook xdq" "--xdp-mode fast" "--hook tc --xdp-mode native"
		"--max-conns 0" "--max-conns 15" "--max-conns abc" "--max-conns -1"
		"--max-conns 99999999999999999999" "--max-conns 67108865"
		"--max-halfopen 15" "--max-halfopen x" "--max-halfopen 67108865" "--max-halfopen"
		"--seed-interval 0" "--seed-interval x" "--time-wait 0" "--time-wait 86401"
		"--timeout FOO=3" "--timeout ESTABLISHED=" "--timeout ESTABLISHED=0" "--timeout =5"
		"--timeout LISTEN=5" "--timeout ESTABLISHED" "--bogus" "-Z" "extra-argument"
	)
	local c
	for c in "${cases[@]}"; do
		# shellcheck disable=SC2086
		expect 2 "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" $c || return
	done
	expect 2 "$TCPSCOPE" run --pin-dir "$PIN_DIR" || return
	expect 2 "$TCPSCOPE" run -i "$IF_A" -i "$IF_A" --pin-dir "$PIN_DIR" || return
	expect 2 "$TCPSCOPE" run -i "$(printf 'x%.0s' {1..20})" --pin-dir "$PIN_DIR" || return
	expect 2 "$TCPSCOPE" run -i "$IF_A" --pin-dir "" || return
	for c in stat list top events; do
		expect 2 "$TCPSCOPE" $c --pin-dir "" || return
	done
	expect 2 "$TCPSCOPE" nosuchcommand || return
	expect 2 "$TCPSCOPE" help nosuchcommand || return
	expect 2 "$TCPSCOPE" --nosuchflag || return
	expect 2 "$TCPSCOPE" list --state BOGUS --pin-dir "$PIN_DIR" || return
	expect 2 "$TCPSCOPE" list --port 70000 --pin-dir "$PIN_DIR" || return
	expect 2 "$TCPSCOPE" list --addr 300.1.1.1/8 --pin-dir "$PIN_DIR" || return
	expect 2 "$TCPSCOPE" list --addr 198.18.0.0/33 --pin-dir "$PIN_DIR" || return
	expect 2 "$TCPSCOPE" list --sort nothing --pin-dir "$PIN_DIR" || return
	# One "count label" list cannot hold both groupings (--json can).
	expect 2 "$TCPSCOPE" stat --by-remote --by-port --pin-dir "$PIN_DIR" || return
	# A file that is no capture (or empty, or a directory) is named.
	: >"$WORK/empty.pcap"
	for c in /etc/passwd "$WORK/empty.pcap" "$WORK"; do
		expect 1 "$TCPSCOPE" replay "$c" || return
		grep -qF "tcpscope: $c: " "$WORK/err" || { fail "replay $c: $(cat "$WORK/err")"; return; }
	done
	for c in "--max-conns 15" "--max-conns abc" "--max-conns 67108865" "--max-conns"; do
		# shellcheck disable=SC2086
		expect 2 "$TCPSCOPE" replay x.pcap $c || return
	done
	# A long option without its value is named as such, not as "-T".
	expect 2 "$TCPSCOPE" replay x.pcap --time-wait || return
	grep -q "option '--time-wait' needs a value" "$WORK/err" || fail "replay --time-wait: $(cat "$WORK/err")"
}

# An unknown option is called unknown, never "needs a value"; an option
# missing its value is called that, short or long, in every command.
test_unknown_option_and_missing_value_are_told_apart() {
	local c cmd opt want
	for c in "stat -x|unknown option '-x'" "stat --bogus=1|unknown option '--bogus'" \
		"list -x|unknown option '-x'" "list -4x|unknown option '-x'" \
		"list -s|option '-s' needs a value" "list --port|option '--port' needs a value" \
		"top -x|unknown option '-x'" "top -d|option '-d' needs a value" \
		"events -x|unknown option '-x'" "events -n|option '-n' needs a value" \
		"detach -x|unknown option '-x'" "detach -i|option '-i' needs a value" \
		"replay -x|unknown option '-x'" "run -Z|unknown option '-Z'" \
		"run -i|option '-i' needs a value"; do
		cmd=${c%%|*} want=${c#*|}
		# shellcheck disable=SC2086
		expect 2 "$TCPSCOPE" $cmd || return
		grep -qF "$want" "$WORK/err" || { fail "'$cmd' says: $(cat "$WORK/err")"; return; }
		! grep -q 'or is unknown\|or missing value' "$WORK/err" || { fail "'$cmd' hedges: $(cat "$WORK/err")"; return; }
	done
}

# --listen is checked when the HTTP module starts, after attaching: the
# start must still unwind completely.
test_bad_listen_address_unwinds_the_start() {
	local v
	for v in 999999 "127.0.0.1:notaport" "[::1" "300.0.0.1:80"; do
		nsrun "$NS" "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" --listen "$v" \
			>/dev/null 2>"$WORK/err" </dev/null
		local rc=$?
		[ $rc -eq 2 ] || [ $rc -eq 1 ] || { fail "--listen $v exited $rc"; return; }
		grep -q "^tcpscope: .*listen" "$WORK/err" || { fail "--listen $v: no error line: $(cat "$WORK/err")"; return; }
		local left; left=$(nothing_left) || { fail "--listen $v: $left"; return; }
	done
	# Malformed is a usage error before anything is attached; a
	# well-formed address this host does not have is said as such.
	expect 2 "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" --listen 198.18.0.1:80:90 || return
	expect 2 "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" --listen ::1:9717 || return
	nsrun "$NS" "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" --listen 198.18.255.254:9717 \
		>/dev/null 2>"$WORK/err" </dev/null
	[ $? = 1 ] && grep -q '198.18.255.254 is not an address of this host' "$WORK/err" ||
		{ fail "--listen 198.18.255.254:9717: $(cat "$WORK/err")"; return; }
	left=$(nothing_left) || fail "--listen 198.18.255.254:9717: $left"
}

test_no_privilege_is_exit_3() {
	expect 3 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" || return
	# Queries of a running instance by an unprivileged user: refused too.
	expect 4 setpriv --reuid=65534 --regid=65534 --clear-groups "$TCPSCOPE" stat --pin-dir "$PIN_DIR"
}

# A query of a directory that holds no pins at all says so, and never
# suggests 'tcpscope detach --pin-dir' on it (/etc, /sys/fs/bpf itself).
test_query_of_a_dir_without_pins_suggests_no_detach() {
	local d="/sys/fs/bpf/tcpscope-test-$TAG-empty" c
	mkdir "$d" && on_exit rmdir "$d"
	for c in "stat --pin-dir $d" "list --pin-dir $d" "stat --pin-dir /etc"; do
		# shellcheck disable=SC2086
		expect 4 "$TCPSCOPE" $c || return
		grep -q 'holds no tcpscope pins' "$WORK/err" || { fail "'$c': $(cat "$WORK/err")"; return; }
		! grep -q 'detach' "$WORK/err" || { fail "'$c' suggests detach: $(cat "$WORK/err")"; return; }
	done
	[ -d "$d" ] || fail "$d removed"
}

test_pin_dir_not_on_bpffs_is_refused() {
	mkdir -p "$WORK/tmpfs"
	mount -t tmpfs -o size=1m none "$WORK/tmpfs" || { fail "mount tmpfs"; return; }
	on_exit umount "$WORK/tmpfs"
	expect 1 "$TCPSCOPE" run -i "$IF_A" --pin-dir "$WORK/tmpfs/tcpscope" || return
	[ ! -e "$WORK/tmpfs/tcpscope" ] || fail "created $WORK/tmpfs/tcpscope"
	grep -q "BPF filesystem" "$WORK/err" || fail "message does not say why"
	expect 1 "$TCPSCOPE" run -i "$IF_A" --pin-dir "/sys/fs/bpf/nonexistent-$TAG/x/y"
}

# A directory someone else made, with foreign maps under tcpscope's names
# (values far bigger than ours): run refuses and touches nothing; queries
# refuse to read them (they used to overrun a stack buffer).
test_foreign_pin_dir_is_left_alone() {
	local d="/sys/fs/bpf/tcpscope-test-$TAG-foreign" n before after
	mkdir "$d" && on_exit rm -rf "$d"
	for n in conns halfopen events stats trans info; do
		bpftool map create "$d/$n" type array key 4 value 4096 entries 1 name "f_$n" ||
			{ fail "bpftool map create"; return; }
	done
	chown -R 65534:65534 "$d"
	before=$(ls -lni "$d")
	nsrun "$NS" "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$d" >/dev/null 2>"$WORK/err" </dev/null
	local rrc=$?
	# Refused before its pins are even opened: the directory is not root's
	# (/sys/fs/bpf is world-writable, anyone may have made it).
	[ $rrc -eq 1 ] && grep -q "^tcpscope: $d belongs to uid 65534, not to this user (uid 0): its pins are not adopted" "$WORK/err" ||
		{ fail "run on a foreign dir exited $rrc: $(cat "$WORK/err")"; return; }
	[ "$(wc -l <"$WORK/err")" -eq 1 ] || { fail "run: $(cat "$WORK/err")"; return; }
	after=$(ls -lni "$d")
	[ "$before" = "$after" ] || { fail "foreign pins changed: $after"; return; }
	nsrun "$NS" bpftool -j net show | grep -q tcps && { fail "left attached"; return; }
	local c
	for c in "stat" "list" "stat --json" "list --json"; do
		# shellcheck disable=SC2086
		"$TCPSCOPE" $c --pin-dir "$d" >"$WORK/out" 2>"$WORK/err"
		local rc=$?
		[ $rc -eq 4 ] || { fail "$c on foreign pins exited $rc: $(cat "$WORK/err" "$WORK/out")"; return; }
	done
	# The same directory made ours, still holding pins of another layout:
	# opened, and refused for their layout (exit 4), unchanged.
	chown -R 0:0 "$d"
	before=$(ls -lni "$d")
	nsrun "$NS" "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$d" >/dev/null 2>"$WORK/err" </dev/null
	rrc=$?
	[ $rrc -eq 4 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] || { fail "run on foreign pins exited $rrc: $(cat "$WORK/err")"; return; }
	[ "$before" = "$(ls -lni "$d")" ] || { fail "foreign pins changed"; return; }
	nsrun "$NS" bpftool -j net show | grep -q tcps && { fail "left attached"; return; }
	true
}

test_closed_stdout_gives_one_line() {
	# --help and --version that cannot be written fail too, in one line.
	local h
	for h in "--help" "--version" "stat --help" "list --help" "help run"; do
		# shellcheck disable=SC2086
		"$TCPSCOPE" $h >/dev/full 2>"$WORK/err"
		[ $? -eq 1 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] && grep -q '^tcpscope: cannot write' "$WORK/err" ||
			{ fail "$h >/dev/full: exit $?: $(cat "$WORK/err")"; return; }
	done
	nsrun "$NS" "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" >&- 2>"$WORK/err" </dev/null
	local rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] ||
		{ fail "run with stdout closed exited $rc: $(cat "$WORK/err")"; return; }
	local left; left=$(nothing_left) || { fail "$left"; return; }
	# Queries of a live instance with stdout closed or full.
	nsenter --net="/run/netns/$NS" "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" >/dev/null 2>"$WORK/run.err" &
	local pid=$!
	track_pid $pid
	wait_for 10 test -e "$PIN_DIR/info" || { fail "daemon did not start: $(cat "$WORK/run.err")"; return; }
	local c
	for c in "stat" "list" "stat --json" "list --json"; do
		# shellcheck disable=SC2086
		# One line on stderr: "tcpscope: ...", or with --json {"error": ...}.
		"$TCPSCOPE" $c --pin-dir "$PIN_DIR" >&- 2>"$WORK/err"
		[ $? -eq 1 ] && [ "$(grep -cE '^(tcpscope: |\{"error":)' "$WORK/err")" -eq 1 ] &&
			[ "$(wc -l <"$WORK/err")" -eq 1 ] ||
			{ fail "$c >&-: $(cat "$WORK/err")"; break; }
		# shellcheck disable=SC2086
		"$TCPSCOPE" $c --pin-dir "$PIN_DIR" >/dev/full 2>"$WORK/err"
		[ $? -eq 1 ] && [ "$(grep -cE '^(tcpscope: |\{"error":)' "$WORK/err")" -eq 1 ] &&
			[ "$(wc -l <"$WORK/err")" -eq 1 ] ||
			{ fail "$c >/dev/full: $(cat "$WORK/err")"; break; }
	done
	kill "$pid"; wait "$pid"
	rc=$?
	[ $rc -eq 0 ] || fail "daemon exited $rc"
	left=$(nothing_left) || fail "$left"
}

test_second_instance_on_same_pin_dir_is_refused() {
	nsenter --net="/run/netns/$NS" "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" >/dev/null 2>"$WORK/run.err" &
	local pid=$!
	track_pid $pid
	wait_for 10 test -e "$PIN_DIR/info" || { fail "daemon did not start"; return; }
	nsrun "$NS_B" "$TCPSCOPE" run -i "$IF_B" -q --pin-dir "$PIN_DIR" >/dev/null 2>"$WORK/err" </dev/null
	local rc=$?
	[ $rc -eq 1 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] || fail "second instance exited $rc: $(cat "$WORK/err")"
	nsrun "$NS_B" bpftool -j net show | grep -q tcps && fail "second instance left programs on $IF_B"
	[ -e "$PIN_DIR/info" ] || fail "second instance removed the first one's pins"
	kill "$pid"; wait "$pid"
}

run_test test_unknown_interface_is_a_usage_error
run_test test_bad_option_values_are_usage_errors
run_test test_unknown_option_and_missing_value_are_told_apart
run_test test_bad_listen_address_unwinds_the_start
run_test test_no_privilege_is_exit_3
run_test test_query_of_a_dir_without_pins_suggests_no_detach
run_test test_pin_dir_not_on_bpffs_is_refused
run_test test_foreign_pin_dir_is_left_alone
run_test test_closed_stdout_gives_one_line
run_test test_second_instance_on_same_pin_dir_is_refused
suite_done
