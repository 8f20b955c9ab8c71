# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Sourced by the replay suites (after tests/lib/lib.sh). The two data paths
# of `tcpscope replay`: the kernel's (--bpf, BPF_PROG_TEST_RUN) and the
# native build of the same headers (--native).

# same_paths FILE [text]: --bpf and --native write the same bytes for FILE
# with --json (and without, given "text"), on stdout and on stderr (the
# warnings about skipped packets or a cut capture). Outputs are left in
# $PATHS_DIR.
same_paths() {
	local f=$1 o=${PATHS_DIR:?}/$(basename "$1") fmt p
	for fmt in json ${2:-}; do
		for p in bpf native; do
			"$TCPSCOPE" replay --$p $([ "$fmt" = json ] && echo --json) "$f" >"$o.$p.$fmt" 2>"$o.$p.err" ||
				{ fail "$f: replay --$p failed: $(head -c 300 "$o.$p.err")"; return 1; }
		done
		[ -s "$o.bpf.$fmt" ] || { fail "$f: no $fmt output"; return 1; }
		cmp -s "$o.bpf.$fmt" "$o.native.$fmt" ||
			{ fail "$f: $fmt output differs (< bpf, > native):
$(diff <(tr ',' '\n' <"$o.bpf.$fmt") <(tr ',' '\n' <"$o.native.$fmt") | head -8)"; return 1; }
		cmp -s "$o.bpf.err" "$o.native.err" ||
			{ fail "$f: stderr differs: '$(head -c 300 "$o.bpf.err")' vs '$(head -c 300 "$o.native.err")'"; return 1; }
	done
	return 0
}
