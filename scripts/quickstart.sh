#!/usr/bin/env bash
# quickstart.sh: the README's first command. On a fresh Debian 12 machine it
# installs what ferry needs (scripts/setup-debian.sh, idempotent), builds ferry
# and runs it on the example model shipped in examples/: inspect, convert to a
# bundle, run the bundle on the example input with ferry's CPU runtime, check
# its outputs against the recorded ones and the source model (ferry validate),
# and pack it into a static web folder (ferry pack).
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
echo "== ferry run build/squeezenet1_1.ferry --input-dir examples/squeezenet1_1/test_data_set_0"
./cli/ferry run build/squeezenet1_1.ferry --input-dir examples/squeezenet1_1/test_data_set_0 --output-dir build/out
echo "== ferry validate build/squeezenet1_1.ferry --reference examples/squeezenet1_1.onnx --data examples/squeezenet1_1/test_data_set_0"
./cli/ferry validate build/squeezenet1_1.ferry --reference examples/squeezenet1_1.onnx \
  --data examples/squeezenet1_1/test_data_set_0 --junit build/validate.xml
./cli/ferry validate build/squeezenet1_1.ferry --data examples/squeezenet1_1/test_data_set_0 --atol 1e-4 --rtol 1e-3
echo "== ferry pack build/squeezenet1_1.ferry -o build/site/squeezenet"
mkdir -p build/site
./cli/ferry pack build/squeezenet1_1.ferry -o build/site/squeezenet
echo "serve it with: node tests/browser/serve.mjs build/site   (then open .../squeezenet/)"
