#!/usr/bin/env bash
# e2e_census.sh - the census and on-demand builds (issue 11.3) end to end.
#
# 1. Census: 1,000 synthetic update checks (ota-load: 700 devices up to
#    date, 300 ahead of the release) are counted exactly: SIGHUP saves the
#    census file, which holds the two pairs with counts 700 and 300;
#    `ota-cache census` prints them; a restart loads them back.
# 2. On demand: core 0019 was archived 40 days ago and never reported, so
#    publishing a new release (script 1.2.0) builds packages for the cores
#    in the field but none for it (keep_days 30). 200 concurrent devices (ota-load) and 3 ota-client processes on
#    that core get 5.03 code 43 (Max-Age 30), and exactly one build request
#    appears in the spool. A device asking twice from two source ports is
#    not charged check_interval (3600 s here) for an answer 43.
#    `ota-cache build-pending` (the ota-cache-watch service's builder)
#    makes the packages and removes the request; a module over HTTP
#    (tests/tools/ota-module) waits out 503 code 43 the same way; every device ends with
#    the right image (ota-load: SHA-256 vs ETag; ota-client: the flash core
#    and script slots equal the release images).
# Usage: BUILD=build/release tests/e2e_census.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-e2e-census.XXXXXX)
COAP=$(command -v coap-client-notls || command -v coap-client-openssl) ||
  { echo "coap-client not installed (libcoap3-bin)"; exit 1; }
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
RUN=$OTA_RUN K=$OTA_PRODUCT_KEY
HPORT=$(ota_free_port) || { echo "no free port"; exit 1; }
cat >>"$RUN/ota.ini" <<EOF
[fleet]
check_interval = 3600
[census]
save_interval = 3600
[http]
listen = 127.0.0.1:$HPORT
EOF
# Core 0019 was archived 40 days ago (keep_days is 30) and nobody reported
# it since: the publish in part 2 leaves it out of the precompute set.
rm -f "$RUN"/cache/DEMOPROJ_*_0019-*.pkg
C19=$OTA_REL/shipped/Luat_V0019_RDA8910.bin
A19=$RUN/archive/DEMOPROJ/core/Luat_V0019_RDA8910-$(sha256sum "$C19" | cut -c1-16).bin
mkdir -p "$RUN/archive/DEMOPROJ/core"
cp "$C19" "$A19" && chmod 0444 "$A19" && touch -d '40 days ago' "$A19"

census_has() { grep -q "^$1\$" <(cut -d' ' -f1-4 "$RUN/census.txt" 2>/dev/null); }
load() { # load N QUERY-TAIL [ota-load options]: ota-load against the server
  local n=$1 q=$2; shift 2
  ASAN_OPTIONS=detect_leaks=0 timeout 200 "$BIN/ota-load" -s "127.0.0.1:$OTA_PORT" -n "$n" \
    -T 10000 -i 64 -q "project_key=$K&imei=@&firmware_name=DEMOPROJ_Luat_RDA8910&dfota=1&$q" "$@"
}

# ---- 1. a census of 1,000 checks ----------------------------------------------
ota_server_start || { echo "server failed to start"; exit 1; }
load 700 "core_version=20&version=1.1.0" -t 60 >"$TMP/l1.out" 2>&1
load 300 "core_version=21&version=1.0.0" -t 60 >"$TMP/l2.out" 2>&1
check "no check was retransmitted (each counts once)" \
  eq "$(grep -ho 'retransmits=[0-9]*' "$TMP/l1.out" "$TMP/l2.out" | sort -u)" "retransmits=0"
kill -HUP "$OTA_SERVER_PID"
check "SIGHUP saves the census" ota_wait_for 20 census_has "DEMOPROJ Luat_V0021_RDA8910 1.0.0 300"
check "700 checks of core 0020 / 1.1.0 counted" census_has "DEMOPROJ Luat_V0020_RDA8910 1.1.0 700"
check "the file ends with its trailer" eq "$(tail -1 "$RUN/census.txt")" "# end 2"
OUT=$("$BIN/ota-cache" census -c "$RUN/ota.ini" 2>&1)
check "ota-cache census prints the pairs" \
  grep -Eq 'DEMOPROJ +Luat_V0020_RDA8910 +1\.1\.0 +700 ' <<<"$OUT"
check "ota-cache census --json" grep -q '"count":300' <("$BIN/ota-cache" census --json -c "$RUN/ota.ini")
ota_server_stop
ota_server_start || { echo "server failed to restart"; exit 1; }
check "a restart loads the census" ota_wait_for 10 grep -q "census: 2 pair(s)" "$RUN/server.log"

# ---- 2. on demand: 200 devices on an archived core without packages -------------
# A new release (script 1.2.0 on core 0020) is published: packages for the
# cores in the field (0017, 0018), none for 0019.
mkdir -p "$TMP/drop"
cp "$OTA_REL/core_Luat_V0020_RDA8910.bin" "$TMP/drop/core.bin"
{ cat "$(ota_script_image 1.1.0)"; echo "script 1.2.0"; } >"$TMP/drop/script.bin"
printf '[release]\nproject = DEMOPROJ\ncore = Luat_V0020_RDA8910\ncore_image = core.bin\nscript_version = 1.2.0\nscript_image = script.bin\n' \
  >"$TMP/drop/release.ini"
check "publish script 1.2.0" "$BIN/ota-cache" publish -c "$RUN/ota.ini" "$TMP/drop"
check "packages from core 0018 (in the field)" ls "$RUN"/cache/DEMOPROJ_1.2.0_0018-0020*.pkg
check "none from core 0019 (not reported for 40 days)" \
  eq "$(ls "$RUN"/cache/ | grep -c '_0019-')" 0
load 200 "core_version=19&version=1.0.0" -x 1 -t 150 >"$TMP/l3.out" 2>&1 &
LOAD_PID=$!; OTA_PIDS+=("$LOAD_PID")
CLIENTS=()
for i in 1 2 3; do
  ota_device "$TMP/dev$i" 19 1.0.0 "86123456789000$i"
  timeout 150 "$BIN/ota-client" -d "$TMP/dev$i" -m 1 update >"$TMP/dev$i.out" 2>&1 &
  CLIENTS+=($!); OTA_PIDS+=($!)
done
# and a module over HTTP (503 code 43 + Retry-After, waited out scaled down)
timeout 150 "$BIN/ota-module" -u "http://127.0.0.1:$HPORT" -k "$K" -i 861234567890777 \
  -f DEMOPROJ_Luat_RDA8910 -c 19 -v 1.0.0 -o "$TMP/area.bin" --wait-scale 0.05 \
  >"$TMP/module.out" 2>&1 &
MODULE=$!; OTA_PIDS+=("$MODULE")
req_count() { find "$RUN/spool" -maxdepth 1 -name '*.req' 2>/dev/null | wc -l; }
check "a build request appears" ota_wait_for 30 test -e "$RUN/spool/DEMOPROJ+Luat_V0019_RDA8910+1.0.0.req"
check "its content" eq "$(cat "$RUN/spool/DEMOPROJ+Luat_V0019_RDA8910+1.0.0.req")" \
  "$(printf 'project=DEMOPROJ\ncore=Luat_V0019_RDA8910\nscript=1.0.0')"
check "devices are told 5.03 code 43" ota_wait_for 10 grep -q 'st=unavailable code=5.03 pc=43' \
  "$RUN/server.log"
check "one request in the spool" eq "$(req_count)" 1
# one device, two source ports: the 43 is not charged to check_interval
ask() {
  timeout 30 "$COAP" -B 10 -m get -O "15,project_key=$K" -O 15,imei=861234567890999 \
    -O 15,firmware_name=DEMOPROJ_Luat_RDA8910 -O 15,core_version=19 -O 15,dfota=1 \
    -O 15,version=1.0.0 "coap://127.0.0.1:$OTA_PORT/fota" 2>&1 | head -1
}
A1=$(ask) A2=$(ask)
check "first ask: 5.03 code 43" grep -q '"code":43' <<<"$A1"
check "second ask (new port): 43 again, not 4.29" grep -q '"code":43' <<<"$A2"

# The builder, as the ota-cache-watch service runs it.
check "build-pending: packages for core 0019" "$BIN/ota-cache" -q build-pending -c "$RUN/ota.ini"
check "the request is removed" eq "$(req_count)" 0
check "packages from core 0019 now" ls "$RUN"/cache/DEMOPROJ_1.2.0_0019-0020*.pkg

wait "$LOAD_PID"; LRC=$?
check "200 devices end with the right package (ota-load)" eq "$LRC" 0
grep -h RESULT "$TMP/l3.out" | sed 's/^/      /'
wait "$MODULE"; rc=$?
check "HTTP module: updated after waiting out code 43" eq "$rc" 0
check "HTTP module: its FOTA area = the package built on demand" \
  cmp -s "$TMP/area.bin" "$RUN/cache/DEMOPROJ_1.2.0_0019-0020.pkg"
check "the module was told 503 code 43 over HTTP" grep -q '43' "$TMP/module.out"
for i in 1 2 3; do
  wait "${CLIENTS[$((i - 1))]}"; rc=$?
  check "ota-client $i: updated" eq "$rc" 0
  check "ota-client $i: core slot = release core" \
    cmp -s "$TMP/dev$i/core.bin" "$OTA_REL/core_Luat_V0020_RDA8910.bin"
  check "ota-client $i: script slot = release script" \
    cmp -s "$TMP/dev$i/script.bin" "$TMP/drop/script.bin"
done
check "one build request written in all" eq "$(grep -c 'build requested' "$RUN/server.log")" 1
check "no request left in the spool" eq "$(req_count)" 0
ota_server_stop
check "census saved at stop: core 0019 counted" \
  grep -q "^DEMOPROJ Luat_V0019_RDA8910 1.0.0 " "$RUN/census.txt"
ota_summary
