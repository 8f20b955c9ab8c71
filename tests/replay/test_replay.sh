#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tcpscope replay on crafted captures (tests/replay/mkpcaps.py): exact
# transitions, final orig/resp states, and Zeek's conn_state + history.
# Client 198.18.0.1:40000 -> server 198.18.0.2:80 unless said otherwise.
#
# Expected Zeek verdicts, reasoned from Zeek's rules (TCPSessionAdapter +
# conn_state() in base/protocols/conn/main.zeek):
#  - history: upper case = originator, lower = responder; each letter is
#    logged the first time it is seen in that direction (S SYN, h SYN+ACK,
#    A pure ACK, D data, F FIN, R RST); SYN/FIN/RST again only with a new
#    sequence number, so retransmissions of them add nothing.
#  - endpoint states: a SYN makes the orig SYN_SENT, the SYN+ACK makes both
#    ESTABLISHED, a FIN makes its sender CLOSED, a RST its sender RESET; a
#    first packet without SYN makes its sender PARTIAL.
#  - conn_state: both CLOSED -> SF; orig RESET, resp active -> RSTO; resp
#    RESET while orig SYN_SENT -> REJ; orig SYN_SENT, resp INACTIVE -> S0;
#    both PARTIAL -> OTH.
. "$(dirname "$0")/../lib/lib.sh"
need_root

PY=/usr/bin/python3	# Debian's, which has scapy (a pyenv python3 may not)
HERE=$TOP/tests/replay
PC=$(mktemp -d /tmp/tcps-replay-XXXXXX)
on_exit rm -rf "$PC"
"$PY" "$HERE/mkpcaps.py" "$PC" 2>/dev/null || { echo "not ok mkpcaps: scapy failed"; exit 1; }

# The JSON replay of every crafted capture, made before the tests two at a
# time: each loads the BPF program (the verifier's time, on one CPU), and
# one by one in the tests the other CPU idled. replay_json FILE prints
# FILE's, or fails as the replay did (its stderr on ours).
OUT=$(mktemp -d /tmp/tcps-replay-out-XXXXXX)
on_exit rm -rf "$OUT"
replays_ahead() {
	local f n=0 b
	for f in "$PC"/*; do
		b=$(basename "$f")
		{ "$TCPSCOPE" replay --json "$f" >"$OUT/$b.json" 2>"$OUT/$b.err"; echo $? >"$OUT/$b.rc"; } &
		((++n % 2)) || wait
	done
	wait
}
replay_json() {
	cat "$OUT/$1.err" >&2
	[ "$(cat "$OUT/$1.rc")" = 0 ] && cat "$OUT/$1.json"
}

# replay_is FILE <<EXPECTED: the compact summary must equal EXPECTED.
replay_is() {
	local got want
	got=$(replay_json "$1" | "$PY" "$HERE/summarize.py") || { fail "replay $1 failed"; return 1; }
	want=$(cat)
	[ "$got" = "$want" ] || fail "$1: got
$got
--- want
$want"
}

# Three-way handshake, data both ways, client FIN, server FIN+ACK acking it,
# client ACK. The server's FIN+ACK takes the client FIN_WAIT1 -> FIN_WAIT2
# -> TIME_WAIT in one segment: two events, as the kernel makes them. Zeek:
# S h A D a d F f, both CLOSED -> SF.
CLOSE_CLIENT='orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>FIN_WAIT1 packet
resp ESTABLISHED>CLOSE_WAIT packet
orig FIN_WAIT1>FIN_WAIT2 packet
resp CLOSE_WAIT>LAST_ACK packet
orig FIN_WAIT2>TIME_WAIT packet
resp LAST_ACK>CLOSE packet
C 40000 TIME_WAIT/CLOSE SF ShADadFf 100/200'

test_handshake_data_close_by_client() { replay_is close_client.pcap <<<"$CLOSE_CLIENT"; }

# Server closes first: mirror image; history has f before F.
test_close_by_server() {
	replay_is close_server.pcap <<'X'
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
resp ESTABLISHED>FIN_WAIT1 packet
orig ESTABLISHED>CLOSE_WAIT packet
resp FIN_WAIT1>FIN_WAIT2 packet
orig CLOSE_WAIT>LAST_ACK packet
resp FIN_WAIT2>TIME_WAIT packet
orig LAST_ACK>CLOSE packet
C 40000 CLOSE/TIME_WAIT SF ShADadfF 100/200
X
}

# FINs cross (neither acks the other's FIN): both CLOSING, then each ACK
# of a FIN takes its receiver to TIME_WAIT. Zeek only sees two FINs: SF.
test_simultaneous_close() {
	replay_is simultaneous_close.pcap <<'X'
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>FIN_WAIT1 packet
resp ESTABLISHED>CLOSE_WAIT packet
resp CLOSE_WAIT>CLOSING packet
orig FIN_WAIT1>CLOSING packet
resp CLOSING>TIME_WAIT packet
orig CLOSING>TIME_WAIT packet
C 40000 TIME_WAIT/TIME_WAIT SF ShADadFf 100/200
X
}

# In-window RST from the client after data: both CLOSE. Zeek: orig RESET,
# resp ESTABLISHED -> RSTO; the server only ever sent a pure ACK (a).
test_rst_by_client() {
	replay_is rst.pcap <<'X'
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>CLOSE packet
resp ESTABLISHED>CLOSE packet
C 40000 CLOSE/CLOSE RSTO ShADaR 100/0
X
}

# SYN answered by RST+ACK (ack = ISN+1): the attempt ends; the server
# never had a state. Zeek: resp RESET while orig SYN_SENT -> REJ, "Sr".
test_refused() {
	replay_is refused.pcap <<'X'
orig CLOSE>SYN_SENT packet
orig SYN_SENT>CLOSE packet
C 40000 CLOSE/CLOSE REJ Sr 0/0
X
}

# A SYN and its retransmission (same ISN, 1 s later): one transition; Zeek
# logs S once (same sequence number) -> S0.
test_syn_only() {
	replay_is syn_only.pcap <<'X'
orig CLOSE>SYN_SENT packet
C 40000 SYN_SENT/CLOSE S0 S 0/0
X
}

# Capture starts after the handshake: both ESTABLISHED at once (midstream,
# the lower port is the server). Zeek: first packet is data from the
# client (40000 is no likely server port: no flip), both PARTIAL -> OTH.
test_midstream() {
	replay_is midstream.pcap <<'X'
orig CLOSE>ESTABLISHED packet
resp CLOSE>ESTABLISHED packet
C 40000 ESTABLISHED/ESTABLISHED OTH DadA 50/70
X
	replay_json midstream.pcap | grep -q '"midstream":true' || fail "not marked midstream"
}

test_ipv6() { replay_is ipv6.pcap <<<"$CLOSE_CLIENT"; }
test_vlan_tagged() { replay_is vlan.pcap <<<"$CLOSE_CLIENT"; }

# The client's FIN sent twice: no second transition, no second F in Zeek's
# history (same sequence number), no T (a FIN carries no payload).
test_retransmitted_fin() { replay_is retransmitted_fin.pcap <<<"$CLOSE_CLIENT"; }

# pcapng, Linux cooked (SLL) and raw IP captures of the same conversation.
test_pcapng_sll_raw_link_types() {
	replay_is close_client.pcapng <<<"$CLOSE_CLIENT"
	replay_is close_client_sll.pcap <<<"$CLOSE_CLIENT"
	replay_is close_client_raw.pcap <<<"$CLOSE_CLIENT"
}

# TIME_WAIT ends after 2MSL of capture time (60 s): a SYN 70 s later makes
# the sweep run; the expiry is a transition with reason timeout.
test_timewait_expires_in_capture_time() {
	replay_is timewait_expiry.pcap <<'X'
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>FIN_WAIT1 packet
resp ESTABLISHED>CLOSE_WAIT packet
orig FIN_WAIT1>FIN_WAIT2 packet
resp CLOSE_WAIT>LAST_ACK packet
orig FIN_WAIT2>TIME_WAIT packet
resp LAST_ACK>CLOSE packet
orig TIME_WAIT>CLOSE timeout
orig CLOSE>SYN_SENT packet
C 40000 CLOSE/CLOSE SF ShADadFf 100/200
C 40001 SYN_SENT/CLOSE S0 S 0/0
X
	local t
	t=$("$TCPSCOPE" replay --json --time-wait 100 "$PC/timewait_expiry.pcap" | "$PY" "$HERE/summarize.py")
	grep -q timeout <<<"$t" && fail "--time-wait 100 still expired at 70 s"
	return 0
}

# An 8000-byte segment is cut into test-run-sized pieces: bytes and states
# come out as for a normal conversation.
test_oversized_segment_is_split() {
	replay_is jumbo.pcap <<'X'
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>FIN_WAIT1 packet
resp ESTABLISHED>CLOSE_WAIT packet
orig FIN_WAIT1>FIN_WAIT2 packet
resp CLOSE_WAIT>LAST_ACK packet
orig FIN_WAIT2>TIME_WAIT packet
resp LAST_ACK>CLOSE packet
C 40000 TIME_WAIT/CLOSE SF ShADaFf 8000/0
X
}

# Zeek's records are not tcpscope's entries. The same refused SYN sent
# again (same ISN) is a retransmission for tcpscope (one entry, one
# transition) but a new connection for Zeek, which reuses a tuple on any SYN
# once a side has closed: two REJ rows, in capture order.
test_syn_after_rst_is_a_new_zeek_record() {
	replay_is refused_twice.pcap <<'X'
orig CLOSE>SYN_SENT packet
orig SYN_SENT>CLOSE packet
C 40000 CLOSE/CLOSE REJ Sr 0/0
C 40000 CLOSE/CLOSE REJ Sr 0/0
X
	replay_json refused_twice.pcap | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
a, b = d["connections"]
assert a["first_seen"] < b["first_seen"], (a["first_seen"], b["first_seen"])
assert a["orig_packets"] == b["orig_packets"] == 1, (a, b)
assert d["stat"]["total"] == 1 and d["stat"]["conn_states"] == {"REJ": 2}, d["stat"]
' || fail "rows are not one per Zeek record, or the summary does not count tcpscope entries"
}

# Client side only: SYN, ACK and data, no answer. Zeek's attempt timer gives
# the attempt up 5 s after the SYN (S0 "SAD"); the data 6 s later starts a
# new record (no SYN: partial; a FIN with a silent peer: SH "DF").
test_unanswered_attempt_is_given_up_after_5s() {
	replay_is attempt_timeout.pcap <<'X'
orig CLOSE>SYN_SENT packet
C 40000 SYN_SENT/CLOSE S0 SAD 100/0
C 40000 SYN_SENT/CLOSE SH DF 100/0
X
}

# A SYN-ACK from 8080 to 3128 (both likely server ports: no flip by port),
# then the client's ACK: Zeek flips late, as if on the first packet ('^',
# the SYN-ACK as the responder's 'h').
test_synack_then_ack_flips_zeek_roles() {
	replay_is late_flip.pcap <<'X'
resp CLOSE>SYN_RECV packet
orig CLOSE>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>FIN_WAIT1 packet
resp ESTABLISHED>CLOSE_WAIT packet
orig FIN_WAIT1>FIN_WAIT2 packet
resp CLOSE_WAIT>LAST_ACK packet
orig FIN_WAIT2>TIME_WAIT packet
resp LAST_ACK>CLOSE packet
C 3128 TIME_WAIT/CLOSE SF ^hADaFf 100/0
X
}

# The client acks 200 server bytes the capture does not hold: Zeek's
# reassembler reports a content gap in the responder's direction ('g').
# tcpscope refuses the acks of unseen data, then the server's FIN, until the
# client's ACK of exactly that FIN vouches for it: the close is followed to
# the end (tcps_fsm_recover_fin), nothing stays stuck ESTABLISHED.
test_acked_unseen_data_is_a_gap() {
	replay_is gap.pcap <<'X'
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>FIN_WAIT1 packet
resp ESTABLISHED>CLOSE_WAIT packet
orig FIN_WAIT1>FIN_WAIT2 packet
resp CLOSE_WAIT>LAST_ACK packet
orig FIN_WAIT2>TIME_WAIT packet
resp LAST_ACK>CLOSE packet
C 40000 TIME_WAIT/CLOSE SF ShADagFf 100/0
X
}

# RST, then data 16 s later: Zeek deleted the connection tcp_close_delay
# (5 s) after the RST, so the data starts a new record (RSTO, then RSTRH).
test_reset_connection_is_deleted_after_close_delay() {
	replay_is reset_then_data.pcap <<'X'
orig CLOSE>SYN_SENT packet
resp CLOSE>SYN_RECV packet
orig SYN_SENT>ESTABLISHED packet
resp SYN_RECV>ESTABLISHED packet
orig ESTABLISHED>CLOSE packet
resp ESTABLISHED>CLOSE packet
orig CLOSE>ESTABLISHED packet
resp CLOSE>ESTABLISHED packet
resp ESTABLISHED>CLOSE packet
orig ESTABLISHED>CLOSE packet
C 40000 CLOSE/CLOSE RSTO ShAR 0/0
C 40000 CLOSE/CLOSE RSTRH Dr 100/0
X
}

# The four replays of a capture run at once (each loads the BPF program:
# the verifier's time, one CPU), each into a file of its own.
test_replay_twice_is_byte_identical() {
	local f ja
	for f in close_client.pcap timewait_expiry.pcap midstream.pcap; do
		"$TCPSCOPE" replay --json "$PC/$f" >"$PC/a.json" & ja=$!
		"$TCPSCOPE" replay --json "$PC/$f" >"$PC/b.json" &
		"$TCPSCOPE" replay "$PC/$f" >"$PC/a.txt" &
		"$TCPSCOPE" replay "$PC/$f" >"$PC/b.txt" &
		wait "$ja" || fail "$f: replay failed"
		wait
		cmp -s "$PC/a.json" "$PC/b.json" || fail "$f: two replays differ"
		cmp -s "$PC/a.txt" "$PC/b.txt" || fail "$f: two text replays differ"
	done
}

test_json_document_has_the_contract_fields() {
	replay_json close_client.pcap | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
assert set(d) >= {"events", "connections", "stat"}, d.keys()
c = d["connections"][0]
for k in ("orig_addr", "orig_port", "resp_addr", "resp_port", "orig_state", "resp_state",
          "conn_state", "history", "orig_packets", "resp_packets", "orig_bytes", "resp_bytes",
          "first_seen", "last_seen"):
    assert k in c, k
assert c["first_seen"] == "2023-11-14T22:13:20.001000Z", c["first_seen"]
assert d["stat"]["states"]["TIME_WAIT"] == 1 and d["stat"]["total"] == 1
assert d["events"][0]["time"] == "2023-11-14T22:13:20.001000Z"
' || fail "JSON document"
}

test_text_output_has_events_table_and_summary() {
	local out
	out=$("$TCPSCOPE" replay "$PC/close_client.pcap") || { fail "replay failed"; return; }
	grep -q '^2023-11-14T22:13:20.001000Z 198.18.0.1:40000 > 198.18.0.2:80 orig   CLOSE -> SYN_SENT' <<<"$out" || fail "no event line"
	grep -q 'TIME_WAIT *CLOSE .* SF *ShADadFf' <<<"$out" || fail "no table row"
	grep -q '^TIME_WAIT *1' <<<"$out" || fail "no summary"
}

# Without CAP_BPF the kernel refuses the load: replay takes the native
# path, with the same output (test_native.sh compares the two paths on
# every capture; test_privilege.sh checks that --bpf then exits 3).
test_unprivileged_replay_is_the_same() {
	local f
	for f in close_client.pcap timewait_expiry.pcap; do
		setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
			"$TCPSCOPE" replay --json "$PC/$f" >"$PC/nobody.json" || { fail "$f: nobody: exit $?"; continue; }
		replay_json "$f" | cmp -s - "$PC/nobody.json" || fail "$f: nobody's output differs"
	done
	return 0
}

test_bad_input_is_an_error() {
	"$TCPSCOPE" replay /nonexistent.pcap >/dev/null 2>&1 && fail "missing file accepted"
	echo garbage >"$PC/bad.pcap"
	"$TCPSCOPE" replay "$PC/bad.pcap" >/dev/null 2>&1 && fail "garbage accepted"
	"$TCPSCOPE" replay >/dev/null 2>&1; [ $? -eq 2 ] || fail "no file: not a usage error"
	return 0
}

chmod 0755 "$PC"; chmod 0644 "$PC"/*
replays_ahead
for t in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	run_test "$t"
done
suite_done
