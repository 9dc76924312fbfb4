#!/bin/sh
# build.sh - assembles the web demo as a static folder, ready to serve:
#
#   OUT/index.html demo.js ocr.js vad.js wav.js style.css   the page (web-demo/)
#   OUT/models/ocr-det/  ocr-rec/  vad/  speed/             `ferry pack` folders
#   OUT/models/ppocr_keys_v1.txt                            the OCR dictionary
#   OUT/samples/sample.png sample.wav                       scripts/make-demo-samples.mjs
#
# usage: build.sh FERRY NPM_MODELS OUT
#   FERRY       the ferry command (a build tree's cli/ferry finds ferry.js and
#               ferry.wasm beside it; an installed one in its pkgdatadir)
#   NPM_MODELS  the folder scripts/fetch-models.sh fills from npm (the PaddleOCR
#               and Silero models and the dictionary); nothing else is fetched
#   OUT         the folder to write; it is built beside OUT and renamed over it
#               at the end, so a failed build leaves any old OUT as it was
# The speed model is examples/squeezenet1_1.onnx, shipped with the source.
# `make web-demo` runs this with the build's ferry and the test models.
# Exit status: 0 done, 2 bad usage or a missing input, 3 a step failed.
set -u
die() { code=$1; shift; echo "web-demo/build.sh: $*" >&2; exit "$code"; }

[ $# -eq 3 ] || die 2 "usage: build.sh FERRY NPM_MODELS OUT"
ferry=$1 models=$2 out=$3
src=$(cd "$(dirname "$0")/.." && pwd) || die 3 "cannot find the source tree"
page="index.html demo.js ocr.js vad.js wav.js style.css"

command -v node >/dev/null 2>&1 || die 2 "node is needed (scripts/setup-debian.sh) to draw the samples"
[ -x "$ferry" ] || command -v "$ferry" >/dev/null 2>&1 || die 2 "$ferry: not an executable"
for f in ch_PP-OCRv4_det_infer.onnx ch_PP-OCRv4_rec_infer.onnx ppocr_keys_v1.txt silero_vad_v5.onnx; do
  [ -f "$models/$f" ] || die 2 "$models/$f is missing (scripts/fetch-models.sh $models)"
done
for f in $page; do [ -f "$src/web-demo/$f" ] || die 2 "$src/web-demo/$f is missing"; done
[ -f "$src/examples/squeezenet1_1.onnx" ] || die 2 "$src/examples/squeezenet1_1.onnx is missing"

tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT INT TERM
rm -rf "$tmp"
mkdir -p "$tmp/models" || die 3 "cannot create $tmp"

pack() { # pack NAME MODEL
  "$ferry" pack "$2" -o "$tmp/models/$1" >"$tmp/pack.log" 2>&1 ||
    die 3 "ferry pack $2 failed: $(tail -n 1 "$tmp/pack.log")"
}
pack ocr-det "$models/ch_PP-OCRv4_det_infer.onnx"
pack ocr-rec "$models/ch_PP-OCRv4_rec_infer.onnx"
pack vad "$models/silero_vad_v5.onnx"
pack speed "$src/examples/squeezenet1_1.onnx"
rm -f "$tmp/pack.log"

cp "$models/ppocr_keys_v1.txt" "$tmp/models/" || die 3 "cannot copy the dictionary"
for f in $page; do cp "$src/web-demo/$f" "$tmp/" || die 3 "cannot copy $f"; done
node "$src/scripts/make-demo-samples.mjs" "$tmp/samples" || die 3 "drawing the samples failed"

rm -rf "$out" && mv "$tmp" "$out" || die 3 "cannot move $tmp to $out"
trap - EXIT INT TERM
echo "web demo in $out: serve it with node $src/tests/browser/serve.mjs $out"
