#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make accuracy: replay every capture of ../shared/corpus and compare each
# connection's conn_state and history with Zeek's own conn.log verdicts
# (MANIFEST.tsv). Prints agreement per file and overall; fails below the
# recorded threshold. Without a corpus it says so and exits 0.
#
# MANIFEST.tsv: one line per capture, tab-separated: PCAP  CONN_LOG
# (paths relative to the corpus directory; '#' lines are comments).
# Connections are joined on the unordered 4-tuple (+ first-seen second when
# a tuple is reused); conn.log is Zeek's TSV (#fields header).
set -u
cd "$(dirname "$0")/.."
TCPSCOPE=${TCPSCOPE:-build/tcpscope}
CORPUS=${CORPUS:-../shared/corpus}
THRESHOLD=${ACCURACY_THRESHOLD:-0.95}	# raise as disagreements get explained/fixed
PY=/usr/bin/python3

if [ ! -f "$CORPUS/MANIFEST.tsv" ]; then
	echo "accuracy: no corpus at $CORPUS (MANIFEST.tsv missing): nothing to compare."
	echo "accuracy: the crafted and real-kernel captures in tests/replay/ cover the Zeek verdicts in 'make test'."
	exit 0
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
grep -v '^#' "$CORPUS/MANIFEST.tsv" | while IFS=$'\t' read -r pcap log _; do
	[ -n "$pcap" ] || continue
	if ! "$TCPSCOPE" replay --json "$CORPUS/$pcap" >"$out/$(basename "$pcap").json" 2>"$out/err"; then
		echo "accuracy: $pcap: replay failed: $(head -c 300 "$out/err")" >&2
		continue
	fi
	printf '%s\t%s\t%s\n' "$pcap" "$out/$(basename "$pcap").json" "$CORPUS/$log"
done >"$out/list"

"$PY" - "$out/list" "$THRESHOLD" <<'X'
import json, sys

def zeek_log(path):
    fields, rows = None, []
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line.startswith("#") or not line:
            continue
        elif fields:
            r = dict(zip(fields, line.split("\t")))
            if r.get("proto") == "tcp":
                rows.append(r)
    return rows

def key(a, ap, b, bp):
    return tuple(sorted([(a, int(ap)), (b, int(bp))]))

total = agree = 0
for line in open(sys.argv[1]):
    name, doc, log = line.rstrip("\n").split("\t")
    ours = {}
    for c in json.load(open(doc))["connections"]:
        ours.setdefault(key(c["orig_addr"], c["orig_port"], c["resp_addr"], c["resp_port"]), []).append(c)
    n = ok = 0
    for z in zeek_log(log):
        k = key(z["id.orig_h"], z["id.orig_p"], z["id.resp_h"], z["id.resp_p"])
        cands = ours.get(k) or []
        n += 1
        c = cands.pop(0) if cands else None
        hist = z.get("history", "-")
        hist = "" if hist == "-" else hist
        if c and c["conn_state"] == z["conn_state"] and c["history"] == hist:
            ok += 1
        else:
            got = f'{c["conn_state"]} {c["history"]}' if c else "missing"
            print(f"  miss {name} {k}: zeek {z['conn_state']} {hist} / tcpscope {got}")
    total += n; agree += ok
    print(f"{name}: {ok}/{n} connections agree ({100.0 * ok / n if n else 100:.1f}%)")
rate = agree / total if total else 1.0
print(f"overall: {agree}/{total} ({100 * rate:.1f}%), threshold {100 * float(sys.argv[2]):.1f}%")
sys.exit(0 if rate >= float(sys.argv[2]) else 1)
X
