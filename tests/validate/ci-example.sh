#!/usr/bin/env bash
# ci-example.sh FERRY MODELS [DOC]: runs the `ferry validate` examples of docs/ci.md and
# writes their output into DOC (default docs/ci.md, between the ci-example markers), so
# the sample output there is what this build prints. MODELS is the test-models folder
# (make check's, with squeezenet1_1 and its test_data_set_0); tests/validate/make-data.py
# makes the perturbed reference and the small models with a broken node.
set -euo pipefail
ferry=$1
models=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
doc=${3:-$src/docs/ci.md}
work=$(mktemp -d /tmp/ferry-ci-example.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$src/tests/validate/make-data.py" "$work/data" "$models"
mkdir -p "$work/models/squeezenet1_1"
cp "$models/squeezenet1_1.onnx" "$work/models/"
cp -r "$models/squeezenet1_1/test_data_set_0" "$work/models/squeezenet1_1/"
cp -r "$work/data/sq_perturbed" "$work/models/squeezenet1_1/perturbed"
cp "$work/data/chain.onnx" "$work/data/chain_op.onnx" "$work/models/"

run() { # shows the command as typed in the model folder, then its output and exit status
  echo "\$ $*"
  local rc=0
  (cd "$work/models" && "$ferry" "${@:2}") 2>&1 || rc=$?
  echo "(exit status $rc)"
  echo
}
{
  echo '```'
  run ferry convert squeezenet1_1.onnx -o squeezenet1_1.ferry
  run ferry validate squeezenet1_1.ferry --reference squeezenet1_1.onnx \
    --data squeezenet1_1/test_data_set_0 --junit validate.xml
  run ferry validate squeezenet1_1.onnx --data squeezenet1_1/perturbed
  run ferry validate chain_op.onnx --reference chain.onnx --bisect
  echo '```'
} >"$work/out"
sed -i "s|$work|/tmp/work|g" "$work/out"
awk -v out="$work/out" '
  /<!-- ci-example:end -->/ { while ((getline l < out) > 0) print l; skip = 0 }
  !skip { print }
  /<!-- ci-example:begin -->/ { skip = 1 }
' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
