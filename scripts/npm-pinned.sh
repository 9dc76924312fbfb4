#!/bin/sh
# npm-pinned.sh - installs the npm packages pinned in PACKAGE_JSON into
# DIR/node_modules, idempotently: nothing happens when MAIN (the package the
# folder is for) is already there at its pinned version with the same
# package.json. Install scripts never run (--ignore-scripts): onnxruntime-node's
# postinstall would download CUDA libraries from outside npm, and
# playwright-core must never download a browser (the tests drive Debian's
# /usr/bin/chromium); the environment says so too.
#   usage: npm-pinned.sh PACKAGE_JSON DIR MAIN
set -eu
pkg=${1:?usage: npm-pinned.sh PACKAGE_JSON DIR MAIN}
dir=${2:?usage: npm-pinned.sh PACKAGE_JSON DIR MAIN}
main=${3:?usage: npm-pinned.sh PACKAGE_JSON DIR MAIN}
want=$(sed -n "s/.*\"$main\": *\"\\([^\"]*\\)\".*/\\1/p" "$pkg")
[ -n "$want" ] || { echo "npm-pinned.sh: $pkg does not pin $main" >&2; exit 1; }
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
  "$dir/node_modules/$main/package.json" 2>/dev/null | head -n 1 || true)
if [ "$have" = "$want" ] && cmp -s "$pkg" "$dir/package.json"; then
  exit 0
fi
command -v node >/dev/null || { echo "npm-pinned.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm-pinned.sh: npm is not installed" >&2; exit 1; }
mkdir -p "$dir"
cp "$pkg" "$dir/package.json"
cd "$dir"
ONNXRUNTIME_NODE_INSTALL=skip PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --ignore-scripts --no-audit \
  --no-fund --prefer-offline --no-save --no-package-lock --loglevel=error
node -e "require('$main')" || { echo "npm-pinned.sh: $main does not load from $dir" >&2; exit 1; }
