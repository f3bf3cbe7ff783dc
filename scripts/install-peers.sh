#!/usr/bin/env bash
# Install the Smee peers the interop tests run against (tests/it/server_peers.rs):
#   smee-client 5.0.0 (npm) into tests/peers/node, pysmee 0.1.1 (PyPI) into tests/peers/venv.
# tests/peers/ is gitignored. Re-running is safe. Needs node/npm and python3 (with venv).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peers="$root/tests/peers"
mkdir -p "$peers/node"

if command -v npm >/dev/null 2>&1; then
  echo "==> smee-client@5.0.0 -> $peers/node"
  (cd "$peers/node" && [ -f package.json ] || echo '{"private":true}' > package.json)
  npm install --prefix "$peers/node" --no-audit --no-fund --silent smee-client@5.0.0
else
  echo "npm not found: skipping smee-client" >&2
fi

if command -v python3 >/dev/null 2>&1; then
  echo "==> pysmee==0.1.1 -> $peers/venv"
  [ -x "$peers/venv/bin/python" ] || python3 -m venv "$peers/venv"
  "$peers/venv/bin/pip" install --quiet --disable-pip-version-check pysmee==0.1.1
else
  echo "python3 not found: skipping pysmee" >&2
fi

echo "done:"
ls "$peers/node/node_modules/smee-client/bin/smee.js" 2>/dev/null || true
ls "$peers/venv/bin/pysmee" 2>/dev/null || true
