#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tcpscope benchmarks (`make bench`): per-packet cost against floor programs,
# iperf3 throughput per hook against pass-only floors and the peers
# (conntrack, libpcap), connection churn and ring-buffer load, and table
# scale. Root; network namespaces only (nothing touches the root namespace's
# interfaces); everything it makes is removed on exit, also on failure.
#
#   bench/run.sh [-o OUTDIR]      default: BENCHMARKS.md and bench/results.json
#   BENCH_QUICK=1 bench/run.sh    short mode (about a minute; for the test)
#   BENCH_ONLY="pktcost scale"    run only some sections (development)
#
# Each figure is a median over rounds, with min/max, and a ratio to a
# baseline measured in the same run; configurations alternate round by round
# so that drift on a shared machine hits all of them alike.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
cd "$TOP"
# shellcheck source=../tests/lib/lib.sh
. tests/lib/lib.sh
B=$TOP/$BUILD/bench
# Only this shell cleans up: a subshell that ended with the EXIT trap
# would otherwise delete the namespaces and files of the run still going.
BENCH_PID=$BASHPID
trap '[ "$BASHPID" = "$BENCH_PID" ] && _cleanup' EXIT

OUT_MD=$TOP/BENCHMARKS.md
OUT_JSON=$TOP/bench/results.json
while getopts "o:h" opt; do
	case $opt in
	o) mkdir -p "$OPTARG" && OUT_MD=$OPTARG/BENCHMARKS.md && OUT_JSON=$OPTARG/results.json ;;
	*) echo "usage: bench/run.sh [-o OUTDIR]  (BENCH_QUICK=1 for a short run)"; exit 2 ;;
	esac
done

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
for t in "$TCPSCOPE" "$B/pktcost" "$B/floorctl" "$B/churn" "$B/ringload" "$B/scale" "$B/sockfill"; do
	[ -x "$t" ] || { echo "bench: $t missing: run make first" >&2; exit 1; }
done
for t in iperf3 nft tcpdump netstat ss bpftool jq python3; do
	command -v "$t" >/dev/null || { echo "bench: $t missing: make deps" >&2; exit 1; }
done
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	PK_REPEAT=200000 PK_ROUNDS=3 PK_DISTINCT=1000
	TP_ROUNDS=1 TP_SECS=1
	CH_ROUNDS=1 CH_SECS=1 RL_SECS=1
	SCALE_SIZES="10000" SOCK_SIZES="10000" TIME_REPS=3
else
	PK_REPEAT=1000000 PK_ROUNDS=7 PK_DISTINCT=10000
	TP_ROUNDS=3 TP_SECS=3
	CH_ROUNDS=3 CH_SECS=3 RL_SECS=3
	SCALE_SIZES="10000 50000 100000 1000000" SOCK_SIZES="10000 50000" TIME_REPS=5
fi
ONLY=${BENCH_ONLY:-pktcost throughput churn scale replay}
want() { [[ " $ONLY " == *" $1 "* ]]; }

RAW=$(mktemp -d /tmp/tcpscope-bench.XXXXXX)
on_exit rm -rf "$RAW"
SAMPLES=$RAW/samples.tsv
: >"$SAMPLES"
# sample SECTION NAME PARAM VALUE
sample() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$SAMPLES"; }
START=$(date +%s)
say() { printf '[bench %4ds] %s\n' $(( $(date +%s) - START )) "$*" >&2; }

# Background processes are started with nsenter itself, not the nsrun
# function: then $! is the process (nsenter execs it), which stop() ends.
# stop PID: end one process we started, and wait for it.
stop() {
	kill "$1" 2>/dev/null || return 0
	timeout 10 tail --pid="$1" -f /dev/null 2>/dev/null || kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

# ---- 1. per-packet cost -------------------------------------------------
bench_pktcost() {
	say "per-packet cost: repeat $PK_REPEAT, $PK_ROUNDS rounds, $PK_DISTINCT distinct"
	"$B/pktcost" -r "$PK_REPEAT" -k "$PK_ROUNDS" -n "$PK_DISTINCT" >"$RAW/pktcost.json" ||
		{ echo "bench: pktcost failed" >&2; return 1; }
	# The same object loaded as `run --no-health`: what health costs.
	"$B/pktcost" -H -r "$PK_REPEAT" -k "$PK_ROUNDS" -n "$PK_DISTINCT" >"$RAW/pktcost_nohealth.json" ||
		{ echo "bench: pktcost -H failed" >&2; return 1; }
}

# ---- namespaces for the network sections ----------------------------------
NS_C="bcli$TAG" NS_S="bsrv$TAG"
net_setup() {
	[ -n "${IF_B:-}" ] && return 0
	mk_pair "$NS_C" "$NS_S"
	# Short connections: wide client port range; the server closes first so
	# TIME_WAIT stays on its side.
	nsrun "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
	# No TIME_WAIT sockets on the server (it closes first): a new SYN that
	# lands on one of an earlier round's tuples could wait for a SYN
	# retransmission and turn a churn figure into a timer measurement.
	# tcpscope still sees, and reports, the TIME_WAIT from the packets.
	nsrun "$NS_S" sysctl -qw net.ipv4.tcp_max_tw_buckets=0
}

TS_PID="" TS_PIN="" TS_LOG=""
# ts_start NAME ARGS...: tcpscope on the server's veth, wait until attached.
ts_start() {
	local name=$1; shift
	mk_pindir "$name-$RANDOM"
	TS_PIN=$PIN_DIR TS_LOG=$RAW/ts-$name.log
	nsenter --net="/run/netns/$NS_S" "$TCPSCOPE" run -i "$IF_B" --pin-dir "$TS_PIN" --no-seed "$@" \
		>"$RAW/ts-$name.out" 2>"$TS_LOG" &
	TS_PID=$!
	track_pid "$TS_PID"
	# Attached (the "ingress" line) and pinned, in whichever order.
	if ! wait_for 15 sh -c "grep -q ingress '$TS_LOG' && [ -e '$TS_PIN/conns' ]"; then
		echo "bench: tcpscope $* did not start:" >&2
		cat "$TS_LOG" >&2
		stop "$TS_PID"
		TS_PID=""
		return 1
	fi
}
ts_stop() { [ -n "$TS_PID" ] && stop "$TS_PID"; TS_PID=""; }

FL_PID=""
fl_start() {
	nsenter --net="/run/netns/$NS_S" "$B/floorctl" "$IF_B" "$1" >"$RAW/floor.out" 2>&1 &
	FL_PID=$!
	track_pid "$FL_PID"
	wait_for 10 grep -q ready "$RAW/floor.out" || { cat "$RAW/floor.out" >&2; stop "$FL_PID"; return 1; }
}
fl_stop() { [ -n "$FL_PID" ] && stop "$FL_PID"; FL_PID=""; }

PC_PID=""
cfg_start() {
	case $1 in
	none) ;;
	floor_xdp_native) fl_start xdp-native ;;
	floor_xdp_generic) fl_start xdp-generic ;;
	floor_tc) fl_start tc ;;
	tcpscope_xdp_native) ts_start tp -q --hook xdp --xdp-mode native ;;
	tcpscope_xdp_generic) ts_start tp -q --hook xdp --xdp-mode generic ;;
	tcpscope_tc) ts_start tp -q --hook tc ;;
	tcpscope_auto) ts_start tp -q ;;
	conntrack)
		# Any ct expression makes the namespace's conntrack track every flow.
		nsrun "$NS_S" nft -f - <<-'NFT'
		table inet tcpsbench {
			chain in {
				type filter hook input priority 0; policy accept;
				ct state established,related counter accept
			}
		}
		NFT
		;;
	libpcap)
		nsenter --net="/run/netns/$NS_S" tcpdump -i "$IF_B" -w /dev/null -q >"$RAW/pcap.log" 2>&1 &
		PC_PID=$!
		track_pid "$PC_PID"
		wait_for 10 grep -q listening "$RAW/pcap.log"
		;;
	esac
}
cfg_stop() {
	case $1 in
	floor_*) fl_stop ;;
	tcpscope_*) ts_stop ;;
	conntrack) nsrun "$NS_S" nft delete table inet tcpsbench ;;
	libpcap) stop "$PC_PID"; PC_PID="" ;;
	esac
}

# ---- 2. throughput ---------------------------------------------------------
TP_CONFIGS="none floor_xdp_native tcpscope_xdp_native floor_xdp_generic tcpscope_xdp_generic floor_tc tcpscope_tc tcpscope_auto conntrack libpcap"
bench_throughput() {
	local r cfg p bps ip_pid
	net_setup
	nsenter --net="/run/netns/$NS_S" iperf3 -s -B "$IP4_B" >"$RAW/iperf3-server.log" 2>&1 &
	ip_pid=$!
	track_pid "$ip_pid"
	wait_for 10 sh -c "nsenter --net=/run/netns/$NS_S ss -ltn | grep -q ':5201'" ||
		{ echo "bench: iperf3 server did not start" >&2; return 1; }
	for ((r = 0; r < TP_ROUNDS; r++)); do
		for cfg in $TP_CONFIGS; do
			say "throughput round $((r + 1))/$TP_ROUNDS: $cfg"
			cfg_start "$cfg" || { cfg_stop "$cfg"; continue; }
			for p in 1 4; do
				bps=$(nsrun "$NS_C" timeout $((TP_SECS + 20)) iperf3 -c "$IP4_B" -t "$TP_SECS" \
					-P "$p" -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // empty')
				[ -n "$bps" ] && sample throughput "$cfg" "$p" "$bps"
			done
			cfg_stop "$cfg"
		done
	done
	stop "$ip_pid"
}

# cpu_ticks PID: utime + stime (clock ticks)
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
counter() { "$TCPSCOPE" stat --counters --json --pin-dir "$TS_PIN" | jq -r ".counters.\"$1\" // 0"; }

# ---- 3. churn ----------------------------------------------------------------
bench_churn() {
	local r cfg out srv_pid e0 e1 c0 c1 d0 d1 t0 t1 hz
	hz=$(getconf CLK_TCK)
	net_setup
	nsenter --net="/run/netns/$NS_S" "$B/churn" server "$IP4_B" 9000 >"$RAW/churn-server.out" 2>&1 &
	srv_pid=$!
	track_pid "$srv_pid"
	wait_for 10 grep -q ready "$RAW/churn-server.out" || { echo "bench: churn server" >&2; return 1; }
	for ((r = 0; r < CH_ROUNDS; r++)); do
		for cfg in none quiet json; do
			say "churn round $((r + 1))/$CH_ROUNDS: $cfg"
			if [ "$cfg" != none ]; then
				# quiet: events consumed and counted, not printed;
				# json: every event formatted and written to a file.
				if [ "$cfg" = quiet ]; then ts_start churn -q || continue
				else ts_start churn --json || continue
				fi
				c0=$(cpu_ticks "$TS_PID") e0=$(counter transitions)
				d0=$(counter ringbuf_dropped) t0=$(date +%s%N)
			fi
			out=$(nsrun "$NS_C" timeout $((CH_SECS + 30)) "$B/churn" client "$IP4_B" 9000 "$CH_SECS" 2)
			sample churn "conn_per_s" "$cfg" "$(jq -r .per_second <<<"$out")"
			if [ "$cfg" != none ]; then
				sleep 0.3	# the daemon polls every 100 ms
				t1=$(date +%s%N) c1=$(cpu_ticks "$TS_PID") d1=$(counter ringbuf_dropped)
				e1=$(counter transitions)
				sample churn transitions_per_s "$cfg" "$(awk -v l=$((e1 - e0)) -v t=$((t1 - t0)) 'BEGIN{print l / (t / 1e9)}')"
				[ "$cfg" = json ] && sample churn events_written "$cfg" "$(wc -l <"$RAW/ts-churn.out")"
				sample churn rb_drops "$cfg" $((d1 - d0))
				sample churn daemon_cpu_pct "$cfg" "$(awk -v c=$((c1 - c0)) -v hz="$hz" -v t=$((t1 - t0)) 'BEGIN{print 100 * c / hz / (t / 1e9)}')"
				ts_stop
			fi
		done
	done
	stop "$srv_pid"

	# Ring-buffer load at fixed transition rates, from crafted frames run
	# through the daemon's own XDP program (BPF_PROG_TEST_RUN).
	local rate l0 l1
	ts_start ring --json --max-conns 2097152 || return 1
	for ((r = 0; r < CH_ROUNDS; r++)); do
		for rate in 10000 100000; do
			say "ring-buffer load round $((r + 1))/$CH_ROUNDS: $rate transitions/s"
			l0=$(wc -l <"$RAW/ts-ring.out")
			out=$("$B/ringload" "$TS_PIN" "$rate" "$RL_SECS" "$TS_PID") || continue
			l1=$(wc -l <"$RAW/ts-ring.out")
			sample ring "per_second" "$rate" "$(jq -r .per_second <<<"$out")"
			sample ring "rb_drops" "$rate" "$(jq -r .rb_drops <<<"$out")"
			sample ring "daemon_cpu_pct" "$rate" "$(jq -r .daemon_cpu_pct <<<"$out")"
			sample ring "events_handled" "$rate" $((l1 - l0))
			sample ring "transitions" "$rate" "$(jq -r .transitions <<<"$out")"
		done
	done
	ts_stop
}

# tm CMD...: wall time in ms of one run (output discarded)
tm() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s%N)
	awk -v d=$((t1 - t0)) 'BEGIN{printf "%.2f", d / 1e6}'
}

# ---- 4. scale -----------------------------------------------------------------
bench_scale() {
	local n have=0 i mem0 mem slab0 slab out ns_k pid
	net_setup
	ts_start scale -q --max-conns 1100000 || return 1
	mem0=$(bpftool map show pinned "$TS_PIN/conns" -j | jq .bytes_memlock)
	slab0=$(awk '/^Slab:/{print $2}' /proc/meminfo)
	for n in $SCALE_SIZES; do
		say "scale: $n connections in the table"
		out=$("$B/scale" "$TS_PIN" "$have" "$n") || return 1
		sample scale insert_s "$n" "$(jq -r .seconds <<<"$out")"
		have=$n
		mem=$(bpftool map show pinned "$TS_PIN/conns" -j | jq .bytes_memlock)
		slab=$(awk '/^Slab:/{print $2}' /proc/meminfo)
		sample scale memlock_per_conn "$n" "$(( (mem - mem0) / n ))"
		sample scale slab_per_conn "$n" "$(( (slab - slab0) * 1024 / n ))"
		for ((i = 0; i < TIME_REPS; i++)); do
			sample scale stat_ms "$n" "$(tm bash -c "'$TCPSCOPE' stat --pin-dir '$TS_PIN'")"
			sample scale stat_json_ms "$n" "$(tm bash -c "'$TCPSCOPE' stat --json --pin-dir '$TS_PIN'")"
			# A million-row listing takes seconds: time it fewer times.
			if [ "$n" -lt 1000000 ] || [ "$i" -lt 2 ]; then
				sample scale list_json_ms "$n" "$(tm bash -c "'$TCPSCOPE' list --json --pin-dir '$TS_PIN' >/dev/null")"
			fi
		done
	done
	ts_stop

	# Real sockets: N established loopback sockets (N/2 connections) in a
	# namespace of their own; ss and netstat read that namespace.
	ns_k="bsck$TAG"
	ip netns add "$ns_k" && on_exit ip netns del "$ns_k"
	nsrun "$ns_k" ip link set lo up
	nsrun "$ns_k" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
	# A process may hold only RLIMIT_NOFILE's hard limit of descriptors
	# (raising it needs CAP_SYS_RESOURCE): split into chunks. Listener
	# ports sit below the namespace's ephemeral range.
	local per=$(( ($(ulimit -Hn) - 256) / 2 )) port=5000 pairs c k ok pids
	[ "$per" -gt 20000 ] && per=20000
	for n in $SOCK_SIZES; do
		say "sockets: $n established sockets for ss/netstat"
		pairs=$((n / 2)) k=0 ok=1 pids=()
		while [ "$pairs" -gt 0 ]; do
			c=$(( pairs < per ? pairs : per ))
			nsenter --net="/run/netns/$ns_k" "$B/sockfill" "$c" "$port" >"$RAW/sockfill.$k.out" 2>&1 &
			pids+=($!)
			track_pid "$!"
			port=$((port + 4)) pairs=$((pairs - c)) k=$((k + 1))
		done
		for ((i = 0; i < k; i++)); do
			wait_for 60 grep -q ready "$RAW/sockfill.$i.out" || { cat "$RAW/sockfill.$i.out" >&2; ok=0; }
		done
		if [ $ok = 1 ]; then
			sample sockets count "$n" "$(nsrun "$ns_k" ss -Htan state established | wc -l)"
			for ((i = 0; i < TIME_REPS; i++)); do
				sample sockets ss_s_ms "$n" "$(tm nsrun "$ns_k" ss -s)"
				sample sockets ss_awk_ms "$n" "$(tm nsrun "$ns_k" bash -c "ss -tan | awk 'NR > 1 { c[\$1]++ } END { for (s in c) print s, c[s] }'")"
				sample sockets netstat_awk_ms "$n" "$(tm nsrun "$ns_k" bash -c "netstat -ant | awk '/^tcp/ { c[\$6]++ } END { for (s in c) print s, c[s] }'")"
			done
		fi
		for pid in "${pids[@]}"; do stop "$pid"; done
	done
}

# ---- 5. replay ----------------------------------------------------------------
# tcpscope replay of a generated capture of short connections (issue 5: >= 1M
# packets/s). The loop figure is tcpscope's own (-v): BPF_PROG_TEST_RUN per
# packet + Zeek classification + ring buffer; the whole command adds the JSON.
bench_replay() {
	local n f i l t0 t1
	n=$([ "$QUICK" = 1 ] && echo 200000 || echo 2000000)
	f=$RAW/replay.pcap
	say "replay: generating a capture of $n packets"
	/usr/bin/python3 tests/replay/mkpcaps.py "$f" bench "$n" >/dev/null || return 1
	for i in 1 2 3; do
		say "replay round $i/3"
		t0=$(date +%s%N)
		l=$("$TCPSCOPE" -v replay --json "$f" 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) packets\/s/\1/p')
		t1=$(date +%s%N)
		[ -n "$l" ] && sample replay loop_pps "$n" "$l"
		sample replay total_pps "$n" "$(awk -v n="$n" -v d=$((t1 - t0)) 'BEGIN{printf "%.0f", n / (d / 1e9)}')"
	done
	rm -f "$f"
}

want pktcost && { bench_pktcost || exit 1; }
want throughput && bench_throughput
want churn && bench_churn
want scale && bench_scale
want replay && bench_replay

say "writing $OUT_MD and $OUT_JSON"
python3 bench/report.py --raw "$RAW" --md "$OUT_MD" --json "$OUT_JSON" --quick "$QUICK" \
	--cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" --cores "$(nproc)" \
	--kernel "$(uname -r)" --date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--seconds $(( $(date +%s) - START )) || exit 1
say "done"
