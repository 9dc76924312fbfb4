#!/usr/bin/env bash
# test.sh: the README's second command, and what CI runs (.ci/run). Installs
# what is missing (scripts/setup-debian.sh), builds, and runs the whole suite:
#   1. make check            unit, conformance and real-model tests
#   2. ASan/UBSan build      the same tests under AddressSanitizer + UBSan
#   3. fuzz                  libFuzzer on every input parser, ASan + UBSan
#   4. make distcheck        the release tarball builds and passes its tests
# Prints each test program's Check summary and a closing "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/setup-debian.sh
[ -x configure ] || autoreconf -fi
models="$root/build/test-models"   # shared by every build below
mkdir -p build

summary=()
run_suite() { # NAME DIR: make check in DIR, keep its Check summary lines
  local name=$1 dir=$2 rc=0
  echo "== $name"
  make -C "$dir" -j2 check || rc=$?
  for log in "$dir"/tests/*.log; do
    [ -f "$log" ] || continue
    line=$(grep -E '^[0-9]+%: Checks: ' "$log" | tail -n 1 || true)
    echo "$name $(basename "$log" .log): ${line:-no Check summary (crashed?)}"
    summary+=("$name ${line:-0%: Checks: 1, Failures: 1, Errors: 0}")
  done
  return $rc
}

status=0
(cd build && [ -f Makefile ] || ../configure --with-test-models="$models" >/dev/null)
make -C build -j2 >/dev/null
run_suite plain build || status=1

mkdir -p build-asan
(cd build-asan && [ -f Makefile ] || ../configure --with-test-models="$models" \
   CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
   LDFLAGS="-fsanitize=address,undefined" >/dev/null)
make -C build-asan -j2 >/dev/null
ASAN_OPTIONS=detect_leaks=1 run_suite asan build-asan || status=1

echo "== fuzz (libFuzzer, ASan + UBSan)"
if FERRY_BUILD="$root/build" scripts/fuzz.sh "${FERRY_FUZZ_SECONDS:-60}"; then
  summary+=("fuzz 100%: Checks: 1, Failures: 0, Errors: 0")
else
  echo "fuzz: FAILED"; status=1; summary+=("fuzz 0%: Checks: 1, Failures: 1, Errors: 0")
fi

echo "== make distcheck"
if make -C build distcheck DISTCHECK_CONFIGURE_FLAGS="--with-test-models=$models" >build/distcheck.log 2>&1; then
  echo "distcheck: passed"; summary+=("distcheck 100%: Checks: 1, Failures: 0, Errors: 0")
else
  tail -n 40 build/distcheck.log; echo "distcheck: FAILED"; status=1
  summary+=("distcheck 0%: Checks: 1, Failures: 1, Errors: 0")
fi

passed=0 failed=0
for s in "${summary[@]}"; do
  n=$(sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/' <<<"$s")
  read -r c f e <<<"$n"
  passed=$((passed + c - f - e)); failed=$((failed + f + e))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && exit $status || exit 1
