#!/usr/bin/env bash
# make bench (RPC part): unary SayHello driven by h2load against `grpcwire serve` and grpc-go's
# greeter (tests/peers/go/server, grpc-go 1.33 from Debian) with the same settings, side by side:
#   1. pinned:     server on CPU 0 (taskset), h2load on CPU 1; -c 4 -m 64, 200k requests
#   2. sequential: same pinning, -c 1 -m 1 (latency floor)
#   3. unpinned:   both free to use every core (grpcwire serve with one loop per core)
# The request is the seed's: 12 bytes, 5-byte prefix + 0a05776f726c64 (HelloRequest{name:"world"}).
# Prints requests/s, p50/p99 latency (from h2load's per-request log) and the server's peak RSS.
# Usage: bench/rpc_bench.sh [BUILD_DIR]   (default build-release)
# Env: RPC_BENCH_N (200000), RPC_BENCH_SEQ_N (20000), RPC_BENCH_SERVERS ("grpcwire grpc-go")
set -euo pipefail
build=${1:-build-release}
cd "$(dirname "$0")/.."
root=$(pwd)
gw=${GW_BIN:-$root/$build/grpcwire}
n=${RPC_BENCH_N:-200000}
seqn=${RPC_BENCH_SEQ_N:-20000}
servers=${RPC_BENCH_SERVERS:-grpcwire grpc-go}

command -v h2load >/dev/null || { echo "rpc_bench: h2load not found (apt-get install nghttp2-client)"; exit 0; }
[ -x "$gw" ] || { echo "rpc_bench: no grpcwire at $gw"; exit 1; }
. "$root/tests/peers/peers.sh"
if [[ " $servers " == *" grpc-go "* ]] && ! "$root/tests/peers/build.sh" go >/dev/null 2>&1; then
  echo "rpc_bench: cannot build the grpc-go greeter (tests/peers/build.sh go); grpcwire only"
  servers=grpcwire
fi
ncpu=$(nproc)
tmp=$(mktemp -d /tmp/rpc-bench.XXXXXX)
SRV=
trap 'stop_pid "$SRV" 2; rm -rf "$tmp"' EXIT
printf '\x00\x00\x00\x00\x07\x0a\x05world' >"$tmp/body12.bin"

# start NAME PORT CPUSET: the server in the background (SRV), ready when it accepts.
start() {
  local name=$1 port=$2 cpus=$3 pin=()
  [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  case $name in
    grpcwire) "${pin[@]}" "$gw" serve --listen "127.0.0.1:$port" >"$tmp/srv.log" 2>&1 & ;;
    grpc-go) "${pin[@]}" "$GW_PEERS_DIR/bin/go-server" -host 127.0.0.1 -port "$port" >"$tmp/srv.log" 2>&1 & ;;
  esac
  SRV=$!
  for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "rpc_bench: $name did not start"; cat "$tmp/srv.log"; return 1
}

# run NAME LABEL CPUSET_SERVER CPUSET_CLIENT CONNS STREAMS N: one h2load run, one result line.
run() {
  local name=$1 label=$2 scpu=$3 ccpu=$4 c=$5 m=$6 count=$7 port pin=()
  port=$(free_port 127.0.0.1)
  start "$name" "$port" "$scpu" || return 0
  [ -n "$ccpu" ] && pin=(taskset -c "$ccpu")
  # A short warm-up (connections, caches, Go's GC pacing), then the measured run.
  h2load -n 2000 -c "$c" -m "$m" -d "$tmp/body12.bin" -H 'content-type: application/grpc' \
    -H 'te: trailers' "http://127.0.0.1:$port/helloworld.Greeter/SayHello" >/dev/null 2>&1 || true
  rm -f "$tmp/lat.log" # h2load appends to its log file
  "${pin[@]}" h2load -n "$count" -c "$c" -m "$m" -d "$tmp/body12.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$tmp/lat.log" \
    "http://127.0.0.1:$port/helloworld.Greeter/SayHello" >"$tmp/h2load.out" 2>&1 || true
  local rss
  rss=$(awk '/VmHWM/{print $2}' "/proc/$SRV/status" 2>/dev/null || echo 0)
  stop_pid "$SRV" 3
  SRV=
  python3 - "$name" "$label" "$tmp/h2load.out" "$tmp/lat.log" "$rss" <<'PY'
import re, sys
name, label, out, log, rss = sys.argv[1:]
text = open(out).read()
m = re.search(r'finished in ([\d.]+)(m?s), ([\d.]+) req/s', text)
ok = re.search(r'(\d+) succeeded', text)
lat = sorted(int(l.split('\t')[2]) for l in open(log) if l.count('\t') >= 2 and l.split('\t')[1] == '200')
def pct(p):
    return lat[min(len(lat) - 1, int(len(lat) * p))] / 1000.0 if lat else float('nan')
rps = float(m.group(3)) if m else 0.0
print(f"{label:12s} {name:9s} {rps:10.0f} req/s  p50 {pct(0.50):7.3f} ms  p99 {pct(0.99):7.3f} ms  "
      f"RSS {int(rss)/1024:5.1f} MB  ({ok.group(1) if ok else 0} ok)")
PY
}

echo "== RPC: unary SayHello, h2load, 12-byte request ($ncpu CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
if [ "$ncpu" -ge 2 ]; then
  for s in $servers; do run "$s" pinned 0 1 4 64 "$n"; done
  for s in $servers; do run "$s" sequential 0 1 1 1 "$seqn"; done
else
  echo "(one CPU: no pinned runs)"
fi
for s in $servers; do run "$s" unpinned "" "" 4 64 "$n"; done
