#!/bin/sh
# The image's entrypoint (docs/kubernetes.md §2). Everything comes from the environment the
# manifests give: the ConfigMap (TARGET, PLAN, SHARDS, START_AT, THRESHOLD, COLLECT_TIMEOUT),
# RESULTS (the volume's mount path) and, for a shard, JOB_COMPLETION_INDEX from the Indexed Job.
#   pod.sh storm [storm flags]    fire shard JOB_COMPLETION_INDEX+1 of SHARDS at START_AT
#   pod.sh collect [merge flags]  wait for every shard's result, merge them, judge the union
# One run's files share a directory named by its start instant, so a run never reads another's.
set -eu
# connstorm is installed beside this script (the image: /opt/connstorm), or this is the repository's copy.
home=$(cd "$(dirname "$0")" && pwd)
[ -f "$home/bin/run.js" ] || home=$(cd "$home/../.." && pwd)
: "${RESULTS:?the volume mount path}" "${SHARDS:?}" "${START_AT:?START_AT from start.env}"
run_dir="$RESULTS/run-$START_AT"
role=${1:-}
[ $# -gt 0 ] && shift
case $role in
  storm)
    : "${JOB_COMPLETION_INDEX:?set by an Indexed Job}" "${TARGET:?}" "${PLAN:?}"
    shard=$((JOB_COMPLETION_INDEX + 1))
    mkdir -p "$run_dir"
    # PLAN is split into words on purpose: it holds several flags (--burst 3000).
    # shellcheck disable=SC2086
    exec node "$home/bin/run.js" storm "$TARGET" $PLAN --shard "$shard/$SHARDS" --start-at "$START_AT" --out "$run_dir/shard-$shard.json" "$@"
    ;;
  collect)
    start=$(date -u -d "$START_AT" +%s)
    deadline=$((start + ${COLLECT_TIMEOUT:-600}))
    present() { find "$run_dir" -maxdepth 1 -name 'shard-*.json' 2>/dev/null | wc -l; }
    while [ "$(present)" -lt "$SHARDS" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 1; done
    echo "collector: $(present) of $SHARDS shard results in $run_dir"
    # The files first, then the flags this pod was given: merge FILE… --out … [flags].
    extra=$#
    for file in "$run_dir"/shard-*.json; do [ -e "$file" ] && set -- "$@" "$file"; done
    while [ "$extra" -gt 0 ]; do
      flag=$1
      shift
      set -- "$@" "$flag"
      extra=$((extra - 1))
    done
    exec node "$home/bin/run.js" merge "$@" --out "$run_dir/merged.json" --hdr-log "$run_dir/merged.hlog"
    ;;
  *)
    echo "pod.sh: the first argument is storm or collect, not '$role'" >&2
    exit 2
    ;;
esac
