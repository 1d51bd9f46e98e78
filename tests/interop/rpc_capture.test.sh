#!/usr/bin/env bash
# Our server's own traffic, captured and dissected: tcpdump on lo while `grpcwire call` makes a
# known set of calls to `grpcwire serve --interop` (unary, server streaming, bidi, unknown method,
# gzip, a large unary, a deadline), then `grpcwire read --json` must list exactly those calls with
# their methods, statuses and message counts, and tests/oracle/tshark_compare.py must agree.
# Exit 0 pass, 1 fail, 77 skip (not root, or tcpdump/tshark missing). Env: GW_BIN.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=../peers/peers.sh
. "$root/tests/peers/peers.sh"

gw=${GW_BIN:-$root/build/grpcwire}
[ -x "$gw" ] || { echo "FAIL: grpcwire binary not found at $gw (set GW_BIN)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: capturing on lo needs root"; exit 77; }
for t in tcpdump tshark; do
  command -v $t >/dev/null || { echo "SKIP: $t not found"; exit 77; }
done

tmp=$(mktemp -d /tmp/rpc-capture.XXXXXX)
TD_PID= GW_PID=
cleanup() {
  [ -n "$TD_PID" ] && { kill -INT "$TD_PID" 2>/dev/null; wait "$TD_PID" 2>/dev/null; }
  stop_pid "$GW_PID" 2
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

port=$(free_port 127.0.0.1)
a=127.0.0.1:$port

tcpdump -i lo -n -s 0 -B 131072 -U --immediate-mode -Z root -w "$tmp/cap.pcap" "tcp port $port" 2>"$tmp/td.log" &
TD_PID=$!
for ((i = 0; i < 100; i++)); do
  grep -q 'listening on' "$tmp/td.log" && break
  kill -0 "$TD_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q 'listening on' "$tmp/td.log"; then
  sed 's/^/  | /' "$tmp/td.log"
  TD_PID=
  echo "SKIP: tcpdump cannot capture on lo here"; exit 77
fi

"$gw" serve --interop --listen "$a" >"$tmp/gw.log" 2>&1 &
GW_PID=$!
for ((i = 0; i < 100; i++)); do
  grep -qx "server listening at $a" "$tmp/gw.log" && break
  kill -0 "$GW_PID" 2>/dev/null || break
  sleep 0.1
done
grep -qx "server listening at $a" "$tmp/gw.log" || { echo "FAIL: grpcwire serve did not start"; cat "$tmp/gw.log"; exit 1; }

fail=0
# run WANT_RC CMD...: one client run; each makes one connection, so calls come out in this order.
run() {
  local want=$1 rc=0
  shift
  timeout 30 "$@" >>"$tmp/calls.log" 2>&1 || rc=$?
  [ "$rc" -eq "$want" ] || { echo "FAIL: '$*' exited $rc, want $want"; fail=1; }
}
run 0 "$gw" call "$a"
run 0 "$gw" call "$a" --stream 0
run 0 "$gw" call "$a" --method SayHelloBidiStream --stream 3
run 76 "$gw" call "$a" --method Nope
run 0 "$gw" call "$a" --gzip -H 'x-test: 1'
run 0 "$gw" call "$a" --interop-case large_unary
run 0 "$gw" call "$a" --interop-case timeout_on_sleeping_server
sleep 0.3 # the last FIN/ACKs
kill -INT "$TD_PID"
wait "$TD_PID" 2>/dev/null
TD_PID=
stop_pid "$GW_PID" 3
GW_PID=

"$gw" read --json "$tmp/cap.pcap" >"$tmp/calls.json" 2>"$tmp/read.err" || { echo "FAIL: grpcwire read failed"; cat "$tmp/read.err"; exit 1; }

# The expected calls, in connection order: method, statuses allowed, request and response counts
# (None: not checked). The deadline case races: our server's DEADLINE_EXCEEDED trailers or the
# client's RST_STREAM(CANCEL) may come first, so either is right as long as grpc-timeout is seen.
/usr/bin/python3 - "$tmp/calls.json" <<'EOF' || fail=1
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
calls = [c for c in calls if c.get("type") == "call"]
calls.sort(key=lambda c: (c["conn"], c["stream"]))
G, T = "/helloworld.Greeter/", "/grpc.testing.TestService/"
want = [
    (G + "SayHello", {0}, 1, 1),
    (G + "SayHelloStreamReply", {0}, 1, 3),
    (G + "SayHelloBidiStream", {0}, 3, 3),
    (G + "Nope", {12}, 1, 0),
    (G + "SayHello", {0}, 1, 1),
    (T + "UnaryCall", {0}, 1, 1),
    (T + "FullDuplexCall", {4, 1, None}, None, 0),
]
bad = 0
def fail(msg):
    global bad
    bad += 1
    print("FAIL " + msg)
if len(calls) != len(want):
    fail("%d calls decoded, want %d: %s" % (len(calls), len(want), [c["method"] for c in calls]))
for i, (w, c) in enumerate(zip(want, calls)):
    m, st, nreq, nresp = w
    status = c["grpc_status"] if c["grpc_status"] is not None else c.get("implied_status")
    got = (c["method"], status, c["request_count"], c["response_count"])
    if c["method"] != m or status not in st or (nreq is not None and c["request_count"] != nreq) \
            or c["response_count"] != nresp:
        fail("call %d: got %s, want %s" % (i, got, w))
    else:
        print("ok   call %d: %s status %s, %d request(s), %d response(s)" % ((i,) + got))
if len(calls) == len(want):
    if calls[4]["request_encoding"] != "gzip" or not calls[4]["requests"][0]["compressed"]:
        fail("call 4: request not seen as gzip-compressed")
    if ["x-test", "1"] not in calls[4]["request_headers"]:
        fail("call 4: metadata x-test missing")
    if calls[5]["responses"] and calls[5]["responses"][0]["length"] < 314159:
        fail("call 5: large_unary response of %d bytes" % calls[5]["responses"][0]["length"])
    if calls[6]["timeout"] is None:
        fail("call 6: no grpc-timeout decoded")
    if calls[6]["grpc_status"] is None and calls[6]["rst_code"] is None:
        fail("call 6: neither a status nor RST_STREAM")
    for c in calls:
        if c["anomalies"]:
            fail("%s: anomalies %s" % (c["method"], c["anomalies"]))
sys.exit(1 if bad else 0)
EOF

if /usr/bin/python3 "$root/tests/oracle/tshark_compare.py" --gw "$gw" --pcap "$tmp/cap.pcap" --port "$port" \
    --check conv,frames,headers,calls >"$tmp/cmp.log" 2>&1; then
  echo "ok   tshark agrees: $(tail -n1 "$tmp/cmp.log")"
else
  echo "FAIL tshark_compare.py"; sed 's/^/  | /' "$tmp/cmp.log" | tail -n 30; fail=1
fi
[ $fail -eq 0 ] || { sed 's/^/  | client: /' "$tmp/calls.log" | tail -n 20; exit 1; }
echo "all checks passed"
