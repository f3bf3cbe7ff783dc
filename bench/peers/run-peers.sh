#!/usr/bin/env bash
# Re-run the Smee peer measurements on loopback.
#
#   SMEE_SERVER_CMD='...' [SMEE_SERVER_CWD=dir] run-peers.sh [OUT_DIR]
#
# SMEE_SERVER_CMD  a command that starts a Smee-compatible relay server on the port in $PORT,
#                  bound to loopback (e.g. `hookrelay serve --listen 127.0.0.1:$PORT` via sh -c,
#                  or a smee.io server you set up yourself); run in SMEE_SERVER_CWD.
# OUT_DIR          where results go (default: ./peer-run-<timestamp>)
#
# Environment knobs:
#   WORK=/tmp/anchors-run     scratch dir (peers, server copy)
#   SMEE_PORT=3999            relay server port (the resilience probe uses SMEE_PORT-1)
#   ECHO_PORT=4100            echo/target port base (bench uses +100.., probe +200)
#   GOSMEE_BIN=/path/gosmee   optional prebuilt gosmee binary to include as a third client
#   SEQ_N=200 BIG_N=5 BURST_N=1000   benchmark sizes
#   SKIP_RESILIENCE=1         skip the reconnect/failure probe
#   HOOKRELAY_BIN=/path/hookrelay   also measure hookrelay's client (bench + resilience) against
#                             the same server (added in hookrelay's copy of this script)
#
# Installs the peer clients from the registries only: smee-client@5.0.0 (npm), pysmee==0.1.1 (PyPI).
# Every socket is on 127.0.0.1. For a Node server whose bind address is hard-coded to 0.0.0.0,
# start it with `node -r kit/force-loopback.cjs ...` (a listen() preload that rewrites it to 127.0.0.1).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KIT="$HERE/kit"
OUT="${1:-$PWD/peer-run-$(date +%Y%m%d-%H%M%S)}"
WORK="${WORK:-/tmp/anchors-run}"
SMEE_PORT="${SMEE_PORT:-3999}"
ECHO_PORT="${ECHO_PORT:-4100}"
SEQ_N="${SEQ_N:-200}"; BIG_N="${BIG_N:-5}"; BURST_N="${BURST_N:-1000}"
SMEE_URL="http://127.0.0.1:${SMEE_PORT}"

for t in node npm python3 curl ss; do command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }; done
mkdir -p "$WORK" "$OUT"

echo "== 1. peers from the registries"
mkdir -p "$WORK/peers/node"
( cd "$WORK/peers/node" && [ -f package.json ] || npm init -y >/dev/null )
( cd "$WORK/peers/node" && npm install --no-audit --no-fund --silent smee-client@5.0.0 )
[ -x "$WORK/peers/venv/bin/python" ] || python3 -m venv "$WORK/peers/venv"
"$WORK/peers/venv/bin/pip" install -q pysmee==0.1.1
SMEE_JS="$WORK/peers/node/node_modules/smee-client/bin/smee.js"
PYSMEE="$WORK/peers/venv/bin/pysmee"

echo "== 2. relay server: the command you give in SMEE_SERVER_CMD, run in SMEE_SERVER_CWD"
SERVER_CMD="${SMEE_SERVER_CMD:?set SMEE_SERVER_CMD to a command that starts a Smee-compatible server on \$PORT (loopback only)}"
SERVER_CWD="${SMEE_SERVER_CWD:-$PWD}"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "node: $(node --version)  python: $(python3 --version 2>&1)"
  echo "smee-client: $(node -p "require('$WORK/peers/node/node_modules/smee-client/package.json').version")"
  echo "eventsource: $(node -p "require('$WORK/peers/node/node_modules/eventsource/package.json').version")"
  echo "undici: $(node -p "require('$WORK/peers/node/node_modules/undici/package.json').version")"
  echo "pysmee/sseclient/requests: $("$WORK/peers/venv/bin/pip" freeze | grep -Ei '^(pysmee|sseclient|requests)==' | tr '\n' ' ')"
  echo "relay server: $SERVER_CMD (in $SERVER_CWD)"
  echo "gosmee: ${GOSMEE_BIN:-not used}"
  echo "cpu: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
} | tee "$OUT/versions.txt"

echo "== 3. start relay server on $SMEE_URL"
SERVER_LOG="$OUT/relay-server.log"
( cd "$SERVER_CWD" && PORT="$SMEE_PORT" exec $SERVER_CMD ) >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
cleanup() { kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "$SMEE_URL/new" && break; sleep 0.1; done
ss -ltn "sport = :$SMEE_PORT" | tee "$OUT/listen-check.txt"
if grep -q "0.0.0.0:$SMEE_PORT\|\*:$SMEE_PORT\|\[::\]:$SMEE_PORT" "$OUT/listen-check.txt"; then
  echo "relay server is not bound to loopback only; stopping" >&2; exit 1
fi

echo "== 4. fidelity scenarios"
python3 "$KIT/make_scenarios.py" "$OUT/sent" >/dev/null
FID_ARGS=(--smee-url "$SMEE_URL" --echo-port "$ECHO_PORT" --scenarios "$OUT/sent" --out "$OUT"
          --smee-client "$SMEE_JS" --pysmee "$PYSMEE")
[ -n "${GOSMEE_BIN:-}" ] && FID_ARGS+=(--gosmee "$GOSMEE_BIN")
python3 "$KIT/fidelity.py" "${FID_ARGS[@]}"
python3 "$KIT/analyze.py" "$OUT" >/dev/null
echo "fidelity table: $OUT/fidelity-table.md"

echo "== 5. latency / burst / memory"
mkdir -p "$OUT/bench"
bench() {  # name port command
  python3 "$KIT/bench.py" --name "$1" --echo-port "$2" --cmd "$3" --smee "127.0.0.1:$SMEE_PORT" \
    --seq-n "$SEQ_N" --big-n "$BIG_N" --burst-n "$BURST_N" \
    --out "$OUT/bench/$1.json" --log "$OUT/bench/$1.log" >/dev/null
  echo "bench $1 done"
}
bench smee-client $((ECHO_PORT+100)) "node $SMEE_JS -u {source} -t {target}"
bench pysmee $((ECHO_PORT+101)) "$PYSMEE forward {source} {target}"
[ -n "${GOSMEE_BIN:-}" ] && bench gosmee $((ECHO_PORT+102)) "$GOSMEE_BIN client --nocolor {source} {target}"
if [ -n "${HOOKRELAY_BIN:-}" ]; then
  rm -f "$WORK"/hookrelay-bench.sqlite*
  bench hookrelay $((ECHO_PORT+103)) "$HOOKRELAY_BIN forward {source} {target} --no-tui --store $WORK/hookrelay-bench.sqlite"
  bench hookrelay-no-store $((ECHO_PORT+104)) "$HOOKRELAY_BIN forward {source} {target} --no-tui --no-store"
fi
python3 "$KIT/bench_table.py" "$OUT/bench" | tee "$OUT/bench/bench-table.md"

kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true

if [ -z "${SKIP_RESILIENCE:-}" ]; then
  echo "== 6. reconnect / failure probe (own server instance on port $((SMEE_PORT-1)))"
  RES_ARGS=(--server-cmd "$SERVER_CMD" --server-cwd "$SERVER_CWD" --port $((SMEE_PORT-1))
            --echo-port $((ECHO_PORT+200)) --out "$OUT/resilience.json" --logdir "$OUT/resilience-logs"
            --client "smee-client=node $SMEE_JS -u {source} -t {target}"
            --client "pysmee=$PYSMEE forward {source} {target}")
  [ -n "${GOSMEE_BIN:-}" ] && RES_ARGS+=(--client "gosmee=$GOSMEE_BIN client --nocolor {source} {target}")
  [ -n "${HOOKRELAY_BIN:-}" ] && RES_ARGS+=(--client "hookrelay=$HOOKRELAY_BIN forward {source} {target} --no-tui --store $WORK/hookrelay-res.sqlite")
  python3 "$KIT/resilience.py" "${RES_ARGS[@]}" >/dev/null
  echo "resilience report: $OUT/resilience.json"
fi
echo "done: $OUT"
