#!/usr/bin/env bash
# Check tests/peers/relink.py on a real capture: write every link type and file variant, and
# require that tshark opens each one and sees the same TCP conversations (addresses, ports, frame
# counts per direction) and the same packets (addresses, ports, raw seq, length, flags, time to
# the microsecond) as in the original.
# usage: tests/peers/relink_check.sh [CAPTURE.pcap] [OUTDIR]   (default examples/greeter.pcap)
# Exit: 0 pass, 1 fail, 77 tshark or python3 missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
in=${1:-$root/examples/greeter.pcap}
command -v tshark >/dev/null || { echo "SKIP: tshark not found"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not found"; exit 77; }
[ -f "$in" ] || { echo "FAIL: no capture $in"; exit 1; }
keep=${2:-}
dir=${keep:-$(mktemp -d /tmp/relink-check.XXXXXX)}
mkdir -p "$dir"
[ -n "$keep" ] || trap 'rm -rf "$dir"' EXIT

conv() {
  tshark -r "$1" -q -z conv,tcp 2>/dev/null | awk '/<->/ {print $1, $3, $4, $7, $10}' | sort
}
pkts() {
  tshark -r "$1" -T fields -E separator=' ' -e ip.src -e ipv6.src -e ip.dst -e ipv6.dst \
    -e tcp.srcport -e tcp.dstport -e tcp.seq_raw -e tcp.len -e tcp.flags -e frame.time_epoch \
    2>/dev/null | sed -E 's/([0-9]+\.[0-9]{6})[0-9]*$/\1/'
}

# The original may be pcapng or nanosecond: relink.py reads classic pcap, so normalise first.
editcap -F pcap "$in" "$dir/orig.pcap"
want_conv=$(conv "$dir/orig.pcap")
want_pkts=$(pkts "$dir/orig.pcap")
[ -n "$want_conv" ] || { echo "FAIL: no TCP conversations in $in"; exit 1; }

variants=(
  "eth --link eth"
  "vlan --link vlan"
  "qinq --link qinq"
  "null-le --link null-le"
  "null-be --link null-be"
  "loop --link loop"
  "raw --link raw"
  "sll --link sll"
  "sll2 --link sll2"
  "be --byte-order be"
  "le --byte-order le"
  "nano --ts nano"
  "be-nano-null --byte-order be --ts nano --link null-be"
  "usec-from-nano FROM_NANO --ts usec"
)
pass=0 fail=0
for v in "${variants[@]}"; do
  read -r -a a <<<"$v"
  name=${a[0]} src=$dir/orig.pcap
  args=("${a[@]:1}")
  if [ "${args[0]}" = FROM_NANO ]; then src=$dir/nano.pcap; args=("${args[@]:1}"); fi
  out=$dir/$name.pcap
  if ! python3 "$here/relink.py" "$src" "$out" "${args[@]}"; then
    echo "FAIL $name: relink.py failed"; fail=$((fail + 1)); continue
  fi
  enc=$(tshark -r "$out" -T fields -e frame.encap_type -c 1 2>/dev/null || true)
  if [ "$(conv "$out")" = "$want_conv" ] && [ "$(pkts "$out")" = "$want_pkts" ]; then
    echo "ok   $name (encap $enc)"; pass=$((pass + 1))
  else
    echo "FAIL $name (encap $enc): conversations or packets differ"
    diff <(echo "$want_conv") <(conv "$out") | head -5 || true
    diff <(echo "$want_pkts") <(pkts "$out") | head -5 || true
    fail=$((fail + 1))
  fi
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
