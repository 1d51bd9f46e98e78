#!/usr/bin/env bash
# Two threads print exactly what one thread prints: the same bytes in the same order, on a
# generated capture (bench/gencap: thousands of calls over interleaved connections, streaming,
# gzip, 1 MB messages), on small unary calls (gencap -p small) and on both mixed. --json uses a
# writer thread (also with selection and -c); the call log, --json and --stats read files with a
# second dissecting thread (connections dealt between two, records merged by event). A damaged
# file gives the same output, message and exit status; a reader that goes away (head) ends the
# run without a hang.
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
GW_BUILD=${GW_BUILD:-build}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$GW_BUILD/gw-gencap" -s 5 -n $((12 << 20)) -o "$tmp/c.pcap" || exit 1
# Small unary calls: no message jobs, text written straight out while the writer is idle.
"$GW_BUILD/gw-gencap" -p small -s 3 -n $((4 << 20)) -o "$tmp/s.pcap" || exit 1
pass=0 fail=0
check() { # NAME: compares $tmp/1 and $tmp/2
  if [ -s "$tmp/1" ] && cmp -s "$tmp/1" "$tmp/2"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); echo "FAIL: $1 differs between --threads 1 and 2"
    cmp "$tmp/1" "$tmp/2" | head -2
  fi
}
for args in "--json" "--json=messages" "--json --conn 3" "--json=messages -c 7" "--json --stream 1"; do
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 1 "$tmp/c.pcap" >"$tmp/1" 2>/dev/null
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 2 "$tmp/c.pcap" >"$tmp/2" 2>/dev/null
  check "read $args"
done
for args in "--json" "--json=messages" "" "--stats" "--stats --json" "--explain" "--conn 2" \
            "--json --stream 5" "--color always"; do
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 1 "$tmp/s.pcap" >"$tmp/1" 2>/dev/null
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 2 "$tmp/s.pcap" >"$tmp/2" 2>/dev/null
  check "read $args (small calls)"
done
for args in "" "--stats" "--stats --json" "--json=messages --conn 5"; do
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 1 "$tmp/c.pcap" >"$tmp/1" 2>/dev/null
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 2 "$tmp/c.pcap" >"$tmp/2" 2>/dev/null
  check "read $args"
done
# Both shapes on one capture (gencap -p mixed): split reading with megabyte messages on some
# connections (message jobs on both threads' views).
"$GW_BUILD/gw-gencap" -p mixed -s 4 -n $((8 << 20)) -o "$tmp/m.pcap" || exit 1
for args in "" "--json" "--json=messages" "--stats"; do
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 1 "$tmp/m.pcap" >"$tmp/1" 2>/dev/null
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 2 "$tmp/m.pcap" >"$tmp/2" 2>/dev/null
  check "read $args (mixed shapes)"
done
# Cut mid-record: what was decoded before the damage, then one message and exit 1, both ways.
head -c 3000001 "$tmp/s.pcap" >"$tmp/cut.pcap"
for args in "" "--json" "--stats"; do
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 1 "$tmp/cut.pcap" >"$tmp/1" 2>"$tmp/1e"; r1=$?
  # shellcheck disable=SC2086
  "$GW_BIN" read $args --threads 2 "$tmp/cut.pcap" >"$tmp/2" 2>"$tmp/2e"; r2=$?
  if [ "$r1" -eq 1 ] && [ "$r2" -eq 1 ] && cmp -s "$tmp/1e" "$tmp/2e"; then
    check "read $args (damaged file)"
  else
    fail=$((fail + 1)); echo "FAIL: damaged file, read $args: exit $r1/$r2"; cat "$tmp/1e" "$tmp/2e"
  fi
done
# A pipe can not be read twice: no pre-pass (reflection scan, the split's sample) may eat its start.
for args in "" "--stats"; do
  # shellcheck disable=SC2086
  "$GW_BIN" read $args "$tmp/s.pcap" >"$tmp/1" 2>/dev/null
  # shellcheck disable=SC2086
  "$GW_BIN" read $args <(cat "$tmp/s.pcap") >"$tmp/2" 2>/dev/null
  check "read $args from a pipe"
done
# The output is NDJSON throughout: every line parses, and messages precede their call.
"$GW_BIN" read --json=messages --threads 2 "$tmp/c.pcap" >"$tmp/2" 2>/dev/null
if python3 - "$tmp/2" <<'PY'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    key = (o["conn"], o["stream"])
    if o["type"] == "message":
        seen[key] = seen.get(key, 0) + 1
    elif o["type"] == "call" and seen.get(key, 0) != len(o["requests"]) + len(o["responses"]):
        if not o["messages_omitted"]:
            sys.exit("call %s: %d message objects, %d in the call" % (key, seen.get(key, 0),
                     len(o["requests"]) + len(o["responses"])))
PY
then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: message objects vs calls"; fi
# A reader that stops early: the writer thread must not hang the run.
if timeout 60 bash -c "'$GW_BIN' read --json=messages --threads 2 '$tmp/c.pcap' | head -c 100 >/dev/null"; then
  pass=$((pass + 1))
else
  rc=$?; [ "$rc" -ne 124 ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: hung after the reader left"; }
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
