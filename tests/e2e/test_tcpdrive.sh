#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tcpdrive's own edge cases that the end-to-end suites rely on, with real
# kernel TCP between two namespaces and no tcpscope.
#
# A pending (non-blocking) connect whose handshake completes and is then
# reset before tcpdrive serves its epoll event: the socket's SO_ERROR is
# then ECONNRESET (EPIPE if the peer's FIN came first), not ECONNREFUSED.
# tcpdrive must count it as established, then reset, as it counts a reset
# seen by recv(), and not die. To make the order certain, the server's
# accept queue is full (listen(1) plus two fillers), so the kernel drops
# tcpdrive's first SYN; tcpdrive is stopped (SIGSTOP) while in SYN_SENT,
# the queue is emptied, the retransmitted SYN completes the handshake, the
# server accepts and aborts (SO_LINGER 0), and only then is tcpdrive
# continued.
. "$(dirname "$0")/../lib/lib.sh"
need_root

NS_C=tdrc$TAG NS_S=tdrs$TAG
WORK=$(mktemp -d)
on_exit rm -rf "$WORK"
mk_pair "$NS_C" "$NS_S"
DRIVE=$TOOLS/tcpdrive
PORT=8700

# server MODE PORT: listen(1), fill the accept queue, wait for $WORK/go,
# then accept the fillers and tcpdrive's connection and abort it: "rst"
# sends RST at once, "finrst" FIN, then RST.
server() {
	nsrun "$NS_S" timeout 30 /usr/bin/python3 -c "
import os,socket,struct,sys,time
ip,port,mode,go='$IP4_B',int(sys.argv[2]),sys.argv[1],'$WORK/go'
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind((ip,port)); s.listen(1)
fill=[socket.create_connection((ip,port)) for _ in range(2)]
print('full',flush=True)
t=time.time()
while not os.path.exists(go) and time.time()-t<20: time.sleep(0.02)
s.settimeout(10)
keep=[s.accept()[0] for _ in range(2)]
c,peer=s.accept()
if mode=='finrst':
    c.shutdown(socket.SHUT_WR); time.sleep(0.3)
c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0)); c.close()
print('aborted',peer[1],flush=True)
time.sleep(0.5)" "$1" "$2"
}

# client_state PORT: tcpdrive's socket state, as ss shows it in its namespace.
client_state() { nsrun "$NS_C" ss -tanH "dport = :$1" | awk '{print $1}' | sort -u | tr '\n' ' '; }

reset_while_stopped() {
	local mode=$1 port=$2 dpid rc
	# Files of this run only: a waiter must never find the previous run's
	# "full" or "ready" before the new process has truncated them.
	rm -f "$WORK/go" "$WORK/server.out" "$WORK/server.err" "$WORK/drive.out" "$WORK/drive.err"
	server "$mode" "$port" >"$WORK/server.out" 2>"$WORK/server.err" &
	track_pid $!
	wait_for 5 grep -q full "$WORK/server.out" || { fail "server: $(cat "$WORK/server.err")"; return 1; }
	nsenter --net="/run/netns/$NS_C" "$DRIVE" connect "$IP4_B" "$port" -t 20000 -L 60 \
		-e 'wait-conn; status; wait-reset; status; exit' </dev/null >"$WORK/drive.out" 2>"$WORK/drive.err" &
	dpid=$!
	track_pid $dpid
	wait_for 5 grep -q '^ready' "$WORK/drive.out" || { fail "tcpdrive did not start: $(cat "$WORK/drive.err")"; return 1; }
	kill -STOP $dpid 2>/dev/null
	[ "$(client_state "$port")" = "SYN-SENT " ] || {
		kill -CONT $dpid 2>/dev/null
		fail "not in SYN-SENT before the stop: '$(client_state "$port")'; tcpdrive: $(tr '\n' '|' <"$WORK/drive.out") $(cat "$WORK/drive.err"); server: $(cat "$WORK/server.out" "$WORK/server.err" | tr '\n' '|')"
		return 1
	}
	touch "$WORK/go"
	# The SYN is retransmitted after 1 s (then 2 s): established, aborted.
	wait_for 10 grep -q aborted "$WORK/server.out" || { kill -CONT $dpid; fail "server did not abort: $(cat "$WORK/server.err")"; return 1; }
	wait_for 5 sh -c "[ -z \"\$(nsenter --net=/run/netns/$NS_C ss -tanH state established state close-wait dport = :$port)\" ]" ||
		{ kill -CONT $dpid; fail "client socket not reset: $(client_state "$port")"; return 1; }
	kill -CONT $dpid
	wait_gone 10 $dpid
	wait $dpid
	rc=$?
	log "$mode: tcpdrive exited $rc: $(tr '\n' '|' <"$WORK/drive.out") $(cat "$WORK/drive.err")"
	[ $rc -eq 0 ] || { fail "$mode: tcpdrive exited $rc: $(cat "$WORK/drive.err")"; return 1; }
	grep -qx 'ok wait-conn 1' "$WORK/drive.out" || fail "$mode: no 'ok wait-conn 1'"
	grep -qx 'ok status open=0 pending=0 established=1 eof=0 refused=0 reset=1 closed=1' "$WORK/drive.out" ||
		fail "$mode: status is not established then reset: $(grep status "$WORK/drive.out" | head -1)"
	grep -qx 'ok wait-reset 1' "$WORK/drive.out" || fail "$mode: no 'ok wait-reset 1'"
}

test_connect_reset_before_served_is_established_then_reset() {
	reset_while_stopped rst $PORT
}

test_connect_fin_then_reset_before_served_is_established_then_reset() {
	reset_while_stopped finrst $((PORT + 1))
}

# exit_code_check TOOL WANT ARGS...: TOOL exits WANT with one "TOOL: ..."
# line on stderr (run in the client namespace, bounded).
exit_code_check() {
	local tool=$1 want=$2 rc err
	shift 2
	err=$(nsrun "$NS_C" timeout 10 "$TOOLS/$tool" "$@" </dev/null 2>&1 >/dev/null)
	rc=$?
	[ $rc -eq "$want" ] || { fail "$tool $*: exit $rc, want $want ($err)"; return 1; }
	[ "$(wc -l <<<"$err")" -eq 1 ] && [[ $err == "$tool: "* ]] || fail "$tool $*: not one '$tool: ...' line: $err"
}

# A bad command line exits 2, as tcpscope's does; a failure while running
# (a refused connection, a bad command) keeps exit 1.
test_bad_command_line_exits_2_runtime_failure_1() {
	local a
	for a in "-n x" "-n 65537" "-t -1" "-L 1e3" "-s 70000" "--bogus"; do
		exit_code_check tcpdrive 2 connect "$IP4_B" 80 $a
	done
	exit_code_check tcpdrive 2 connect "$IP4_B" port
	exit_code_check tcpdrive 2 connect 198.18.1 80
	exit_code_check tcpdrive 2 listen "$IP4_B" 80 -b "$IP4_A"
	exit_code_check tcpdrive 2 connect "$IP4_B" 80 -b "$IP6_A"
	exit_code_check tcpdrive 2 connect "$IP4_B" 80 -s 4000
	exit_code_check tcpdrive 2 frob "$IP4_B" 80
	# Nothing listens on PORT - 1: refused.
	exit_code_check tcpdrive 1 connect "$IP4_B" $((PORT - 1)) -L 5 -e 'wait-conn'
	exit_code_check tcpdrive 1 connect "$IP4_B" $((PORT - 1)) -L 5 -e 'sleep x'
}

run_test test_bad_command_line_exits_2_runtime_failure_1
run_test test_connect_reset_before_served_is_established_then_reset
run_test test_connect_fin_then_reset_before_served_is_established_then_reset
suite_done
