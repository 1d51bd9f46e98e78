#!/usr/bin/env bash
# grpcwire demo: no root, no network, no other program, no tty, no stdin. It must print the
# greeting and the walk-through, exit 0, write grpcwire-demo.pcap in the current directory (or
# -w PATH), and that capture must open in tshark with tshark's dissection agreeing with ours.
# Exit 0 pass, 1 fail.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
gw=${GW_BIN:-$root/build/grpcwire}
case "$gw" in /*) ;; *) gw=$root/$gw ;; esac
[ -x "$gw" ] || { echo "FAIL: grpcwire binary not found at $gw (set GW_BIN)"; exit 1; }
export TZ=UTC LC_ALL=C NO_COLOR=1
tmp=$(mktemp -d /tmp/demo-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

# Default output file, in the current directory; stdin closed, stdout not a tty.
rc=0
(cd "$tmp" && timeout 60 "$gw" demo </dev/null >"$tmp/out" 2>"$tmp/err") || rc=$?
[ $rc -eq 0 ] && ok "demo exits 0" || { bad "demo exit $rc"; sed 's/^/  | /' "$tmp/err"; }
[ -s "$tmp/grpcwire-demo.pcap" ] && ok "grpcwire-demo.pcap written in the current directory" \
  || bad "no grpcwire-demo.pcap in the current directory"
[ -s "$tmp/err" ] && { bad "demo wrote to stderr"; sed 's/^/  | /' "$tmp/err"; } || ok "nothing on stderr"

# The walk-through: each piece the issue names.
want=(
  'Greeting: Hello world'
  '== The packets'
  '\[SYN\]'
  'Magic, SETTINGS\[0\]'
  'HEADERS\[1\]: POST /helloworld.Greeter/SayHello, DATA\[1\]'
  'HEADERS\[1\]: 200 OK, DATA\[1\], HEADERS\[1\]'
  '\[FIN, ACK\]'
  '^Frame [0-9]*: '
  'Header: :path: /helloworld.Greeter/SayHello'
  'Header: grpc-status: 0'
  'Value: "world"|1: "world"|"world"'
  ' /helloworld.Greeter/SayHello OK .* req 1/7B resp 1/13B'
  'Connection preface'
  'SETTINGS ACK from'
  'WINDOW_UPDATE on stream 0'
  'Incremental Indexing, New Name'
  '5-byte prefix'
  'grpc-status 0 \(OK\) is the call.s result'
  '^  wireshark grpcwire-demo.pcap'
  '^  tshark -r grpcwire-demo.pcap -d tcp.port==[0-9]*,http2 -V'
  '^  grpcwire read -V grpcwire-demo.pcap'
)
for w in "${want[@]}"; do
  grep -Eq -- "$w" "$tmp/out" && ok "output has /$w/" || bad "output lacks /$w/"
done
# Exactly one call, and it is the request and response packets that the tree shows.
n=$(grep -c ' /helloworld.Greeter/SayHello OK ' "$tmp/out")
[ "$n" -eq 1 ] && ok "one call line" || bad "$n call lines"

port=$(sed -n 's/.*tcp.port==\([0-9]*\),http2.*/\1/p' "$tmp/out" | head -n1)
if command -v tshark >/dev/null; then
  if python3 "$root/tests/oracle/tshark_compare.py" --gw "$gw" --pcap "$tmp/grpcwire-demo.pcap" --port "$port"; then
    ok "tshark agrees with grpcwire on the demo's capture"
  else bad "tshark disagrees on the demo's capture"; fi
  # Checksums and TCP analysis: a capture as if taken on the wire, with nothing for tshark to flag.
  flagged=$(tshark -r "$tmp/grpcwire-demo.pcap" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
    -Y 'tcp.checksum.status==0 || ip.checksum.status==0 || tcp.analysis.flags || _ws.malformed' 2>/dev/null | wc -l)
  [ "$flagged" -eq 0 ] && ok "tshark flags nothing (checksums, sequence analysis)" || bad "tshark flags $flagged packets"
  grpc=$(tshark -r "$tmp/grpcwire-demo.pcap" -d "tcp.port==$port,http2" -Y grpc 2>/dev/null | wc -l)
  [ "$grpc" -ge 2 ] && ok "tshark sees the gRPC request and response" || bad "tshark sees $grpc gRPC packets"
else
  echo "skip tshark checks: tshark missing"
fi

# -w PATH, and the capture reads back as one call.
rc=0
(cd "$tmp" && timeout 60 "$gw" demo -w "$tmp/other.pcap" --name grpcwire </dev/null >"$tmp/out2" 2>&1) || rc=$?
[ $rc -eq 0 ] && grep -q 'Greeting: Hello grpcwire' "$tmp/out2" && ok "demo -w PATH --name NAME" \
  || { bad "demo -w PATH (exit $rc)"; tail -5 "$tmp/out2"; }
c=$("$gw" read --json "$tmp/other.pcap" | grep -c '"grpc_status":0')
[ "$c" -eq 1 ] && ok "the -w capture reads back as one OK call" || bad "the -w capture has $c OK calls"
"$gw" demo -w /nonexistent-dir/x.pcap </dev/null >/dev/null 2>"$tmp/err3"; rc=$?
[ $rc -eq 1 ] && grep -q nonexistent-dir "$tmp/err3" && ok "unwritable -w: exit 1 naming the file" \
  || bad "unwritable -w: exit $rc: $(cat "$tmp/err3")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
