#!/usr/bin/env bash
# Every supported link type and file format, from real captures: tests/peers/relink.py rewrites
# the shipped captures (made by real peers) into Ethernet, 802.1Q, QinQ, SLL, SLL2, NULL (both
# byte orders), LOOP and raw IP, both file byte orders, micro and nanosecond, and pcapng
# (editcap). On each: --conversations agrees with tshark -z conv,tcp, and the call log and the
# frame list are identical to the original's (the link layer must not change what we see).
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
command -v tshark >/dev/null && command -v editcap >/dev/null || { echo "tshark/editcap missing: skipped"; exit 77; }
export TZ=UTC LC_ALL=C NO_COLOR=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
variants=("eth --link eth" "vlan --link vlan" "qinq --link qinq" "null-le --link null-le"
  "null-be --link null-be" "null-mac --link null-le --af6 30" "loop --link loop" "raw --link raw"
  "sll --link sll" "sll2 --link sll2" "be --byte-order be" "nano --ts nano" "be-nano --byte-order be --ts nano")
for src in examples/greeter.pcap examples/greeter-mixed.pcapng; do
  base=$(basename "${src%.*}")
  editcap -F pcap "$src" "$tmp/$base.pcap"
  want_calls=$("$GW_BIN" read "$tmp/$base.pcap")
  want_frames=$("$GW_BIN" read --frames "$tmp/$base.pcap" | awk '{$7=""; print}')
  for v in "${variants[@]}"; do
    read -r name args <<<"$v"
    out=$tmp/$base-$name.pcap
    # shellcheck disable=SC2086
    python3 tests/peers/relink.py "$tmp/$base.pcap" "$out" $args 2>/dev/null
    files=("$out")
    editcap -F pcapng "$out" "$out.pcapng" 2>/dev/null && files+=("$out.pcapng")
    for f in "${files[@]}"; do
      what="$base $name $(basename "$f" | sed 's/.*\.//')"
      if python3 tests/oracle/tshark_compare.py --gw "$GW_BIN" --pcap "$f" --check conv >/dev/null; then
        pass=$((pass + 1))
      else
        fail=$((fail + 1)); echo "FAIL conversations: $what"
        python3 tests/oracle/tshark_compare.py --gw "$GW_BIN" --pcap "$f" --check conv | head -5
      fi
      got_calls=$("$GW_BIN" read "$f")
      got_frames=$("$GW_BIN" read --frames "$f" | awk '{$7=""; print}')
      if [ "$got_calls" == "$want_calls" ] && [ "$got_frames" == "$want_frames" ]; then
        pass=$((pass + 1))
      else
        fail=$((fail + 1)); echo "FAIL calls/frames differ: $what"
        diff <(echo "$want_calls"; echo "$want_frames") <(echo "$got_calls"; echo "$got_frames") | head -10
      fi
    done
  done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
