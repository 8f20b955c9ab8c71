#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make deps installs only what building and running need; make test-deps
# adds the tests' packages, and installs prometheus without ever starting
# or enabling its service (issue 12, point 8). The install path runs
# against stand-ins for apt-get, dpkg-query and the service tools (first in
# PATH), which do what a package's maintainer scripts do: ask policy-rc.d
# before starting a service. Nothing is installed for real.
source "$(dirname "$0")/../lib/lib.sh"
need_root

WORK=$(mktemp -d /tmp/tcpscope-deps.XXXXXX)
on_exit rm -rf "$WORK"
TEST_ONLY='prometheus tcpdump python3-scapy jq tmux iperf3 libclang-rt-14-dev'

test_run_deps_are_build_and_run_only() {
	local p run
	run=$("$TOP/scripts/deps.sh" --list) || { fail "deps.sh --list exited $?"; return; }
	for p in gcc clang libbpf-dev libmicrohttpd-dev libxdp-dev; do
		grep -qx "$p" <<<"$run" || { fail "build package $p missing"; return; }
	done
	for p in $TEST_ONLY; do
		! grep -qx "$p" <<<"$run" || { fail "make deps installs test package $p"; return; }
	done
	run=$("$TOP/scripts/deps.sh" --test --list)
	for p in $TEST_ONLY gcc; do
		grep -qx "$p" <<<"$run" || { fail "test-deps lacks $p"; return; }
	done
	make -s -n -C "$TOP" deps | grep -q 'scripts/deps.sh$' || { fail "make deps does not run deps.sh"; return; }
	make -s -n -C "$TOP" test-deps | grep -q 'scripts/deps.sh --test' || { fail "no make test-deps"; return; }
	grep -qx 'make test-deps' "$TOP/.ci/run" || { fail ".ci/run does not use make test-deps"; return; }
	grep -q 'sudo make test-deps && sudo make test' "$TOP/README.md" || fail "README's test command lacks test-deps"
}

# Stand-ins: dpkg-query says everything is there but prometheus;
# apt-get "installs" it as its postinst would start the service:
# invoke-rc.d asks policy-rc.d, 101 means no.
mk_fakes() {
	mkdir -p "$WORK/bin"
	cat >"$WORK/bin/dpkg-query" <<'EOF'
#!/bin/sh
for a; do p=$a; done
[ "$p" = prometheus ] && exit 1
printf 'install ok installed'
EOF
	cat >"$WORK/bin/apt-get" <<EOF
#!/bin/sh
[ "\$1" = update ] && exit 0
case " \$* " in *" prometheus "*) ;; *) exit 0 ;; esac
if [ -x /usr/sbin/policy-rc.d ]; then
	/usr/sbin/policy-rc.d prometheus.service start
	rc=\$?
else
	rc=0
fi
if [ \$rc = 101 ]; then echo "start refused" >>"$WORK/log"; else echo "STARTED prometheus" >>"$WORK/log"; fi
EOF
	for t in systemctl service update-rc.d; do
		printf '#!/bin/sh\necho "%s $*" >>"%s/log"\n' "$t" "$WORK" >"$WORK/bin/$t"
	done
	chmod +x "$WORK/bin"/*
}

policy_state() {
	if [ -e /usr/sbin/policy-rc.d ]; then md5sum </usr/sbin/policy-rc.d; else echo none; fi
}

test_test_deps_installs_prometheus_without_starting_it() {
	local before after
	mk_fakes
	before=$(policy_state)
	PATH="$WORK/bin:$PATH" "$TOP/scripts/deps.sh" --test >"$WORK/out" 2>&1 ||
		{ fail "deps.sh --test exited $?: $(cat "$WORK/out")"; return; }
	after=$(policy_state)
	[ -f "$WORK/log" ] || { fail "the install never ran: $(cat "$WORK/out")"; return; }
	grep -q 'start refused' "$WORK/log" || { fail "service started during the install: $(cat "$WORK/log")"; return; }
	! grep -q 'STARTED' "$WORK/log" || { fail "service started: $(cat "$WORK/log")"; return; }
	# Not enabled either, for the next boot.
	grep -Eq 'systemctl disable --now prometheus|update-rc.d prometheus disable' "$WORK/log" ||
		{ fail "service left enabled: $(cat "$WORK/log")"; return; }
	[ "$before" = "$after" ] || fail "/usr/sbin/policy-rc.d not restored ($before -> $after)"
	[ ! -e /usr/sbin/policy-rc.d.tcpscope-deps ] || fail "saved policy-rc.d left behind"
}

test_plain_deps_never_installs_prometheus() {
	mk_fakes
	rm -f "$WORK/log"
	PATH="$WORK/bin:$PATH" "$TOP/scripts/deps.sh" >"$WORK/out" 2>&1 || { fail "deps.sh exited $?"; return; }
	[ ! -f "$WORK/log" ] || fail "make deps installed prometheus: $(cat "$WORK/log")"
}

# The real thing on this host: after make test-deps no prometheus service
# runs (tests start their own, in a namespace, and stop it).
test_no_prometheus_service_after_test_deps() {
	make -s -C "$TOP" test-deps >"$WORK/real" 2>&1 || { fail "make test-deps: $(tail -3 "$WORK/real")"; return; }
	! pgrep -x -P 1 prometheus >/dev/null || { fail "a prometheus service runs: $(pgrep -a -x prometheus)"; return; }
	if [ -d /run/systemd/system ]; then
		! systemctl is-active -q prometheus 2>/dev/null || fail "prometheus.service is active"
	fi
	# Nothing answers on :9090 in this namespace.
	! ss -Htln 'sport = :9090' | grep -q . || fail "something listens on :9090: $(ss -Htlnp 'sport = :9090')"
}

run_test test_run_deps_are_build_and_run_only
run_test test_test_deps_installs_prometheus_without_starting_it
run_test test_plain_deps_never_installs_prometheus
run_test test_no_prometheus_service_after_test_deps
suite_done
