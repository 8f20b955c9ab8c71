#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Transitions as "ADDR:PORT FROM>TO", whichever view made them: replay's
document (orig/resp) or live `run --json` lines (local/remote), so the two
can be compared endpoint by endpoint. Only packet-caused transitions.
  endpoints.py replay < doc.json     endpoints.py live < events.jsonl"""
import json
import sys


def ep(e, side):
    pre = {"orig": "orig", "resp": "resp", "local": "local", "remote": "remote"}[side]
    return f"{e[pre + '_addr']}:{e[pre + '_port']}"


def other(side):
    return {"orig": "resp", "resp": "orig", "local": "remote", "remote": "local"}[side]


def line(e):
    pre = "orig" if "orig_addr" in e else "local"
    side = e["side"]
    # The event's own side is named by its first (orig/local) fields.
    who = ep(e, pre) if side == pre else ep(e, other(pre))
    return f"{who} {e['from']}>{e['to']}"


if sys.argv[1] == "replay":
    evs = json.load(sys.stdin)["events"]
else:
    evs = [json.loads(x) for x in sys.stdin if x.startswith("{")]
for e in evs:
    if e.get("reason") == "packet" and "from" in e:
        print(line(e))
