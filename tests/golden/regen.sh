#!/usr/bin/env bash
# Rewrite the golden outputs from the current build. Review `git diff tests/golden` afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
GW_BIN=${GW_BIN:-build/grpcwire}
export TZ=UTC LC_ALL=C NO_COLOR=1
while read -r name capture args; do
  case "$name" in ''|\#*) continue ;; esac
  # shellcheck disable=SC2086
  { "$GW_BIN" read $args "$capture" 2>&1; echo "exit=$?"; } > "tests/golden/expected/$name.out" || true
  echo "wrote tests/golden/expected/$name.out"
done < tests/golden/LIST
