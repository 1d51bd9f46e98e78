# Sourced by scripts/mkcapture.sh and tests/interop/*.test.sh: how to start each peer server,
# run each peer client, pick free loopback ports and stop processes by PID.
# Peers: go (grpc-go 1.33), py (grpcio 1.51), node (@grpc/grpc-js). Build them with tests/peers/build.sh.
# shellcheck shell=bash disable=SC2034

PEERS_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_ROOT=$(cd "$PEERS_HERE/../.." && pwd)
export GW_PEERS_DIR=${GW_PEERS_DIR:-$PEERS_ROOT/build/peers}
GW_PYTHON=${GW_PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1  # keep __pycache__ out of tests/peers/py
PEERS_ALL="go py node"
# reflection: the go client only (grpc-go serves reflection; the others are not asked to)
PEERS_SCENARIOS="greeter unary server_stream client_stream bidi large gzip error_details unimplemented deadline concurrent cancel http415 reflection"

# peer_server_cmd PEER HOST PORT: sets the array SERVER_CMD.
peer_server_cmd() {
  case "$1" in
    go) SERVER_CMD=("$GW_PEERS_DIR/bin/go-server" -host "$2" -port "$3") ;;
    py) SERVER_CMD=("$GW_PYTHON" "$PEERS_HERE/py/server.py" --host "$2" --port "$3") ;;
    node) SERVER_CMD=(node "$PEERS_HERE/node/server.js" --host "$2" --port "$3") ;;
    *) echo "peers: unknown peer '$1' (go|py|node)" >&2; return 2 ;;
  esac
}

# peer_client_cmd PEER ADDR: sets the array CLIENT_CMD (append scenario names to it).
peer_client_cmd() {
  case "$1" in
    go) CLIENT_CMD=("$GW_PEERS_DIR/bin/go-client" "$2") ;;
    py) CLIENT_CMD=("$GW_PYTHON" "$PEERS_HERE/py/client.py" "$2") ;;
    node) CLIENT_CMD=(node "$PEERS_HERE/node/client.js" "$2") ;;
    *) echo "peers: unknown peer '$1' (go|py|node)" >&2; return 2 ;;
  esac
}

# peer_addr HOST PORT: host:port with brackets for IPv6.
peer_addr() {
  case "$1" in *:*) echo "[$1]:$2" ;; *) echo "$1:$2" ;; esac
}

# free_port HOST [PREFERRED]: a TCP port free on HOST right now, PREFERRED if it is.
free_port() {
  "$GW_PYTHON" - "$1" "${2:-0}" <<'EOF'
import socket, sys
host, pref = sys.argv[1], int(sys.argv[2])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
for p in ([pref] if pref else []) + [0]:
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, p))
    except OSError:
        s.close()
        continue
    print(s.getsockname()[1])
    s.close()
    break
EOF
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 3); reaps it.
stop_pid() {
  local pid=$1 t=${2:-3} i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < t * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# start_server PEER HOST PORT LOG: starts the server in the background, sets SERVER_PID, and
# returns once it printed "listening on PORT" (or 1 after 15 s, or if it died).
start_server() {
  local i
  peer_server_cmd "$1" "$2" "$3" || return 2
  "${SERVER_CMD[@]}" >"$4" 2>&1 &
  SERVER_PID=$!
  for ((i = 0; i < 150; i++)); do
    grep -q "^listening on $3\$" "$4" 2>/dev/null && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "peers: $1 server did not start on $2:$3:" >&2
  sed 's/^/  | /' "$4" >&2
  stop_pid "$SERVER_PID" 1
  SERVER_PID=
  return 1
}

# run_http415 HOST PORT: POST with content-type text/plain via nghttp (plain h2c, prior knowledge)
# and print what the server answered. gRPC servers should answer HTTP 415; grpc-go 1.33 instead
# resets the stream (PROTOCOL_ERROR), grpcio 1.51 answers 200 with grpc-status. Returns 0 always
# unless nghttp is missing (77): the caller decides what it expected.
run_http415() {
  local host=$1 port=$2 url out body st rst
  command -v nghttp >/dev/null || { echo "peers: nghttp not found (nghttp2-client)" >&2; return 77; }
  case "$host" in *:*) url="http://[$host]:$port" ;; *) url="http://$host:$port" ;; esac
  body=$(mktemp)
  printf 'hello, not grpc\n' >"$body"
  out=$(timeout 10 nghttp -v --no-dep -H 'content-type: text/plain' -d "$body" \
    "$url/helloworld.Greeter/SayHello" 2>&1 | tr -d '\000' || true)
  rm -f "$body"
  st=$(printf '%s\n' "$out" | sed -n 's/.*recv (stream_id=1) :status: \([0-9]*\).*/\1/p' | head -n1)
  rst=$(printf '%s\n' "$out" | grep -A1 'recv RST_STREAM' | sed -n 's/.*error_code=\([A-Z_]*\).*/\1/p' | head -n1)
  echo "call /helloworld.Greeter/SayHello content-type=text/plain http=${st:-none}${rst:+ rst_stream=$rst}"
}
