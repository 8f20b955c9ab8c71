# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Shared by tests/exports/test_*.sh: a tcpscope daemon in the server
# namespace of a veth pair, and held-open TCP connections driven by python3
# (bounded in count and time). Sourced after tests/lib/lib.sh.

PY=$(command -v /usr/bin/python3 || command -v python3)
NS_C=c$TAG NS_S=s$TAG
# For background jobs: `nsrun NS cmd &` would background a subshell that
# runs nsenter as its child, so $! (and the cleanup's kill) would miss the
# real process. A simple command backgrounded is exec'd: $! is the process.
IN_C=(nsenter --net=/run/netns/$NS_C)
IN_S=(nsenter --net=/run/netns/$NS_S)
HTTP_PORT=9717
SRV_PORT=8080

# setup_pair: namespaces + veth, pin dir; sets DAEMON_OUT/ERR files.
setup_pair() {
	mk_pair "$NS_C" "$NS_S"
	mk_pindir "${1:-exports}"
	WORK=$(mktemp -d /tmp/tcpscope-exports.XXXXXX)
	on_exit rm -rf "$WORK"
}

# start_daemon [ARGS...]: tcpscope run on the server side, --json stdout.
start_daemon() {
	# A second start must not find the first one's "tracking on".
	rm -f "$WORK/daemon.err"
	"${IN_S[@]}" "$TCPSCOPE" run -i "$IF_B" --pin-dir "$PIN_DIR" --json --no-seed "$@" \
		>"$WORK/daemon.out" 2>"$WORK/daemon.err" &
	DAEMON_PID=$!
	track_pid "$DAEMON_PID"
	wait_for 10 grep -q 'tracking on' "$WORK/daemon.err" || { cat "$WORK/daemon.err" >&2; return 1; }
}

# serve N SECONDS: a server in NS_S that accepts N connections and keeps
# them for SECONDS, then closes them.
serve() {
	"${IN_S[@]}" "$PY" -c '
import socket, sys, time
n, t = int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[4]))); s.listen(1024); s.settimeout(t)
cs, end = [], time.time() + t
try:
    while len(cs) < n and time.time() < end:
        cs.append(s.accept()[0])
    time.sleep(max(0, end - time.time()))
except Exception:
    pass
' "$IP4_B" "$1" "$2" "${3:-$SRV_PORT}" &
	track_pid $!
	SERVE_PID=$!
}

# connect N SECONDS: N client connections from NS_C, held for SECONDS then
# closed (FIN) by the client.
connect_hold() {
	"${IN_C[@]}" "$PY" -c '
import socket, sys, time
n, t = int(sys.argv[2]), float(sys.argv[3])
cs = []
for i in range(n):
    for a in range(50):
        try:
            cs.append(socket.create_connection((sys.argv[1], int(sys.argv[4])), timeout=2)); break
        except OSError:
            time.sleep(0.1)
time.sleep(t)
for c in cs: c.close()
time.sleep(0.5)
' "$IP4_B" "$1" "$2" "${3:-$SRV_PORT}" &
	track_pid $!
	CONN_PID=$!
}

# established_is N: the daemon's table has N ESTABLISHED local endpoints.
established_is() {
	[ "$("$TCPSCOPE" stat --json --pin-dir "$PIN_DIR" | jq '.states.ESTABLISHED')" = "$1" ]
}

# curl inside the server namespace (the HTTP export listens on its loopback).
ncurl() { nsrun "$NS_S" curl -sS --max-time 5 "$@"; }
