#!/usr/bin/env bash
# run.sh - run every test and print one summary line, "N passed, N failed".
#
# Order: source checks, cmocka suites (sanitized build), end-to-end scripts
# (tests/e2e_*.sh against the sanitized binaries, then the plain ones),
# packaging checks (tests/pkg_*.sh: make install, Debian packages), libFuzzer
# targets for FUZZ_SECONDS each. Every step is bounded by
# `timeout`; a step that hangs counts as failed. Run from the repository
# root (make test does this). Exit status is 0 only if nothing failed.
set -u
cd "$(dirname "$0")/.."

ASAN_BUILD=${ASAN_BUILD:-build/asan}
PLAIN_BUILD=${PLAIN_BUILD:-build/release}
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0 failed=0 failures=()
LOGDIR=$(mktemp -d /tmp/ota-tests.XXXXXX)
trap 'rm -rf "$LOGDIR"' EXIT

# step NAME SECONDS CMD...: run one bounded step, show its output on failure.
step() {
  local name=$1 secs=$2; shift 2
  local log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
  local t0=$SECONDS
  if timeout --kill-after=10 "$secs" "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); printf 'PASS  %-44s %3ds\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1)); failures+=("$name")
    printf 'FAIL  %-44s %3ds\n' "$name" $((SECONDS - t0))
    tail -n 40 "$log" | sed 's/^/      | /'
  fi
}

echo "== source checks"
step "banned functions" 30 scripts/check-src.sh

echo "== device footprint (Cortex-M4 targets: flash 32 KiB, ram 16/48 KiB)"
step "device-size" 300 scripts/device-size.sh --check

echo "== unit tests ($ASAN_BUILD)"
for t in "$ASAN_BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  step "unit $(basename "$t")" 300 "$t"
done

for b in "$ASAN_BUILD" "$PLAIN_BUILD"; do
  echo "== end-to-end ($b)"
  for s in tests/e2e_*.sh; do
    [ -f "$s" ] || continue
    step "e2e $(basename "$s" .sh) [$(basename "$b")]" 300 env BUILD="$b" bash "$s"
  done
done

echo "== packaging ($PLAIN_BUILD)"
for s in tests/pkg_*.sh; do
  [ -f "$s" ] || continue
  step "pkg $(basename "$s" .sh)" 900 env BUILD="$PLAIN_BUILD" bash "$s"
done

echo "== fuzzers (${FUZZ_SECONDS}s each)"
for f in build/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  work="$LOGDIR/corpus-$name"; mkdir -p "$work"
  seeds=tests/fuzz/corpus/$name; [ -d "$seeds" ] || seeds=""
  step "fuzz $name" $((FUZZ_SECONDS + 60)) \
    "$f" -max_total_time="$FUZZ_SECONDS" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$LOGDIR/$name-" "$work" $seeds
done

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
