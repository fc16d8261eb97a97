#!/usr/bin/env bash
# Save a run as JSON (written atomically) and read figures back out of it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)/run.json
node bin/run.js storm --burst 50 --out "$out" > /dev/null
if command -v jq > /dev/null; then
  jq '{connected: .counts.connected, p50_us: .latencyUs.fromIntended.p50, p99_us: .latencyUs.fromIntended.p99}' "$out"
else
  node -e 'const r = require(process.argv[1]); console.log(r.counts, r.latencyUs.fromIntended)' "$out"
fi
echo "saved: $out"
