#!/usr/bin/env bash
# The multi-host storm without Kubernetes: N hosts over ssh, one shard each, one start instant,
# then merge here. Usage: examples/multi-host.sh TARGET host1 host2 host3
# Each host needs connstorm checked out and built at the same path ($CONNSTORM_DIR).
set -euo pipefail
target=$1; shift
hosts=("$@")
n=${#hosts[@]}
dir=${CONNSTORM_DIR:-~/connstorm}
at=$(node -e 'console.log(new Date(Date.now() + 15000).toISOString())') # 15 s for ssh to connect
out=$(mktemp -d)
for i in "${!hosts[@]}"; do
  shard=$((i + 1))
  ssh "${hosts[$i]}" "cd $dir && node bin/run.js storm '$target' --burst 3000 --shard $shard/$n --start-at $at --out /tmp/connstorm-shard-$shard.json >/dev/null" &
done
wait
for i in "${!hosts[@]}"; do scp -q "${hosts[$i]}:/tmp/connstorm-shard-$((i + 1)).json" "$out/"; done
node "$(dirname "$0")/../bin/run.js" merge "$out"/connstorm-shard-*.json --out "$out/all.json"
echo "merged: $out/all.json"
