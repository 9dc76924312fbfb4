#!/bin/sh
# setup.sh - installs the onnxruntime-node test oracle (tests/ort/package.json)
# into DIR/node_modules, idempotently: nothing happens when the pinned version
# is already there. onnxruntime-node's postinstall would download CUDA
# libraries from outside npm, so install scripts are skipped (the CPU
# provider ships inside the npm tarball).
#   usage: setup.sh DIR
set -eu
dir=${1:?usage: setup.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
want=$(sed -n 's/.*"onnxruntime-node": *"\([^"]*\)".*/\1/p' "$here/package.json")
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
  "$dir/node_modules/onnxruntime-node/package.json" 2>/dev/null | head -n 1 || true)
if [ "$have" = "$want" ] && cmp -s "$here/package.json" "$dir/package.json"; then
  exit 0
fi
command -v node >/dev/null || { echo "setup.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm is not installed" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/package.json" "$dir/package.json"
cd "$dir"
ONNXRUNTIME_NODE_INSTALL=skip npm install --ignore-scripts --no-audit --no-fund \
  --prefer-offline --no-save --no-package-lock --loglevel=error
node -e "require('onnxruntime-node')" || {
  echo "setup.sh: onnxruntime-node does not load from $dir" >&2; exit 1; }
