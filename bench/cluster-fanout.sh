#!/usr/bin/env bash
# Fan-out through a cluster (SPEC §9) with the shared load generator: one primary and two
# edges sharing channels through a local redis-server, subscribers split round-robin over
# the two edges, publishes to the primary (or, with PUBLISH_VIA=edge, to edge A, which
# forwards them). Compare with the one-node run of bench/rtbox-only.sh on the same flags.
#
#   bench/cluster-fanout.sh -s 1000 -r 100 -t 8
#   PUBLISH_VIA=edge bench/cluster-fanout.sh -s 1000 -r 100 -t 8
#   NODES=1 bench/cluster-fanout.sh -s 1000 -r 100 -t 8      # one node, no Redis (baseline)
#
# Every node and Redis are pinned to CPU 0 (the one server core of run.sh), the load
# generator to CPU 1. The generator is a copy of ../shared/bench/loadgen built under
# target/ with one change: rtbox subscribers connect round-robin to RTBOX_WS_ADDRS.
# Loopback only; the run stops by itself and stops every process it started by PID.
set -euo pipefail
ROOT=$PWD
SHARED=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared/bench}
[ -d "$SHARED/loadgen" ] || SHARED=$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench   # from a worktree
BIN=${RTBOX_BIN:-$ROOT/target/release/rtbox}
LG_DIR=$ROOT/target/cluster-loadgen
LOADGEN=$LG_DIR/target/release/loadgen
if [ ! -x "$LOADGEN" ]; then
  mkdir -p "$LG_DIR"
  cp -r "$SHARED/loadgen/Cargo.toml" "$SHARED/loadgen/Cargo.lock" "$SHARED/loadgen/src" "$LG_DIR/"
  python3 - "$LG_DIR" <<'PY'
import sys, pathlib
root = pathlib.Path(sys.argv[1])
t = root / "src/targets/rtbox.rs"
s = t.read_text()
s = s.replace('''    fn ws_url(&self, _channel: &str) -> String {
        format!("ws://{}/ws?api_key={}", self.addr, self.api_key)
    }''', '''    fn ws_url(&self, _channel: &str) -> String {
        // Cluster runs: subscribers round-robin over RTBOX_WS_ADDRS (the edges).
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let addrs: Vec<String> = std::env::var("RTBOX_WS_ADDRS")
            .map(|v| v.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let addr = if addrs.is_empty() {
            self.addr.to_string()
        } else {
            addrs[NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % addrs.len()].clone()
        };
        format!("ws://{}/ws?api_key={}", addr, self.api_key)
    }''')
t.write_text(s)
m = root / "src/main.rs"
s = m.read_text()
s = s.replace("net::ws_connect(&url, t.addr(), src, sh.read_buf)",
              "net::ws_connect(&url, url.strip_prefix(\"ws://\").and_then(|r| r.split('/').next()).and_then(|h| h.parse().ok()).unwrap_or(t.addr()), src, sh.read_buf)")
m.write_text(s)
PY
  (cd "$LG_DIR" && CARGO_TARGET_DIR=$LG_DIR/target cargo build --release -q)
fi

base=${BASE_PORT:-18200}
RP=$base; PP=$((base + 1)); AP=$((base + 2)); BP=$((base + 3))
SECRET=bench-cluster-secret-0123456789
work=$(mktemp -d "${TMPDIR:-/tmp}/rtbox-cluster-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 did not open" >&2; return 1; }

if [ "${NODES:-3}" = 1 ]; then
  # The one-node baseline: same binary, same generator, no --cluster, no Redis.
  mkdir -p "$work/p"
  printf 'bench-password-1\n' | RTBOX_DATA_DIR=$work/p "$BIN" admin create bench@example.com --password-stdin >/dev/null
  RTBOX_LOG=warn taskset -c 0 "$BIN" serve --bind "127.0.0.1:$PP" --data-dir "$work/p" >"$work/p.log" 2>&1 &
  pids+=($!); wait_port "$PP"
  key=$(python3 "$SHARED/rtbox_setup.py" "http://127.0.0.1:$PP" bench@example.com bench-password-1)
  taskset -c 1 "$LOADGEN" fanout --target rtbox --addr "127.0.0.1:$PP" --api-key "$key" --server-pid "${pids[0]}" "$@"
  exit 0
fi
taskset -c 0 redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 &
pids+=($!); wait_port "$RP"
mkdir -p "$work/p" "$work/a" "$work/b"
printf 'bench-password-1\n' | RTBOX_DATA_DIR=$work/p "$BIN" admin create bench@example.com --password-stdin >/dev/null
common=(--cluster "redis://127.0.0.1:$RP" --cluster-secret "$SECRET")
RTBOX_LOG=warn taskset -c 0 "$BIN" serve --bind "127.0.0.1:$PP" --data-dir "$work/p" "${common[@]}" --role primary --node-id primary >"$work/p.log" 2>&1 &
ppid=$!; pids+=($ppid); wait_port "$PP"
key=$(python3 "$SHARED/rtbox_setup.py" "http://127.0.0.1:$PP" bench@example.com bench-password-1)
for n in a b; do
  port=$AP; [ $n = b ] && port=$BP
  RTBOX_LOG=warn taskset -c 0 "$BIN" serve --bind "127.0.0.1:$port" --data-dir "$work/$n" "${common[@]}" --role edge --primary-url "http://127.0.0.1:$PP" --node-id "edge-$n" >"$work/$n.log" 2>&1 &
  pids+=($!); wait_port "$port"
done
apid=${pids[2]}; bpid=${pids[3]}
pub=$PP; [ "${PUBLISH_VIA:-primary}" = edge ] && pub=$AP

RTBOX_WS_ADDRS="127.0.0.1:$AP,127.0.0.1:$BP" taskset -c 1 "$LOADGEN" fanout --target rtbox --addr "127.0.0.1:$pub" \
  --api-key "$key" --server-pid "$ppid,$apid,$bpid,${pids[0]}" "$@"

echo "--- cluster counters (primary, edge A, edge B)"
for port in $PP $AP $BP; do
  curl -s "127.0.0.1:$port/metrics" | grep -E '^rtbox_(messages_delivered_total|cluster_(published|received|catchup)_messages_total|cluster_redis_reconnects_total|cluster_redis_hop_seconds_(sum|count)|cluster_nodes )' | tr '\n' ' '
  echo
done
