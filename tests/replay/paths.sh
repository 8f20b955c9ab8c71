# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Sourced by the replay suites (after tests/lib/lib.sh). The two data paths
# of `tcpscope replay`: the kernel's (--bpf, BPF_PROG_TEST_RUN) and the
# native build of the same headers (--native).

# same_paths FILE [text] [OPTION...]: --bpf and --native write the same
# bytes for FILE with --json (and without, given "text"), and replay's
# OPTIONs, on stdout and on stderr (the
# warnings about skipped packets or a cut capture). Outputs are left in
# $PATHS_DIR. The replays run at once (each --bpf one spends its time in the
# verifier, one CPU each), each into files of its own; the checks follow in
# the same order as before: JSON, then text; stdout, then stderr.
same_paths() {
	local f=$1 o=${PATHS_DIR:?}/$(basename "$1") fmt p i=0 pids=() rcs=() fmts=(json)
	shift
	[ "${1:-}" = text ] && fmts+=(text) && shift
	for fmt in "${fmts[@]}"; do
		for p in bpf native; do
			"$TCPSCOPE" replay --$p $([ "$fmt" = json ] && echo --json) "$@" "$f" >"$o.$p.$fmt" 2>"$o.$p.$fmt.err" &
			pids+=($!)
		done
	done
	for p in "${pids[@]}"; do
		wait "$p"
		rcs+=($?)
	done
	for fmt in "${fmts[@]}"; do
		for p in bpf native; do
			[ "${rcs[$i]}" -eq 0 ] ||
				{ fail "$f: replay --$p failed: $(head -c 300 "$o.$p.$fmt.err")"; return 1; }
			i=$((i + 1))
		done
		[ -s "$o.bpf.$fmt" ] || { fail "$f: no $fmt output"; return 1; }
		cmp -s "$o.bpf.$fmt" "$o.native.$fmt" ||
			{ fail "$f: $fmt output differs (< bpf, > native):
$(diff <(tr ',' '\n' <"$o.bpf.$fmt") <(tr ',' '\n' <"$o.native.$fmt") | head -8)"; return 1; }
		cmp -s "$o.bpf.$fmt.err" "$o.native.$fmt.err" ||
			{ fail "$f: stderr differs: '$(head -c 300 "$o.bpf.$fmt.err")' vs '$(head -c 300 "$o.native.$fmt.err")'"; return 1; }
	done
	return 0
}
