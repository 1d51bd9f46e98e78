#!/usr/bin/env bash
# Run every libFuzzer target in $1 for $2 seconds each, seeded from fuzz/corpus/<target>/.
set -euo pipefail
build=$1; secs=${2:-30}
status=0
for f in "$build"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=$(mktemp -d)
  [ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$corpus/"
  echo "== $name ($secs s)"
  if ! "$f" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=0 "$corpus" 2>"$corpus.log"; then
    echo "FAIL: $name (log: $corpus.log)"; tail -30 "$corpus.log"; status=1
  else
    grep -E '^#[0-9]+.*DONE' "$corpus.log" | tail -1 || true
  fi
  rm -rf "$corpus"
done
exit $status
