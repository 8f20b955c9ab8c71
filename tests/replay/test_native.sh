#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# replay's native data path (user/replay_native.c: parse.h, tcps_frame.h and
# tcps_path.h compiled into tcpscope) against the kernel's (the XDP object
# through BPF_PROG_TEST_RUN): byte-identical output on every capture we
# have, and the native path is what a user without CAP_BPF gets.
#  - the shared corpus, ../shared/corpus/pcap beside the repository (as
#    make accuracy; CORPUS=DIR elsewhere): skipped without it, a failure
#    when CI=true;
#  - the crafted captures of mkpcaps.py (test_replay.sh's);
#  - 200k packets of short connections (the benchmark's capture);
#  - a flood that fills both tables past max_entries (replay --max-conns
#    16384), and one of the default half-open table: the inserts the BPF
#    maps refuse, the native tables refuse.
# test_live.sh checks the captures of real kernel TCP the same way.
. "$(dirname "$0")/../lib/lib.sh"
need_root
. "$(dirname "$0")/paths.sh"

PY=/usr/bin/python3
HERE=$TOP/tests/replay
CORPUS=${CORPUS:-$TOP/../shared/corpus}
WORK=$(mktemp -d /tmp/tcps-native-XXXXXX)
on_exit rm -rf "$WORK"
PATHS_DIR=$WORK/out
mkdir -p "$WORK/pc" "$PATHS_DIR"
"$PY" "$HERE/mkpcaps.py" "$WORK/pc" 2>/dev/null || { echo "not ok mkpcaps: scapy failed"; exit 1; }
# nobody reads the captures and writes nothing here.
chmod 0755 "$WORK" "$WORK/pc"; chmod 0644 "$WORK"/pc/*
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)

corpus_files() { find "$CORPUS/pcap" -maxdepth 1 -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort; }

test_corpus_native_output_is_byte_identical_to_bpf() {
	local f n=0
	[ -d "$CORPUS/pcap" ] || { skip "no corpus at $CORPUS/pcap (CORPUS=DIR)"; return 0; }
	for f in $(corpus_files); do
		same_paths "$f" text || return 1
		n=$((n + 1))
	done
	[ $n -gt 0 ] || { fail "no capture in $CORPUS/pcap"; return 1; }
	log "corpus: $n captures identical (JSON and text)"
}

test_crafted_captures_native_output_is_byte_identical_to_bpf() {
	local f n=0
	for f in "$WORK"/pc/*; do
		same_paths "$f" text || return 1
		n=$((n + 1))
	done
	log "crafted: $n captures identical (JSON and text)"
	# --time-wait moves the expiry sweep: the same in both.
	"$TCPSCOPE" replay --bpf --json --time-wait 100 "$WORK/pc/timewait_expiry.pcap" >"$WORK/a" &&
	"$TCPSCOPE" replay --native --json --time-wait 100 "$WORK/pc/timewait_expiry.pcap" >"$WORK/b" &&
	cmp -s "$WORK/a" "$WORK/b" || fail "--time-wait 100: outputs differ"
}

test_many_short_connections_native_output_is_byte_identical_to_bpf() {
	"$PY" "$HERE/mkpcaps.py" "$WORK/bench.pcap" bench 200000 || { fail "mkpcaps bench"; return 1; }
	same_paths "$WORK/bench.pcap"
}

# A flood with the tables of --max-conns 16384: 1250 SYNs (half-open
# table: 1024) and 19375 mid-stream ACKs (main table: 16384 entries at
# most, in the slot array's 18725 slots; an insert may also find no free
# slot within the probe limit), each about a fifth past its table as the
# default tables' 20000 and 310000 were: both paths refuse the same
# inserts, counted table_full, the half-open table's 226 and the slot
# array's. Then 16400 SYNs with the default tables: both refuse the 16
# past the half-open table of 262144/16, which both derive from the
# default --max-conns, as the main table.
test_full_tables_refuse_the_same_inserts_native_and_bpf() {
	local c
	"$PY" "$HERE/mkpcaps.py" "$WORK/flood.pcap" flood 1250 19375 || { fail "mkpcaps flood"; return 1; }
	same_paths "$WORK/flood.pcap" --max-conns 16384 || return 1
	c=$(flood_counters "$PATHS_DIR/flood.pcap.native.json")
	"$PY" -c '
import json, sys
h, m, full = json.loads(sys.argv[1])
sys.exit(not (h == 1024 and 15625 < m <= 16384 and full == 1250 - 1024 + 19375 - m))' "$c" ||
		{ fail "--max-conns 16384: halfopen_new, midstream, table_full: $c"; return 1; }
	"$PY" "$HERE/mkpcaps.py" "$WORK/synflood.pcap" flood 16400 0 || { fail "mkpcaps flood"; return 1; }
	same_paths "$WORK/synflood.pcap" || return 1
	c=$(flood_counters "$PATHS_DIR/synflood.pcap.native.json")
	[ "$c" = "[16384,0,16]" ] || fail "default tables: halfopen_new, midstream, table_full: $c"
	rm -f "$WORK/flood.pcap" "$WORK/synflood.pcap" "$PATHS_DIR"/flood.pcap.* "$PATHS_DIR"/synflood.pcap.*
}

# flood_counters FILE: [halfopen_new, midstream, table_full] of a replay's
# JSON document.
flood_counters() {
	"$PY" -c '
import json, sys
c = json.load(open(sys.argv[1]))["stat"]["counters"]
print(json.dumps([c["halfopen_new"], c["midstream"], c["table_full"]], separators=(",", ":")))' "$1"
}

# No CAP_BPF: replay takes the native path on its own, silently, and its
# output is root's --bpf output byte for byte.
test_unprivileged_user_gets_roots_bpf_output() {
	local f n=0 o
	local files=("$WORK"/pc/*)
	[ -d "$CORPUS/pcap" ] && files+=($(corpus_files))
	for f in "${files[@]}"; do
		o=$PATHS_DIR/nobody.$(basename "$f")
		# Root's --bpf output from the tests above, if they ran.
		{ cp "$PATHS_DIR/$(basename "$f").bpf.json" "$o.root" &&
			cp "$PATHS_DIR/$(basename "$f").bpf.json.err" "$o.root.err"; } 2>/dev/null ||
			"$TCPSCOPE" replay --bpf --json "$f" >"$o.root" 2>"$o.root.err" ||
			{ fail "$f: root --bpf failed"; return 1; }
		"${NOBODY[@]}" "$TCPSCOPE" replay --json "$f" >"$o.nobody" 2>"$o.err" ||
			{ fail "$f: nobody: exit $?: $(head -c 300 "$o.err")"; return 1; }
		cmp -s "$o.root" "$o.nobody" || { fail "$f: nobody's output differs from root's"; return 1; }
		# Only the capture's own warnings (batch_edges has runts), as root's.
		cmp -s "$o.root.err" "$o.err" ||
			{ fail "$f: nobody got other diagnostics: $(head -c 300 "$o.err")"; return 1; }
		n=$((n + 1))
	done
	"${NOBODY[@]}" "$TCPSCOPE" -v replay "$WORK/pc/close_client.pcap" 2>&1 >/dev/null |
		grep -q 'through the native data path' || fail "-v does not name the native path"
	log "unprivileged: $n captures identical to root's BPF output"
}

test_bpf_and_native_flags() {
	"$TCPSCOPE" replay --bpf --native "$WORK/pc/syn_only.pcap" >/dev/null 2>&1
	[ $? -eq 2 ] || fail "--bpf --native: not a usage error"
	"$TCPSCOPE" -v replay --native "$WORK/pc/syn_only.pcap" 2>&1 >/dev/null |
		grep -q 'through the native data path' || fail "root --native did not take the native path"
	"$TCPSCOPE" -v replay "$WORK/pc/syn_only.pcap" 2>&1 >/dev/null |
		grep -q 'through the bpf data path' || fail "root by default did not take the BPF path"
	return 0
}

run_test test_corpus_native_output_is_byte_identical_to_bpf
run_test test_crafted_captures_native_output_is_byte_identical_to_bpf
run_test test_many_short_connections_native_output_is_byte_identical_to_bpf
run_test test_full_tables_refuse_the_same_inserts_native_and_bpf
run_test test_unprivileged_user_gets_roots_bpf_output
run_test test_bpf_and_native_flags
suite_done
