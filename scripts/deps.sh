#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Install what tcpscope needs from Debian 12's archive only. Idempotent:
# installs just the packages that are missing.
#
#   scripts/deps.sh            build and run (make deps)
#   scripts/deps.sh --test     also what the tests and benchmarks use (make test-deps)
#   scripts/deps.sh [--test] --list   print the packages of that set, install nothing
#
# Test packages may ship a service (prometheus does, on :9090). Such a
# package is installed with its service neither started nor enabled: a
# policy-rc.d that refuses every start is in place during the install
# (invoke-rc.d and deb-systemd-invoke ask it), and the services of
# NO_SERVICE are disabled after it.
set -euo pipefail

# Build and run: `make` and `tcpscope run`.
BUILD_PKGS=(
	make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
	libjson-c-dev libyajl-dev libmicrohttpd-dev libncurses-dev libpcap-dev libxdp-dev
	pkg-config iproute2
)

# ---- Test and benchmark packages (make test-deps) -------------------------
# One package (or a few) per line with what uses it; append yours here.
TEST_PKGS=(
	libclang-rt-14-dev	# libFuzzer, sanitizers with clang (make fuzz, tests/fuzz)
	python3 python3-scapy	# traffic drivers, crafted pcaps
	tcpdump jq curl gzip tmux	# captures, JSON, HTTP, the top screen tests
	iperf3 ethtool xdp-tools net-tools nftables procps psmisc valgrind
	prometheus		# promtool and a real scrape; its service never runs
	man-db			# man -l renders contrib/tcpscope.8 in the tests
	bpftrace		# tests/oracle: the kernel's sock:inet_sock_set_state as the oracle
	systemd			# systemd-analyze verify of contrib/tcpscope{,@}.service (tests/ops)
)
# Services shipped by test packages: never started, never enabled.
NO_SERVICE=(prometheus)
# ---------------------------------------------------------------------------

mode=run list=false
for a in "$@"; do
	case $a in
	--test) mode=test ;;
	--list) list=true ;;
	*) echo "deps: unknown argument '$a' (--test, --list)" >&2; exit 2 ;;
	esac
done
PKGS=("${BUILD_PKGS[@]}")
[ $mode = test ] && PKGS+=("${TEST_PKGS[@]}")
if $list; then
	printf '%s\n' "${PKGS[@]}"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: run as root (apt-get install)" >&2
	exit 1
fi
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# A service that an earlier install left running is the operator's to
# stop: say so, never stop it behind their back.
warn_running() {
	local s
	for s in "${NO_SERVICE[@]}"; do
		if pgrep -x -P 1 "$s" >/dev/null 2>&1; then
			echo "deps: note: a '$s' service is running (from an earlier install?); tcpscope's tests do not need it: systemctl disable --now $s" >&2
		fi
	done
}

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	[ $mode = test ] && warn_running
	exit 0
fi

POLICY=/usr/sbin/policy-rc.d
SAVED=$POLICY.tcpscope-deps
restore_policy() {
	rm -f "$POLICY"
	if [ -e "$SAVED" ]; then mv -f "$SAVED" "$POLICY"; fi
}

disable_service() {
	local s=$1
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl disable --now "$s.service" >/dev/null 2>&1 || true
	else
		command -v service >/dev/null && { service "$s" stop >/dev/null 2>&1 || true; }
		command -v update-rc.d >/dev/null && { update-rc.d "$s" disable >/dev/null 2>&1 || true; }
	fi
}

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [ $mode = test ]; then
	# Keep an existing policy (Docker images ship one) and put it back.
	if [ -e "$POLICY" ]; then mv -f "$POLICY" "$SAVED"; fi
	trap restore_policy EXIT
	trap "exit 130" INT TERM
	printf '#!/bin/sh\n# tcpscope deps: no service starts during the install\nexit 101\n' >"$POLICY"
	chmod 0755 "$POLICY"
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ $mode = test ]; then
	for s in "${NO_SERVICE[@]}"; do
		for p in "${missing[@]}"; do
			[ "$p" = "$s" ] && disable_service "$s"
		done
	done
	restore_policy
	trap - EXIT
	warn_running
fi
echo "deps: done"
