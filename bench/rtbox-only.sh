#!/usr/bin/env bash
# One rtbox-only load run with the shared load generator (../shared/bench/loadgen), for
# what ../shared/bench/run.sh does not cover: the cost of a trigger on the fan-out path,
# and quick before/after checks while profiling.
#
#   bench/rtbox-only.sh fanout -s 1000 -r 1000 -t 8          # fan-out, no trigger
#   TRIGGER=1 bench/rtbox-only.sh fanout -s 1000 -r 1000 -t 8 # same with a pass-through trigger
#   TRIGGER=xano …                                            # the pass-through in XanoScript
#   TRIGGER=rhai-stack … / TRIGGER=xano-stack …               # a small stack, Rhai vs XanoScript
#   bench/rtbox-only.sh publish -k 32 -t 5                    # durable HTTP publish
#   bench/rtbox-only.sh conns -n 10000                        # RSS per idle connection
#   PERF=1 bench/rtbox-only.sh …                              # perf record -g the server into perf.data
#   MEMORY=1 bench/rtbox-only.sh publish -k 32 -t 5           # the bench channels in memory (no SQLite)
#
# The server takes its settings from the environment, e.g. RTBOX_REST_PUBLISH_RATE_PER_KEY
# (default 200,000/s, burst 2x: a run faster than that gets 429s).
#
# Run from the project root after `cargo build --release`. The server is pinned to CPU 0,
# the load generator to CPU 1, as in run.sh. Loopback only; the run stops by itself.
set -euo pipefail
SHARED=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared/bench}
BIN=${RTBOX_BIN:-$PWD/target/release/rtbox}
PORT=${PORT:-18090}
LOADGEN=${LOADGEN:-$SHARED/loadgen/target/release/loadgen}
[ -x "$LOADGEN" ] || (cd "$SHARED/loadgen" && cargo build --release -q)

data=$(mktemp -d "${TMPDIR:-/tmp}/rtbox-bench.XXXXXX")
printf 'bench-password-1\n' | RTBOX_DATA_DIR=$data "$BIN" admin create bench@example.com --password-stdin >/dev/null
RTBOX_LOG=warn taskset -c 0 "$BIN" serve --bind "127.0.0.1:$PORT" --data-dir "$data" >"$data/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

key=$(python3 "$SHARED/rtbox_setup.py" "http://127.0.0.1:$PORT" bench@example.com bench-password-1)
rhai_trigger() {
  curl -sf -X POST "127.0.0.1:$PORT/api/v1/triggers" -H "X-API-KEY: $key" -H 'Content-Type: application/json' \
    -d "{\"name\": \"bench\", \"channel\": \"bench/*\", \"actions\": {\"message\": true}, \"script\": \"$1\"}" >/dev/null
}
xano_trigger() {
  printf '%s\n' "realtime_trigger bench {" '  channel = "bench/*"' "  stack {" "$1" "  }" \
    "  response = \$input.payload" "  actions = {message: true}" "}" |
    curl -sf -X POST "127.0.0.1:$PORT/api/v1/triggers" -H "X-API-KEY: $key" \
      -H 'Content-Type: text/x-xanoscript' --data-binary @- >/dev/null
}
case "${TRIGGER:-}" in
  "") ;;
  1|rhai) rhai_trigger 'payload' ;;
  xano) xano_trigger '' ;;
  rhai-stack) rhai_trigger 'let text = payload.to_string(); if !text.starts_with(\"seq=\") { reject(\"bad payload\") } if text.len() > 100000 { return (); } payload' ;;
  xano-stack) xano_trigger '    var $text { value = $input.payload|to_text }
    precondition (`$text|starts_with:"seq="`) { error = "bad payload" }
    conditional { if (`($text|strlen) > 100000`) { return { value = null } } }' ;;
  *) echo "TRIGGER must be 1, rhai, xano, rhai-stack or xano-stack" >&2; exit 2 ;;
esac
if [ -n "${MEMORY:-}" ]; then
  curl -sf -X PATCH "127.0.0.1:$PORT/api/v1/channels/bench%2F*" -H "X-API-KEY: $key" \
    -H 'Content-Type: application/json' -d '{"history": {"persist": false}}' >/dev/null
fi
if [ -n "${PERF:-}" ]; then perf record -F 999 -g -p "$pid" -o perf.data 2>/dev/null & perf_pid=$!; fi

scenario=$1; shift
taskset -c 1 "$LOADGEN" "$scenario" --target rtbox --addr "127.0.0.1:$PORT" --api-key "$key" --server-pid "$pid" "$@"

if [ -n "${PERF:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
echo "--- server counters"
curl -s "127.0.0.1:$PORT/metrics" | grep -E '^rtbox_(sqlite_commits_total|messages_published_total|messages_delivered_total|trigger_runs_total)' || true
