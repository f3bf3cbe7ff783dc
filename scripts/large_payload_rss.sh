#!/usr/bin/env bash
# Resident memory with large payloads (issue 16), for the two cases examples/large_payload.rs
# does not cover: the terminal UI showing a large delivery, and `hookrelay serve` relaying a
# 25 MiB body. A measurement, not a test: run it by hand on a release build.
#
#   cargo build --release
#   scripts/large_payload_rss.sh ui    [target/release/hookrelay]   # needs tmux, python3, curl
#   scripts/large_payload_rss.sh serve [target/release/hookrelay]   # needs python3, curl
#
# ui: a relay (`hookrelay serve`), a target (python3), and `hookrelay forward` with its UI in a
#     detached tmux window (160x48) and a store; one 9.4 MiB JSON body (200,000 small objects,
#     as in examples/large_payload.rs) arrives and is selected (follow), then every tab is
#     shown, `v` is pressed twice, the selection moves up and down six times, and finally
#     moves off it. VmRSS / VmHWM of the UI process after each step.
# serve: `hookrelay serve --ring-len 2` with one subscriber (curl reading the smee shape, then a
#     `hookrelay forward --no-store` reading the extended shape); a 25 MiB body (JSON, then
#     random bytes) is published; VmHWM while it is in flight and in the ring (with forward,
#     once the target has received it), then VmRSS 3 s after three small events pushed it out
#     of the ring.
set -euo pipefail
mode=${1:?usage: $0 ui|serve [path to hookrelay]}
bin=$(realpath "${2:-target/release/hookrelay}")
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    tmux kill-session -t hookrelay-rss 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mem() { grep -E 'VmRSS|VmHWM' "/proc/$1/status" | awk '{printf "%s %.1f MiB  ", $1, $2/1024}'; echo " $2"; }

python3 - "$work" <<'EOF'
import sys, os
w = sys.argv[1]
items = ','.join('{"id":%d,"ok":true,"v":"x%07d","w":"abcd"}' % (i, i) for i in range(200000))
open(os.path.join(w, 'json9.json'), 'w').write('[' + items + ']')
parts, n, i = [], 0, 0
while n < 25 * 2**20 - 64:
    s = '{"id":%d,"ok":true,"v":"x%07d","w":"abcd"}' % (i, i)
    parts.append(s); n += len(s) + 1; i += 1
open(os.path.join(w, 'json25.json'), 'w').write('[' + ','.join(parts) + ']')
open(os.path.join(w, 'bin25'), 'wb').write(os.urandom(25 * 2**20))
open(os.path.join(w, 'target.py'), 'w').write('''
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = len(self.rfile.read(int(self.headers.get("content-length", "0"))))
        with open(sys.argv[1], "a") as f: f.write("%d\\n" % n)
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
''')
EOF

start_relay() { # $1: extra serve flags; sets relay, relay_pid
    "$bin" serve --listen 127.0.0.1:0 $1 >"$work/serve.log" 2>&1 &
    relay_pid=$!; pids+=("$relay_pid")
    for _ in $(seq 50); do
        relay=$(grep -ao 'http://127.0.0.1:[0-9]*' "$work/serve.log" | head -1 || true)
        [ -n "$relay" ] && return; sleep 0.1
    done
    echo "the relay did not start" >&2; exit 1
}
new_channel() { curl -s -D - -o /dev/null "$relay/new" | awk -F': ' 'tolower($1)=="location"{print $2}' | tr -d '\r'; }
start_target() {
    python3 -u "$work/target.py" "$work/received" >"$work/target.port" &
    pids+=("$!")
    for _ in $(seq 50); do [ -s "$work/target.port" ] && break; sleep 0.1; done
    target="http://127.0.0.1:$(cat "$work/target.port")/hook"
}
post() { curl -s -o /dev/null -X POST -H 'content-type: application/json' --data-binary "$2" "$1"; }

case "$mode" in
ui)
    start_relay ""; start_target
    ch=$(new_channel)
    tmux new-session -d -s hookrelay-rss -x 160 -y 48 \
        "HOOKRELAY_LOG=warn $bin forward $ch $target --store $work/s.sqlite"
    ui=""
    for _ in $(seq 50); do ui=$(pgrep -n -f "forward $ch" || true); [ -n "$ui" ] && break; sleep 0.1; done
    sleep 1; post "$ch" '{}'; sleep 1
    mem "$ui" "idle (one small delivery)"
    post "$ch" "@$work/json9.json"; sleep 2
    mem "$ui" "9.4 MiB JSON delivered and selected"
    for k in 2 3 4 5 1; do tmux send-keys -t hookrelay-rss "$k"; sleep 0.7; done
    mem "$ui" "after every tab"
    tmux send-keys -t hookrelay-rss v; sleep 0.7; tmux send-keys -t hookrelay-rss v; sleep 0.7
    for _ in $(seq 6); do
        tmux send-keys -t hookrelay-rss Up; sleep 0.3; tmux send-keys -t hookrelay-rss Down; sleep 0.3
    done
    mem "$ui" "after v twice and six moves off and back"
    tmux send-keys -t hookrelay-rss Up; sleep 3
    mem "$ui" "3 s after the selection moved off it"
    ;;
serve)
    for reader in curl forward; do
        for body in json25.json bin25; do
            start_relay "--ring-len 2"; start_target
            ch=$(new_channel)
            if [ "$reader" = curl ]; then
                curl -s -N -H 'accept: text/event-stream' "$ch" >/dev/null &
            else
                HOOKRELAY_LOG=warn "$bin" forward "$ch" "$target" --no-tui --no-store >/dev/null 2>&1 &
            fi
            pids+=("$!"); sleep 1.5
            if [ "$reader" = forward ]; then
                # subscribed once a small event reaches the target (a loaded machine is slow)
                for _ in $(seq 40); do
                    post "$ch" '{}'; sleep 0.5; [ -s "$work/received" ] && break
                done
            else
                post "$ch" '{}'; sleep 0.5
            fi
            mem "$relay_pid" "serve idle ($reader subscribed)"
            size=$(stat -c %s "$work/$body")
            post "$ch" "@$work/$body"
            if [ "$reader" = forward ]; then
                waited=0 # until the target has the body (at most 60 s)
                while ! grep -qx "$size" "$work/received" && [ "$waited" -lt 600 ]; do
                    sleep 0.1; waited=$((waited + 1))
                done
                grep -qx "$size" "$work/received" || echo "  the target did not receive the body" >&2
            else
                sleep 1
            fi
            mem "$relay_pid" "$body ($size bytes) relayed, in the ring"
            for _ in 1 2 3; do post "$ch" '{}'; done; sleep 3
            mem "$relay_pid" "3 s after the ring dropped it"
            kill "$relay_pid" 2>/dev/null || true
            rm -f "$work/received"
        done
    done
    ;;
*) echo "usage: $0 ui|serve [path to hookrelay]" >&2; exit 2 ;;
esac
