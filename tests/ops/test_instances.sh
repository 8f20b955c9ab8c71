#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# One daemon per pin dir (issue 12, point 6): instances with different pin
# dirs run side by side, each with a pidfile and event socket derived from
# its pin dir; a second start on the same pin dir is refused with a message
# that names the running instance and how to run another. The systemd units
# (tcpscope.service, the tcpscope@.service template) pass systemd-analyze
# verify, and the paths make install, the units and the DaemonSet use agree.
# Two veths in one namespace (hub) to two peers; nothing outside them.
. "$(dirname "$0")/../lib/lib.sh"
need_root

HUB=opih$TAG P1=opi1$TAG P2=opi2$TAG
IF1=i1$TAG IF2=i2$TAG
for ns in $HUB $P1 $P2; do ip netns add $ns && on_exit ip netns del $ns; done
ip link add $IF1 netns $HUB type veth peer name p netns $P1
ip link add $IF2 netns $HUB type veth peer name p netns $P2
for l in "$HUB $IF1" "$HUB $IF2" "$HUB lo" "$P1 p" "$P2 p"; do
	set -- $l; nsrun $1 ip link set $2 up
done
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
PIN1=/sys/fs/bpf/tcpscope-test-$TAG-inst1
PIN2=/sys/fs/bpf/tcpscope-test-$TAG-inst2
PID1=/run/tcpscope/tcpscope-test-$TAG-inst1.pid
PID2=/run/tcpscope/tcpscope-test-$TAG-inst2.pid
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
on_exit rm -rf "$PIN1" "$PIN2"
on_exit rm -f "$PID1" "$PID2"

# stop_pidfile FILE: end the daemon named in FILE (ours), wait for it.
stop_pidfile() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null
	wait_gone 5 "$pid"
}

# track_daemon PIN_DIR: end on exit the daemon serving PIN_DIR (unique to
# this suite), wherever its pidfile went.
track_daemon() {
	local p
	for p in $(pgrep -f -- "--pin-dir $1 --daemon"); do track_pid "$p"; done
}

test_second_instance_with_its_own_pin_dir_gets_its_own_pidfile() {
	nsrun $HUB "$TCPSCOPE" run -i $IF1 --pin-dir "$PIN1" --daemon 2>"$WORK/d1.err"
	local rc=$?
	track_daemon "$PIN1"
	[ $rc -eq 0 ] || fail "first daemon: $(cat "$WORK/d1.err")" || return
	on_exit stop_pidfile "$PID1"
	[ -s "$PID1" ] || fail "no pidfile $PID1 (derived from the pin dir)" || return
	track_pid "$(cat "$PID1")"
	nsrun $HUB "$TCPSCOPE" run -i $IF2 --pin-dir "$PIN2" --daemon 2>"$WORK/d2.err"
	rc=$?
	track_daemon "$PIN2"
	[ $rc -eq 0 ] || fail "second instance refused: $(cat "$WORK/d2.err")" || return
	on_exit stop_pidfile "$PID2"
	[ -s "$PID2" ] || fail "no pidfile $PID2" || return
	track_pid "$(cat "$PID2")"
	[ "$(cat "$PID1")" != "$(cat "$PID2")" ] || fail "same pid in both pidfiles" || return
	wait_for 5 test -S "/run/tcpscope/tcpscope-test-$TAG-inst1.sock" &&
		wait_for 5 test -S "/run/tcpscope/tcpscope-test-$TAG-inst2.sock" ||
		fail "event sockets not derived from the pin dirs: $(ls /run/tcpscope)" || return
	nsrun $HUB "$TCPSCOPE" stat --pin-dir "$PIN2" >/dev/null || fail "stat of the second instance failed"
}

# A second instance on an interface the first watches (a pin dir of its
# own) is refused, naming the instance that watches it (it suggested
# 'tcpscope detach', which refuses a running instance), and leaves nothing.
test_second_instance_on_a_watched_interface_names_the_watcher() {
	local out rc pid pin3=/sys/fs/bpf/tcpscope-test-$TAG-inst3
	pid=$(cat "$PID1" 2>/dev/null) || { fail "first instance not running"; return; }
	on_exit rm -rf "$pin3"
	out=$(nsrun $HUB "$TCPSCOPE" run -i $IF1 -q --pin-dir "$pin3" 2>&1 </dev/null); rc=$?
	[ $rc -eq 1 ] || { fail "exit $rc, want 1: $out"; return; }
	echo "$out" | grep -q "^tcpscope: $IF1: tcpscope pid $pid, pins in $PIN1 already watches it" ||
		{ fail "does not name the watcher: $out"; return; }
	! echo "$out" | grep -q "tcpscope detach" || { fail "suggests detach: $out"; return; }
	[ ! -e "$pin3" ] || fail "left $pin3"
}

test_second_start_on_same_pin_dir_names_the_holder_and_the_way_out() {
	local out rc pid
	pid=$(cat "$PID1" 2>/dev/null) || { fail "first instance not running"; return; }
	out=$(nsrun $HUB "$TCPSCOPE" run -i $IF2 --pin-dir "$PIN1" --daemon 2>&1); rc=$?
	[ $rc -eq 1 ] || fail "exit $rc, want 1: $out" || return
	[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "not one line: $out" || return
	echo "$out" | grep -q "pid $pid: .*run -i $IF1 --pin-dir $PIN1" ||
		fail "does not name the running instance: $out" || return
	echo "$out" | grep -q -- "--pin-dir" && echo "$out" | grep -q "second instance" ||
		fail "no hint how to run a second instance: $out"
	stop_pidfile "$PID1"; stop_pidfile "$PID2"
	[ ! -e "$PID1" ] && [ ! -e "$PID2" ] || fail "pidfiles left after stop"
}

test_run_help_gives_the_real_socket_and_pidfile_paths() {
	local h
	h=$("$TCPSCOPE" run --help)
	echo "$h" | grep -q 'PIN_DIR.sock' && fail "help still says PIN_DIR.sock" && return
	echo "$h" | grep -q '/run/tcpscope/NAME.sock' && echo "$h" | grep -q '/run/tcpscope/NAME.pid' &&
		echo "$h" | grep -q '/run/tcpscope.pid' ||
		fail "help lacks the socket/pidfile paths: $(echo "$h" | grep -i -A2 'pidfile\|socket')"
}

# The units as make install writes them (PREFIX default), with ExecStart
# pointed at the build under test: systemd-analyze verify must say nothing.
test_units_pass_systemd_analyze_verify() {
	command -v systemd-analyze >/dev/null || { skip "no systemd-analyze (apt-get install systemd)"; return; }
	local u out
	for u in tcpscope.service tcpscope@.service; do
		[ -f "$TOP/contrib/$u" ] || { fail "contrib/$u missing"; return; }
		sed "s|/usr/local/sbin/tcpscope|$TCPSCOPE|" "$TOP/contrib/$u" >"$WORK/$u"
	done
	out=$(systemd-analyze verify --man=no "$WORK/tcpscope.service" 2>&1) ||
		fail "tcpscope.service: $out" || return
	[ -z "$out" ] || fail "tcpscope.service: $out" || return
	out=$(systemd-analyze verify --man=no "$WORK/tcpscope@$IF1.service" 2>&1) ||
		fail "tcpscope@.service: $out" || return
	[ -z "$out" ] || fail "tcpscope@.service: $out"
}

# The template's command line, for two interfaces at once (what systemd
# runs for tcpscope@IF1 and tcpscope@IF2): both start and track.
test_template_instances_run_side_by_side() {
	local cmd i pids=() out
	cmd=$(sed -n 's/^ExecStart=//p' "$TOP/contrib/tcpscope@.service")
	echo "$cmd" | grep -q -- '--pin-dir /sys/fs/bpf/tcpscope-%i' || fail "template pin dir: $cmd" || return
	for i in $IF1 $IF2; do
		on_exit rm -rf "/sys/fs/bpf/tcpscope-$i"
		# %i as systemd expands it; $TCPSCOPE_ARGS as its Environment= default.
		local c=${cmd//%i/$i}
		c=${c//\$TCPSCOPE_ARGS/-i $i}
		c=${c/\/usr\/local\/sbin\/tcpscope/$TCPSCOPE}
		nsenter --net=/run/netns/$HUB $c >"$WORK/t$i.out" 2>&1 &
		pids+=($!); track_pid $!
	done
	for i in $IF1 $IF2; do
		wait_for 10 grep -q "tracking on" "$WORK/t$i.out" ||
			fail "instance $i: $(cat "$WORK/t$i.out")" || return
	done
	kill -TERM "${pids[@]}"
	for i in 0 1; do wait "${pids[$i]}" || fail "instance $i exited $?"; done
	# --persist: each left its own pins; detach each.
	for i in $IF1 $IF2; do
		nsrun $HUB "$TCPSCOPE" detach -i $i --pin-dir "/sys/fs/bpf/tcpscope-$i" >/dev/null 2>&1 ||
			fail "detach of instance $i failed"
	done
}

test_install_paths_agree_with_units_and_daemonset() {
	local dest="$WORK/dest" p
	make -s -C "$TOP" BUILD="$BUILD" install DESTDIR="$dest" >/dev/null || fail "make install failed" || return
	[ -f "$dest/usr/local/lib/systemd/system/tcpscope@.service" ] ||
		fail "make install does not install tcpscope@.service" || return
	for p in $(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$dest"/usr/local/lib/systemd/system/tcpscope*.service) \
		 $(sed -n 's/.*command: \["\([^"]*\)"\].*/\1/p' "$TOP/deploy/daemonset.yaml"); do
		[ -x "$dest$p" ] || fail "$p is not where make install puts tcpscope ($(cd "$dest" && find . -name tcpscope -type f))" || return
	done
}

run_test test_second_instance_with_its_own_pin_dir_gets_its_own_pidfile
run_test test_second_instance_on_a_watched_interface_names_the_watcher
run_test test_second_start_on_same_pin_dir_names_the_holder_and_the_way_out
run_test test_run_help_gives_the_real_socket_and_pidfile_paths
run_test test_units_pass_systemd_analyze_verify
run_test test_template_instances_run_side_by_side
run_test test_install_paths_agree_with_units_and_daemonset
suite_done
