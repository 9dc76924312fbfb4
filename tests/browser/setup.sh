#!/bin/sh
# setup.sh - installs playwright-core (pinned in tests/browser/package.json)
# into DIR/node_modules for the browser tests, idempotently: nothing happens
# when the pinned version is already there. playwright-core never downloads a
# browser (the tests drive Debian's /usr/bin/chromium, which
# scripts/setup-debian.sh installs); PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 and
# --ignore-scripts make sure of it.
#   usage: setup.sh DIR
set -eu
dir=${1:?usage: setup.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
want=$(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' "$here/package.json")
have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
  "$dir/node_modules/playwright-core/package.json" 2>/dev/null | head -n 1 || true)
if [ "$have" = "$want" ] && cmp -s "$here/package.json" "$dir/package.json"; then
  exit 0
fi
command -v node >/dev/null || { echo "setup.sh: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "setup.sh: npm is not installed" >&2; exit 1; }
mkdir -p "$dir"
cp "$here/package.json" "$dir/package.json"
cd "$dir"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --ignore-scripts --no-audit --no-fund \
  --prefer-offline --no-save --no-package-lock --loglevel=error
node -e "require('playwright-core')" || {
  echo "setup.sh: playwright-core does not load from $dir" >&2; exit 1; }
