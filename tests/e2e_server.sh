#!/usr/bin/env bash
# e2e_server.sh - ota-server alone on 127.0.0.1, with Debian's coap-client.
#
# Checks the server's side of the protocol with an independent CoAP
# implementation: every package is fetched with Block2 (default and small
# block sizes) and compared byte for byte with the cache file the
# selection rules name; every refusal has its CoAP code and platform code;
# /.well-known/core lists the resources (/fota, /report, /stats); POST
# /report appends a line; the cache directory is picked up live (removal,
# partial copy never served, corrupt file skipped, rename-in served); a
# second server on the same port exits 1 ("address in use") while the
# first keeps serving; exit status 2 for usage and 3 for configuration
# errors, with every missing file listed; SIGTERM exits 0. Load, overload and hot replace: e2e_scale.sh.
# coap-client cuts URI queries at 100 bytes, so query fields are passed
# as explicit Uri-Query options (-O 15,...).
# Usage: BUILD=build/release tests/e2e_server.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-e2e-server.XXXXXX)
has() { case $1 in *"$2"*) return 0 ;; esac; echo "      '$1' lacks '$2'" >&2; return 1; }
COAP=$(command -v coap-client-notls || command -v coap-client-openssl) ||
  { echo "coap-client not installed (libcoap3-bin)"; exit 1; }

ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
ota_server_start || { echo "server failed to start"; exit 1; }
URL="coap://127.0.0.1:$OTA_PORT"
CACHE=$OTA_RUN/cache

# opts KEY FIRMWARE_NAME CORE SCRIPT -> Uri-Query options for coap-client
opts() {
  OPTS=(-O "15,project_key=$1" -O 15,imei=861234567890123 -O "15,firmware_name=$2")
  [ -n "$3" ] && OPTS+=(-O "15,core_version=$3")
  OPTS+=(-O 15,dfota=1 -O "15,version=$4")
}
# fetch OUT BLOCKSIZE KEY FW CORE SCRIPT: whole package with Block2
fetch() {
  local out=$1 bs=$2; shift 2
  opts "$@"
  rm -f "$out"
  timeout 120 "$COAP" -B 60 -m get -b "$bs" "${OPTS[@]}" "$URL/fota" -o "$out" >/dev/null 2>&1
}
# ask KEY FW CORE SCRIPT [coap-client args...]: first response line, "4.04 {...}"
ask() {
  opts "$1" "$2" "$3" "$4"; shift 4
  timeout 30 "$COAP" -B 10 -m get "$@" "${OPTS[@]}" "$URL/fota" 2>&1 | head -1
}
K=$OTA_PRODUCT_KEY FW=DEMOPROJ_Luat_RDA8910

# -- packages, byte for byte
for c in 17 18 19; do
  fetch "$TMP/p$c" 1024 "$K" "$FW" "$c" 1.0.0
  check "core 00$c script 1.0.0 -> core+script package" \
    cmp -s "$TMP/p$c" "$CACHE/DEMOPROJ_1.1.0_00$c-0020.pkg"
  fetch "$TMP/c$c" 1024 "$K" "$FW" "$c" 1.1.0
  check "core 00$c script 1.1.0 -> core-only package" \
    cmp -s "$TMP/c$c" "$CACHE/DEMOPROJ_1.1.0_00$c-0020_core.pkg"
done
fetch "$TMP/s20" 1024 "$K" "$FW" 20 1.0.0
check "core 0020 script 1.0.0 -> script-only package" \
  cmp -s "$TMP/s20" "$CACHE/DEMOPROJ_1.1.0_0020-0020_script.pkg"
fetch "$TMP/p17s" 64 "$K" "$FW" 17 1.0.0
check "64-byte blocks give the same bytes" cmp -s "$TMP/p17s" "$CACHE/DEMOPROJ_1.1.0_0017-0020.pkg"
fetch "$TMP/old" 1024 "$K" DEMOPROJ_Luat_V0018_RDA8910 "" 1.0.0
check "older query form (no core_version)" cmp -s "$TMP/old" "$CACHE/DEMOPROJ_1.1.0_0018-0020.pkg"

# -- options of a block answer
opts "$K" "$FW" 17 1.0.0
V=$(timeout 30 "$COAP" -v 7 -B 10 -m get -b 3,1024 "${OPTS[@]}" "$URL/fota" 2>&1 | grep -a 't:ACK c:2.05' | head -1)
SIZE=$(stat -c %s "$CACHE/DEMOPROJ_1.1.0_0017-0020.pkg")
check "block 3: 2.05 with Block2 3/M/1024" has "$V" "Block2:3/M/1024"
check "block 3: Size2 = package size" has "$V" "Size2:$SIZE"
check "block 3: ETag = first 8 bytes of SHA-256" has "$V" \
  "ETag:0x$(sha256sum "$CACHE/DEMOPROJ_1.1.0_0017-0020.pkg" | cut -c1-16)"
check "block 3: Content-Format octet-stream" has "$V" "Content-Format:application/octet-stream"

# -- refusals: CoAP code and platform code
check "up to date -> 4.04 code 27" has "$(ask "$K" "$FW" 20 1.1.0)" '4.04 {"code":27'
check "script newer on target core -> 4.04 code 27" has "$(ask "$K" "$FW" 20 1.2.0)" '4.04 {"code":27'
check "device core newer than target -> 4.04 code 27" has "$(ask "$K" "$FW" 21 1.0.0)" '4.04 {"code":27'
check "unknown shipped core -> 4.04 code 44" has "$(ask "$K" "$FW" 16 1.0.0)" '4.04 {"code":44'
check "wrong product key -> 4.03 code 25" has "$(ask wrong-key "$FW" 17 1.0.0)" '4.03 {"code":25'
check "wrong project -> 4.03 code 25" has "$(ask "$K" OTHER_Luat_RDA8910 17 1.0.0)" '4.03 {"code":25'
check "other chip -> 4.03 code 21" has "$(ask "$K" DEMOPROJ_Luat_EC618 17 1.0.0)" '4.03 {"code":21'
check "'..' in a field -> 4.00 code 3" has "$(ask "$K" "DEMOPROJ_..RDA8910" 17 1.0.0)" '4.00 {"code":3'
check "'/' in a field -> 4.00 code 3" has "$(ask "$K" "DEMOPROJ/Luat_RDA8910" 17 1.0.0)" '4.00 {"code":3'
check "bad script version -> 4.00 code 26" has "$(ask "$K" "$FW" 17 1.0)" '4.00 {"code":26'
check "block past the end -> 4.02" has "$(ask "$K" "$FW" 17 1.0.0 -b 9999,1024)" '4.02'
R=$(timeout 30 "$COAP" -B 10 -m get -O 15,imei=861234567890123 "$URL/fota" 2>&1 | head -1)
check "missing fields -> 4.00 code 3 naming the field" has "$R" '4.00 {"code":3,"msg":"project_key: missing"}'
R=$(timeout 30 "$COAP" -B 10 -m get "$URL/.well-known/core" 2>&1)
check "/.well-known/core lists /fota" has "$R" '</fota>'
check "/.well-known/core lists /report" has "$R" '</report>'
check "/.well-known/core lists /stats" has "$R" '</stats>'

# -- reports
R=$(timeout 30 "$COAP" -B 10 -m post -e '{"imei":"861234567890123","project":"DEMOPROJ","from_core":"Luat_V0017_RDA8910","to_core":"Luat_V0020_RDA8910","from_script":"1.0.0","to_script":"1.1.0","result":0,"bytes":214001,"seconds":12.5}' "$URL/report" 2>&1 | head -1)
check "POST /report -> 2.04 (no error printed)" eq "$R" ""
check "report appended to the report log" grep -q '"imei":"861234567890123".*"result":0,"bytes":214001' "$OTA_RUN/reports.jsonl"
R=$(timeout 30 "$COAP" -B 10 -m post -e 'imei=86&result=0' "$URL/report" 2>&1 | head -1)
check "bad report -> 4.00" has "$R" '4.00'

# -- the cache directory is live
S=$CACHE/DEMOPROJ_1.1.0_0020-0020_script.pkg
cp "$S" "$TMP/script.pkg"
rm "$S"; sleep 0.6
check "package removed -> 4.04 code 44 without restart" has "$(ask "$K" "$FW" 20 1.0.0)" '4.04 {"code":44'
head -c 1000 "$TMP/script.pkg" >"$S"; sleep 0.6
check "partial copy is never served" has "$(ask "$K" "$FW" 20 1.0.0)" '4.04 {"code":44'
cat "$TMP/script.pkg" >"$S"; sleep 0.6
fetch "$TMP/s20b" 1024 "$K" "$FW" 20 1.0.0
check "completed copy is served" cmp -s "$TMP/s20b" "$TMP/script.pkg"
python3 - "$S" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[300] ^= 1; open(p + '.tmp.1', 'wb').write(b)
PY
mv "$S.tmp.1" "$S"; sleep 0.6
check "bit-flipped package (bad signature) is not served" has "$(ask "$K" "$FW" 20 1.0.0)" '4.04 {"code":44'
check "the bad package is logged" grep -q "skipping DEMOPROJ_1.1.0_0020-0020_script.pkg" "$OTA_RUN/server.log"
cp "$TMP/script.pkg" "$S.tmp.2" && mv "$S.tmp.2" "$S"; sleep 0.6
fetch "$TMP/s20c" 1024 "$K" "$FW" 20 1.0.0
check "replaced by rename -> served again" cmp -s "$TMP/s20c" "$TMP/script.pkg"

# -- a second server on the same address: exit 1, the first keeps serving
out=$(timeout 10 "$BIN/ota-server" -c "$OTA_RUN/ota.ini" 2>&1); RC=$?
check "second server on a port in use: exit 1" eq "$RC" 1
check "second server: says 'address in use'" has "$out" "address in use"
check "second server: never announced listening" bash -c "! grep -q 'listening on' <<<'$out'"
fetch "$TMP/after2" 1024 "$K" "$FW" 17 1.0.0
check "the first server still answers" cmp -s "$TMP/after2" "$CACHE/DEMOPROJ_1.1.0_0017-0020.pkg"

# -- exit status: 2 usage, 3 configuration (every problem listed at once)
"$BIN/ota-server" --no-such-option >/dev/null 2>&1; RC=$?
check "bad option: exit 2" eq "$RC" 2
printf '[project]\nname = P\n' >"$TMP/bad.ini"
"$BIN/ota-server" -c "$TMP/bad.ini" >/dev/null 2>&1; RC=$?
check "invalid ota.ini: exit 3" eq "$RC" 3
P2=$(ota_free_port)
sed -e "s#^dir = cache#dir = $TMP/nocache#" -e "s#^listen = .*#listen = 127.0.0.1:$P2#" \
    -e "s#^report_log = .*#report_log = $TMP/nodir/reports.jsonl#" "$OTA_RUN/ota.ini" >"$TMP/files.ini"
printf 'public_key = %s\n[fleet]\nallowlist = %s\n' "$TMP/no.pub" "$TMP/no-allow.txt" >>"$TMP/files.ini"
out=$(timeout 10 "$BIN/ota-server" -c "$TMP/files.ini" 2>&1); RC=$?
check "missing files: exit 3" eq "$RC" 3
for w in "[cache] dir" "[server] public_key" "[server] report_log" "[fleet] allowlist"; do
  check "missing files: '$w' reported" has "$out" "config: $w"
done
check "missing files: nothing listened" bash -c "! grep -q 'listening on' <<<'$out'"

# -- clean stop
ota_server_stop; RC=$?
check "SIGTERM: exit status 0" eq "$RC" 0
check "no sanitizer report in the server log" bash -c "! grep -q -E 'ERROR: AddressSanitizer|runtime error' '$OTA_RUN/server.log'"

ota_summary
