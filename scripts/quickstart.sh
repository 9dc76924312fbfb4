#!/usr/bin/env bash
# quickstart.sh: the README's first command. On a fresh Debian 12 machine it
# installs what ferry needs (scripts/setup-debian.sh, idempotent), builds ferry
# and runs it on the example model shipped in examples/: inspect, then convert
# to a bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$(nproc)"
echo "== ferry inspect examples/squeezenet1_1.onnx"
./cli/ferry inspect examples/squeezenet1_1.onnx
echo "== ferry convert examples/squeezenet1_1.onnx -o build/squeezenet1_1.ferry --verbose"
mkdir -p build
./cli/ferry convert examples/squeezenet1_1.onnx -o build/squeezenet1_1.ferry --verbose
