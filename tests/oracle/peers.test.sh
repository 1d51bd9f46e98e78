#!/usr/bin/env bash
# tshark as the oracle on captures made now, with tcpdump on lo, from real peers (grpc-go,
# grpcio, grpc-js; tests/peers): unary, the three streaming kinds, ~1 MB messages, gzip, errors
# with details and non-ASCII messages, Trailers-Only UNIMPLEMENTED, DEADLINE_EXCEEDED,
# cancellation, many concurrent streams, a 415, interleaved connections (two captures merged
# with their times overlapping), a `tcpdump -i any` (SLL2, nanosecond, pcapng) capture, and
# captures cut to begin mid-connection. Conversations, frames, headers and calls must equal
# tshark's (mid-connection: every header tshark decodes, we decode too).
# Needs root (tcpdump) and the peers' toolchains: otherwise exit 77 (skipped), never a pass.
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
export TZ=UTC LC_ALL=C NO_COLOR=1
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for tcpdump on lo"; exit 77; }
command -v tshark >/dev/null || { echo "SKIP: tshark missing"; exit 77; }
tests/peers/build.sh >/dev/null 2>&1; rc=$?
[ $rc -eq 77 ] && { echo "SKIP: a peer toolchain is missing"; exit 77; }
[ $rc -eq 0 ] || { echo "FAIL: building the peers failed"; tests/peers/build.sh; exit 1; }
tmp=${GW_KEEP_CAPTURES:-$(mktemp -d)}; mkdir -p "$tmp"
[ -n "${GW_KEEP_CAPTURES:-}" ] || trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

ports_of() { tshark -r "$1" -Y 'tcp.flags.syn==1 && tcp.flags.ack==0' -T fields -e tcp.dstport 2>/dev/null | sort -u | sed 's/^/--port /'; }
compare() { # compare FILE [--ports-from FILE] [extra args]
  local f=$1 pf=$1; shift
  [ "${1:-}" = --ports-from ] && { pf=$2; shift 2; }
  # shellcheck disable=SC2046
  if python3 tests/oracle/tshark_compare.py --gw "$GW_BIN" --pcap "$f" $(ports_of "$pf") "$@"; then
    pass=$((pass + 1)); else fail=$((fail + 1)); fi
}
capture() { # capture OUT args...: a failure to capture is a failure of the test
  if ! scripts/mkcapture.sh "$@" >"$tmp/mkcapture.log" 2>&1; then
    echo "FAIL: scripts/mkcapture.sh $*"; tail -5 "$tmp/mkcapture.log"; fail=$((fail + 1)); return 1
  fi
}
all="--scenario unary --scenario server_stream --scenario client_stream --scenario bidi
 --scenario large --scenario gzip --scenario error_details --scenario unimplemented
 --scenario deadline --scenario concurrent --scenario cancel"

for p in go py node; do
  # shellcheck disable=SC2086
  capture "$tmp/$p.pcap" --peer "$p" $all && compare "$tmp/$p.pcap"
done
# A 415 answer (grpc-js answers a text/plain request with HTTP 415).
capture "$tmp/415.pcap" --peer node --scenario greeter --scenario http415 && {
  compare "$tmp/415.pcap"
  if "$GW_BIN" read --json "$tmp/415.pcap" | grep -q '"http_status":415'; then pass=$((pass + 1))
  else fail=$((fail + 1)); echo "FAIL: no call with http_status 415"; fi
}
# Cross pairs, IPv6, tcpdump -i any with SLL2, nanosecond timestamps, pcapng.
capture "$tmp/any.pcapng" --pair go:py --pair py:node --pair node:go --scenario unary \
  --scenario server_stream --scenario gzip --iface any --linktype LINUX_SLL2 --nano --format pcapng --ipv6 \
  && compare "$tmp/any.pcapng"
# Interleaved connections: two captures with their clocks lined up, merged packet by packet.
if [ -f "$tmp/go.pcap" ] && [ -f "$tmp/py.pcap" ]; then
  t0() { tshark -r "$1" -c 1 -T fields -e frame.time_epoch 2>/dev/null; }
  shift_s=$(python3 -c "print($(t0 "$tmp/go.pcap") - $(t0 "$tmp/py.pcap") + 0.0003)")
  editcap -t "$shift_s" "$tmp/py.pcap" "$tmp/py-shifted.pcap" 2>/dev/null
  mergecap -F pcap -w "$tmp/interleaved.pcap" "$tmp/go.pcap" "$tmp/py-shifted.pcap"
  compare "$tmp/interleaved.pcap"
fi
# Mid-connection: drop the handshake, the preface and the first calls.
for p in go py node; do
  [ -f "$tmp/$p.pcap" ] || continue
  n=$(tshark -r "$tmp/$p.pcap" 2>/dev/null | wc -l)
  for skip in 12 $((n / 3)) $((2 * n / 3)); do
    editcap -r "$tmp/$p.pcap" "$tmp/$p-mid$skip.pcap" "$((skip + 1))-$n" 2>/dev/null
    # tshark must be told the port (no SYN left to find it from); we are not told.
    compare "$tmp/$p-mid$skip.pcap" --ports-from "$tmp/$p.pcap" --mid --truth "$tmp/$p.pcap" --truth-offset "$skip"
    # grpc-go indexes :path, so calls after the cut name their method by an entry from before
    # it: with the schema loaded, --guess-methods must offer a Lab method, marked as a guess,
    # for every call whose method is unknown.
    if [ "$p" = go ]; then
      unnamed=$("$GW_BIN" read "$tmp/$p-mid$skip.pcap" | grep -c '?stream=')
      guessed=$("$GW_BIN" read --proto lab.proto -I tests/vectors/protos --guess-methods \
                "$tmp/$p-mid$skip.pcap" | grep -c '?/grpcwire.test.Lab/[A-Za-z]* (guess, score')
      total_unnamed=$(( ${total_unnamed:-0} + unnamed ))
      if [ "$guessed" -ge $((unnamed / 2)) ] && [ "$guessed" -le "$unnamed" ]; then pass=$((pass + 1))
      else fail=$((fail + 1)); echo "FAIL: $p-mid$skip: $guessed of $unnamed unnamed calls guessed"; fi
    fi
  done
done
if [ -f "$tmp/go.pcap" ] && [ "${total_unnamed:-0}" -eq 0 ]; then
  fail=$((fail + 1)); echo "FAIL: no grpc-go cut left a call without its method: --guess-methods untested"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
