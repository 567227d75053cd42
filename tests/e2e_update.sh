#!/usr/bin/env bash
# e2e_update.sh - the real ota-server and ota-client on 127.0.0.1.
#
# Builds the sample release, starts the server, and runs simulated devices
# through every outcome of issue 2: delta/full updates from each shipped
# core, script-only, core-only, up to date, wrong key/project, newer core,
# unknown core, a package signed by another key, malformed queries, and a
# release drop with a missing file. Images are checked byte for byte.
# Debian's coap-client is the protocol oracle for raw requests.
# Usage: BUILD=build/release tests/e2e_update.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-e2e.XXXXXX)
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
COAP=$(command -v coap-client-notls || command -v coap-client-openssl)

ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
ota_server_start || { echo "server failed to start"; exit 1; }
TARGET=$(ota_core_image 20)
NEW_SCRIPT=$(ota_script_image 1.1.0)
OLD_SCRIPT=$(ota_script_image 1.0.0)

# run_client DIR CMD -> sets RC and OUT
run_client() {
  OUT=$(timeout 120 "$BIN/ota-client" -t 15 -d "$1" "$2" 2>"$1/client.err"); RC=$?
}
ini_core() { sed -n 's/^core *= *//p' "$1/device.ini"; }
ini_script() { sed -n 's/^script_version *= *//p' "$1/device.ini"; }

# -- full updates from every shipped core
for c in 17 18 19; do
  d=$TMP/dev$c
  ota_device "$d" "$c" 1.0.0 "8612345678900$c"
  run_client "$d" check
  check "core 00$c: check says an update is available (exit 0)" eq "$RC" 0
  run_client "$d" update
  check "core 00$c: update exits 0" eq "$RC" 0
  check "core 00$c: core slot is the target core byte for byte" cmp -s "$d/core.bin" "$TARGET"
  check "core 00$c: script slot is script 1.1.0 byte for byte" cmp -s "$d/script.bin" "$NEW_SCRIPT"
  check "core 00$c: device.ini core updated" eq "$(ini_core "$d")" Luat_V0020_RDA8910
  check "core 00$c: device.ini script updated" eq "$(ini_script "$d")" 1.1.0
  check "core 00$c: package deleted after commit" test ! -e "$d/download.pkg"
  run_client "$d" update
  check "core 00$c: second run finds nothing newer (exit 2)" eq "$RC" 2
done

# -- script only: device already on the target core
d=$TMP/dev20old
ota_device "$d" 20 1.0.0 861234567890201
run_client "$d" update
check "script-only: exit 0" eq "$RC" 0
check "script-only: script slot is 1.1.0" cmp -s "$d/script.bin" "$NEW_SCRIPT"
check "script-only: core slot untouched" cmp -s "$d/core.bin" "$TARGET"
check "script-only: device.ini script updated" eq "$(ini_script "$d")" 1.1.0

# -- core only: device already on the target script
d=$TMP/dev17new
ota_device "$d" 17 1.1.0 861234567890171
run_client "$d" update
check "core-only: exit 0" eq "$RC" 0
check "core-only: core slot is the target" cmp -s "$d/core.bin" "$TARGET"
check "core-only: script slot untouched" cmp -s "$d/script.bin" "$NEW_SCRIPT"

# -- up to date
d=$TMP/dev20cur
ota_device "$d" 20 1.1.0 861234567890202
run_client "$d" update
check "up to date: exit 2 (no update)" eq "$RC" 2

# refusals: exit code, and the slots must be exactly what they were
refused() { # name core script want_rc [overrides...]
  local name=$1 core=$2 script=$3 want=$4; shift 4
  local d=$TMP/$name
  ota_device "$d" "$core" "$script" 861234567890999 "$@"
  if declare -F "prepare_$name" >/dev/null; then "prepare_$name" "$d"; fi
  cp "$d/core.bin" "$d/core.orig"; cp "$d/script.bin" "$d/script.orig"; cp "$d/device.ini" "$d/ini.orig"
  run_client "$d" update
  check "$name: exit $want" eq "$RC" "$want"
  check "$name: core, script and device.ini unchanged" \
    bash -c "cmp -s '$d/core.bin' '$d/core.orig' && cmp -s '$d/script.bin' '$d/script.orig' && cmp -s '$d/device.ini' '$d/ini.orig'"
  check "$name: no package left behind" test ! -e "$d/download.pkg"
}
refused wrong-key 17 1.0.0 3 product_key=not-the-key
refused wrong-project 17 1.0.0 3 project=OTHERPROJ
refused newer-core 21 1.0.0 2
refused unknown-core 15 1.0.0 3
other_pub=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
refused bad-signature 18 1.0.0 4 "public_key=$other_pub"
# a running core that is not the exact base of the delta: the package's
# old-core hash catches it before anything is written
prepare_corrupt_core() { printf 'X' | dd of="$1/core.bin" bs=1 seek=1000 conv=notrunc status=none; }
refused corrupt_core 18 1.0.0 4
check "bad-signature: client says verification failed" grep -qi "verif" "$TMP/bad-signature/client.err" <(echo "$OUT")

# -- raw protocol, Debian's coap-client as the oracle. Query fields go in as
# -O 15,<field> (Uri-Query) because coap-client drops a URI query longer
# than its 100-byte buffer.
# fota KEY=VALUE... : GET /fota with those query fields, extra coap-client
# options before "--".
fota() {
  local pre=() opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do pre+=("$1"); shift; done
  shift
  local kv; for kv in "$@"; do opts+=(-O "15,$kv"); done
  timeout 20 "$COAP" -B 10 -m get "${pre[@]}" "${opts[@]}" "coap://127.0.0.1:$OTA_PORT/fota" 2>&1
}
BASE=(project_key=$OTA_PRODUCT_KEY imei=861234567890123 firmware_name=${OTA_PROJECT}_Luat_RDA8910 dfota=1)
for b in 1024 64; do
  fota -b "$b" -o "$TMP/raw$b.pkg" -- "${BASE[@]}" core_version=18 version=1.0.0 >/dev/null
  check "coap-client -b $b fetches the 0018 package byte for byte" \
    cmp -s "$TMP/raw$b.pkg" "$TMP/run/cache/DEMOPROJ_1.1.0_0018-0020.pkg"
done
fota -o "$TMP/raw-old.pkg" -- "${BASE[@]:0:2}" firmware_name=${OTA_PROJECT}_Luat_V0019_RDA8910 \
  dfota=1 version=1.0.0 >/dev/null
check "older query form (core in firmware_name) is served too" \
  cmp -s "$TMP/raw-old.pkg" "$TMP/run/cache/DEMOPROJ_1.1.0_0019-0020.pkg"
# bad field=value, and the field name the 4.00 answer must mention
bad_fields=(
  "version=1.0|version"
  "version=1.0.0.0|version"
  "core_version=1x|core_version"
  "imei=../../etc/passwd|imei"
  "imei=86123456789012/|imei"
  "firmware_name=DEMOPROJ_Luat_RDA/8910|firmware_name"
  "firmware_name=..%2FDEMOPROJ_Luat_RDA8910|firmware_name"
)
for entry in "${bad_fields[@]}"; do
  kv=${entry%|*} field=${entry#*|} key=${kv%%=*}
  fields=()
  for f in "${BASE[@]}" core_version=18 version=1.0.0; do
    [ "${f%%=*}" = "$key" ] || fields+=("$f")
  done
  out=$(fota -- "${fields[@]}" "$kv")
  check "malformed $kv answered 4.00 naming $field" grep -q "4.00.*$field" <<<"$out"
done
out=$(fota -- "${BASE[@]}" core_version=18)
check "missing version answered 4.00 naming it" grep -q "4.00.*version" <<<"$out"
out=$(fota -- "${BASE[@]}" core_version=18 version=1.0.0 version=1.0.0)
check "duplicate field answered 4.00" grep -q "4.00" <<<"$out"
out=$(fota -- "${BASE[@]}" core_version=21 version=1.0.0)
check "device core newer than target answered 4.04 code 27" grep -q '4.04.*"code":27' <<<"$out"
out=$(fota -- "${BASE[@]}" core_version=15 version=1.0.0)
check "unknown shipped core answered 4.04 code 44" grep -q '4.04.*"code":44' <<<"$out"
out=$(fota -- "${BASE[@]}" core_version=20 version=1.1.0)
check "up to date answered 4.04 code 27" grep -q '4.04.*"code":27' <<<"$out"
out=$(fota -- project_key=wrong-key "${BASE[@]:1}" core_version=18 version=1.0.0)
check "wrong product key answered 4.03 code 25" grep -q '4.03.*"code":25' <<<"$out"
out=$(fota -- "${BASE[@]:0:2}" firmware_name=OTHER_Luat_RDA8910 dfota=1 core_version=18 version=1.0.0)
check "wrong project answered 4.03 code 25" grep -q '4.03.*"code":25' <<<"$out"
out=$(timeout 20 "$COAP" -B 10 -m get "coap://127.0.0.1:$OTA_PORT/.well-known/core" 2>&1)
check "/.well-known/core lists /fota" grep -q "</fota>" <<<"$out"

# -- the server survived everything and stops cleanly on SIGTERM
check "server still running after all requests" kill -0 "$OTA_SERVER_PID"
ota_server_stop; rc=$?
check "server exits 0 on SIGTERM" eq "$rc" 0

# -- a release drop with a missing file: named, non-zero, nothing partial
before=$(ls "$TMP/run/cache" | sort)
sed 's|^script_image = .*|script_image = /nonexistent/script_9.9.9.bin|; s|^script_version = .*|script_version = 9.9.9|' \
  "$TMP/run/ota.ini" >"$TMP/run/missing.ini"
out=$("$BIN/ota-cache" build -c "$TMP/run/missing.ini" 2>&1); rc=$?
check "build with a missing file exits non-zero" test "$rc" -ne 0
check "build names the missing file" grep -q "/nonexistent/script_9.9.9.bin" <<<"$out"
check "cache directory unchanged, no temp files" eq "$(ls "$TMP/run/cache" | sort)" "$before"

ota_summary
