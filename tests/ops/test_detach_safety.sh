#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# detach must not blind a running instance (issue 12, points 1 and 12):
# it refuses programs and pins of a live tcpscope unless --force; a daemon
# whose programs are taken off notices, says so and attaches again (or exits
# 1 when another tool's program took the place); detach refuses pins that
# are not tcpscope's, is quiet without -v, removes the clsact qdisc it made
# (only when no other filter is on it) and names privilege as the cause
# when it is. tcpscope watches namespace A; B is the peer.
. "$(dirname "$0")/../lib/lib.sh"
need_root

A=odA$TAG B=odB$TAG
mk_pair "$A" "$B"
mk_pindir det
NONE=$PIN_DIR-none	# a pin dir that is not the instance's (as plain 'detach' is)
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
PORT=$((20000 + 0x$TAG % 20000))

start() { # start NAME ARGS...: run in A on IF_A, output in $WORK/NAME, PID in TP
	local name=$1; shift
	# A test that failed half-way may have left one running.
	[ -n "${TP:-}" ] && kill -0 "$TP" 2>/dev/null && stop
	OUT=$WORK/$name
	nsenter --net=/run/netns/$A "$TCPSCOPE" run -i "$IF_A" --pin-dir "$PIN_DIR" -q "$@" >"$OUT" 2>&1 &
	TP=$!; track_pid $TP
	wait_for 10 grep -q "tracking on" "$OUT" || { fail "did not start: $(cat "$OUT")"; return 1; }
}

stop() { kill -TERM "$TP" 2>/dev/null; wait "$TP"; }

our_filters() { nsrun "$A" tc filter show dev "$IF_A" "$1" | grep -c 'tcps_'; }

# One connection A -> B held for a while; tracked if list shows it.
connect_and_check() {
	nsenter --net=/run/netns/$B timeout 8 python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$IP4_B', $PORT)); s.listen(4); s.settimeout(6); c = s.accept()[0]; time.sleep(3)" &
	track_pid $!
	sleep 0.3
	nsenter --net=/run/netns/$A timeout 8 python3 -c "
import socket, time
c = socket.create_connection(('$IP4_B', $PORT), timeout=5); time.sleep(3)" &
	track_pid $!
	wait_for 5 sh -c "nsenter --net=/run/netns/$A '$TCPSCOPE' list --pin-dir '$PIN_DIR' | grep -q '$IP4_B:$PORT .*ESTABLISHED'"
}

test_detach_refuses_the_programs_of_a_running_instance() {
	start live || return
	local out rc
	out=$(nsrun "$A" "$TCPSCOPE" detach --pin-dir "$NONE" 2>&1); rc=$?
	[ $rc -eq 1 ] || fail "exit $rc, want 1: $out" || return
	[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "not one line: $out" || return
	echo "$out" | grep -q "running instance (pid $TP" && echo "$out" | grep -q -- "--force" ||
		fail "message: $out" || return
	[ "$(our_filters ingress)" -ge 1 ] && [ "$(our_filters egress)" -ge 1 ] ||
		fail "programs removed anyway" || return
	out=$(nsrun "$A" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" --keep-pins 2>&1); rc=$?
	[ $rc -eq 1 ] || fail "--keep-pins on the live pin dir: exit $rc: $out" || return
	out=$(nsrun "$A" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" 2>&1); rc=$?
	[ $rc -eq 1 ] && [ -e "$PIN_DIR/conns" ] || fail "live pins: exit $rc, pins $(ls "$PIN_DIR" 2>&1): $out"
}

test_forced_detach_is_noticed_and_attached_again() {
	kill -0 "$TP" 2>/dev/null || start live2 || return
	nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$NONE" --force >"$WORK/force" 2>&1 ||
		fail "detach --force failed: $(cat "$WORK/force")" || return
	wait_for 5 grep -q "tc ingress program was removed" "$OUT" ||
		fail "daemon did not notice: $(cat "$OUT")" || return
	wait_for 5 grep -q "$IF_A: attached again" "$OUT" || fail "not attached again: $(cat "$OUT")" || return
	kill -0 "$TP" || fail "daemon died" || return
	[ "$(our_filters ingress)" -ge 1 ] && [ "$(our_filters egress)" -ge 1 ] ||
		fail "filters not back: $(nsrun "$A" tc filter show dev "$IF_A" ingress)" || return
	connect_and_check || fail "a new connection is not tracked after re-attach" || return
	stop || fail "daemon exit $?"
}

test_program_replaced_by_another_tool_makes_the_daemon_exit_1() {
	local obj=/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o rc
	[ -f "$obj" ] || { skip "no $obj (xdp-tools)"; return; }
	start xdp --hook xdp --xdp-mode generic || return
	on_exit nsrun "$A" ip link set dev "$IF_A" xdpgeneric off
	nsrun "$A" ip -force link set dev "$IF_A" xdpgeneric obj "$obj" sec xdp ||
		fail "could not replace the XDP program" || return
	wait_for 5 sh -c "! kill -0 $TP 2>/dev/null" || { stop; fail "daemon still running, blind: $(cat "$OUT")"; return; }
	wait "$TP"; rc=$?
	[ $rc -eq 1 ] || fail "exit $rc, want 1" || return
	grep -q "XDP ingress program was replaced by another" "$OUT" && grep -q "exiting rather than run blind" "$OUT" ||
		fail "messages: $(cat "$OUT")" || return
	nsrun "$A" ip link set dev "$IF_A" xdpgeneric off
	nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$PIN_DIR" >/dev/null 2>&1
	[ ! -e "$PIN_DIR" ] || fail "pins left"
}

test_detach_refuses_a_foreign_map_pinned_as_conns() {
	local d=$PIN_DIR-foreign out rc
	mkdir -p "$d"; on_exit rm -rf "$d"
	bpftool map create "$d/conns" type hash key 4 value 4 entries 1 name foreign || return
	out=$(nsrun "$A" "$TCPSCOPE" detach -i "$IF_A" --pin-dir "$d" 2>&1); rc=$?
	[ $rc -eq 1 ] || fail "exit $rc, want 1: $out" || return
	echo "$out" | grep -q "$d/conns is not tcpscope's" || fail "message: $out" || return
	[ -e "$d/conns" ] || fail "the foreign map was removed"
}

test_detach_after_persist_is_quiet_and_removes_its_clsact() {
	start persist --persist || return
	stop || fail "--persist exit $?" || return
	nsrun "$A" tc qdisc show dev "$IF_A" | grep -q clsact || fail "no clsact after --persist" || return
	local err
	err=$(nsrun "$A" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" 2>&1 >/dev/null)
	echo "$err" | grep -q "libbpf:" && fail "raw libbpf lines: $err" && return
	nsrun "$A" tc qdisc show dev "$IF_A" | grep -q clsact &&
		fail "clsact left behind: $(nsrun "$A" tc qdisc show dev "$IF_A")" && return
	[ ! -e "$PIN_DIR" ] || fail "pins left: $(ls "$PIN_DIR")"
}

test_clsact_with_another_tools_filter_stays() {
	local out
	start persist2 --persist || return
	nsrun "$A" tc filter add dev "$IF_A" ingress prio 200 u32 match u32 0 0 classid 1:1 ||
		fail "cannot add a foreign filter" || return
	nsrun "$A" tc filter add dev "$IF_A" egress prio 201 u32 match u32 0 0 classid 1:1 ||
		fail "cannot add a foreign filter" || return
	stop
	out=$(nsrun "$A" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" 2>&1) || fail "detach failed: $out" || return
	# Two filters, as tc lists them (each u32 filter dumps 3 messages).
	echo "$out" | grep -q "clsact qdisc tcpscope made stays: 2 filters of other tools on it" ||
		fail "detach said: $out" || return
	nsrun "$A" tc filter show dev "$IF_A" ingress | grep -q u32 ||
		fail "the other tool's filter (or its clsact) was removed" || return
	[ "$(our_filters ingress)" -eq 0 ] || fail "our filter left"
	nsrun "$A" tc qdisc del dev "$IF_A" clsact
}

# Pins made in A, detach from another namespace (C, which cannot see A's
# interfaces): refused, naming A and the command to run there, nothing
# removed; then the detach in A removes programs, clsact and pins.
test_detach_refuses_pins_of_another_namespace() {
	local C=odC$TAG out rc
	start persist4 --persist || return
	stop
	ip netns add "$C" || { fail "cannot make namespace $C"; return; }
	on_exit ip netns del "$C"
	out=$(nsrun "$C" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" 2>&1); rc=$?
	[ $rc -eq 1 ] || fail "exit $rc, want 1: $out" || return
	[ "$(echo "$out" | wc -l)" -eq 1 ] || fail "not one line: $out" || return
	echo "$out" | grep -q "made in another network namespace" &&
		echo "$out" | grep -qF "nsenter --net=/run/netns/$A tcpscope detach --pin-dir $PIN_DIR" ||
		fail "message: $out" || return
	[ -e "$PIN_DIR/conns" ] || fail "pins removed anyway" || return
	[ "$(our_filters ingress)" -ge 1 ] || fail "programs gone" || return
	out=$(nsrun "$A" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" 2>&1) || fail "detach in A: $out" || return
	nsrun "$A" tc qdisc show dev "$IF_A" | grep -q clsact &&
		fail "clsact left behind: $(nsrun "$A" tc qdisc show dev "$IF_A")" && return
	[ ! -e "$PIN_DIR" ] || fail "pins left: $(ls "$PIN_DIR")"
}

test_unprivileged_detach_blames_privilege_not_ownership() {
	start persist3 --persist || return
	stop
	local out rc
	out=$(nsrun "$A" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$TCPSCOPE" detach -i "$IF_A" --pin-dir "$NONE" --keep-pins 2>&1); rc=$?
	[ $rc -eq 3 ] || fail "exit $rc, want 3: $out" || return
	echo "$out" | grep -q "not tcpscope's" && fail "blames ownership: $out" && return
	echo "$out" | grep -q "needs root" || fail "no privilege hint: $out" || return
	out=$(nsrun "$A" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
		"$TCPSCOPE" detach --pin-dir "$PIN_DIR" 2>&1); rc=$?
	[ $rc -eq 3 ] && echo "$out" | grep -q "needs root" || fail "pins: exit $rc: $out" || return
	nsrun "$A" "$TCPSCOPE" detach --pin-dir "$PIN_DIR" >/dev/null 2>&1 || fail "root detach failed"
}

run_test test_detach_refuses_the_programs_of_a_running_instance
run_test test_forced_detach_is_noticed_and_attached_again
run_test test_program_replaced_by_another_tool_makes_the_daemon_exit_1
run_test test_detach_refuses_a_foreign_map_pinned_as_conns
run_test test_detach_after_persist_is_quiet_and_removes_its_clsact
run_test test_clsact_with_another_tools_filter_stays
run_test test_detach_refuses_pins_of_another_namespace
run_test test_unprivileged_detach_blames_privilege_not_ownership
suite_done
