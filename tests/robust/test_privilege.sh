#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Least privilege: pins 0600 in a 0700 directory, the event socket
# root-only, HTTP on loopback when only a port is given, and the daemon
# runs with just CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (also as a non-root
# uid with those as ambient capabilities). Without CAP_PERFMON the verifier
# refuses the programs (packet-pointer arithmetic, data_end - data, needs
# it), which must be exit 3. replay needs no privilege (its native path),
# unless told to use the kernel's with --bpf.
. "$(dirname "$0")/../lib/lib.sh"
need_root

NS=rpa$TAG NS_B=rpb$TAG
WORK=$(mktemp -d)
chmod 755 "$WORK"
on_exit rm -rf "$WORK"
mk_pair "$NS" "$NS_B"
mk_pindir priv
CAPS=-all,+bpf,+net_admin,+perfmon
PORT=$((20000 + 0x$TAG % 20000))
SOCK=/run/tcpscope/tcpscope-test-$TAG-priv.sock

start() { # start NAME ARGS...: daemon in $NS, PID in DPID
	local name=$1; shift
	nsenter --net="/run/netns/$NS" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
	DPID=$!
	track_pid $DPID
	wait_for 10 test -e "$PIN_DIR/info" || { fail "$name did not start: $(cat "$WORK/$name.err")"; return 1; }
}

stop() {
	kill "$DPID"; wait "$DPID"
	local rc=$?
	[ $rc -eq 0 ] || { fail "daemon exited $rc: $(tail -3 "$WORK/$1.err")"; return 1; }
	[ ! -e "$PIN_DIR" ] || { fail "pins left"; return 1; }
}

test_pins_are_0600_in_a_0700_dir_and_socket_root_only() {
	start full "$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" --listen "$PORT" --event-socket "$SOCK" || return
	wait_for 5 test -S "$SOCK" || { fail "no event socket"; stop full; return; }
	local m f
	m=$(stat -c '%a %U' "$PIN_DIR")
	[ "$m" = "700 root" ] || fail "pin dir is $m"
	for f in "$PIN_DIR"/*; do
		m=$(stat -c '%a %U' "$f")
		[ "$m" = "600 root" ] || fail "$f is $m"
	done
	m=$(stat -c '%a %U' "$SOCK")
	[ "$m" = "600 root" ] || fail "event socket is $m"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$TCPSCOPE" events --event-socket "$SOCK" \
		>/dev/null 2>&1 </dev/null && fail "nobody could read the event socket"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$TCPSCOPE" stat --pin-dir "$PIN_DIR" \
		>/dev/null 2>&1 && fail "nobody could read the pins"
	# HTTP: a bare port means loopback only.
	wait_for 5 sh -c "nsenter --net=/run/netns/$NS ss -Hltn 'sport = :$PORT' | grep -q ." ||
		fail "HTTP not listening"
	local l; l=$(nsrun "$NS" ss -Hltn "sport = :$PORT" | awk '{print $4}')
	grep -qvE '^(127\.0\.0\.1|\[::1\]):' <<<"$l" && fail "HTTP listens on $l"
	stop full
}

# Root uid but a bounding set of three capabilities: tracks a connection.
test_runs_with_only_bpf_net_admin_perfmon() {
	start caps setpriv --bounding-set="$CAPS" --inh-caps="$CAPS" \
		"$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" --event-socket "$SOCK" || return
	grep -q 'CapEff:\s*0*[0-9a-f]*' /proc/$DPID/status
	local eff; eff=$(awk '/CapEff/{print $2}' /proc/$DPID/status)
	log "CapEff of the daemon: $eff ($(capsh --decode="$eff" 2>/dev/null | cut -d= -f2))"
	nsrun "$NS_B" timeout 5 /usr/bin/python3 -c "import socket,time;s=socket.socket();s.bind(('$IP4_B',8080));s.listen();c,_=s.accept();time.sleep(2)" &
	sleep 0.5
	nsrun "$NS" timeout 5 /usr/bin/python3 -c "import socket,time;s=socket.create_connection(('$IP4_B',8080));time.sleep(1)"
	wait_for 3 sh -c "'$TCPSCOPE' list --pin-dir '$PIN_DIR' | grep -q ':8080 '" ||
		fail "connection not tracked: $("$TCPSCOPE" list --pin-dir "$PIN_DIR")"
	stop caps
}

# A non-root uid with the three as ambient capabilities (pin dir on a bpffs
# it may write, event socket in a directory it owns).
test_runs_as_non_root_with_ambient_caps() {
	mkdir -p "$WORK/sock" && chown 65534 "$WORK/sock"
	start nonroot setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps="$CAPS" \
		--ambient-caps="$CAPS" --bounding-set="$CAPS" \
		"$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" --event-socket "$WORK/sock/ev.sock" || return
	[ "$(stat -c %U "$PIN_DIR")" = nobody ] || fail "pins not owned by the daemon's uid"
	stop nonroot
}

test_without_perfmon_is_exit_3() {
	local c=-all,+bpf,+net_admin
	nsrun "$NS" setpriv --bounding-set="$c" --inh-caps="$c" \
		"$TCPSCOPE" run -i "$IF_A" -q --pin-dir "$PIN_DIR" >/dev/null 2>"$WORK/np.err" </dev/null
	local rc=$?
	[ $rc -eq 3 ] || fail "exited $rc: $(tail -2 "$WORK/np.err")"
	[ ! -e "$PIN_DIR" ] || fail "pins left"
	nsrun "$NS" bpftool -j net show | grep -q tcps && fail "left attached"
	return 0
}

# Without any capability replay runs (the native path) and exits 0;
# `replay --bpf` insists on the kernel: exit 3 and one line that says why.
test_replay_needs_no_privilege_unless_bpf_is_asked_for() {
	/usr/bin/python3 "$TOP/tests/replay/mkpcaps.py" "$WORK" 2>/dev/null || { fail "mkpcaps"; return 1; }
	chmod 0644 "$WORK"/*.pcap
	local nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
	"${nobody[@]}" "$TCPSCOPE" replay "$WORK/close_client.pcap" >/dev/null 2>"$WORK/r.err" ||
		fail "replay as nobody: exit $?: $(cat "$WORK/r.err")"
	"${nobody[@]}" "$TCPSCOPE" replay --bpf "$WORK/close_client.pcap" >/dev/null 2>"$WORK/r.err"
	local rc=$?
	[ $rc -eq 3 ] || fail "replay --bpf as nobody: exit $rc, not 3"
	grep -q '^tcpscope: replay --bpf needs CAP_BPF (or root)' "$WORK/r.err" ||
		fail "no CAP_BPF line: $(cat "$WORK/r.err")"
	[ "$(wc -l <"$WORK/r.err")" -eq 1 ] || fail "more than one line: $(cat "$WORK/r.err")"
	return 0
}

run_test test_pins_are_0600_in_a_0700_dir_and_socket_root_only
run_test test_runs_with_only_bpf_net_admin_perfmon
run_test test_runs_as_non_root_with_ambient_caps
run_test test_without_perfmon_is_exit_3
run_test test_replay_needs_no_privilege_unless_bpf_is_asked_for
suite_done
