#!/usr/bin/env bash
# The floor of the HTTP stack rtbox is built on: examples/http_floor.rs (actix-web, one
# worker, a 201 with an ack of rtbox's size, no auth, no database) under the shared load
# generator's publish scenario, keep-alive and with a new TCP connection per request.
# No rtbox publish path can beat these rates on the same core; see docs/scaling.md.
#
#   bench/floor.sh            # both modes, 32 clients, 5 s each
#   K=64 T=10 bench/floor.sh
#
# Run from the project root. Server on CPU 0, load generator on CPU 1, as in run.sh.
set -euo pipefail
SHARED=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared/bench}
LOADGEN=${LOADGEN:-$SHARED/loadgen/target/release/loadgen}
PORT=${PORT:-18095}
K=${K:-32}
T=${T:-5}
[ -x "$LOADGEN" ] || (cd "$SHARED/loadgen" && cargo build --release -q)
cargo build --release -q --example http_floor
taskset -c 0 target/release/examples/http_floor "127.0.0.1:$PORT" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
for mode in keep-alive --http-close; do
  echo "--- $mode"
  extra=()
  [ "$mode" = --http-close ] && extra=(--http-close)
  taskset -c 1 "$LOADGEN" publish --target rtbox --addr "127.0.0.1:$PORT" --api-key unused \
    --server-pid "$pid" -k "$K" -t "$T" "${extra[@]}" 2>&1 | grep -E "req/s|cpu:"
done
