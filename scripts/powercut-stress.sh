#!/usr/bin/env bash
# powercut-stress.sh - every power cut of a device update (make stress-powercut).
#
# Usage: scripts/powercut-stress.sh BUILD_DIR [SHARDS]  (run from the
# repository root). Runs BUILD_DIR/tests/test_device_powercut --all split
# into SHARDS processes (default: nproc) with --shard I/SHARDS, then prints
# each shard's summary and one total line in the same format:
#   powercut: T=.. tried=.. bricked=.. old=.. new=.. second_cuts=.. ... mode=all ...
# POWERCUT_SEED (default 12) seeds every tear. Exit status 0 only if every
# shard passed (no brick).
set -u
BUILD=${1:?usage: $0 BUILD_DIR [SHARDS]}
SHARDS=${2:-$(nproc 2>/dev/null || echo 2)}
SEED=${POWERCUT_SEED:-12}
BIN=$BUILD/tests/test_device_powercut
OUT=$(mktemp -d /tmp/ota-powercut.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
pids=()
for ((i = 0; i < SHARDS; i++)); do
  "$BIN" --all --seed "$SEED" --shard "$i/$SHARDS" >"$OUT/$i.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
grep -h 'powercut: BRICK' "$OUT"/*.log
grep -h 'powercut: T=' "$OUT"/*.log | sed 's/^/shard /'
grep -h 'powercut: T=' "$OUT"/*.log | awk '
  { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[2] ~ /^[0-9]+$/ && kv[1] != "T" && kv[1] != "seed" && kv[1] != "erase") sum[kv[1]] += kv[2]; else if (kv[2] != "") keep[kv[1]] = kv[2] }
    secs = $NF + 0; if (secs > max) max = secs; n++ }
  END {
    if (n == 0) { print "powercut: no shard finished"; exit 1 }
    printf "powercut: T=%s tried=%d bricked=%d old=%d new=%d second_cuts=%d second_bricked=%d second_old=%d second_new=%d lost_unsynced_blocks=%d mode=all seed=%s erase=%s shards=%d %.1fs\n",
      keep["T"], sum["tried"], sum["bricked"], sum["old"], sum["new"], sum["second_cuts"], sum["second_bricked"],
      sum["second_old"], sum["second_new"], sum["lost_unsynced_blocks"], keep["seed"], keep["erase"], n, max }'
exit $status
