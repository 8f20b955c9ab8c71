#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tcpscope benchmarks (`make bench`): every cost target of issue 11 in one
# run, under 10 minutes on 2 cores, ending with a targets table (met or
# missed). Sections:
#   pktcost  per-packet cost against floor programs (BPF_PROG_TEST_RUN)
#   net      iperf3 (1 and 4 streams) and short connections (1 and 4
#            client workers) on one veth: nothing attached, the device's
#            pass-only tc floor, tcpscope, conntrack; alternating rounds;
#            then, outside the ratios, the floor's and tcpscope's programs'
#            own cost in churn (BPF run-time stats, held by bench/statsfd),
#            and the same with one churn worker and the server pinned to
#            one CPU, to two, and to two kept from idling (bench/spin);
#            then the gated pairs the targets are decided on: one tcpscope,
#            bench/floorctl's gate in front of it switching between the
#            floor, tcpscope and conntrack within seconds
#   scale    stat, list --json, stat --by-remote, top and the idle daemon
#            at up to 1M connections; kernel memory per connection (IPv4,
#            IPv6, health on and off); ss/netstat on real sockets
#   events   ring-buffer drops and daemon CPU at 500k and 100k
#            transitions/s, the daemon writing JSON lines to a file
#   replay   tcpscope replay of a generated capture
# Root; network namespaces only (nothing touches the root namespace's
# interfaces, nft rules live only in our namespace); everything it makes
# is removed on exit, also on failure.
#
#   bench/run.sh [-o OUTDIR]      default: BENCHMARKS.md and bench/results.json
#   BENCH_QUICK=1 bench/run.sh    short mode (under a minute; for the test)
#   BENCH_ONLY="pktcost scale"    run only some sections (development)
#   BENCH_NET_ROUNDS=N            rounds of the net section
#   BENCH_KEEP=1                  keep the raw samples (their directory is printed)
#
# Each figure is a median over rounds, with min/max; ratios are paired:
# taken round by round against a baseline measured in the same round, the
# configurations' order rotating from round to round, so that drift on a
# shared machine hits all of them alike.
set -u
# Debian's python3 (report.py, the drivers), not a version manager's shim
# earlier in PATH (tests/lib/lib.sh says why).
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
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
for t in "$TCPSCOPE" "$B/rus" "$B/pktcost" "$B/floorctl" "$B/statsfd" "$B/churn" "$B/ringload" "$B/connfill" "$B/sockfill" "$B/spin"; do
	[ -x "$t" ] || { echo "bench: $t missing: run make first" >&2; exit 1; }
done
for t in iperf3 nft netstat ss bpftool jq python3; do
	command -v "$t" >/dev/null || { echo "bench: $t missing: make deps" >&2; exit 1; }
done
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	# Every section's code once, on small sizes; no health-off pktcost
	# run and no replay (each a BPF load of its own; replay has its own
	# test).
	PK_REPEAT=200000 PK_ROUNDS=3 PK_DISTINCT=1000 PKH_ROUNDS=0 PK_PROCS=1
	NET_ROUNDS=1 TP_SECS=1 CH_SECS=1 STAT_SECS=0.5 GATE_PAIRS=1 GATE_WIN=0.2 GATE_IP_SECS=1
	PLACE_REPS=1 PLACE_SECS=0.5
	SIZES="10000" MAX_CONNS=10000 TIME_REPS=2 IDLE_SECS=2 TOP_N=3 SETTLE=0.5
	EV_HI_SECS=1 EV_LO_SECS=1 EV_LO_ROUNDS=1
	SOCK_SIZES="" REPLAY_N=0
else
	PK_REPEAT=1000000 PK_ROUNDS=9 PK_DISTINCT=10000 PKH_ROUNDS=3 PK_PROCS=3
	NET_ROUNDS=4 TP_SECS=2 CH_SECS=2 STAT_SECS=1 GATE_PAIRS=12 GATE_WIN=0.5 GATE_IP_SECS=1
	PLACE_REPS=2 PLACE_SECS=1.5
	SIZES="100000 1000000" MAX_CONNS=1000000 TIME_REPS=3 IDLE_SECS=20 TOP_N=3 SETTLE=2
	EV_HI_SECS=10 EV_LO_SECS=5 EV_LO_ROUNDS=2
	SOCK_SIZES="10000 50000" REPLAY_N=1000000
fi
NET_ROUNDS=${BENCH_NET_ROUNDS:-$NET_ROUNDS}
EV_HI=500000 EV_LO=100000
ONLY=${BENCH_ONLY:-pktcost net scale events replay}
want() { [[ " $ONLY " == *" $1 "* ]]; }

RAW=$(mktemp -d /tmp/tcpscope-bench.XXXXXX)
# BENCH_KEEP=1: leave the raw samples (development of report.py).
if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: raw samples in $RAW" >&2; else on_exit rm -rf "$RAW"; fi
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
	timeout 10 tail -s 0.05 --pid="$1" -f /dev/null 2>/dev/null || kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

# cpu_ticks PID: utime + stime (clock ticks) from /proc/PID/stat
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# rus CMD...: run CMD (output discarded); print "wall_ms cpu_ms maxrss_kb
# exit user_ms sys_ms" from the child's own rusage (wait4). bench/rus spawns
# it: a python3 fork had the command's figures carry python's page tables
# and RSS (bench/rus.c says how much).
rus() { "$B/rus" "$@"; }

# kmem_kb: kernel memory that maps and their elements come from (kB):
# slab (bpf_mem_alloc, kmalloc) + vmalloc (preallocated maps, buckets,
# the ring buffer) + per-CPU allocations.
kmem_kb() { awk '/^(Slab|VmallocUsed|Percpu):/ { s += $2 } END { print s }' /proc/meminfo; }

# ---- 1. per-packet cost -------------------------------------------------
# pk_procs OUT ROUNDS ARGS...: ROUNDS rounds of pktcost ARGS in PK_PROCS
# processes of their own, merged into OUT as one run of ROUNDS rounds (each
# case's samples in process order). Where the kernel puts a process's maps
# and entries moves the hot path between two modes ~20 ns apart (bench/
# NOTES.md, 'The hot path's two modes'): one process is one draw of that.
pk_procs() {
	local out=$1 rounds=$2 p per files=()
	shift 2
	per=$(( (rounds + PK_PROCS - 1) / PK_PROCS ))
	for p in $(seq 1 "$PK_PROCS"); do
		"$B/pktcost" -k "$per" "$@" >"$out.$p" || { echo "bench: pktcost $* failed" >&2; return 1; }
		files+=("$out.$p")
	done
	python3 - "$out" "${files[@]}" <<-'PY'
	import json, sys
	runs = [json.load(open(f)) for f in sys.argv[2:]]
	out = runs[0]
	for r in runs[1:]:
	    for c, d in zip(out["cases"], r["cases"]):
	        assert c["name"] == d["name"]
	        c["ns"] += d["ns"]
	        c["kns"] += d["kns"]
	    out["rounds"] += r["rounds"]
	out["processes"] = len(runs)
	json.dump(out, open(sys.argv[1], "w"))
	PY
}

bench_pktcost() {
	say "per-packet cost: repeat $PK_REPEAT, $PK_ROUNDS rounds in $PK_PROCS processes, $PK_DISTINCT distinct"
	pk_procs "$RAW/pktcost.json" "$PK_ROUNDS" -r "$PK_REPEAT" -n "$PK_DISTINCT" || return 1
	[ "$PKH_ROUNDS" -gt 0 ] || return 0
	# The same object loaded as `run --no-health`: what health costs.
	say "per-packet cost, health off: $PKH_ROUNDS rounds"
	pk_procs "$RAW/pktcost_nohealth.json" "$PKH_ROUNDS" -H -r "$PK_REPEAT" -n "$PK_DISTINCT"
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

TS_PID="" TS_PIN="" TS_LOG="" TS_OUT=""
# ts_start NAME ARGS...: tcpscope on the server's veth, wait until attached.
ts_start() {
	local name=$1; shift
	TS_PIN=/sys/fs/bpf/tcpscope-bench-$TAG-$name-$RANDOM
	on_exit rm -rf "$TS_PIN"
	TS_LOG=$RAW/ts-$name.log TS_OUT=$RAW/ts-$name.out
	nsenter --net="/run/netns/$NS_S" "$TCPSCOPE" run -i "$IF_B" --pin-dir "$TS_PIN" --no-seed "$@" \
		>"$TS_OUT" 2>"$TS_LOG" &
	TS_PID=$!
	track_pid "$TS_PID"
	# Attached, pinned and every module started: the "tracking on" line.
	# (The "ingress" line comes before the modules start.)
	if ! wait_for 15 sh -c "grep -q 'tracking on' '$TS_LOG' && [ -e '$TS_PIN/conns' ]"; then
		echo "bench: tcpscope $* did not start:" >&2
		cat "$TS_LOG" >&2
		stop "$TS_PID"
		TS_PID=""
		return 1
	fi
	# The expiry program is verified beside the start, after ready
	# (user/gc.c): measure after it.
	settle "$TS_PID"
}
ts_stop() { [ -n "$TS_PID" ] && stop "$TS_PID"; TS_PID=""; rm -rf "$TS_PIN"; }
counter() { "$TCPSCOPE" stat --counters --json --pin-dir "$TS_PIN" | jq -r ".counters.\"$1\" // 0"; }

FL_PID=""
fl_start() {
	nsenter --net="/run/netns/$NS_S" "$B/floorctl" "$IF_B" "$1" >"$RAW/floor.out" 2>&1 &
	FL_PID=$!
	track_pid "$FL_PID"
	wait_for 10 grep -q ready "$RAW/floor.out" || { cat "$RAW/floor.out" >&2; stop "$FL_PID"; return 1; }
}
fl_stop() { [ -n "$FL_PID" ] && stop "$FL_PID"; FL_PID=""; }

# The four configurations of the monitored device (the server's veth).
NFT_TABLE=tcpsbench$TAG
cfg_start() {
	case $1 in
	none) ;;
	# tc ingress + tc egress programs that return at once: the least any
	# program on those hooks of this device costs.
	floor) fl_start tc ;;
	# tcpscope's own hooks on veth: tc ingress + tc egress (what `auto`
	# picks on veth; named so that a change of auto cannot move it). -q
	# and no reader: the data path makes no events (user/run.c
	# events_gate), as conntrack makes none without a listener; the
	# events section measures them.
	tcpscope)
		ts_start net -q --hook tc || return 1
		grep -q "ingress tc" "$TS_LOG" || { echo "bench: not on tc: $(cat "$TS_LOG")" >&2; return 1; }
		;;
	# The kernel's connection tracker: a `ct state` rule on input and
	# output makes the namespace track every flow, in its own table.
	conntrack)
		nsrun "$NS_S" nft -f - <<-NFT
		table inet $NFT_TABLE {
			chain in {
				type filter hook input priority 0; policy accept;
				ct state established,related accept
			}
			chain out {
				type filter hook output priority 0; policy accept;
				ct state established,related accept
			}
		}
		NFT
		;;
	esac
}
cfg_stop() {
	case $1 in
	floor) fl_stop ;;
	tcpscope) ts_stop ;;
	conntrack) nsrun "$NS_S" nft delete table inet "$NFT_TABLE" ;;
	esac
}

# ---- 2. throughput and churn on one device ------------------------------------
NET_CONFIGS=(none floor tcpscope conntrack)

# Where the time goes in churn: the kernel's own per-program figures
# (run_cnt, run_time_ns) of the programs on the monitored device, read
# around one more churn run per worker count. That run is not a ratio
# sample: the stats' own clock reads (two per program run) touch only it.
# The stats are on only for those runs, held by bench/statsfd's descriptor
# (BPF_ENABLE_STATS): kernel.bpf_stats_enabled is never written, so another
# tool's stats are never switched off, and they go off with the holder.
STATS_PID=""
stats_on() {
	[ -z "$STATS_PID" ] || return 0
	"$B/statsfd" >"$RAW/statsfd" 2>&1 &
	STATS_PID=$!
	track_pid "$STATS_PID"
	wait_for 5 grep -q ready "$RAW/statsfd" || { cat "$RAW/statsfd" >&2; stats_off; return 1; }
}
stats_off() {
	[ -n "$STATS_PID" ] || return 0
	stop "$STATS_PID"
	STATS_PID=""
}

# dev_progs: "DIR ID" of each tc program on the monitored device (in the
# server's namespace: the device, and so the programs, are this run's own).
dev_progs() {
	nsrun "$NS_S" bpftool net show dev "$IF_B" -j |
		jq -r '.[0].tc[]? | "\(.kind | sub("^clsact/"; "")) \(.id)"'
}
# prog_run ID: "run_cnt run_time_ns" of one program
prog_run() { bpftool prog show id "$1" -j | jq -r '"\(.run_cnt // 0) \(.run_time_ns // 0)"'; }
# cpu_busy: "busy total" jiffies of all CPUs (/proc/stat)
cpu_busy() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }

# progs_snap: "DIR run_cnt run_time_ns", a line per program of $PROGS
progs_snap() {
	local dir id
	while read -r dir id; do echo "$dir $(prog_run "$id")"; done <<<"$PROGS"
}
# progs_sample KEY TAG NS BEFORE AFTER: from two progs_snap NS apart, per
# program: "net_prog KEY_DIR_{pps,ns,cores_pct} TAG"
progs_sample() {
	local key=$1 tag=$2 t=$3 dir a0 b0 a1 b1
	while read -r dir a1 b1; do
		read -r a0 b0 < <(awk -v d="$dir" '$1 == d { print $2, $3 }' <<<"$4")
		[ "${a1:-0}" -gt "${a0:-0}" ] || continue
		sample net_prog "${key}_${dir}_pps" "$tag" \
			"$(awk -v n=$((a1 - a0)) -v t="$t" 'BEGIN { print n / (t / 1e9) }')"
		sample net_prog "${key}_${dir}_ns" "$tag" \
			"$(awk -v n=$((a1 - a0)) -v d=$((b1 - b0)) 'BEGIN { print d / n }')"
		sample net_prog "${key}_${dir}_cores_pct" "$tag" \
			"$(awk -v d=$((b1 - b0)) -v t="$t" -v c="$(nproc)" 'BEGIN { print 100 * d / (t * c) }')"
	done <<<"$5"
}
# stats_run KEY CFG R CMD...: run CMD (its stdout in STATS_OUT) with the
# programs' stats, the machine's busy share and tcpscope's CPU around it.
# Samples "net_prog KEY_{machine_busy_pct,daemon_cpu_pct} CFG@R" and those
# of progs_sample.
stats_run() {
	local key=$1 tag=$2@$3 m0 m1 t0 t1 c0 c1 s0 s1 a0 b0 a1 b1
	shift 3
	[ "${tag%@*}" = tcpscope ] && c0=$(cpu_ticks "$TS_PID")
	s0=$(progs_snap) m0=$(cpu_busy) t0=$(date +%s%N)
	STATS_OUT=$("$@")
	t1=$(date +%s%N) m1=$(cpu_busy) s1=$(progs_snap)
	if [ "${tag%@*}" = tcpscope ]; then
		c1=$(cpu_ticks "$TS_PID")
		sample net_prog "${key}_daemon_cpu_pct" "$tag" \
			"$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v t=$((t1 - t0)) 'BEGIN { print 100 * c / hz / (t / 1e9) }')"
	fi
	progs_sample "$key" "$tag" $((t1 - t0)) "$s0" "$s1"
	read -r a0 b0 <<<"$m0"
	read -r a1 b1 <<<"$m1"
	[ "$b1" -gt "$b0" ] && sample net_prog "${key}_machine_busy_pct" "$tag" \
		"$(awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) 'BEGIN { print 100 * a / b }')"
	return 0
}

# net_progstats R CFG: per worker count, one churn run of STAT_SECS, and one
# iperf3 -P 1 run, with the kernel's program stats on. Samples
# "net_prog {churnW,iperf1}_DIR_{pps,ns,cores_pct} CFG@R", "net_prog
# {churnW,iperf1}_{machine_busy_pct,daemon_cpu_pct} CFG@R", and
# "net_prog churnW_{conn_per_s,promoted_pct} CFG@R", "net_prog iperf1_gbps CFG@R".
net_progstats() {
	local r=$1 cfg=$2 w p0 p1 n secs
	PROGS=$(dev_progs)
	[ -n "$PROGS" ] || { echo "bench: net: no tc programs on $IF_B under $cfg" >&2; return 1; }
	stats_on || return 1
	for w in 1 4; do
		[ "$cfg" = tcpscope ] && p0=$(counter halfopen_promoted)
		stats_run "churn$w" "$cfg" "$r" nsrun "$NS_C" timeout 40 "$B/churn" client "$IP4_B" 9000 "$STAT_SECS" "$w"
		[ -n "$STATS_OUT" ] || continue
		sample net_prog "churn${w}_conn_per_s" "$cfg@$r" "$(jq -r .per_second <<<"$STATS_OUT")"
		[ "$cfg" = tcpscope ] || continue
		# Connections whose SYN made a new (half-open) entry, the
		# rest reopened a tuple still held in TIME_WAIT.
		p1=$(counter halfopen_promoted) n=$(jq -r '.connections // 0' <<<"$STATS_OUT")
		[ "${n:-0}" -gt 0 ] && sample net_prog "churn${w}_promoted_pct" "$cfg@$r" \
			"$(awk -v p=$((p1 - p0)) -v n="$n" 'BEGIN { print 100 * p / n }')"
	done
	secs=${STAT_SECS%.*}
	[ "${secs:-0}" -ge 1 ] || secs=1
	stats_run iperf1 "$cfg" "$r" nsrun "$NS_C" timeout 30 iperf3 -c "$IP4_B" -t "${secs:-1}" -P 1 -J
	n=$(jq -r '.end.sum_received.bits_per_second // empty' <<<"$STATS_OUT" 2>/dev/null)
	[ -n "$n" ] && sample net_prog iperf1_gbps "$cfg@$r" "$(awk -v b="$n" 'BEGIN { print b / 1e9 }')"
	stats_off
}
# net_round R CFG: every workload under one configuration, samples
# "net WORKLOAD CFG@R VALUE".
net_round() {
	local r=$1 cfg=$2 p w out bps c0 c1 d0 d1 e0 e1 t0 t1
	for p in 1 4; do
		bps=$(nsrun "$NS_C" timeout $((TP_SECS + 20)) iperf3 -c "$IP4_B" -t "$TP_SECS" \
			-P "$p" -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // empty')
		[ -n "$bps" ] && sample net "iperf$p" "$cfg@$r" "$bps"
	done
	for w in 1 4; do
		if [ "$cfg" = tcpscope ]; then
			c0=$(cpu_ticks "$TS_PID") e0=$(counter transitions) d0=$(counter ringbuf_dropped)
			t0=$(date +%s%N)
		fi
		out=$(nsrun "$NS_C" timeout $((CH_SECS + 30)) "$B/churn" client "$IP4_B" 9000 "$CH_SECS" "$w")
		[ -n "$out" ] && sample net "churn$w" "$cfg@$r" "$(jq -r .per_second <<<"$out")"
		[ -n "$out" ] && sample net_err "churn$w" "$cfg@$r" "$(jq -r .errors <<<"$out")"
		if [ "$cfg" = tcpscope ]; then
			t1=$(date +%s%N) c1=$(cpu_ticks "$TS_PID") e1=$(counter transitions)
			d1=$(counter ringbuf_dropped)
			sample net_ts "churn${w}_transitions_per_s" "$r" \
				"$(awk -v l=$((e1 - e0)) -v t=$((t1 - t0)) 'BEGIN { print l / (t / 1e9) }')"
			sample net_ts "churn${w}_rb_drops" "$r" $((d1 - d0))
			sample net_ts "churn${w}_daemon_cpu_pct" "$r" \
				"$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v t=$((t1 - t0)) 'BEGIN { print 100 * c / hz / (t / 1e9) }')"
		fi
	done
	# After the ratio samples: the programs' own cost, stats on.
	case $cfg in floor | tcpscope) net_progstats "$r" "$cfg" ;; esac
}

bench_net() {
	local r i n=${#NET_CONFIGS[@]} cfg ip_pid srv_pid
	net_setup
	command -v modprobe >/dev/null && modprobe nf_conntrack 2>/dev/null
	# Conntrack keeps a closed connection 120 s (TIME_WAIT) against a
	# host-wide limit; short connections of earlier rounds would fill it
	# and make later rounds a table-full measurement. 10 s here, in the
	# server's namespace only.
	nsrun "$NS_S" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=10 2>/dev/null
	on_exit nsrun "$NS_S" nft delete table inet "$NFT_TABLE"
	nsenter --net="/run/netns/$NS_S" iperf3 -s -B "$IP4_B" >"$RAW/iperf3-server.log" 2>&1 &
	ip_pid=$!
	track_pid "$ip_pid"
	nsenter --net="/run/netns/$NS_S" "$B/churn" server "$IP4_B" 9000 >"$RAW/churn-server.out" 2>&1 &
	srv_pid=$!
	track_pid "$srv_pid"
	wait_for 10 sh -c "nsenter --net=/run/netns/$NS_S ss -ltn | grep -q ':5201'" ||
		{ echo "bench: iperf3 server did not start" >&2; return 1; }
	wait_for 10 grep -q ready "$RAW/churn-server.out" || { echo "bench: churn server" >&2; return 1; }
	for ((r = 0; r < NET_ROUNDS; r++)); do
		for ((i = 0; i < n; i++)); do
			# The order rotates: no configuration always runs first.
			cfg=${NET_CONFIGS[$(((i + r) % n))]}
			say "net round $((r + 1))/$NET_ROUNDS: $cfg (iperf3 -P 1/4 ${TP_SECS}s, churn 1/4 workers ${CH_SECS}s)"
			if cfg_start "$cfg"; then
				net_round "$r" "$cfg"
			else
				echo "bench: net: $cfg did not start" >&2
			fi
			cfg_stop "$cfg"
		done
	done
	net_place "$srv_pid"
	net_gate
	stop "$ip_pid"
	stop "$srv_pid"
}

# ---- where churn's gap is: the CPUs the two ends run on -----------------------
# One churn worker and the server pinned: both on one CPU ("one"), on two
# ("two"; the first two this process may use), and on two with both kept
# from going idle by bench/spin under SCHED_IDLE ("two-busy"), for the
# floor and for tcpscope, with the programs' kernel stats on. Across two
# CPUs each packet's program runs on the sender's CPU, so a connection's
# entry is written from both; and each CPU halts between a connection's
# packets (a guest's halt hands the core to the host). The three
# placements tell the two costs apart (bench/NOTES.md, "Two CPUs").
# Samples "place churn1_{ns,conn_per_s} CFG/PLACEMENT@REP".
PLACES=(one two two-busy)
# progs_ns BEFORE AFTER: run time over runs of all programs, two progs_snap
progs_ns() {
	awk 'NR == FNR { c[$1] = $2; t[$1] = $3; next }
	     { n += $2 - c[$1]; d += $3 - t[$1] } END { if (n > 0) print d / n }' \
		<(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
# allowed_cpus: the CPUs this process may run on, one a line
allowed_cpus() {
	taskset -p -c $$ | sed 's/.*: *//' | tr ',' '\n' |
		awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }'
}
# place_run SERVER_PID CFG PLACEMENT REP: the client on PLACE_CPUS[0], the
# server on it too ("one") or on PLACE_CPUS[1]
place_run() {
	local srv=$1 cfg=$2 pl=$3 rep=$4 c=${PLACE_CPUS[0]} scpu=${PLACE_CPUS[1]} spins=() p s0 s1 out ns
	[ "$pl" = one ] && scpu=$c
	taskset -a -p -c "$scpu" "$srv" >/dev/null || return 1
	if [ "$pl" = two-busy ]; then
		for p in "${PLACE_CPUS[@]}"; do
			taskset -c "$p" "$B/spin" 60 &
			spins+=($!)
			track_pid $!
		done
	fi
	s0=$(progs_snap)
	out=$(nsrun "$NS_C" taskset -c "$c" timeout 30 "$B/churn" client "$IP4_B" 9000 "$PLACE_SECS" 1)
	s1=$(progs_snap)
	for p in "${spins[@]}"; do stop "$p"; done
	[ -n "$out" ] && sample place churn1_conn_per_s "$cfg/$pl@$rep" "$(jq -r .per_second <<<"$out")"
	ns=$(progs_ns "$s0" "$s1")
	[ -n "$ns" ] && sample place churn1_ns "$cfg/$pl@$rep" "$ns"
	return 0
}
net_place() {
	local srv=$1 rep i cfg pl cfgs=(floor tcpscope) mask
	mapfile -t PLACE_CPUS < <(allowed_cpus | head -2)
	if [ "${#PLACE_CPUS[@]}" -lt 2 ]; then
		say "placement: skipped (one CPU)"
		return 0
	fi
	mask=$(taskset -p -c "$srv" | sed 's/.*: *//')
	say "placement: churn, 1 worker pinned (one CPU, two, two kept from idling), floor and tcpscope, ${PLACE_SECS}s each"
	for ((rep = 0; rep < PLACE_REPS; rep++)); do
		for i in 0 1; do
			cfg=${cfgs[$(((i + rep) % 2))]}
			if ! cfg_start "$cfg"; then
				echo "bench: placement: $cfg did not start" >&2
			elif ! PROGS=$(dev_progs) || [ -z "$PROGS" ]; then
				echo "bench: placement: no tc programs on $IF_B under $cfg" >&2
			elif stats_on; then	# (stats_on says why it failed)
				for pl in "${PLACES[@]}"; do place_run "$srv" "$cfg" "$pl" "$rep" || break; done
			fi
			stats_off
			cfg_stop "$cfg"
		done
	done
	taskset -a -p -c "$mask" "$srv" >/dev/null
}

# ---- the gated comparison: modes seconds apart, one daemon ------------------
# bench/floorctl gate puts the floor in front of tcpscope's tc filters and
# switches, with a store, between handing packets on to tcpscope and ending
# the chain there (the floor alone). Conntrack's mode is the floor plus the
# nft table (added and removed around its window). So the three modes of a
# pair run within seconds of each other, under the same machine load, and
# every mode pays the gate's one program run. Per pair the order rotates.
GATE_MODES=(floor tcpscope conntrack)
# gate_cmd CMD: one command to floorctl gate; its answer in GATE_OUT.
gate_cmd() {
	printf '%s\n' "$1" >&"${GATE[1]}" && IFS= read -r -t 10 GATE_OUT <&"${GATE[0]}" &&
		[ -n "$GATE_OUT" ] && [ "${GATE_OUT#error}" = "$GATE_OUT" ]
}
gate_enter() {
	if [ "$1" = conntrack ]; then cfg_start conntrack && gate_cmd floor; else gate_cmd "$1"; fi
}
gate_leave() { [ "$1" != conntrack ] || cfg_stop conntrack; }
# gate_rate A B MODE: ingress packets/s of MODE between two "read" answers
# (conntrack's packets are the gate's floor ones).
gate_rate() {
	jq -n --argjson a "$1" --argjson b "$2" --arg m "${3/conntrack/floor}" \
		'($b[$m].in_packets - $a[$m].in_packets) / (($b.ns - $a.ns) / 1e9)'
}

# gate_churn W: a churn client of W workers for the whole pairs, a window
# of GATE_WIN per mode; samples "gate churnW MODE@PAIR packets/s".
gate_churn() {
	local w=$1 p i m a cpid secs
	secs=$(awk -v n="$GATE_PAIRS" -v w="$GATE_WIN" 'BEGIN { printf "%d", n * 3 * w * 1.2 + 5 }')
	nsenter --net="/run/netns/$NS_C" "$B/churn" client "$IP4_B" 9000 "$secs" "$w" >/dev/null &
	cpid=$!
	track_pid "$cpid"
	sleep 0.5
	for ((p = 0; p < GATE_PAIRS; p++)); do
		for ((i = 0; i < 3; i++)); do
			m=${GATE_MODES[$(((i + p) % 3))]}
			gate_enter "$m" || { stop "$cpid"; return 1; }
			sleep "$(awk -v w="$GATE_WIN" 'BEGIN { print w / 10 }')"
			gate_cmd read && a=$GATE_OUT && sleep "$GATE_WIN" && gate_cmd read ||
				{ gate_leave "$m"; stop "$cpid"; return 1; }
			sample gate "churn$w" "$m@$p" "$(gate_rate "$a" "$GATE_OUT" "$m")"
			gate_leave "$m"
		done
	done
	stop "$cpid"
}

# gate_iperf P: an iperf3 -P P run of GATE_IP_SECS per mode (a connection
# of its own each: tcpscope sees every packet of the streams it measures);
# samples "gate iperfP MODE@PAIR bits/s".
gate_iperf() {
	local n=$1 p i m bps
	for ((p = 0; p < GATE_PAIRS; p++)); do
		for ((i = 0; i < 3; i++)); do
			m=${GATE_MODES[$(((i + p) % 3))]}
			gate_enter "$m" || return 1
			bps=$(nsrun "$NS_C" timeout $((GATE_IP_SECS + 20)) iperf3 -c "$IP4_B" \
				-t "$GATE_IP_SECS" -P "$n" -J 2>/dev/null |
				jq -r '.end.sum_received.bits_per_second // empty')
			[ -n "$bps" ] && sample gate "iperf$n" "$m@$p" "$bps"
			gate_leave "$m"
		done
	done
}

net_gate() {
	local g0 t0 t1 gpid w
	say "gated: floor, tcpscope and conntrack alternating, $GATE_PAIRS pairs (churn ${GATE_WIN}s windows, iperf3 ${GATE_IP_SECS}s runs)"
	ts_start gate -q --hook tc || return 1
	coproc GATE { exec nsenter --net="/run/netns/$NS_S" "$B/floorctl" "$IF_B" gate 2>"$RAW/gate.err"; }
	gpid=$GATE_PID
	track_pid "$gpid"
	if ! IFS= read -r -t 10 GATE_OUT <&"${GATE[0]}" || [ "$GATE_OUT" != ready ]; then
		echo "bench: floorctl gate: $(cat "$RAW/gate.err")" >&2
		stop "$gpid"
		ts_stop
		return 1
	fi
	t0=$(counter packets)
	if gate_cmd read; then
		g0=$GATE_OUT
		for w in 1 4; do gate_churn "$w" || break; done
		for w in 1 4; do gate_iperf "$w" || break; done
	fi
	# The gate must be in front: tcpscope counted the packets the gate
	# handed on, not the others (report.py uses no pair otherwise).
	if ! gate_cmd tcpscope || ! gate_cmd read || [ -z "${g0:-}" ]; then
		echo "bench: floorctl gate stopped answering: $(cat "$RAW/gate.err")" >&2
		stop "$gpid"
		ts_stop
		return 1
	fi
	t1=$(counter packets)
	sample gate_check tcpscope_packets all $((t1 - t0))
	sample gate_check gate_packets tcpscope "$(jq -n --argjson a "$g0" --argjson b "$GATE_OUT" \
		'($b.tcpscope.in_packets + $b.tcpscope.out_packets) - ($a.tcpscope.in_packets + $a.tcpscope.out_packets)')"
	sample gate_check gate_packets floor "$(jq -n --argjson a "$g0" --argjson b "$GATE_OUT" \
		'($b.floor.in_packets + $b.floor.out_packets) - ($a.floor.in_packets + $a.floor.out_packets)')"
	eval "exec ${GATE[1]}>&-"
	stop "$gpid"
	ts_stop
}

# ---- 3. summaries at scale and memory -------------------------------------------
# scale_daemon FAMILY: M0, a daemon sized MAX_CONNS, its table filled
# through its own data path up to each of SIZES; memory at the last size.
# Samples "scale METRIC N VALUE" and "mem METRIC vFAMILY VALUE".
fill_to() {
	local from=$1 to=$2 fam=$3 out
	out=$("$B/connfill" "$TS_PIN" "$from" "$to" "$fam") || { echo "bench: connfill: $out" >&2; return 1; }
	sample scale "fill_per_s_v$fam" "$to" "$(jq -r .per_second <<<"$out")"
	# Let the daemon drain the handshakes' events before anything is timed.
	sleep "$SETTLE"
}

# tracked: the connections the daemon under test holds (its gauges).
tracked() {
	"$TCPSCOPE" stat --json --pin-dir "$TS_PIN" | jq -e -r '.conns'
}

# maps_memlock DIR MIN: sum of bytes_memlock of the pinned maps, and of
# the maps with room for at least MIN entries (the connection table).
maps_memlock() {
	local f all=0 tab=0 j m e t
	for f in "$1"/*; do
		j=$(bpftool map show pinned "$f" -j 2>/dev/null) || continue
		m=$(jq -r '.bytes_memlock // 0' <<<"$j") e=$(jq -r '.max_entries // 0' <<<"$j")
		t=$(jq -r '.type // ""' <<<"$j")
		all=$((all + m))
		# The connection table: a hash map, or the array of slots.
		[[ $t == *hash || $t == array ]] && [ "$e" -ge "$2" ] && tab=$((tab + m))
	done
	echo "$all $tab"
}

time_summaries() {
	local n=$1 i v c1 cn u sy
	for ((i = 0; i < TIME_REPS; i++)); do
		read -r v _ _ _ u sy <<<"$(rus "$TCPSCOPE" stat --pin-dir "$TS_PIN")"
		sample scale stat_ms "$n" "$v"
		sample scale stat_user_ms "$n" "$u"
		sample scale stat_sys_ms "$n" "$sy"
	done
	# A million-row listing takes seconds: at most two of those.
	for ((i = 0; i < (n >= 1000000 ? 2 : TIME_REPS); i++)); do
		read -r v _ c1 _ u sy <<<"$(rus "$TCPSCOPE" list --json --pin-dir "$TS_PIN")"
		sample scale list_json_ms "$n" "$v"
		sample scale list_json_rss_kb "$n" "$c1"
		sample scale list_json_user_ms "$n" "$u"
		sample scale list_json_sys_ms "$n" "$sy"
		read -r v _ c1 _ <<<"$(rus "$TCPSCOPE" stat --by-remote --pin-dir "$TS_PIN")"
		sample scale by_remote_ms "$n" "$v"
		sample scale by_remote_rss_kb "$n" "$c1"
		# top in its plain mode (stdout not a terminal): one refresh, and
		# TOP_N refreshes 0.1 s apart; the difference is the CPU of the
		# refreshes after the first (startup and first read cancel out).
		read -r _ c1 v _ <<<"$(rus "$TCPSCOPE" top -n 1 --pin-dir "$TS_PIN")"
		sample scale top_first_cpu_ms "$n" "$c1"
		read -r _ cn v _ <<<"$(rus "$TCPSCOPE" top -n "$TOP_N" -d 0.1 --pin-dir "$TS_PIN")"
		sample scale top_refresh_cpu_ms "$n" \
			"$(awk -v a="$c1" -v b="$cn" -v n="$TOP_N" 'BEGIN { print (b - a) / (n - 1) }')"
		sample scale top_rss_kb "$n" "$v"
	done
}

# per_conn BYTES CONNS: bytes a connection, to 0.1 B.
per_conn() { awk -v b="$1" -v n="$2" 'BEGIN { printf "%.1f", b / n }'; }

# scale_family FAM [VARIANT ARGS...]: fill a new daemon's table to each of
# SIZES, time the summaries (IPv4), measure memory at the last size (memory
# samples "mem KEY vFAM[-VARIANT]"); a VARIANT (run options ARGS) measures
# memory only.
scale_family() {
	local fam=$1 var=${2:-} n have=0 m0 m1 m2 ml c0 c1 tag
	shift $(($# < 2 ? $# : 2))
	tag=v$fam${var:+-$var}
	m0=$(kmem_kb)
	ts_start "scale$fam$var" --hook xdp -q --max-conns "$MAX_CONNS" "$@" || return 1
	for n in $SIZES; do
		say "scale (IPv$fam${var:+, $var}): $n connections, filled through the data path"
		fill_to "$have" "$n" "$fam" || return 1
		have=$n
		[ "$fam" = 4 ] && [ -z "$var" ] && time_summaries "$n"
	done
	m1=$(kmem_kb)
	# Memory a tracked connection: the table is sized for exactly the
	# largest fill (--max-conns, a load of 7/8), and what it holds is the
	# daemon's own count, so a connection it failed to take would show.
	have=$(tracked) || return 1
	ml=$(maps_memlock "$TS_PIN" "$have")
	sample mem "connections" "$tag" "$have"
	# To a tenth of a byte, rounded: the target is decided on that.
	sample mem "table_memlock_per_conn" "$tag" "$(per_conn "${ml#* }" "$have")"
	sample mem "all_memlock_per_conn" "$tag" "$(per_conn "${ml% *}" "$have")"
	sample mem "kmem_rise_per_conn" "$tag" "$(per_conn $(((m1 - m0) * 1024)) "$have")"
	if [ "$fam" = 4 ] && [ -z "$var" ]; then
		# The idle daemon holding the full table: nothing else reads it.
		say "scale: idle daemon CPU over ${IDLE_SECS}s at $have connections"
		c0=$(cpu_ticks "$TS_PID")
		sleep "$IDLE_SECS"
		c1=$(cpu_ticks "$TS_PID")
		sample scale idle_cpu_pct "$have" \
			"$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v s="$IDLE_SECS" 'BEGIN { print 100 * c / hz / s }')"
	fi
	ts_stop
	# What the kernel gives back when the maps go (freed after an RCU grace
	# period): the same figure from the other side.
	sleep "$SETTLE"
	m2=$(kmem_kb)
	sample mem "kmem_fall_per_conn" "$tag" "$(per_conn $(((m1 - m2) * 1024)) "$have")"
}

bench_sockets() {
	# Real sockets: N established loopback sockets (N/2 connections) in a
	# namespace of their own; ss and netstat read that namespace.
	local ns_k="bsck$TAG" per port=5000 pairs c k ok pids n i pid
	ip netns add "$ns_k" && on_exit ip netns del "$ns_k"
	nsrun "$ns_k" ip link set lo up
	nsrun "$ns_k" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
	# A process may hold only RLIMIT_NOFILE's hard limit of descriptors
	# (raising it needs CAP_SYS_RESOURCE): split into chunks. Listener
	# ports sit below the namespace's ephemeral range.
	per=$(( ($(ulimit -Hn) - 256) / 2 ))
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
			for ((i = 0; i < TIME_REPS; i++)); do
				sample sockets ss_s_ms "$n" "$(rus nsenter --net="/run/netns/$ns_k" ss -s | cut -d' ' -f1)"
				sample sockets ss_awk_ms "$n" "$(rus nsenter --net="/run/netns/$ns_k" bash -c "ss -tan | awk 'NR > 1 { c[\$1]++ } END { for (s in c) print s, c[s] }'" | cut -d' ' -f1)"
				sample sockets netstat_awk_ms "$n" "$(rus nsenter --net="/run/netns/$ns_k" bash -c "netstat -ant | awk '/^tcp/ { c[\$6]++ } END { for (s in c) print s, c[s] }'" | cut -d' ' -f1)"
			done
		fi
		for pid in "${pids[@]}"; do stop "$pid"; done
	done
}

bench_scale() {
	net_setup
	scale_family 4 || return 1
	say "memory (IPv6): ${SIZES##* } connections"
	SIZES=${SIZES##* } scale_family 6 || return 1
	# `run --no-health`: the connection without its counters and health,
	# the configuration the memory targets are decided on (issue 11:
	# "health may be a switchable option if it cannot fit the memory
	# target"; bench/NOTES.md "The product on slots").
	say "memory (IPv4, --no-health): ${SIZES##* } connections"
	SIZES=${SIZES##* } scale_family 4 nohealth --no-health || return 1
	say "memory (IPv6, --no-health): ${SIZES##* } connections"
	SIZES=${SIZES##* } scale_family 6 nohealth --no-health || return 1
	[ -n "$SOCK_SIZES" ] && bench_sockets
	return 0
}

# ---- 4. events at scale ---------------------------------------------------------
# Whole connection lives of new tuples (10 transitions each) sent as real
# frames from the client's end of the veth into the daemon's own XDP
# program (bench/ringload -i), while the daemon writes every transition as
# a JSON line to a file.
ring_run() {
	local rate=$1 secs=$2 l0 l1 out
	l0=$(wc -l <"$TS_OUT")
	out=$(nsenter --net="/run/netns/$NS_C" "$B/ringload" -i "$IF_A" "$TS_PIN" "$rate" "$secs" "$TS_PID") ||
		{ echo "bench: ringload: $out" >&2; return 1; }
	echo "$out" >>"$RAW/ringload.json"
	l1=$(wc -l <"$TS_OUT")
	sample ring per_second "$rate" "$(jq -r .per_second <<<"$out")"
	sample ring rb_drops "$rate" "$(jq -r .rb_drops <<<"$out")"
	sample ring daemon_cpu_pct "$rate" "$(jq -r .daemon_cpu_pct <<<"$out")"
	sample ring transitions "$rate" "$(jq -r .transitions <<<"$out")"
	sample ring lines_written "$rate" $((l1 - l0))
	sample ring seconds "$rate" "$(jq -r .seconds <<<"$out")"
	# Frames of the lives that never reached the program: not sent (the
	# veth's ring full on a loaded machine) or lost on the way.
	sample ring frames_lost "$rate" "$(jq -r '.connections * 7 - .frames_seen' <<<"$out")"
}

# settle PID: wait (20 s at most) until PID has used no CPU for half a
# second. A new daemon's expiry thread first walks the whole table
# (2M connections here: seconds of CPU on a host that backs guest pages
# lazily, bench/NOTES.md); the figure is the sustained rate, not a start.
settle() {
	local i a b
	b=$(cpu_ticks "$1")
	for ((i = 0; i < 40; i++)); do
		sleep 0.5
		a=$b b=$(cpu_ticks "$1")
		[ $((b - a)) -le 1 ] && return 0
	done
}

bench_events() {
	local r
	net_setup
	ts_start ring --hook xdp --json --max-conns 2097152 || return 1
	settle "$TS_PID"
	say "events: $EV_HI transitions/s for ${EV_HI_SECS}s, JSON lines to a file"
	ring_run "$EV_HI" "$EV_HI_SECS"
	for ((r = 0; r < EV_LO_ROUNDS; r++)); do
		say "events: $EV_LO transitions/s for ${EV_LO_SECS}s, round $((r + 1))/$EV_LO_ROUNDS"
		ring_run "$EV_LO" "$EV_LO_SECS"
	done
	ts_stop
}

# ---- 5. replay ----------------------------------------------------------------
# tcpscope replay of a generated capture of short connections (issue 5: >= 1M
# packets/s). The loop figure is tcpscope's own (-v): BPF_PROG_TEST_RUN per
# packet + Zeek classification + ring buffer; the whole command adds the JSON.
bench_replay() {
	local n=$REPLAY_N f i l t0 t1
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
want net && bench_net
want scale && bench_scale
want events && bench_events
want replay && [ "$REPLAY_N" -gt 0 ] && bench_replay

say "writing $OUT_MD and $OUT_JSON"
python3 bench/report.py --raw "$RAW" --md "$OUT_MD" --json "$OUT_JSON" --quick "$QUICK" \
	--cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" --cores "$(nproc)" \
	--kernel "$(uname -r)" --date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--load "$(cut -d' ' -f1-3 /proc/loadavg)" --ev-hi-secs "$EV_HI_SECS" \
	--seconds $(( $(date +%s) - START )) || exit 1
say "done"
