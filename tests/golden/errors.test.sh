#!/usr/bin/env bash
# Bad input: a clear message naming the file (and byte offset), a non-zero exit, and everything
# decodable before the damage still printed.
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
export TZ=UTC LC_ALL=C NO_COLOR=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
seed=tests/vectors/seed/seed-12-15.pcap

# Not a capture at all.
echo "hello, world" > "$tmp/text.pcap"
out=$("$GW_BIN" read "$tmp/text.pcap" 2>&1); rc=$?
[ $rc -eq 1 ] && ok || ko "text file: exit $rc"
grep -q "text.pcap" <<<"$out" && grep -qi "not a pcap or pcapng" <<<"$out" && ok || ko "text file message: $out"

# Missing file.
out=$("$GW_BIN" read "$tmp/none.pcap" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "none.pcap" <<<"$out" && ok || ko "missing file: exit $rc: $out"

# Truncated inside the second packet: the first packet's request is still decoded (in frames),
# then one error line with the offset where the second record starts (24 + 16 + 216 = 256).
size=$(stat -c %s "$seed")
head -c $((size - 20)) "$seed" > "$tmp/cut.pcap"
out=$("$GW_BIN" read --frames "$tmp/cut.pcap" 2>"$tmp/err"); rc=$?
[ $rc -eq 1 ] && ok || ko "truncated: exit $rc"
grep -q "HEADERS\[1\]: POST /helloworld.Greeter/SayHello" <<<"$out" && ok || ko "truncated: first packet not shown: $out"
[ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q "cut.pcap" "$tmp/err" && grep -q "offset 256" "$tmp/err" && ok \
  || ko "truncated: error line: $(cat "$tmp/err")"

# Truncated in the file header.
head -c 10 "$seed" > "$tmp/hdr.pcap"
out=$("$GW_BIN" read "$tmp/hdr.pcap" 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "hdr.pcap" <<<"$out" && ok || ko "header cut: exit $rc: $out"

# Standard input.
out=$("$GW_BIN" read - < "$seed" 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "/helloworld.Greeter/SayHello OK" <<<"$out" && ok || ko "stdin: exit $rc: $out"
out=$(cat "$seed" | "$GW_BIN" read -r - --frames 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "DATA\[1\]" <<<"$out" && ok || ko "stdin pipe: exit $rc: $out"

# Usage errors exit 2.
"$GW_BIN" read >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] && ok || ko "no file: exit $rc"
"$GW_BIN" read -c x "$seed" >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] && ok || ko "bad -c: exit $rc"
"$GW_BIN" nosuch >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] && ok || ko "bad command: exit $rc"
"$GW_BIN" read "$seed" "tcp port" >/dev/null 2>&1; rc=$?; [ $rc -eq 2 ] && ok || ko "bad filter: exit $rc"

# Output that cannot be written (a full device): one message, exit 1, in every view and with
# either thread count (the call log and JSON write through the stream the reflection scan holds).
if [ -w /dev/full ]; then
  for args in "" "--json" "--json --threads 1" "--frames" "--stats" "-V"; do
    # shellcheck disable=SC2086
    out=$("$GW_BIN" read $args "$seed" 2>&1 >/dev/full); rc=$?
    [ $rc -eq 1 ] && grep -q "writing output failed" <<<"$out" && ok || ko "read $args >/dev/full: exit $rc: $out"
  done
fi

# A BPF filter applies to files too.
out=$("$GW_BIN" read --frames "$seed" src port 50051 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <<<"$out")" -eq 1 ] && ok || ko "filter: $out"

# Help and version.
"$GW_BIN" --version | grep -q '^grpcwire [0-9]' && ok || ko "--version"
"$GW_BIN" read --help | grep -q -- '--frames' && ok || ko "read --help"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
