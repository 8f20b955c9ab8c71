#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Connection health in replay, from capture timestamps, to the microsecond
# (tests/replay/mkhealth.py): time in the previous state in every event,
# duration, the handshake halves, RTT from TSval/TSecr, retransmissions;
# the kernel's data path (--bpf) and the native one write the same bytes.
. "$(dirname "$0")/../lib/lib.sh"
need_root
. "$(dirname "$0")/paths.sh"

PY=/usr/bin/python3	# Debian's, which has scapy
HERE=$TOP/tests/replay
PC=$(mktemp -d /tmp/tcps-health-XXXXXX)
on_exit rm -rf "$PC"
PATHS_DIR=$PC
"$PY" "$HERE/mkhealth.py" "$PC/health.pcap" 2>/dev/null || { echo "not ok mkhealth: scapy failed"; exit 1; }

# check PYTHON-EXPR...: each must hold of d (the replay --json document),
# c (its connection) and ev (events as "side from>to" -> prev_state_us).
check() {
	"$TCPSCOPE" replay --json "$PC/health.pcap" >"$PC/out.json" || { fail "replay failed"; return 1; }
	"$PY" - "$PC/out.json" "$@" <<'P' || fail "$(cat "$PC/why")"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["connections"][0]
ev = {"%s %s>%s" % (e["side"], e["from"], e["to"]): e["prev_state_us"] for e in d["events"]}
bad = [x for x in sys.argv[2:] if not eval(x)]
open(sys.argv[1].replace("out.json", "why"), "w").write(
    "; ".join(bad) + " | ev=%s | c=%s" % (ev, {k: v for k, v in c.items() if "us" in k or "retrans" in k}))
sys.exit(1 if bad else 0)
P
}

# Times in the capture (µs after the SYN): SYN+ACK 12345, ACK 12845,
# client FIN 3000001, server FIN 3010001, last ACK 3020002.
test_time_in_previous_state_is_exact() {
	check 'ev["orig CLOSE>SYN_SENT"] is None' 'ev["resp CLOSE>SYN_RECV"] is None' \
		'ev["orig SYN_SENT>ESTABLISHED"] == 12345' 'ev["resp SYN_RECV>ESTABLISHED"] == 500' \
		'ev["orig ESTABLISHED>FIN_WAIT1"] == 3000001 - 12345' \
		'ev["resp ESTABLISHED>CLOSE_WAIT"] == 3000001 - 12845' \
		'ev["orig FIN_WAIT1>FIN_WAIT2"] == 10000' 'ev["orig FIN_WAIT2>TIME_WAIT"] == 0' \
		'ev["resp CLOSE_WAIT>LAST_ACK"] == 10000' 'ev["resp LAST_ACK>CLOSE"] == 10001'
}

test_duration_is_first_to_last_packet() {
	check 'c["duration_us"] == 3020002'
}

test_handshake_halves() {
	check 'c["handshake_resp_us"] == 12345' 'c["handshake_orig_us"] == 500' \
		'c["handshake_rtt_us"] == 12845'
}

# TSval 100 (SYN) echoed at 12345, 1100 at +20000, 1800 (first seen at
# 1700000) echoed at 1730000: RFC 6298 alpha 1/8 over 12345, 20000, 30000.
# The server's 900 echoed after 500; its 2700 (1730000) at 3000001.
test_rtt_from_timestamps() {
	check 'c["rtt_resp_half_us"] == ((12345 * 7 + 20000) // 8 * 7 + 30000) // 8' \
		'c["rtt_orig_half_us"] == (500 * 7 + 1270001) // 8' \
		'c["rtt_min_us"] == 12345 + 500' 'c["rtt_last_us"] == 30000 + 1270001' \
		'c["rtt_us"] == c["rtt_orig_half_us"] + c["rtt_resp_half_us"]'
}

test_retransmission_counted_once() {
	check 'c["orig_retrans_segs"] == 1' 'c["orig_retrans_bytes"] == 100' \
		'c["resp_retrans_segs"] == 0' 'c["orig_out_of_order"] == 0'
}

test_bpf_and_native_paths_agree() {
	same_paths "$PC/health.pcap" text
}

for t in $(declare -F | awk '$3 ~ /^test_/ {print $3}'); do
	run_test "$t"
done
suite_done
