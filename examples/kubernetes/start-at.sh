#!/bin/sh
# Prints START_AT=<now + SECONDS, ISO-8601 UTC> for kustomization.yaml's start.env
# (docs/kubernetes.md §1): the instant every shard pod fires at, computed when you apply, once for
# all pods. SECONDS must cover pulling the image and starting the pods (storm refuses an instant
# more than a minute past, or more than an hour ahead).
set -eu
lead=${1:?usage: start-at.sh SECONDS > start.env}
case $lead in '' | *[!0-9]*) echo "start-at.sh: SECONDS must be a whole number, not '$lead'" >&2; exit 2 ;; esac
at=$(($(date +%s) + lead))
# GNU date (Linux) takes -d @EPOCH; BSD date (macOS) takes -r EPOCH.
iso=$(date -u -d "@$at" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$at" +%Y-%m-%dT%H:%M:%SZ)
printf 'START_AT=%s\n' "$iso"
