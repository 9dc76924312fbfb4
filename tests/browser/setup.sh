#!/bin/sh
# setup.sh - installs playwright-core (pinned in tests/browser/package.json)
# into DIR/node_modules for the browser tests; it never downloads a browser.
#   usage: setup.sh DIR
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/../../scripts/npm-pinned.sh" "$here/package.json" "${1:?usage: setup.sh DIR}" playwright-core
