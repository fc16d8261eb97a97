#!/bin/sh
# Runs before `npm test` (pretest): builds test/native/netns.node, which lets a test file run in a
# network namespace of its own (test/helpers/own-namespace.ts). node-gyp comes with npm. Without
# a compiler those files run one at a time in the shared namespace instead (vitest.config.ts).
cd "$(dirname "$0")" || exit 0
if node-gyp rebuild >build.log 2>&1; then
  rm -f build.log
else
  echo "note: test/native/netns.node was not built (see test/native/build.log): the namespaced test files run one at a time"
fi
exit 0
