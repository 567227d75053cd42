#!/usr/bin/env bash
# run.sh - `make fuzz`: a longer libFuzzer campaign over every target.
#
# Each build/fuzz/fuzz_* runs for FUZZ_SECONDS (default 600) on a copy of
# its committed corpus (tests/fuzz/corpus/<target>); new inputs that add
# coverage are merged back into the committed corpus afterwards, and any
# crash input is kept in build/fuzz/artifacts. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-600}
mkdir -p build/fuzz/artifacts
passed=0 failed=0
for f in build/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  seeds=tests/fuzz/corpus/$name; mkdir -p "$seeds"
  work=$(mktemp -d /tmp/fuzz-$name.XXXXXX)
  echo "== $name for ${FUZZ_SECONDS}s"
  timeout $((FUZZ_SECONDS + 120)) "$f" -max_total_time="$FUZZ_SECONDS" -max_len=16384 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build/fuzz/artifacts/$name- "$work" "$seeds" >"$work.log" 2>&1
  rc=$?
  tail -n 12 "$work.log"; rm -f "$work.log"
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    "$f" -merge=1 "$seeds" "$work" >/dev/null 2>&1 || true
  else
    failed=$((failed + 1)); echo "FAIL $name"
  fi
  rm -rf "$work"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
