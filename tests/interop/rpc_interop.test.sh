#!/usr/bin/env bash
# grpcwire's own gRPC server and client against the real peers (grpc-go, grpcio, grpc-js), both
# directions: each peer's client against `grpcwire serve`, and `grpcwire call` against each peer's
# server (unary, server streaming, bidi, gzip, metadata, unknown method). Also checks that serve
# stops cleanly on SIGTERM. Exit 0 pass, 1 fail, 77 skip (no peer toolchain at all).
# Env: GW_BIN (default build/grpcwire), GW_PEERS="go py node" to limit the peers.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../peers/peers.sh
. "$root/tests/peers/peers.sh"

gw=${GW_BIN:-$root/build/grpcwire}
[ -x "$gw" ] || { echo "FAIL: grpcwire binary not found at $gw (set GW_BIN)"; exit 1; }

tmp=$(mktemp -d /tmp/rpc-interop.XXXXXX)
SERVER_PID= GW_PID=
cleanup() { stop_pid "$SERVER_PID" 2; stop_pid "$GW_PID" 2; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 1' INT TERM

pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# Which peers can run here.
peers=()
for p in ${GW_PEERS:-$PEERS_ALL}; do
  rc=0
  timeout 600 "$root/tests/peers/build.sh" "$p" >"$tmp/build-$p.log" 2>&1 || rc=$?
  case $rc in
    0) peers+=("$p") ;;
    77) echo "skip $p: $(grep -o 'SKIP: .*' "$tmp/build-$p.log" | head -n1)" ;;
    *) bad "$p peer build"; sed 's/^/  | /' "$tmp/build-$p.log" | tail -n 20 ;;
  esac
done
if [ ${#peers[@]} -eq 0 ]; then
  [ $fail -eq 0 ] && { echo "SKIP: no peer toolchain available"; exit 77; }
  exit 1
fi

# expect NAME WANT_RC WANT_STDOUT_FILE CMD...: run CMD with a timeout, compare exit status and stdout.
expect() {
  local name=$1 want_rc=$2 want=$3 rc=0
  shift 3
  timeout 30 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [ "$rc" -eq "$want_rc" ] && { [ -z "$want" ] || diff -q "$want" "$tmp/out" >/dev/null; }; then
    ok "$name"
  else
    bad "$name (exit $rc, want $want_rc)"
    sed 's/^/  | out: /' "$tmp/out"; sed 's/^/  | err: /' "$tmp/err"
  fi
}

printf 'Greeting: Hello world\n' >"$tmp/greet"
printf 'Greeting: Hello world #0\nGreeting: Hello world #1\nGreeting: Hello world #2\n' >"$tmp/stream3"

# ---- peers' clients -> grpcwire serve
port=$(free_port 127.0.0.1)
"$gw" serve --listen "127.0.0.1:$port" >"$tmp/gw.log" 2>&1 &
GW_PID=$!
for ((i = 0; i < 100; i++)); do
  grep -qx "server listening at 127.0.0.1:$port" "$tmp/gw.log" && break
  kill -0 "$GW_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -qx "server listening at 127.0.0.1:$port" "$tmp/gw.log"; then
  bad "grpcwire serve did not start"; sed 's/^/  | /' "$tmp/gw.log"
else
  ok "grpcwire serve prints 'server listening at 127.0.0.1:$port'"
  for c in "${peers[@]}"; do
    peer_client_cmd "$c" "127.0.0.1:$port"
    out=$(timeout 60 "${CLIENT_CMD[@]}" greeter 2>&1) && grep -qx 'Greeting: Hello world' <<<"$out" &&
      ok "$c client -> grpcwire serve: SayHello" ||
      { bad "$c client -> grpcwire serve: SayHello"; sed 's/^/  | /' <<<"$out"; }
    out=$(timeout 60 "${CLIENT_CMD[@]}" unimplemented 2>&1) && grep -q 'status=UNIMPLEMENTED' <<<"$out" &&
      ok "$c client -> grpcwire serve: unknown service is UNIMPLEMENTED" ||
      { bad "$c client -> grpcwire serve: unimplemented"; sed 's/^/  | /' <<<"$out"; }
  done
  # Our own client too, and then a graceful stop.
  expect "grpcwire call -> grpcwire serve" 0 "$tmp/greet" "$gw" call "127.0.0.1:$port"
  kill -TERM "$GW_PID"
  rc=0
  for ((i = 0; i < 100; i++)); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$GW_PID" || rc=$?
  GW_PID=
  [ $rc -eq 0 ] && ok "grpcwire serve exits 0 on SIGTERM" || bad "grpcwire serve exit status $rc on SIGTERM"
fi

# ---- grpcwire call -> peers' servers
for s in "${peers[@]}"; do
  port=$(free_port 127.0.0.1)
  if ! start_server "$s" 127.0.0.1 "$port" "$tmp/$s.log"; then
    bad "$s server did not start"
    continue
  fi
  a=127.0.0.1:$port
  expect "grpcwire call -> $s server: SayHello" 0 "$tmp/greet" "$gw" call "$a"
  expect "grpcwire call -> $s server: SayHello --gzip -H meta --timeout 5s" 0 "$tmp/greet" \
    "$gw" call "$a" --gzip -H 'x-grpcwire: 1' -H 'x-trace-bin: abc' --timeout 5s
  expect "grpcwire call -> $s server: SayHelloStreamReply" 0 "$tmp/stream3" "$gw" call "$a" --stream 0
  expect "grpcwire call -> $s server: SayHelloBidiStream x3" 0 "$tmp/stream3" \
    "$gw" call "$a" --method SayHelloBidiStream --stream 3
  expect "grpcwire call -> $s server: unknown method exits 64+12" 76 "" "$gw" call "$a" --method Nope
  stop_pid "$SERVER_PID" 3
  SERVER_PID=
done

# ---- connection refused: exit 1 with a message
port=$(free_port 127.0.0.1)
expect "grpcwire call to a closed port exits 1" 1 "" "$gw" call "127.0.0.1:$port"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
