#!/usr/bin/env bash
# A listener that never accepts, with backlog 1: the accept queue holds 2, every other SYN is
# dropped again and again, and the connects end as `timeout` when --timeout runs out.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bin/run.js storm --lab-backlog 1 --lab-stall 60s --burst 10 --timeout 3s
