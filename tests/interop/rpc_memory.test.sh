#!/usr/bin/env bash
# Server memory is flat across a million calls: h2load (Debian nghttp2-client, a client we did
# not write) sends 100k SayHello calls, then 900k more, on fresh connections each round, to
# `grpcwire serve`; the server's peak RSS (VmHWM) after the million may exceed the peak after the
# first 100k by at most 1 MiB, every call must succeed, and the server exits 0 on SIGTERM.
# Measured in the plain build only (ASan's allocator would be what is measured; the sanitizer run
# of test_rpc covers leaks).
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
[ "${GW_SANITIZE:-OFF}" = ON ] && { echo "SKIP: memory is measured in the plain build"; exit 77; }
command -v h2load >/dev/null || { echo "SKIP: h2load missing (nghttp2-client)"; exit 77; }
. tests/peers/peers.sh
tmp=$(mktemp -d); SRV=
trap 'stop_pid "$SRV" 3; rm -rf "$tmp"' EXIT
port=$(free_port 127.0.0.1)
"$GW_BIN" serve --listen "127.0.0.1:$port" --threads 1 >"$tmp/srv.log" 2>&1 &
SRV=$!
for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
printf '\x00\x00\x00\x00\x07\x0a\x05world' >"$tmp/body"
pass=0 fail=0
load() { # N: N calls, all must succeed
  local out
  out=$(timeout 300 h2load -n "$1" -c 4 -m 32 -d "$tmp/body" -H 'content-type: application/grpc' \
        -H 'te: trailers' "http://127.0.0.1:$port/helloworld.Greeter/SayHello" 2>&1)
  grep -q "requests: $1 total, $1 started, $1 done, $1 succeeded, 0 failed, 0 errored" <<<"$out" \
    && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: $1 calls:"; grep requests: <<<"$out"; }
}
load 100000
first=$(awk '/VmHWM/{print $2}' "/proc/$SRV/status")
load 900000
last=$(awk '/VmHWM/{print $2}' "/proc/$SRV/status")
echo "peak RSS after 100k calls: $first KiB; after 1M: $last KiB"
[ "$last" -le $((first + 1024)) ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: memory grew"; }
kill -TERM "$SRV"; wait "$SRV"; rc=$?; SRV=
[ $rc -eq 0 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: serve exited $rc on SIGTERM"; }
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
