#!/usr/bin/env bash
# bench/convert.sh [FERRY] [RUNS]: how long `ferry convert` takes on a
# ~100 MB model (torchvision resnet50, random weights, exported by Debian's
# python3-torch into $FERRY_BENCH_MODELS, default build/bench-models).
# Prints the median of RUNS (default 7) wall times per stage and in total.
# Target (issue: convert): under 1 s for a 100 MB model.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
ferry=${1:-$src/cli/ferry}
runs=${2:-7}
models=${FERRY_BENCH_MODELS:-$src/build/bench-models}
mkdir -p "$models"
model=$models/resnet50.onnx
if [ ! -f "$model" ]; then
  echo "bench: exporting resnet50 to $model"
  /usr/bin/python3 - "$model" <<'PY'
import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.resnet50().eval()
x = torch.randn(1, 3, 224, 224)
tmp = sys.argv[1] + ".tmp"
torch.onnx.export(m, x, tmp, opset_version=13, input_names=["input"], output_names=["output"])
import os; os.replace(tmp, sys.argv[1])
PY
fi
out=$(mktemp -d /tmp/ferry-bench.XXXXXX)
trap 'rm -rf "$out"' EXIT
size=$(stat -c %s "$model")
echo "model: resnet50.onnx, $((size / 1000000)) MB; $runs runs; $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for i in $(seq "$runs"); do
  "$ferry" convert "$model" -o "$out/m.ferry" | sed -E 's/.*; ([0-9.]+) s \(import ([0-9.]+), infer ([0-9.]+), optimize ([0-9.]+), write ([0-9.]+)\)/\1 \2 \3 \4 \5/'
done | sort -n | awk -v runs="$runs" '
  { t[NR] = $0 }
  END {
    split(t[int((runs + 1) / 2)], m, " ")
    printf "median total %.3f s (import %.3f, infer %.3f, optimize %.3f, write %.3f)\n", m[1], m[2], m[3], m[4], m[5]
    printf "convert: %s\n", (m[1] < 1.0 ? "under 1 s: target met" : "over 1 s: target missed")
  }'
