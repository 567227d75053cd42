#!/usr/bin/env bash
# e2e_cache.sh - what a new operator does with ota-cache, against a real
# ota-server on 127.0.0.1 (issue 17).
#
# An underscore project name longer than the old FILE column; key ids in
# keygen, list and verify; exit codes 0/1/2/3; psk-secret; the fleet
# semantics (allowlist gates, rollout stages within it) as `ota-cache
# rollout` predicts and the server answers, with /stats and the reload
# line; a bad allowlist warned once; a failure's reason in `ota-cache
# report`; prune retiring an old release while the server runs.
# Usage: BUILD=build/release tests/e2e_cache.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-cache-e2e.XXXXXX)
OTA_PROJECT=Acme_Water_Meter_NB_2024
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
RUN=$TMP/run
C="$BIN/ota-cache"

# ---- keys and the package table
out=$("$C" keygen "$TMP/k/second.key")
KEYID=$(printf %s "$out" | sed -n 's/.*key id \([0-9a-f]\{16\}\)$/\1/p')
check "keygen prints the key id" test -n "$KEYID"
MAINID=$("$C" verify -k "$RUN/keys/ota.key.pub" "$RUN/cache/${OTA_PROJECT}_1.1.0_0017-0020.pkg" |
  sed -n 's/^signature verified: signed by key \([0-9a-f]*\)$/\1/p')
check "verify -k FILE names the signing key" test -n "$MAINID"
out=$("$C" verify -k "$(cat "$RUN/keys/ota.key.pub")" "$RUN/cache/${OTA_PROJECT}_1.1.0_0017-0020.pkg")
check "verify -k HEX takes the hex itself" grep -q "signed by key $MAINID" <<<"$out"
"$C" list "$RUN/cache" >"$TMP/list.txt"
check "list has CHIP and KEY columns" grep -q "^FILE  *CHIP .* KEY  *CONTENTS$" "$TMP/list.txt"
check "list shows the key id on every package" \
  test "$(grep -c " $MAINID " "$TMP/list.txt")" -eq "$(ls "$RUN/cache"/*.pkg | wc -l)"
check "list columns aligned with a long project name (KEY at one offset)" \
  test "$(awk -v id="$MAINID" 'NR>1 {print index($0, id)}' "$TMP/list.txt" | sort -u | wc -l)" -eq 1
core_only=$(grep "_core.pkg" "$TMP/list.txt" | head -1)
check "list leaves SCRIPT empty for a core-only package" \
  bash -c "awk '{exit !(\$6 ~ /^[0-9]+\$/ && length(\$7) == 16)}' <<<'$core_only'"

# ---- exit statuses and no header before an error
out=$("$C" list "$TMP/nonexistent" 2>/dev/null); rc=$?
check "list of a missing directory: exit 1, no table header" bash -c "[ $rc = 1 ] && [ -z '$out' ]"
out=$("$C" report "$TMP/nonexistent" 2>/dev/null); rc=$?
check "report of a missing log: exit 1, no table header" bash -c "[ $rc = 1 ] && [ -z '$out' ]"
"$C" build >/dev/null 2>&1; check "bad command line: exit 2" eq "$?" 2
"$C" psk -c "$RUN/ota.ini" 12345 >/dev/null 2>&1; check "malformed IMEI argument: exit 2" eq "$?" 2
"$C" build -c "$TMP/nonexistent.ini" >/dev/null 2>&1; check "missing ota.ini: exit 3" eq "$?" 3
sed 's|^core_image = .*|core_image = /nonexistent/core.bin|' "$RUN/ota.ini" >"$TMP/broken.ini"
"$C" build -c "$TMP/broken.ini" >/dev/null 2>&1; check "build: a file ota.ini names is missing: exit 3" eq "$?" 3

# ---- psk-secret
SECRET=$RUN/keys/psk.secret
"$C" psk-secret "$SECRET" >/dev/null
check "psk-secret: mode 0600" eq "$(stat -c %a "$SECRET")" 600
check "psk-secret: 64 hex digits and a newline" grep -qx '[0-9a-f]\{64\}' "$SECRET"
before=$(cat "$SECRET")
"$C" psk-secret "$SECRET" >/dev/null 2>&1; rc=$?
check "psk-secret: refuses to overwrite (exit 1), file unchanged" \
  bash -c "[ $rc = 1 ] && [ '$(cat "$SECRET")' = '$before' ]"
sed -i "s|^product_key = .*|&\npsk_secret = $SECRET|" "$RUN/ota.ini"
chmod 644 "$SECRET"
err=$("$C" psk -c "$RUN/ota.ini" 861234567890001 2>&1 >/dev/null); rc=$?
check "readable psk_secret: exit 3, 'insecure permissions'" \
  bash -c "[ $rc = 3 ] && grep -q '^ota-cache: error: insecure permissions: ' <<<'$err'"
chmod 600 "$SECRET"

# ---- fleet control: ota-cache rollout predicts, the server answers
# Pick IMEIs by bucket (rollout 50 %): a listed one inside, a listed one
# outside, an unlisted one inside.
cat "$RUN/ota.ini" >"$TMP/probe.ini"
printf '[fleet]\nrollout_percent = 50\n' >>"$TMP/probe.ini"
"$C" rollout -c "$TMP/probe.ini" $(seq 861234567890100 861234567890140) >"$TMP/buckets.txt"
IN1=$(awk '$3 == "offered" {print $1}' "$TMP/buckets.txt" | sed -n 1p)
UNLISTED_IN=$(awk '$3 == "offered" {print $1}' "$TMP/buckets.txt" | sed -n 2p)
OUT1=$(awk '$3 == "held" {print $1}' "$TMP/buckets.txt" | sed -n 1p)
ALLOW=$RUN/allow.txt
printf '# pilots\n%s\n%s\n' "$IN1" "$OUT1" >"$ALLOW"
printf '[fleet]\nallowlist = %s\nrollout_percent = 50\n' "$ALLOW" >>"$RUN/ota.ini"
"$C" rollout -c "$RUN/ota.ini" "$IN1" "$OUT1" "$UNLISTED_IN" >"$TMP/rollout.txt"
check "rollout: listed and inside the bucket -> offered" grep -q "^$IN1 .* offered .*in the allowlist, inside the rollout" "$TMP/rollout.txt"
check "rollout: listed, outside the bucket -> held back" grep -q "^$OUT1 .* held back (4.04/27) .*outside the rollout" "$TMP/rollout.txt"
check "rollout: not listed, inside the bucket -> refused" grep -q "^$UNLISTED_IN .* refused (4.03/21) .*not in the allowlist" "$TMP/rollout.txt"

# One IMEI (IN1) reports a success and then, as the wrong-key device, a
# failure within the minute: lift the per-IMEI report_interval for that.
sed -i 's|^\[server\]$|&\nreport_interval = 0|' "$RUN/ota.ini"
ota_server_start || { echo "server failed to start"; exit 1; }
client() { timeout 60 "$BIN/ota-client" -t 10 -d "$1" "$2" >"$1.out" 2>"$1.err"; echo $?; }
ota_device "$TMP/in1" 18 1.0.0 "$IN1"
ota_device "$TMP/out1" 18 1.0.0 "$OUT1"
ota_device "$TMP/unlisted" 18 1.0.0 "$UNLISTED_IN"
check "server: listed, inside -> update installed (exit 0)" eq "$(client "$TMP/in1" update)" 0
check "server: listed, outside -> no update (exit 2, code 27)" eq "$(client "$TMP/out1" check)" 2
check "server: not listed but inside the bucket -> rejected (exit 3, code 21)" \
  eq "$(client "$TMP/unlisted" check)" 3
grep -q "code 21" "$TMP/unlisted.err"; check "server: the refusal is 4.03 code 21" eq "$?" 0
stats=$(timeout 20 coap-client-notls -B 5 -m get "coap://127.0.0.1:$OTA_PORT/stats" 2>/dev/null)
check "/stats: allowlist size" grep -q '"allowlist_imeis":2' <<<"$stats"
check "/stats: rollout percentage (basis points)" grep -q '"rollout_bp":5000' <<<"$stats"
check "/stats: held back counted apart from up to date" grep -q '"held-back":1' <<<"$stats"
# An update check holds a transfer slot (until transfer_idle) but is not a
# running download; the finished download is not running either.
ota_device "$TMP/checker" 17 1.0.0 "$IN1"
check "a device that only checks: update available (exit 0)" eq "$(client "$TMP/checker" check)" 0
stats=$(timeout 20 coap-client-notls -B 5 -m get "coap://127.0.0.1:$OTA_PORT/stats" 2>/dev/null)
check "/stats: no download running after a finished one and a check" \
  grep -q '"transfers_running":0,' <<<"$stats"
check "/stats: the check holds one transfer slot" grep -q '"transfer_slots":1,' <<<"$stats"
check "/stats: one transfer completed" grep -q '"transfers_completed":1,' <<<"$stats"
kill -HUP "$OTA_SERVER_PID"
for i in $(seq 1 100); do grep -q "SIGHUP: reloaded" "$RUN/server.log" && break; sleep 0.05; done
check "reload line names the allowlist size and rollout" \
  grep -q "SIGHUP: reloaded .*allowlist 2 IMEIs, rollout 50.00 %" "$RUN/server.log"

# A bad allowlist edit is warned once, not every second.
printf '%s\nnot-an-imei\n' "$IN1" >"$ALLOW"
for i in $(seq 1 100); do grep -q "allowlist: .*not a 15-digit IMEI" "$RUN/server.log" && break; sleep 0.05; done
sleep 2.5 # the server re-checks the file every second: give it two more chances to repeat
check "bad allowlist line: warned exactly once" \
  eq "$(grep -c "allowlist: .*not a 15-digit IMEI" "$RUN/server.log")" 1

# ---- a failure's reason reaches the report
ota_device "$TMP/badkey" 17 1.0.0 "$IN1" public_key="$(cat "$TMP/k/second.key.pub")"
check "device with the wrong public key: verification failure (exit 4)" \
  eq "$(client "$TMP/badkey" update)" 4
for i in $(seq 1 100); do grep -q '"result":4' "$RUN/reports.jsonl" 2>/dev/null && break; sleep 0.05; done
"$C" report "$RUN/reports.jsonl" >"$TMP/report.txt"
check "report: the success under its release and from-version" \
  grep -q "^Luat_V0020_RDA8910/1.1.0 *Luat_V0018_RDA8910/1.0.0 *1 *0 " "$TMP/report.txt"
check "report: the failure counted under the release it was offered, with the reason" \
  grep -q "^Luat_V0020_RDA8910/1.1.0 *Luat_V0017_RDA8910/1.0.0 *0 *1 .*unknown signing key (key id [0-9a-f]\{16\})" "$TMP/report.txt"

# ---- retire the release: prune -n lists, prune removes, the server drops them
sed 's/^script_version = 1.1.0/script_version = 1.0.0/' "$RUN/ota.ini" >"$RUN/next.ini"
n=$(ls "$RUN/cache"/*.pkg | wc -l)
"$C" prune -n -c "$RUN/next.ini" >"$TMP/prune-n.txt"
check "prune -n: lists every package of the old release" eq "$(grep -c '^would remove ' "$TMP/prune-n.txt")" "$n"
check "prune -n: removes nothing" eq "$(ls "$RUN/cache"/*.pkg | wc -l)" "$n"
"$C" prune -c "$RUN/ota.ini" >/dev/null
check "prune with the current release: nothing removed" eq "$(ls "$RUN/cache"/*.pkg | wc -l)" "$n"
"$C" prune -c "$RUN/next.ini" >/dev/null
check "prune: the old release's packages are gone" eq "$(ls "$RUN/cache" | grep -c '\.pkg$')" 0
for i in $(seq 1 200); do [ "$(grep -c 'index: dropped' "$RUN/server.log")" -ge "$n" ] && break; sleep 0.05; done
check "the running server dropped them" test "$(grep -c 'index: dropped' "$RUN/server.log")" -ge "$n"
ota_server_stop

ota_summary
