#!/usr/bin/env bash
# A server that accepts nothing for 2.5 s after it starts listening (a slow start, a long GC, a
# blocked event loop). Backlog 8 admits 9 connects at once; the others are dropped SYNs that the
# client kernel retransmits after 1, 2, 3 … s, so they connect on the first step after the stall.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bin/run.js storm --lab-backlog 8 --lab-stall 2.5s --burst 200
