#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The end-to-end core suite (test_core.sh) with the ingress hook
# --hook xdp --xdp-mode generic.
E2E_HOOK=xdp-generic exec "$(dirname "$0")/test_core.sh"
