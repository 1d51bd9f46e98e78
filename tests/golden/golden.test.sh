#!/usr/bin/env bash
# Golden outputs. Each line of tests/golden/LIST is `name capture [args...]`; the output of
# `grpcwire read [args...] capture` must equal tests/golden/expected/<name>.out byte for byte.
# tests/golden/regen.sh rewrites the expected files: read the diff before committing it.
set -uo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
export TZ=UTC LC_ALL=C NO_COLOR=1
pass=0 fail=0
while read -r name capture args; do
  case "$name" in ''|\#*) continue ;; esac
  exp=tests/golden/expected/$name.out
  # shellcheck disable=SC2086
  got=$("$GW_BIN" read $args "$capture" 2>&1; echo "exit=$?")
  if [ -f "$exp" ] && [ "$got" == "$(cat "$exp")" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL $name: grpcwire read $args $capture"
    diff -u "$exp" <(printf '%s\n' "$got") | head -40
  fi
done < tests/golden/LIST
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
