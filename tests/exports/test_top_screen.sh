#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tcpscope top at 80x24 under tmux (issue 12, point 11): RECENT
# TRANSITIONS brackets IPv6 addresses as every other output does, shows
# whole target states (an 80-column screen cuts an address's end, never
# "ESTABLISHED->FIN_WAI"), and the help box shows its whole text.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/helpers.sh"
need_root

TMUX_SOCK=tcpscope-topscr-$TAG
tm() { tmux -L "$TMUX_SOCK" "$@"; }
screen() { tm capture-pane -p -t top; }
STATES='ESTABLISHED|SYN_SENT|SYN_RECV|FIN_WAIT1|FIN_WAIT2|TIME_WAIT|CLOSE|CLOSE_WAIT|LAST_ACK|LISTEN|CLOSING'

setup_pair topscr
start_daemon || { echo "not ok daemon_starts"; exit 1; }

# open_close FAMILY_ADDR PORT N: N connections to ADDR:PORT in NS_S from
# NS_C, held 0.3 s, closed by the client first (FIN_WAIT1 and CLOSE_WAIT).
open_close() {
	"${IN_S[@]}" "$PY" -c '
import socket, sys, time
a, p, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((a, p)); s.listen(16); s.settimeout(5)
cs = [s.accept()[0] for _ in range(n)]
time.sleep(1)
for c in cs: c.close()
time.sleep(0.5)
' "$1" "$2" "$3" &
	track_pid $!
	sleep 0.3
	"${IN_C[@]}" "$PY" -c '
import socket, sys, time
a, p, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cs = [socket.create_connection((a, p), timeout=2) for _ in range(n)]
time.sleep(0.3)
for c in cs: c.close()
time.sleep(0.3)
' "$1" "$2" "$3"
}

start_top() {
	command -v tmux >/dev/null || { skip "tmux not installed"; return 1; }
	on_exit tmux -L "$TMUX_SOCK" kill-server
	tm new-session -d -s top -x 80 -y 24 "env -i TERM=screen PATH=$PATH bash --norc --noprofile" ||
		{ fail "tmux"; return 1; }
	tm send-keys -t top "$TCPSCOPE top -d 0.5 --pin-dir $PIN_DIR" Enter
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q '^RECENT TRANSITIONS\$'" ||
		{ screen >&2; fail "top shows no RECENT TRANSITIONS with the event socket"; return 1; }
}

test_recent_transitions_bracket_ipv6_and_show_whole_states() {
	start_top || return
	# One family at a time: the pane shows only the newest transitions.
	open_close "$IP6_B" 8085 2
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q ':8085 '" ||
		{ screen >&2; fail "no IPv6 transitions on the screen"; return; }
	screen >"$WORK/screen6.txt"
	# The server's own endpoint ($IP6_B, local) comes first, bracketed.
	grep -q "\[$IP6_B\]:8085 " "$WORK/screen6.txt" ||
		{ cat "$WORK/screen6.txt" >&2; fail "IPv6 local address not bracketed"; return; }
	! grep -Eq "(^| )$IP6_B:8085" "$WORK/screen6.txt" || { fail "an unbracketed IPv6 address:port"; return; }
	open_close "$IP4_B" 8086 2
	wait_for 10 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q ':8086 '" ||
		{ screen >&2; fail "no IPv4 transitions on the screen"; return; }
	screen >"$WORK/screen.txt"
	cat "$WORK/screen6.txt" >>"$WORK/screen.txt"
	# Every transition on the screen ends in a whole state name.
	grep -Eo -- '->[A-Z_0-9]*' "$WORK/screen.txt" | sed 's/^->//' | grep -Evx "$STATES" >"$WORK/cut" &&
		{ fail "cut target states: $(sort -u "$WORK/cut" | tr '\n' ' ')"; return; }
	grep -Eq -- "->(FIN_WAIT1|CLOSE_WAIT)" "$WORK/screen.txt" || { fail "no close transitions shown"; return; }
	# IPv4 transitions fit whole, both addresses included.
	grep -Eq -- "-> *(FIN_WAIT1|CLOSE_WAIT) +$IP4_B:8086 $IP4_A:[0-9]+\$" "$WORK/screen.txt" ||
		{ cat "$WORK/screen.txt" >&2; fail "IPv4 transition line not whole"; return; }
	[ "$(awk 'length > 80' "$WORK/screen.txt" | wc -l)" = 0 ] || fail "lines wider than 80"
}

test_help_box_shows_its_whole_text() {
	[ -f "$WORK/screen.txt" ] || { fail "top not running"; return; }
	tm send-keys -t top h
	wait_for 5 sh -c "tmux -L $TMUX_SOCK capture-pane -p -t top | grep -q 'tcpscope top - keys'" ||
		{ fail "h shows no help"; return; }
	screen >"$WORK/help.txt"
	grep -Eq '/      filter: ESTABLISHED,SYN_RECV or 198\.18\.0\.0/15( |$)' "$WORK/help.txt" ||
		{ cat "$WORK/help.txt" >&2; fail "help's filter line is cut"; return; }
	grep -Eq 'CHANGE: since the last refresh; IN/s: transitions( |$)' "$WORK/help.txt" || { fail "help line cut"; return; }
	grep -Eq 'into the state per second \(all connections\)\.( |$)' "$WORK/help.txt" || fail "help line cut"
	tm send-keys -t top x q
}

run_test test_recent_transitions_bracket_ipv6_and_show_whole_states
run_test test_help_box_shows_its_whole_text
suite_done
