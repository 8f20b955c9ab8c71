#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Compact view of `tcpscope replay --json` for the tests: one line per
transition ("side from>to reason"), then one per connection
("C orig_port orig_state/resp_state conn_state history"). stdin -> stdout."""
import json
import sys

d = json.load(sys.stdin)
for e in d["events"]:
    print(f"{e['side']} {e['from']}>{e['to']} {e['reason']}")
for c in d["connections"]:
    print(f"C {c['orig_port']} {c['orig_state']}/{c['resp_state']} {c['conn_state']} {c['history']}"
          f" {c['orig_bytes']}/{c['resp_bytes']}")
