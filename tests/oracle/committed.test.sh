#!/usr/bin/env bash
# tshark as the oracle on the captures the repository carries: the seed's two packets (a capture
# that begins mid-connection, on port 50051 without configuration) and the shipped examples.
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
command -v tshark >/dev/null || { echo "tshark not installed: skipped"; exit 77; }
export TZ=UTC LC_ALL=C
pass=0 fail=0
cmp() { if python3 tests/oracle/tshark_compare.py --gw "$GW_BIN" "$@"; then pass=$((pass+1)); else fail=$((fail+1)); fi; }
# The seed: tshark needs to be told the port; we must not.
cmp --pcap tests/vectors/seed/seed-12-15.pcap --mid --port 50051 --check conv,headers,calls
for f in examples/*.pcap examples/*.pcapng; do
  [ -f "$f" ] || continue
  ports=$(tshark -r "$f" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.dstport 2>/dev/null | sort -u)
  args=(); for p in $ports; do args+=(--port "$p"); done
  cmp --pcap "$f" "${args[@]}"
done
# A packet after the connection closed (the final ACK sent again): tshark counts it, so must we.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - examples/greeter.pcap "$tmp/late.pcap" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
off, last = 24, None
while off + 16 <= len(d):
    sec, frac, cl, wl = struct.unpack('<IIII', d[off:off + 16])
    last = (sec, frac, cl, wl, d[off + 16:off + 16 + cl])
    off += 16 + cl
sec, frac, cl, wl, body = last
open(sys.argv[2], 'wb').write(d + struct.pack('<IIII', sec, frac + 500, cl, wl) + body)
PY
cmp --pcap "$tmp/late.pcap" --port 50051 --check conv
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
