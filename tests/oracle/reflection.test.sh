#!/usr/bin/env bash
# Schemas learned from the capture itself: grpc-go's client calls Lab/Unary, then asks the
# server's reflection service for the file defining grpcwire.test.Lab, then calls Lab/Unary
# again. With no flags, both Lab calls must decode with their message types and field names -
# the earlier one too (the file is read twice when it mentions reflection) - the reflection call
# itself by name (built in), and with --no-learn neither Lab call may. The scan that finds the
# mention runs beside a main pass that starts again: the same output as scanning first.
# Needs root (tcpdump on lo) and the go peer: otherwise exit 77.
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
export TZ=UTC LC_ALL=C NO_COLOR=1
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for tcpdump on lo"; exit 77; }
tests/peers/build.sh >/dev/null 2>&1; rc=$?
[ $rc -eq 77 ] && { echo "SKIP: the go peer's toolchain is missing"; exit 77; }
[ $rc -eq 0 ] || { echo "FAIL: building the peers failed"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
if ! scripts/mkcapture.sh "$tmp/r.pcap" --peer go --scenario unary --scenario reflection \
     --scenario unary >"$tmp/log" 2>&1; then
  cat "$tmp/log"; echo "0 passed, 1 failed"; exit 1
fi
summary() { # method, request types, response types, request field names of the first message
  "$GW_BIN" read --json "$@" | python3 -c '
import json, sys
for l in sys.stdin:
    c = json.loads(l)
    req = [m.get("message_type") for m in c["requests"]]
    resp = [m.get("message_type") for m in c["responses"]]
    keys = sorted((c["requests"][0]["fields"] or {}).keys()) if c["requests"] else []
    print(c["method"], req, resp, keys)'
}
got=$(summary "$tmp/r.pcap")
lab=$(grep -c "^/grpcwire.test.Lab/Unary \['grpcwire.test.LabRequest'\] \['grpcwire.test.LabReply'\] \[.*'record'.*'seq'" <<<"$got")
[ "$lab" -eq 2 ] && ok || ko "both Lab calls decode by name (got $lab): $got"
grep -q "^/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo \['grpc.reflection.v1alpha.ServerReflectionRequest'" <<<"$got" \
  && ok || ko "the reflection call decodes by name: $got"
# The call log (which keeps only the first message each way) learns just the same.
first=$("$GW_BIN" read "$tmp/r.pcap" | head -1)
grep -q '/grpcwire.test.Lab/Unary OK .*{seq: 1, record: ' <<<"$first" && ok || ko "call log: $first"
got=$(summary --no-learn "$tmp/r.pcap")
[ "$(grep -c "^/grpcwire.test.Lab/Unary \[None\] \[None\]" <<<"$got")" -eq 2 ] && ok || ko "--no-learn: $got"
# The scan for reflection runs beside the main pass, which holds its output until the scan has
# found nothing; here it finds something and the pass starts again. The same output must come
# from the scan first (-w turns the guess off), also when the held output (8 MiB) fills before
# the scan ends: many calls first (gencap), the reflection call last.
GW_BUILD=${GW_BUILD:-build}
"$GW_BUILD/gw-gencap" -s 7 -n $((24 << 20)) -o "$tmp/g.pcap" || ko "gencap"
python3 - "$tmp/g.pcap" "$tmp/r.pcap" "$tmp/gr.pcap" <<'PY'
import sys
a, b = (open(f, "rb").read() for f in sys.argv[1:3])
assert a[:24] == b[:24], "the two captures' headers differ"
open(sys.argv[3], "wb").write(a + b[24:])
PY
for f in r gr; do
  for args in "--json" "" "--json=messages --threads 1"; do
    # shellcheck disable=SC2086
    "$GW_BIN" read $args "$tmp/$f.pcap" >"$tmp/1" 2>&1; a=$?
    # shellcheck disable=SC2086
    "$GW_BIN" read $args -w /dev/null "$tmp/$f.pcap" >"$tmp/2" 2>&1; b=$?
    [ $a = $b ] && [ -s "$tmp/1" ] && cmp -s "$tmp/1" "$tmp/2" && ok || ko "$f.pcap read $args: the pass beside the scan differs"
  done
done
n=$("$GW_BIN" read "$tmp/gr.pcap" | grep -c '/grpcwire.test.Lab/Unary OK .*{seq: [12], record: ')
[ "$n" = 2 ] && ok || ko "gr.pcap: $n of the 2 Lab calls decode by name"
# Standard input cannot be read twice: calls after the reflection call benefit, earlier do not.
got=$(cat "$tmp/r.pcap" | "$GW_BIN" read --json - | python3 -c '
import json, sys
print(" ".join(str(m.get("message_type")) for l in sys.stdin for m in json.loads(l)["requests"][:1]))')
[ "$got" = "None grpc.reflection.v1alpha.ServerReflectionRequest grpcwire.test.LabRequest" ] && ok || ko "stdin: $got"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
