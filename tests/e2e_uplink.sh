#!/bin/bash
# e2e_uplink.sh - issue 13: the short resource GET /p/<ETag hex> and
# several blocks per request (Q-Block2), end to end.
#
# Usage: BUILD=build/asan bash tests/e2e_uplink.sh   (from the repository root)
# 1. Hostile requests on /p/ straight to the server (coap-client-notls):
#    unknown ETag -> 4.04, a source that made no /fota check -> 4.03 (from
#    127.0.0.2), after a /fota check from a fixed port: a block past the
#    end -> 4.02, a Q-Block2 of 4 bytes, SZX 7, mixed sizes, 17 blocks ->
#    4.00; the server keeps serving.
# 2. ota-client over nb2 (tests/tools/nbsim.c): update with the short
#    exchange, exact images, bursts (/stats short_blocks > short_requests),
#    uplink bytes under a fifth of the --fota-only run's.
# 3. A release replaced mid-download within short_grace: the download goes
#    on from the old package (no restart), exact images.
# 4. After the grace (short_grace = 1): /p/ answers 4.04, the client checks
#    /fota again, restarts on the new ETag (counted), exact images.
# 5. coaps:// (DTLS-PSK): the same exchange, bursts included.
# 6. 10,000 ota-load devices fetching from /p/ (-Q): all exact, the
#    server's source table within max_sources, peak RSS bounded.
# Every process is bounded and stopped by PID (tests/lib.sh).
set -u
OTA_ROOT=$(pwd)
. "$OTA_ROOT/tests/lib.sh"
checks=0 fails=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL $*"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
RUN=$(mktemp -d /tmp/ota-uplink-e2e.XXXXXX)
ota_setup "$RUN" || { echo "setup failed"; exit 1; }
cd "$RUN" || exit 1
CC=$(command -v coap-client-notls || command -v coap-client)
ota_server_start || exit 1
URL=coap://127.0.0.1:$OTA_PORT
Q=(-O "15,project_key=$OTA_PRODUCT_KEY" -O 15,imei=861234567890123
   -O 15,firmware_name=DEMOPROJ_Luat_RDA8910 -O 15,core_version=17 -O 15,dfota=1
   -O 15,version=1.0.0)
# the code of an error answer (coap-client prints it alone on stderr)
code() { timeout 10 "$CC" -m get "$@" 2>&1 >/dev/null | grep -xE '[1-5]\.[0-9]{2}' | head -1; }
stats() { timeout 10 "$CC" -m get "$URL/stats" 2>/dev/null; }
stat_of() { stats | grep -o "\"$1\":[0-9]*" | cut -d: -f2; }

# --- 1. hostile requests ------------------------------------------------------
check "unknown ETag: 4.04" '[ "$(code "$URL/p/0000000000000000")" = 4.04 ]'
check "not hex / wrong length: 4.04" \
    '[ "$(code "$URL/p/zz00000000000000")" = 4.04 ] && [ "$(code "$URL/p/00")" = 4.04 ]'
# A /fota check from a fixed source port: block 0 only, its ETag.
timeout 10 "$CC" -p 40123 -m get -b 0,1024 -B 1 "${Q[@]}" -v 6 -o "$RUN/b0" "$URL/fota" \
    >"$RUN/check.log" 2>&1
ETAG=$(grep -o 'ETag:0x[0-9a-f]*' "$RUN/check.log" | head -1 | cut -c8-)
check "a /fota check gave the ETag ($ETAG)" '[ ${#ETAG} = 16 ]'
check "no /fota check from 127.0.0.2: 4.03" \
    '[ "$(code -a 127.0.0.2 -O 19,0x10 "$URL/p/$ETAG")" = 4.03 ]'
check "block past the end: 4.02" '[ "$(code -p 40123 -O 19,0xfffff6 "$URL/p/$ETAG")" = 4.02 ]'
check "Q-Block2 of 4 bytes: 4.00" '[ "$(code -p 40123 -O 19,0x00000016 "$URL/p/$ETAG")" = 4.00 ]'
check "Q-Block2 SZX 7: 4.00" '[ "$(code -p 40123 -O 19,0x17 "$URL/p/$ETAG")" = 4.00 ]'
check "Q-Block2 of two sizes: 4.00" \
    '[ "$(code -p 40123 -O 19,0x16 -O 19,0x15 "$URL/p/$ETAG")" = 4.00 ]'
many=(); for i in $(seq 1 17); do many+=(-O "19,0x$(printf %04x $((i * 16 + 6)))"); done
check "17 blocks in one request: 4.00" '[ "$(code -p 40123 "${many[@]}" "$URL/p/$ETAG")" = 4.00 ]'
check "three segments: 4.04" '[ "$(code -p 40123 "$URL/p/$ETAG/x")" = 4.04 ]'
check "a good block from the checked source: 2.05 with data" \
    'timeout 10 "$CC" -p 40123 -m get -O 19,0x16 -o "$RUN/b1" "$URL/p/$ETAG" >/dev/null 2>&1; [ -s "$RUN/b1" ]'
check "server still serving after the hostile requests" 'kill -0 $OTA_SERVER_PID && [ -n "$(stats)" ]'
check "refusals counted (short_unknown, short_refused, short_bad)" \
    '[ "$(stat_of short_unknown)" -ge 1 ] && [ "$(stat_of short_refused)" -ge 1 ] && [ "$(stat_of short_bad)" -ge 5 ]'

# --- 2. through the link --------------------------------------------------------
NEW_CORE=$(ota_core_image 20)
NEW_SCRIPT=$(ota_script_image 1.1.0)
updated() { cmp -s "$RUN/$1/core.bin" "$NEW_CORE" && cmp -s "$RUN/$1/script.bin" "$NEW_SCRIPT"; }
run() { # run NAME CORE PROFILE SECONDS [client args]: sets RC, the link's counts in NAME.nbsim
    local name=$1 core=$2 prof=$3 secs=$4
    shift 4
    ota_device "$RUN/$name" "$core" 1.0.0 >/dev/null || return 1
    : >"$RUN/nbsim.log"
    ota_link_start "$prof" || return 1
    timeout -s KILL "$secs" "$BIN/ota-client" -d "$RUN/$name" -s "coap://127.0.0.1:$OTA_LINK_PORT" \
        -v "$@" update >"$RUN/$name.out" 2>"$RUN/$name.err"
    RC=$?
    ota_link_stop
    cp "$RUN/nbsim.log" "$RUN/$name.nbsim"
    return 0
}
up_bytes() { sed -nE 's/.*nbsim: up .*carried [0-9]+ datagrams ([0-9]+) bytes.*/\1/p' "$RUN/$1.nbsim"; }
req0=$(stat_of short_requests); blk0=$(stat_of short_blocks)
run after 17 nb2 120
check "nb2, short exchange: exit 0, exact images" '[ $RC = 0 ] && updated after'
req1=$(stat_of short_requests); blk1=$(stat_of short_blocks)
check "several blocks per request ($((blk1 - blk0)) blocks in $((req1 - req0)) requests)" \
    '[ $((req1 - req0)) -gt 0 ] && [ $((blk1 - blk0)) -ge $(( 2 * (req1 - req0) )) ]'
run before 17 nb2 120 --fota-only
check "nb2, --fota-only: exit 0, exact images" '[ $RC = 0 ] && updated before'
check "uplink $(up_bytes after) bytes vs $(up_bytes before) with --fota-only: under a fifth" \
    '[ $(( $(up_bytes after) * 5 )) -lt "$(up_bytes before)" ]'

# --- 3. replaced within the grace: no restart ------------------------------------
replaced_run() { # replaced_run NAME NEXT_WINDOW_BITS: rebuilt once 8 KB are stored
    ota_device "$RUN/$1" 17 1.0.0 >/dev/null
    echo "block_size = 64" >>"$RUN/$1/device.ini"
    ota_link_start nb1
    timeout -s KILL 200 "$BIN/ota-client" -d "$RUN/$1" -s "coap://127.0.0.1:$OTA_LINK_PORT" -v ${CLIENT_V:-} \
        update >"$RUN/$1.out" 2>"$RUN/$1.err" & local cpid=$!
    for _ in $(seq 600); do
        [ "$(stat -c %s "$RUN/$1/download.part" 2>/dev/null || echo 0)" -ge 8192 ] && break
        sleep 0.05
    done
    sed -i "s/^window_bits = .*/window_bits = $2/" "$RUN/ota.ini"
    timeout 120 "$BIN/ota-cache" -q build -c "$RUN/ota.ini" >/dev/null
    wait $cpid; RC=$?
    ota_link_stop
}
sed -i 's/^\[release\]$/[release]\nwindow_bits = 15/' "$RUN/ota.ini"
replaced_run grace 12
check "replaced within short_grace: exit 0, exact images" '[ $RC = 0 ] && updated grace'
check "replaced within short_grace: no restart" '! grep -q "restarting from 0" "$RUN/grace.err"'

# --- 4. after the grace: 4.04 on /p/, /fota again, restart -------------------------
ota_server_stop
sed -i 's/^\[server\]$/[server]\nshort_grace = 1/' "$RUN/ota.ini"
ota_server_start || exit 1
replaced_run expired 15
RESTARTS=$(grep -c "restarting from 0" "$RUN/expired.err")
check "replaced, grace over: exit 0, exact images, 0 wrong" '[ $RC = 0 ] && updated expired'
check "replaced, grace over: /fota checked again, $RESTARTS restart(s)" '[ "$RESTARTS" -ge 1 ]'
check "server still up" 'kill -0 $OTA_SERVER_PID'
ota_server_stop

# --- 5. coaps://: the same exchange inside the DTLS session -----------------------
"$BIN/ota-cache" psk-secret "$RUN/keys/psk.secret" >/dev/null
DPORT=$(ota_free_port)
sed -i "s|^product_key = .*|&\npsk_secret = $RUN/keys/psk.secret|" "$RUN/ota.ini"
printf '[dtls]\nlisten = 127.0.0.1:%s\n' "$DPORT" >>"$RUN/ota.ini"
ota_server_start || exit 1
IMEI=861234567890077
ota_device "$RUN/secure" 17 1.0.0 $IMEI >/dev/null
sed -i "s|^server = .*|server = coaps://127.0.0.1:$DPORT|" "$RUN/secure/device.ini"
echo "psk = $("$BIN/ota-cache" psk -c "$RUN/ota.ini" $IMEI)" >>"$RUN/secure/device.ini"
req0=$(stat_of short_requests); blk0=$(stat_of short_blocks)
timeout -s KILL 60 "$BIN/ota-client" -d "$RUN/secure" -v update >"$RUN/secure.out" 2>"$RUN/secure.err"
RC=$?
req1=$(stat_of short_requests); blk1=$(stat_of short_blocks)
check "coaps://: exit 0, exact images" '[ $RC = 0 ] && updated secure'
check "coaps://: /p/ with bursts ($((blk1 - blk0)) blocks in $((req1 - req0)) requests)" \
    '[ $((req1 - req0)) -gt 0 ] && [ $((blk1 - blk0)) -gt $((req1 - req0)) ]'

# --- 6. 10,000 devices on /p/: the per-device state stays bounded ------------------
# (ota-load -Q: block 0 on /fota, later blocks at /p/<ETag>; all devices
# share 127.0.0.1, a trusted proxy here)
sed -i -e 's/^\[server\]$/[server]\nrate_limit = 0\ntrusted_proxies = 127.0.0.1\nmax_transfers = 20000/' \
    -e 's/^log_level = info$/log_level = warn/' "$RUN/ota.ini"
ota_server_stop
ota_server_start || exit 1
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
R=$(timeout 280 "$BIN/ota-load" -s "127.0.0.1:$OTA_PORT" -n 10000 -w 2 -i 256 -b 256 -t 250 -Q \
    -q "project_key=$OTA_PRODUCT_KEY&imei=@&firmware_name=DEMOPROJ_Luat_RDA8910&core_version=20&dfota=1&version=1.0.0" \
    -k "$RUN/cache" -P "$OTA_SERVER_PID" 2>"$RUN/load.err" | grep '^RESULT')
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$R" | head -1; }
check "10,000 devices with /p/: all done, 0 failed, 0 wrong ($(field blocks) blocks, peak RSS $(field hwm_kib) KiB)" \
    '[ "$(field done)" = 10000 ] && [ "$(field failed)" = 0 ] && [ "$(field wrong)" = 0 ]'
S=$(stats)
check "10,000 devices: $(grep -o '"short_blocks":[0-9]*' <<<"$S") on /p/, $(grep -o '"sources_tracked":[0-9]*' <<<"$S") <= max_sources" \
    '[ "$(stat_of short_blocks)" -gt 10000 ] && [ "$(stat_of sources_tracked)" -le 65536 ]'
RSS_MAX=262144 # KiB; ASan's shadow memory and quarantine need more
case $BUILD in *asan*) RSS_MAX=1048576 ;; esac
check "10,000 devices: server peak RSS under $((RSS_MAX / 1024)) MiB" '[ "$(field hwm_kib)" -lt $RSS_MAX ]'
ota_server_stop
cd "$OTA_ROOT" || exit 1
[ -n "${KEEP:-}" ] || rm -rf "$RUN"
ota_summary
