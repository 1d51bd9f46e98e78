#!/usr/bin/env bash
# grpcwire live on lo: a call made with our own server and client (grpcwire serve / call) is
# printed as it completes, a BPF filter keeps other traffic out, -w saves the packets (they read
# back to the same call), -c stops by itself, SIGINT prints the summary. Without the privilege,
# live must fail with the capability named and how to grant it (run as nobody via setpriv).
# Needs root: otherwise exit 77 (skipped), never a pass.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
gw=${GW_BIN:-$root/build/grpcwire}
case "$gw" in /*) ;; *) gw=$root/$gw ;; esac
[ -x "$gw" ] || { echo "FAIL: grpcwire binary not found at $gw (set GW_BIN)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: live capture on lo needs root (or CAP_NET_RAW+CAP_NET_ADMIN)"; exit 77; }
export TZ=UTC LC_ALL=C NO_COLOR=1
# shellcheck source=../peers/peers.sh
. "$root/tests/peers/peers.sh"
tmp=$(mktemp -d /tmp/live-test.XXXXXX)
SRV= SRV2= LIVE=
cleanup() { stop_pid "$LIVE" 2; stop_pid "$SRV" 2; stop_pid "$SRV2" 2; rm -rf "$tmp"; }
trap cleanup EXIT
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

start_serve() { # PORT LOG -> sets the PID in $!
  "$gw" serve --listen "127.0.0.1:$1" --threads 1 >"$2" 2>&1 &
  local pid=$! i
  for ((i = 0; i < 100; i++)); do grep -q 'server listening' "$2" && break; sleep 0.1; done
  echo $pid
}
wait_for() { # FILE PATTERN SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

p1=$(free_port 127.0.0.1); SRV=$(start_serve "$p1" "$tmp/s1.log")
p2=$(free_port 127.0.0.1); SRV2=$(start_serve "$p2" "$tmp/s2.log")

# ---- live -i lo -w FILE FILTER, stopped with SIGINT
"$gw" live -i lo -w "$tmp/live.pcap" tcp port "$p1" >"$tmp/live.out" 2>"$tmp/live.err" &
LIVE=$!
if wait_for "$tmp/live.err" 'listening on lo' 10; then ok "live: listening on lo, filter shown"
else bad "live did not start"; sed 's/^/  | /' "$tmp/live.err"; fi
grep -q "filter: tcp port $p1" "$tmp/live.err" && ok "live: the BPF filter is reported" || bad "live: filter not reported"
sleep 0.3
timeout 10 "$gw" call "127.0.0.1:$p1" >"$tmp/c1.out" 2>&1 && grep -q 'Greeting: Hello world' "$tmp/c1.out" \
  && ok "call on port $p1" || bad "call on port $p1: $(cat "$tmp/c1.out")"
timeout 10 "$gw" call "127.0.0.1:$p2" --name other >/dev/null 2>&1 || bad "call on port $p2"
if wait_for "$tmp/live.out" " → 127.0.0.1:$p1 /helloworld.Greeter/SayHello OK " 5; then
  ok "live: the call printed as it completed (before Ctrl-C)"
else bad "live: no call line while running"; sed 's/^/  | /' "$tmp/live.out"; fi
sleep 0.3
kill -INT "$LIVE"; rc=0; wait "$LIVE" || rc=$?; LIVE=
[ $rc -eq 0 ] && ok "live: SIGINT ends it with exit 0" || bad "live: exit $rc after SIGINT"
grep -Eq 'packets captured, [0-9]+ dropped by the kernel, [0-9]+ TCP connections, 1 calls' "$tmp/live.err" \
  && ok "live: summary on Ctrl-C" || { bad "live: no summary"; sed 's/^/  | /' "$tmp/live.err"; }
n=$(grep -c 'SayHello' "$tmp/live.out")
[ "$n" -eq 1 ] && ok "live: the filter kept the other port's call out" || bad "live: $n calls printed"
"$gw" read --json "$tmp/live.pcap" >"$tmp/rb.json" 2>&1
if [ "$(grep -c '"grpc_status":0' "$tmp/rb.json")" -eq 1 ] && grep -q "\"server\":\"127.0.0.1:$p1\"" "$tmp/rb.json"; then
  ok "live -w: the saved packets read back to the same call"
else bad "live -w: read back: $(head -c 300 "$tmp/rb.json")"; fi
if command -v tshark >/dev/null; then
  python3 "$root/tests/oracle/tshark_compare.py" --gw "$gw" --pcap "$tmp/live.pcap" --port "$p1" \
    && ok "live -w: tshark agrees" || bad "live -w: tshark disagrees"
fi

# ---- -c 1 with a view: stops by itself after one record
"$gw" live -i lo -c 1 --json -q tcp port "$p1" >"$tmp/c.out" 2>"$tmp/c.err" &
LIVE=$!
sleep 1
timeout 10 "$gw" call "127.0.0.1:$p1" >/dev/null 2>&1
for ((i = 0; i < 50; i++)); do kill -0 "$LIVE" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$LIVE" 2>/dev/null; then
  # libpcap may only return after its next packet: one more call wakes it up.
  timeout 10 "$gw" call "127.0.0.1:$p1" >/dev/null 2>&1
  for ((i = 0; i < 30; i++)); do kill -0 "$LIVE" 2>/dev/null || break; sleep 0.1; done
fi
if kill -0 "$LIVE" 2>/dev/null; then bad "live -c 1 did not stop by itself"; stop_pid "$LIVE" 1
else
  rc=0; wait "$LIVE" || rc=$?
  [ $rc -eq 0 ] && [ "$(grep -c '"type":"call"\|"method"' "$tmp/c.out")" -eq 1 ] \
    && ok "live -c 1 --json: one call, exit 0" || bad "live -c 1: exit $rc, output: $(cat "$tmp/c.out")"
fi
LIVE=

# ---- errors: bad interface, bad filter
"$gw" live -i no-such-iface0 >/dev/null 2>"$tmp/e1"; rc=$?
[ $rc -ne 0 ] && grep -q 'no-such-iface0' "$tmp/e1" && ok "unknown interface: error names it" \
  || bad "unknown interface: exit $rc: $(cat "$tmp/e1")"
"$gw" live -i lo 'tcp port' >/dev/null 2>"$tmp/e2"; rc=$?
[ $rc -eq 2 ] && ok "bad filter: usage error (exit 2)" || bad "bad filter: exit $rc: $(cat "$tmp/e2")"

# ---- without the privilege: run as nobody with no capabilities
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
  cp "$gw" "$tmp/gw-unpriv" && chmod 755 "$tmp" "$tmp/gw-unpriv"
  grp=$(id -gn nobody)
  setpriv --reuid=nobody --regid="$grp" --clear-groups --inh-caps=-all --bounding-set=-all \
    "$tmp/gw-unpriv" live -i lo >/dev/null 2>"$tmp/e3"; rc=$?
  if [ $rc -eq 1 ] && grep -q 'CAP_NET_RAW' "$tmp/e3" && grep -q 'setcap cap_net_raw,cap_net_admin=eip' "$tmp/e3"; then
    ok "unprivileged: exit 1 naming CAP_NET_RAW and the setcap command"
  else bad "unprivileged: exit $rc: $(cat "$tmp/e3")"; fi
else
  echo "skip unprivileged check: no setpriv or no nobody user"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
