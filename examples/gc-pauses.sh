#!/usr/bin/env bash
# Periodic pauses: the lab stops accepting for 600 ms every 2 s. At 200 connects/s with a 16-slot
# queue, every connect that arrives once the queue is full waits for a SYN retransmit (~1 s).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node bin/run.js storm --lab-backlog 16 --lab-stall 0 --lab-stall-every 2s --lab-stall-for 600ms \
  --rate 200 --duration 6s --concurrency 1000
