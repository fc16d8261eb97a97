#!/bin/sh
# Runs at `npm ci` / `npm install` (npm's install hook): builds the native connect loop
# (native/connect-loop.c → build/Release/connect_loop.node) with node-gyp, which npm provides,
# against Node's own headers. Without a C compiler connstorm still works: it connects from
# JavaScript on bare TCP handles instead, and its report says which path made the connects.
if node-gyp rebuild >build-native.log 2>&1; then
  rm -f build-native.log
  exit 0
fi
echo "note: the native connect loop was not built (needs python3, make and a C compiler; see build-native.log)."
echo "      connstorm will connect from JavaScript instead: fast rates keep their schedule less tightly."
exit 0
