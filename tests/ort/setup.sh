#!/bin/sh
# setup.sh - installs the onnxruntime-node test oracle (pinned in
# tests/ort/package.json) into DIR/node_modules.
#   usage: setup.sh DIR
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/../../scripts/npm-pinned.sh" "$here/package.json" "${1:?usage: setup.sh DIR}" onnxruntime-node
