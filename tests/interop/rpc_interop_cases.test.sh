#!/usr/bin/env bash
# gRPC's interop cases (doc/interop-test-descriptions.md) both ways: grpc-go 1.33's own interop
# client (interop/client, built by tests/peers/build.sh interop from Debian's source package)
# against `grpcwire serve --interop`, then `grpcwire call --interop-case` against grpc-go's interop
# server. Exit 0 pass, 1 fail, 77 skip (no Go toolchain or no way to fetch the interop sources).
# Env: GW_BIN (default build/grpcwire).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../peers/peers.sh
. "$root/tests/peers/peers.sh"

gw=${GW_BIN:-$root/build/grpcwire}
[ -x "$gw" ] || { echo "FAIL: grpcwire binary not found at $gw (set GW_BIN)"; exit 1; }

CASES="empty_unary large_unary client_streaming server_streaming ping_pong empty_stream
timeout_on_sleeping_server custom_metadata status_code_and_message special_status_message
unimplemented_method unimplemented_service cancel_after_begin cancel_after_first_response"

tmp=$(mktemp -d /tmp/rpc-interop-cases.XXXXXX)
SRV_PID=
cleanup() { stop_pid "$SRV_PID" 2; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

rc=0
timeout 900 "$root/tests/peers/build.sh" interop >"$tmp/build.log" 2>&1 || rc=$?
case $rc in
  0) ;;
  77) echo "SKIP: $(grep -o 'SKIP: .*' "$tmp/build.log" | head -n1)"; exit 77 ;;
  *) echo "FAIL: building grpc-go's interop client/server"; sed 's/^/  | /' "$tmp/build.log" | tail -n 20; exit 1 ;;
esac
client=$GW_PEERS_DIR/bin/go-interop-client
server=$GW_PEERS_DIR/bin/go-interop-server

pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# wait_for FILE PATTERN PID: up to 15 s for PATTERN in FILE while PID lives.
wait_for() {
  local i
  for ((i = 0; i < 150; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---- grpc-go's interop client -> grpcwire serve --interop
port=$(free_port 127.0.0.1)
"$gw" serve --interop --listen "127.0.0.1:$port" >"$tmp/gw.log" 2>&1 &
SRV_PID=$!
if ! wait_for "$tmp/gw.log" "^server listening at 127.0.0.1:$port\$" "$SRV_PID"; then
  bad "grpcwire serve --interop did not start"; sed 's/^/  | /' "$tmp/gw.log"
else
  for t in $CASES; do
    r=0
    timeout 60 "$client" --server_host=127.0.0.1 --server_port="$port" --test_case="$t" >"$tmp/out" 2>&1 || r=$?
    if [ $r -eq 0 ]; then
      ok "grpc-go interop client -> grpcwire serve: $t"
    else
      bad "grpc-go interop client -> grpcwire serve: $t (exit $r)"; sed 's/^/  | /' "$tmp/out" | tail -n 5
    fi
  done
  # The Greeter is still there next to TestService.
  out=$(timeout 30 "$gw" call "127.0.0.1:$port" 2>&1) && [ "$out" = "Greeting: Hello world" ] &&
    ok "grpcwire serve --interop still serves the Greeter" || { bad "Greeter with --interop"; echo "  | $out"; }
  stop_pid "$SRV_PID" 3
  SRV_PID=
fi

# ---- grpcwire call --interop-case -> grpc-go's interop server
port=$(free_port 127.0.0.1)
"$server" --port="$port" >"$tmp/go.log" 2>&1 &
SRV_PID=$!
# grpc-go's interop server prints nothing when ready: wait for the port to accept.
up=0
for ((i = 0; i < 150; i++)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
  kill -0 "$SRV_PID" 2>/dev/null || break
  sleep 0.1
done
if [ $up -eq 0 ]; then
  bad "grpc-go interop server did not start"; sed 's/^/  | /' "$tmp/go.log"
else
  for t in $CASES; do
    r=0
    timeout 60 "$gw" call "127.0.0.1:$port" --interop-case "$t" >"$tmp/out" 2>&1 || r=$?
    if [ $r -eq 0 ] && grep -qx "PASS $t" "$tmp/out"; then
      ok "grpcwire call -> grpc-go interop server: $t"
    else
      bad "grpcwire call -> grpc-go interop server: $t (exit $r)"; sed 's/^/  | /' "$tmp/out" | tail -n 5
    fi
  done
fi
# An unknown case name is a usage error.
r=0
timeout 10 "$gw" call "127.0.0.1:$port" --interop-case no_such_case >/dev/null 2>&1 || r=$?
[ $r -eq 2 ] && ok "unknown --interop-case exits 2" || bad "unknown --interop-case exits $r, want 2"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
