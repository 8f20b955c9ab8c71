#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Install what tcpscope builds, runs and tests with, from Debian 12's archive
# only. Idempotent: installs just the packages that are missing.
set -euo pipefail

PKGS=(
	# build
	make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
	libjson-c-dev libmicrohttpd-dev libncurses-dev libpcap-dev libxdp-dev
	libclang-rt-14-dev pkg-config
	# run and test
	iproute2 ethtool tcpdump jq tmux iperf3 python3 python3-scapy
	prometheus xdp-tools net-tools nftables procps psmisc
)
# test: systemd-analyze verify of contrib/tcpscope{,@}.service (tests/ops)
PKGS_TEST_OPS=(systemd)
PKGS+=("${PKGS_TEST_OPS[@]}")

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: run as root (apt-get install)" >&2
	exit 1
fi
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
