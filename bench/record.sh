#!/usr/bin/env bash
# Record a large capture of real gRPC traffic under load, for the benchmark: grpc-go's greeter and
# interop-style servers (tests/peers, built by tests/peers/build.sh) on loopback, tcpdump writing
# the traffic, then h2load (nghttp2) driving unary SayHello at the go server over many
# connections while the go and python peer clients run their streaming, large, gzip and error
# scenarios in a loop against the go and python servers. Stops everything by PID.
# RECORD_LOAD=peers: no h2load; the load comes from the peer clients' own `load` scenario (many
# small unary calls with per-call deadlines over a few connections, as real grpc-go and grpcio
# services make them), run concurrently for each pair in RECORD_PAIRS (client:server, default
# "go:go py:py go:py py:go"; pairs with py are dropped when grpcio is missing).
#   usage: bench/record.sh OUT.pcap [SECONDS]      (root: tcpdump on lo; default 20 s)
#   env:   RECORD_LOAD (h2load|peers), RECORD_CONNS (32), RECORD_STREAMS (16) for h2load;
#          LOAD_CONC (32), LOAD_CONNS (4) per client for peers
# Then: grpcwire read --stats OUT.pcap, or bench/run.sh with BENCH_DIR pointing at it.
# Exit: 0 written, 1 failure, 2 usage, 77 cannot record here (not root, tools or peers missing).
set -euo pipefail
out=${1:-}; secs=${2:-20}
[ -n "$out" ] || { echo "usage: bench/record.sh OUT.pcap [SECONDS]" >&2; exit 2; }
cd "$(dirname "$0")/.."
root=$(pwd)
[ "$(id -u)" = 0 ] || { echo "record: tcpdump on lo needs root" >&2; exit 77; }
mode=${RECORD_LOAD:-h2load}
case "$mode" in h2load) tools="tcpdump h2load" ;; peers) tools=tcpdump ;;
  *) echo "record: RECORD_LOAD is h2load or peers" >&2; exit 2 ;; esac
for t in $tools; do
  command -v $t >/dev/null || { echo "record: $t missing (apt-get install tcpdump nghttp2-client)" >&2; exit 77; }
done
. "$root/tests/peers/peers.sh"
"$root/tests/peers/build.sh" go >/dev/null 2>&1 || { echo "record: cannot build the go peers" >&2; exit 77; }
have_py=0; "$root/tests/peers/build.sh" py >/dev/null 2>&1 && have_py=1

tmp=$(mktemp -d /tmp/record.XXXXXX)
GO_PID= PY_PID= DUMP_PID=
cleanup() { stop_pid "$DUMP_PID" 5; stop_pid "$GO_PID"; stop_pid "$PY_PID"; rm -rf "$tmp"; }
trap cleanup EXIT

gport=$(free_port 127.0.0.1)
start_server go 127.0.0.1 "$gport" "$tmp/go.log" || { echo "record: go server did not start" >&2; exit 1; }
GO_PID=$SERVER_PID
filter="tcp port $gport"
if [ "$have_py" = 1 ]; then
  pport=$(free_port 127.0.0.1)
  if start_server py 127.0.0.1 "$pport" "$tmp/py.log"; then
    PY_PID=$SERVER_PID
    filter="$filter or tcp port $pport"
  fi
fi
tcpdump -i lo -s 0 -B 131072 -w "$out" -U "$filter" 2>"$tmp/dump.log" &
DUMP_PID=$!
sleep 1

if [ "$mode" = peers ]; then
  pairs=()
  for p in ${RECORD_PAIRS:-go:go py:py go:py py:go}; do
    case "$p" in *py*) [ -n "$PY_PID" ] || continue ;; esac
    pairs+=("$p")
  done
  LPIDS=()
  for p in "${pairs[@]}"; do
    c=${p%:*}; s=${p#*:}
    [ "$s" = go ] && port=$gport || port=$pport
    peer_client_cmd "$c" "127.0.0.1:$port"
    LOAD_SECONDS=$secs timeout $((secs + 30)) "${CLIENT_CMD[@]}" load >"$tmp/load-$c-$s.log" 2>&1 &
    LPIDS+=($!)
  done
  for pid in "${LPIDS[@]}"; do wait "$pid" || true; done
  sleep 1
  stop_pid "$DUMP_PID" 5; DUMP_PID=
  for p in "${pairs[@]}"; do
    sed "s/^/${p/:/->}: /" "$tmp/load-${p%:*}-${p#*:}.log" | tail -3
  done
  echo "record: $out ($(($(stat -c %s "$out") >> 20)) MiB)"
  exit 0
fi

end=$((SECONDS + secs))
printf '\x00\x00\x00\x00\x07\x0a\x05world' >"$tmp/body.bin"
# Unary load: as many SayHello as h2load can send until the time is up.
timeout $((secs + 15)) h2load -D "$secs" -c "${RECORD_CONNS:-32}" -m "${RECORD_STREAMS:-16}" \
  -d "$tmp/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
  "http://127.0.0.1:$gport/helloworld.Greeter/SayHello" >"$tmp/h2load.log" 2>&1 &
LOAD_PID=$!
# Real clients beside it: streaming, large and compressed messages, errors.
scen=(unary server_stream client_stream bidi large gzip error_details unimplemented)
while [ $SECONDS -lt $end ]; do
  peer_client_cmd go "127.0.0.1:$gport"; "${CLIENT_CMD[@]}" "${scen[@]}" >/dev/null 2>&1 || true
  if [ -n "$PY_PID" ]; then
    peer_client_cmd py "127.0.0.1:$pport"; "${CLIENT_CMD[@]}" "${scen[@]}" >/dev/null 2>&1 || true
  fi
done
wait "$LOAD_PID" 2>/dev/null || true
sleep 1
stop_pid "$DUMP_PID" 5; DUMP_PID=
grep -E "requests:|finished in" "$tmp/h2load.log" | sed 's/^/h2load: /' || true
echo "record: $out ($(($(stat -c %s "$out") >> 20)) MiB)"
