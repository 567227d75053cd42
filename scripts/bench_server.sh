#!/usr/bin/env bash
# bench_server.sh - ota-server figures against the targets of issue 4.
#
# Usage: scripts/bench_server.sh [BUILD_DIR]   (default build/release; needs
# ota-server, ota-cache and ota-load built there, and Debian's
# coap-server-openssl / coap-client-openssl from libcoap3-bin).
#
# 1. Block answers per second on loopback, 1024-byte blocks, one server
#    process: ota-server and Debian's coap-server-openssl serve the same
#    package file (coap-server holds it as a dynamic resource created by
#    PUT /fota, so both answer GET /fota with Block2) to the same ota-load
#    run in the same run of this script; fleet-like (1,000 devices) and
#    few-clients (100 devices) loads, median of 3 runs each. ota-server
#    runs with rate_limit = 0 here (coap-server has no limiter; the
#    transfer table is still in use).
# 2. 10,000 devices at once (one socket each), all mid-download: failures
#    and the server's peak RSS (VmHWM), plus /stats sampled mid-run.
# 3. 1,000 devices downloading while every package of the release is
#    replaced twice (rename over): devices with a wrong image.
# Everything runs on 127.0.0.1; every process started here is stopped by
# PID on exit and bounded by timeout or a watchdog. Prints figures and
# whether each target is met; exit 0 unless a step could not run.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
export BUILD
. tests/lib.sh
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

for b in ota-server ota-cache ota-load; do
  [ -x "$BUILD/$b" ] || { echo "bench_server: $BUILD/$b not built (make BUILD=$BUILD all)"; exit 1; }
done
CS=$(command -v coap-server-openssl || command -v coap-server-notls) || { echo "bench_server: coap-server not installed"; exit 1; }
CC=$(command -v coap-client-openssl || command -v coap-client-notls) || { echo "bench_server: coap-client not installed"; exit 1; }

TMP=$(mktemp -d /tmp/ota-bench-server.XXXXXX)
ota_setup "$TMP/run" >/dev/null || { echo "bench_server: setup failed"; exit 1; }
EXTRA_PIDS=()
bench_cleanup() {
  local p
  for p in "${EXTRA_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  ota_cleanup
  rm -rf "$TMP"
}
trap bench_cleanup EXIT
LOAD="$OTA_ROOT/$BUILD/ota-load"
PKG=$OTA_RUN/cache/DEMOPROJ_1.1.0_0017-0020.pkg
cp "$OTA_RUN/ota.ini" "$TMP/base.ini"
field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1" | head -1; }
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }

# server_with "key = value"...: (re)start ota-server with these [server] keys
# (ota-load's devices all share 127.0.0.1: no per-address transfer cap)
server_with() {
  ota_server_stop >/dev/null 2>&1
  cp "$TMP/base.ini" "$OTA_RUN/ota.ini"
  printf '%s\n' "log_level = warn" "max_transfers_per_address = 0" "$@" >>"$OTA_RUN/ota.ini"
  ota_server_start || { echo "bench_server: ota-server did not start"; exit 1; }
}

# coap-server on its own port with the package PUT as /fota
CS_PORT=$(ota_free_port)
"$CS" -A 127.0.0.1 -p "$CS_PORT" -d 4 >"$TMP/coap-server.log" 2>&1 &
CS_PID=$!; EXTRA_PIDS+=("$CS_PID")
( sleep 1200; kill "$CS_PID" ) >/dev/null 2>&1 &
EXTRA_PIDS+=("$!")
sleep 0.3
timeout 30 "$CC" -m put -f "$PKG" "coap://127.0.0.1:$CS_PORT/fota" >/dev/null 2>&1 ||
  { echo "bench_server: cannot PUT the package to coap-server"; exit 1; }

# one ota-load run; prints its RESULT line
load() { timeout 300 "$LOAD" "$@" 2>>"$TMP/load.err" | grep '^RESULT'; }
# why a run failed: ota-server's refusal counters (nonzero ones) from /stats
refusals() {
  timeout 10 "$CC" -B 5 -m get "coap://127.0.0.1:$OTA_PORT/stats" 2>/dev/null | tr ',{}' '\n\n\n' |
    grep -E '"(limited_|short_|build_|transfer_slots|sources_tracked|status|content|service)' | grep -v ':0$' | tr '\n' ' '
}

echo "== 1. block answers/s, 1024-byte blocks, $(stat -c %s "$PKG")-byte package, same ota-load"
server_with "rate_limit = 0" "max_transfers = 20000"
declare -A RATE
for scen in "1000 4 64 5" "100 4 64 50"; do
  set -- $scen; n=$1 w=$2 i=$3 r=$4
  o=() c=()
  for k in 1 2 3; do
    R=$(load -s "127.0.0.1:$OTA_PORT" -n "$n" -w "$w" -i "$i" -r "$r" -t 250 -e "$PKG" -P "$OTA_SERVER_PID")
    o+=("$(field "$R" blocks_per_s)"); [ "$(field "$R" failed)" = 0 ] || echo "   ota-server run $k: failures: $R"
    R=$(load -s "127.0.0.1:$CS_PORT" -n "$n" -w "$w" -i "$i" -r "$r" -t 250 -e "$PKG" -P "$CS_PID")
    c+=("$(field "$R" blocks_per_s)"); [ "$(field "$R" failed)" = 0 ] || echo "   coap-server run $k: failures: $R"
  done
  mo=$(median3 "${o[@]}") mc=$(median3 "${c[@]}")
  ratio=$(awk -v a="$mo" -v b="$mc" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
  RATE[$n]="$mo $mc $ratio"
  printf '   %5d devices, window %d, in flight %d: ota-server %7d/s (runs %s), coap-server %7d/s (runs %s), ratio %sx\n' \
    "$n" "$w" "$i" "$mo" "${o[*]}" "$mc" "${c[*]}" "$ratio"
done
# Issue 13: the same 1,000-device load on the short exchange (ota-load -Q:
# block 0 from /fota, every later block at /p/<ETag hex>, one Q-Block2 per
# request, the least favourable use of it) against /fota, interleaved
# (fota, short, fota, short...) so that both see the same machine.
declare -a SF SQ
for k in 1 2 3; do
  R=$(load -s "127.0.0.1:$OTA_PORT" -n 1000 -w 4 -i 64 -r 5 -t 250 -e "$PKG" -P "$OTA_SERVER_PID")
  SF+=("$(field "$R" blocks_per_s)"); [ "$(field "$R" failed)" = 0 ] || echo "   /fota run $k: failures: $R; server: $(refusals)"
  R=$(load -s "127.0.0.1:$OTA_PORT" -n 1000 -w 4 -i 64 -r 5 -t 250 -e "$PKG" -P "$OTA_SERVER_PID" -Q)
  SQ+=("$(field "$R" blocks_per_s)"); [ "$(field "$R" failed)" = 0 ] || echo "   /p/ run $k: failures: $R; server: $(refusals)"
done
msf=$(median3 "${SF[@]}") msq=$(median3 "${SQ[@]}")
RSHORT=$(awk -v a="$msq" -v b="$msf" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
printf '   1,000 devices, /p/ (one block per request) %7d/s (runs %s) vs /fota %7d/s (runs %s): ratio %sx\n' \
  "$msq" "${SQ[*]}" "$msf" "${SF[*]}" "$RSHORT"
echo "   server peak RSS after these runs: ota-server $(grep VmHWM /proc/$OTA_SERVER_PID/status | awk '{print $2}') KiB, coap-server $(grep VmHWM /proc/$CS_PID/status | awk '{print $2}') KiB"

echo "== 2. 10,000 devices at once"
server_with "max_transfers = 20000"
timeout 300 "$LOAD" -s "127.0.0.1:$OTA_PORT" -n 10000 -w 4 -i 256 -t 250 -k "$OTA_RUN/cache" \
  -P "$OTA_SERVER_PID" >"$TMP/load10k.out" 2>>"$TMP/load.err" &
LP=$!; EXTRA_PIDS+=("$LP")
sleep 1.5
STATS=$(timeout 10 "$CC" -B 5 -m get "coap://127.0.0.1:$OTA_PORT/stats" 2>/dev/null)
wait "$LP"
R10=$(grep '^RESULT' "$TMP/load10k.out")
sed 's/^/   /' "$TMP/load10k.out" | grep -v RESULT
echo "   /stats mid-run: transfers_running=$(sed -n 's/.*"transfers_running":\([0-9]*\).*/\1/p' <<<"$STATS") sources_tracked=$(sed -n 's/.*"sources_tracked":\([0-9]*\).*/\1/p' <<<"$STATS") rss_kib=$(sed -n 's/.*"rss_kib":\([0-9]*\).*/\1/p' <<<"$STATS")"

echo "== 3. 1,000 devices while the release is replaced twice"
server_with
mkdir -p "$TMP/old" "$TMP/new"
cp "$OTA_RUN/cache"/*.pkg "$TMP/old/"
sed -e "s#^dir = cache#dir = $TMP/new#" -e 's/^\[release\]/[release]\nwindow_bits = 11/' \
  "$TMP/base.ini" >"$OTA_RUN/new.ini"
"$OTA_ROOT/$BUILD/ota-cache" -q build -c "$OTA_RUN/new.ini" >/dev/null || { echo "bench_server: second release build failed"; exit 1; }
swap() { local f; for f in "$1"/*.pkg; do cp "$f" "$OTA_RUN/cache/.$(basename "$f").tmp.$$" && mv "$OTA_RUN/cache/.$(basename "$f").tmp.$$" "$OTA_RUN/cache/$(basename "$f")"; done; }
timeout 300 "$LOAD" -s "127.0.0.1:$OTA_PORT" -n 1000 -w 4 -i 32 -r 4 -t 250 -k "$TMP/old" -k "$TMP/new" \
  >"$TMP/loadswap.out" 2>>"$TMP/load.err" &
LP=$!; EXTRA_PIDS+=("$LP")
sleep 0.5; swap "$TMP/new"; sleep 1; swap "$TMP/old"
wait "$LP"
RS=$(grep '^RESULT' "$TMP/loadswap.out")
sed 's/^/   /' "$TMP/loadswap.out" | grep -v RESULT

met() { if eval "$1"; then echo "met"; else echo "NOT met"; fi; }
set -- ${RATE[1000]}; r1000=$3
set -- ${RATE[100]}; r100=$3
hwm=$(field "$R10" hwm_kib); f10=$(field "$R10" failed)
echo
echo "== targets (issue 4)"
printf '   block answers/s >= 1.5 x coap-server: 1,000 devices %sx (%s), 100 devices %sx (%s)\n' \
  "$r1000" "$(met "awk 'BEGIN{exit !($r1000 >= 1.5)}'")" "$r100" "$(met "awk 'BEGIN{exit !($r100 >= 1.5)}'")"
printf '   block answers/s at 1,000 devices, short exchange >= /fota (issue 13): %sx (%s)\n' \
  "$RSHORT" "$(met "awk 'BEGIN{exit !($RSHORT >= 1.0)}'")"
printf '   10,000 devices: failed %s, server peak RSS %s KiB = %s MiB (<= 64 MiB: %s)\n' \
  "$f10" "$hwm" "$(awk -v k="$hwm" 'BEGIN{printf "%.1f", k/1024}')" \
  "$(met "[ '$f10' = 0 ] && [ '${hwm:-999999}' -le 65536 ]")"
printf '   1,000 devices during release replace: wrong images %s, failed %s, restarts %s (%s)\n' \
  "$(field "$RS" wrong)" "$(field "$RS" failed)" "$(field "$RS" restarts)" \
  "$(met "[ '$(field "$RS" wrong)' = 0 ] && [ '$(field "$RS" failed)' = 0 ]")"
exit 0
