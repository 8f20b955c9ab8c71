# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Shell side of the test protocol (see tests/lib/check.h): source this, write
# one function per test, call `run_test name`. Namespaces and veths made with
# mk_pair are deleted on exit, also on failure (trap). Only 198.18.0.0/15 and
# 2001:db8::/32 are used.

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Binaries of the build under test (make test SANITIZE=1 uses build-san).
BUILD=${BUILD:-build}
TCPSCOPE=${TCPSCOPE:-$TOP/$BUILD/tcpscope}
TOOLS=${TOOLS:-$TOP/$BUILD/tools}
# Debian's tools first (python3 with its scapy, ss, ip...): a version
# manager's shim ahead of them in PATH (pyenv's python3) took a second to
# start here, against 0.06 s, and the suites start python3 thousands of
# times.
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
SUITE_FAILED=0
_CLEANUPS=()
_PIDS=()

# A short unique tag so suites running side by side never share a name.
TAG=${TAG:-$(printf '%x' $(( ($$ + RANDOM) % 65536 )))}

log() { printf '# %s\n' "$*" >&2; }

on_exit() { _CLEANUPS+=("$*"); }

_cleanup() {
	local i pid
	# `nsrun NS cmd &` backgrounds a subshell: $! is that subshell, and the
	# real process (nsenter execs into it) is its child. End the children
	# first, then the tracked process itself.
	for pid in "${_PIDS[@]}"; do
		local kids= c=/proc/$pid/task/$pid/children
		# The kernel's list, if it keeps one: pgrep walks all of /proc.
		if [ -r "$c" ]; then
			read -r kids <"$c"
		else
			kids=$(pgrep -P "$pid" 2>/dev/null)
		fi
		[ -n "$kids" ] && kill $kids 2>/dev/null
		kill "$pid" 2>/dev/null
		for k in $kids $pid; do
			wait_gone 5 "$k" || kill -9 "$k" 2>/dev/null
		done
	done
	for ((i = ${#_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${_CLEANUPS[$i]}" >/dev/null 2>&1 || true
	done
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

# Remember a background process we started, to end it (by PID) on exit.
track_pid() { _PIDS+=("$1"); }

# Run a command inside a namespace's network stack only: unlike
# `ip netns exec` it keeps our mount namespace, so /sys/fs/bpf stays visible.
nsrun() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

# mk_pair NS_A NS_B: two namespaces joined by a veth pair, addressed
#   A = 198.18.N.1/24, 2001:db8:N::1/64 on veth "a$TAG"
#   B = 198.18.N.2/24, 2001:db8:N::2/64 on veth "b$TAG"
# N is derived from TAG (pass SUBNET=n to choose). Sets IP4_A IP4_B IP6_A IP6_B
# IF_A IF_B.
mk_pair() {
	local a=$1 b=$2 n=${SUBNET:-$(( 0x$TAG % 250 + 1 ))}
	IF_A="a$TAG"; IF_B="b$TAG"
	IP4_A="198.18.$n.1"; IP4_B="198.18.$n.2"
	IP6_A="2001:db8:$n::1"; IP6_B="2001:db8:$n::2"
	ip netns add "$a" && on_exit ip netns del "$a"
	ip netns add "$b" && on_exit ip netns del "$b"
	ip link add "$IF_A" netns "$a" type veth peer name "$IF_B" netns "$b"
	nsrun "$a" ip link set lo up
	nsrun "$b" ip link set lo up
	nsrun "$a" ip addr add "$IP4_A/24" dev "$IF_A"
	nsrun "$b" ip addr add "$IP4_B/24" dev "$IF_B"
	nsrun "$a" ip -6 addr add "$IP6_A/64" dev "$IF_A" nodad
	nsrun "$b" ip -6 addr add "$IP6_B/64" dev "$IF_B" nodad
	nsrun "$a" ip link set "$IF_A" up
	nsrun "$b" ip link set "$IF_B" up
}

# A private pin directory on the host's bpffs, removed on exit.
mk_pindir() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	PIN_DIR="/sys/fs/bpf/tcpscope-test-$TAG-$1"
	on_exit rm -rf "$PIN_DIR"
}

# wait_for TIMEOUT_S CMD...: poll until CMD succeeds (every 0.1 s).
wait_for() {
	local t=$1 i; shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# exited PID: process PID has ended: it is gone, or a zombie nobody has
# reaped yet. An orphan's zombie (a --daemon's, or the child of an `nsrun
# ... &` subshell ended first) waits for init, which here reaps it up to
# 2 s late; it holds nothing by then (no file, no BPF link, no socket).
exited() {
	local st
	kill -0 "$1" 2>/dev/null || return 0
	read -r st 2>/dev/null <"/proc/$1/stat" || return 0
	[[ $st == *") Z "* ]]
}

# wait_gone TIMEOUT_S PID: until process PID has ended (exited; non-zero
# if it has not within TIMEOUT_S). Polled every 50 ms.
wait_gone() {
	local i
	for ((i = 0; i < $1 * 20; i++)); do
		exited "$2" && return 0
		sleep 0.05
	done
	exited "$2"
}

# run_test NAME: run function NAME; it fails by calling `fail MSG` or
# returning non-zero; `skip MSG` skips it (a failure when CI=true).
_T_FAILED=0
_T_SKIPPED=""
fail() { printf 'not ok %s: %s\n' "${_T_NAME:-$(basename "$0")}" "$*"; _T_FAILED=1; return 1; }
skip() { _T_SKIPPED="$*"; return 0; }
run_test() {
	_T_NAME=$1 _T_FAILED=0 _T_SKIPPED=""
	local t0=$SECONDS
	"$1"
	local rc=$?
	log "$1: $((SECONDS - t0))s"
	if [ -n "$_T_SKIPPED" ]; then
		printf 'skip %s: %s\n' "$1" "$_T_SKIPPED"
		[ "${CI:-}" = true ] && SUITE_FAILED=1
	elif [ $_T_FAILED -ne 0 ] || [ $rc -ne 0 ]; then
		[ $_T_FAILED -ne 0 ] || printf 'not ok %s: exited %d\n' "$1" "$rc"
		SUITE_FAILED=1
	else
		printf 'ok %s\n' "$1"
	fi
}

suite_done() { exit "$SUITE_FAILED"; }

need_root() {
	[ "$(id -u)" -eq 0 ] || { echo "skip $(basename "$0"): needs root"; exit 0; }
}

# mk_relay_pair NS_A NS_R NS_B: like mk_pair, but A and B are joined through
# a middle namespace R that holds two veths (IF_RA facing A, IF_RB facing B)
# with no addresses, no forwarding and no IPv6, so that nothing but a relay
# run in R (tools/impair) moves frames between A and B. Offloads are off on
# all four veths: a relay copies frames verbatim, and a GSO super-frame or a
# frame with a partial (offloaded) checksum would arrive broken. Sets IP4_A
# IP4_B IP6_A IP6_B IF_A IF_B IF_RA IF_RB.
mk_relay_pair() {
	local a=$1 r=$2 b=$3 n=${SUBNET:-$(( 0x$TAG % 250 + 1 ))} i
	IF_A="a$TAG"; IF_B="b$TAG"; IF_RA="ra$TAG"; IF_RB="rb$TAG"
	IP4_A="198.18.$n.1"; IP4_B="198.18.$n.2"
	IP6_A="2001:db8:$n::1"; IP6_B="2001:db8:$n::2"
	for i in "$a" "$r" "$b"; do
		ip netns add "$i" && on_exit ip netns del "$i" || return 1
		nsrun "$i" ip link set lo up
	done
	nsrun "$r" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0 \
		net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1 || return 1
	ip link add "$IF_A" netns "$a" type veth peer name "$IF_RA" netns "$r" || return 1
	ip link add "$IF_B" netns "$b" type veth peer name "$IF_RB" netns "$r" || return 1
	nsrun "$a" ip addr add "$IP4_A/24" dev "$IF_A"
	nsrun "$b" ip addr add "$IP4_B/24" dev "$IF_B"
	nsrun "$a" ip -6 addr add "$IP6_A/64" dev "$IF_A" nodad
	nsrun "$b" ip -6 addr add "$IP6_B/64" dev "$IF_B" nodad
	nsrun "$a" ethtool -K "$IF_A" tx off tso off gso off gro off >/dev/null 2>&1
	nsrun "$b" ethtool -K "$IF_B" tx off tso off gso off gro off >/dev/null 2>&1
	nsrun "$r" ethtool -K "$IF_RA" tx off tso off gso off gro off >/dev/null 2>&1
	nsrun "$r" ethtool -K "$IF_RB" tx off tso off gso off gro off >/dev/null 2>&1
	nsrun "$a" ip link set "$IF_A" up
	nsrun "$b" ip link set "$IF_B" up
	nsrun "$r" ip link set "$IF_RA" up
	nsrun "$r" ip link set "$IF_RB" up
}
