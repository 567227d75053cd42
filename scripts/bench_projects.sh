#!/usr/bin/env bash
# bench_projects.sh - update checks per second against a 100-project
# configuration, next to the same load on a one-project configuration.
#
# ota.ini plus [projects] dir with 100 generated project files (own name,
# product key, script-only release); every project's package is built
# into the one cache. ota-load's devices run core 0020 with script 1.0.0,
# so each download is a check (block 0) plus the rest of the 3-block
# script-only package; checks/s = downloads / seconds. The queried project
# sorts last, so a linear scan would pay the most. CPU-bound on loopback;
# the census is on (its default file), so every check is also counted: the
# saved census must hold the queried pair with every check of the runs.
# Usage: scripts/bench_projects.sh [BUILD_DIR]   (prints figures; exit 0 unless a run failed)
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
export BUILD
. tests/lib.sh
NPROJ=${BENCH_PROJECTS:-100} DEV=${BENCH_DEVICES:-200} REP=${BENCH_REPEAT:-20}
for b in ota-server ota-cache ota-load; do
  [ -x "$BUILD/$b" ] || { echo "bench_projects: $BUILD/$b not built"; exit 1; }
done
TMP=$(mktemp -d /tmp/ota-bench-proj.XXXXXX)
ota_setup "$TMP/run" >/dev/null || { echo "bench_projects: setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
RUN=$OTA_RUN LOAD="$OTA_ROOT/$BUILD/ota-load"
printf '%s\n' "log_level = warn" "rate_limit = 0" "max_transfers = 20000" \
  "max_transfers_per_address = 0" >>"$RUN/ota.ini"
cp "$RUN/ota.ini" "$TMP/one.ini"
mkdir -p "$RUN/projects.d"
for i in $(seq 1 "$NPROJ"); do
  n=$(printf 'P%03d' "$i")
  cat >"$RUN/projects.d/$n.ini" <<EOI
[project]
name = $n
product_key = key-of-$n-$RANDOM
[release]
core = Luat_V0020_RDA8910
core_image = $OTA_REL/core_Luat_V0020_RDA8910.bin
script_version = 1.1.0
script_image = $OTA_REL/script/script_1.1.0.bin
core_only = no
EOI
done
printf '[projects]\ndir = projects.d\n' >>"$RUN/ota.ini"
cp "$RUN/ota.ini" "$TMP/many.ini"
t0=$(date +%s%N)
for i in $(seq 1 "$NPROJ"); do
  "$BIN/ota-cache" -q build -c "$RUN/ota.ini" -p "$(printf 'P%03d' "$i")" >/dev/null ||
    { echo "bench_projects: build failed"; exit 1; }
done
echo "built $NPROJ projects' packages in $(( ($(date +%s%N) - t0) / 1000000 )) ms" \
  "($(ls "$RUN/cache" | wc -l) packages in the cache)"
t0=$(date +%s%N)
"$BIN/ota-cache" rollout -c "$RUN/ota.ini" -p "$(printf 'P%03d' "$NPROJ")" 861234567890123 >/dev/null
echo "loading the $((NPROJ + 1))-project configuration (ota-cache rollout): $(( ($(date +%s%N) - t0) / 1000000 )) ms"

field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1" | head -1; }
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
# run INI PROJECT KEY: checks/s of 3 ota-load runs in RATES (not in a
# subshell: the server's PID must stay known to stop it)
run() {
  local k out s
  RATES=()
  ota_server_stop >/dev/null 2>&1
  cp "$1" "$RUN/ota.ini"
  ota_server_start || { echo "bench_projects: ota-server did not start"; exit 1; }
  for k in 1 2 3; do
    out=$(timeout 300 "$LOAD" -s "127.0.0.1:$OTA_PORT" -n "$DEV" -r "$REP" -w 4 -t 240 \
      -q "project_key=$3&imei=@&firmware_name=$2_Luat_RDA8910&core_version=20&dfota=1&version=1.0.0" \
      2>>"$TMP/load.err" | grep '^RESULT')
    [ "$(field "$out" failed)" = 0 ] || { echo "bench_projects: a device failed: $out" >&2; tail -3 "$RUN/server.log" >&2; exit 1; }
    s=$(field "$out" seconds)
    RATES+=("$(awk -v n=$((DEV * REP)) -v s="$s" 'BEGIN { printf "%.0f", n / s }')")
  done
}
run "$TMP/one.ini" "$OTA_PROJECT" "$OTA_PRODUCT_KEY"
one="${RATES[*]}"
last=$(printf 'P%03d' "$NPROJ")
run "$TMP/many.ini" "$last" "$(sed -n 's/^product_key = //p' "$RUN/projects.d/$last.ini")"
many="${RATES[*]}"
ota_server_stop >/dev/null 2>&1 # saves the census
counted=$(awk -v p="$last" '$1 == p { n += $4 } END { print n + 0 }' "$RUN/census.txt" 2>/dev/null)
echo "census on: $counted checks of $last counted (3 runs x $DEV x $REP = $((3 * DEV * REP)))"
m1=$(median3 $one) m2=$(median3 $many)
echo "checks/s, $DEV devices x $REP checks (3-block script-only package), median of 3:"
echo "  1 project:            $m1   (runs: $one)"
echo "  $((NPROJ + 1)) projects ($last): $m2   (runs: $many)"
awk -v a="$m1" -v b="$m2" 'BEGIN { printf "  ratio %d projects / 1 project: %.2f\n", '"$((NPROJ + 1))"', b / a }'
