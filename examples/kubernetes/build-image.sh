#!/bin/sh
# The image's build step (docs/kubernetes.md §2): the one command the Dockerfile's build stage runs,
# and the one test/e2e/kubernetes-image.test.ts runs in a clean directory.
#   build-image.sh SRC DEST
# SRC: the repository with dist/ built (npm ci && npm run build); DEST: where connstorm is installed
# (/opt/connstorm in the image) with its production dependencies and the native connect loop,
# compiled here: the build stage has the compiler, the image does not.
set -eu
src=${1:?usage: build-image.sh SRC DEST}
dest=${2:?usage: build-image.sh SRC DEST}
if [ ! -f "$src/dist/commands/storm.js" ] || [ ! -f "$src/oclif.manifest.json" ]; then
  echo "build-image.sh: $src has no dist/: run npm ci && npm run build first" >&2
  exit 2
fi
mkdir -p "$dest/scripts"
cp -R "$src/package.json" "$src/package-lock.json" "$src/oclif.manifest.json" "$src/binding.gyp" "$src/bin" "$src/dist" "$src/schema" "$src/native" "$dest/"
cp "$src/scripts/build-native.sh" "$dest/scripts/"
cp "$src/examples/kubernetes/pod.sh" "$dest/pod.sh"
chmod 755 "$dest/pod.sh"
cd "$dest"
# Production dependencies only, without the package's own hooks (prepare would rebuild dist/ with
# the TypeScript compiler, a dev dependency); then the install hook alone: node-gyp, which npm
# provides, builds the native connect loop.
npm ci --omit=dev --ignore-scripts --no-audit --no-fund
npm run install
# build-native.sh falls back to JavaScript connects without a compiler; an image must not.
if [ ! -f build/Release/connstorm.node ]; then
  cat build-native.log >&2 || true
  echo "build-image.sh: the native connect loop was not built (python3, make and a C compiler are needed in the build stage)" >&2
  exit 1
fi
# Only the addon is needed at run time, not node-gyp's objects and makefiles.
mv build/Release/connstorm.node connstorm.node.keep
rm -rf build
mkdir -p build/Release
mv connstorm.node.keep build/Release/connstorm.node
node bin/run.js --version
