#!/usr/bin/env bash
# e2e_attack.sh - the outside attacker of issue 18, replayed on loopback.
#
# Attackers bind 127.0.0.2 and up (tests/tools/attack.py, plain UDP; no
# forged sources, no raw sockets); every flood is bounded in datagrams and
# seconds. Phase 1 (coap://): no answer to a small request is more than 3x
# its size, nor any 5.03 above the rate limit; 5,000 four-byte RSTs, floods
# of reports and refusals stay within the log budget with a "suppressed"
# summary; reports are limited per IMEI and per address and the report
# log stops at report_max_bytes (5.03); a k=v report with two imei= is
# refused; during three downloads a wrong-key refusal and every report
# still reach the log. Phase 2: report_log = /dev/full: reports get 5.03,
# the log stays bounded and blocks are still served. Phase 3 (coaps://):
# a device's report for another IMEI is refused (4.03) and a stored
# report carries the DTLS identity; refused identities are counted in
# /stats and rate-limited in the log; and a legitimate device completes a
# check within 10 s while forged ClientHello records arrive from ten
# addresses at 110/s.
# Usage: BUILD=build/asan tests/e2e_attack.sh   (exit 0 = all passed)
#        PHASES="3" runs only the phases listed (default "1 2 3").
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-attack.XXXXXX)
ATK="python3 tests/tools/attack.py"
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
RUN=$TMP/run
cp "$RUN/ota.ini" "$RUN/base.ini"
# server_ini LINES...: base ini + these lines appended to [server]
server_ini() {
  cp "$RUN/base.ini" "$RUN/ota.ini"
  local l; for l in "$@"; do sed -i "/^\[server\]/a $l" "$RUN/ota.ini"; done
}
log_lines() { wc -l <"$RUN/server.log"; }
# wait_log N PATTERN: up to 5 s for N lines matching PATTERN
wait_log() { local i; for i in $(seq 1 50); do [ "$(grep -c "$2" "$RUN/server.log")" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }
le() { [ "$1" -le "$2" ] || { echo "      $1 > $2" >&2; return 1; }; }
want() { case " ${PHASES:-1 2 3} " in *" $1 "*) return 0 ;; esac; return 1; }
ratio_ok() { awk -v r="$1" 'BEGIN { exit !(r <= 3.0) }' || { echo "      ratio $1 > 3" >&2; return 1; }; }

# ---- phase 1: coap://
if want 1; then
server_ini "log_rate = 10" "rate_limit = 20" "rate_burst = 20" "report_max_bytes = 20000" \
  "report_interval = 60" "report_rate = 30"
ota_server_start || { echo "server failed to start"; exit 1; }

A=$($ATK amp "$OTA_PORT" 127.0.0.2 "$OTA_PRODUCT_KEY"); echo "$A" | sed 's/^/      /'
W=$(sed -n 's/^WORST //p' <<<"$A")
check "every small request's answer <= 3x its size (worst $W)" ratio_ok "$W"
check "a bad-field diagnostic still names the field" grep -q "get-fota-bad-field.*code=4.00" <<<"$A"
R=$($ATK rate "$OTA_PORT" 127.0.0.3 120); echo "      $R"
check "above rate_limit: 5.03 answers without diagnostics, <= 3x" \
  bash -c "grep -q \"'5.03'\" <<<\"$R\" && awk -v r=$(sed 's/.*worst=\([0-9.]*\).*/\1/' <<<"$R") 'BEGIN{exit !(r<=3)}'"

before=$(log_lines)
R=$($ATK rst "$OTA_PORT" 127.0.0.4 5000); echo "      $R"
wait_log 1 "suppressed" ; sleep 1.2
n=$(( $(log_lines) - before ))
echo "      log lines for 5000 RSTs: $n"
check "5,000 forged RSTs: at most 40 log lines" le "$n" 40
check "the suppressed lines are counted by kind" grep -q "suppressed.*coap=" "$RUN/server.log"

# reports: per IMEI, per address, two imei= fields, the size cap
R=$($ATK raw "$OTA_PORT" 127.0.0.5 "$(python3 -c "print((b'\x42\x02\x00\x01\xaa\xbb\xb6report\xff'+b'imei=861234567890001&result=0&imei=999999999999999').hex())")")
check "k=v report with two imei= fields: refused (4.00)" grep -q "^4.00" <<<"$R"
R=$($ATK report "$OTA_PORT" 127.0.0.5 50 861234567890002); echo "      same IMEI x50: $R"
check "50 reports of one IMEI: 1 stored, the rest 4.29" \
  eq "$(grep -c '"imei":"861234567890002"' "$RUN/reports.jsonl")" 1
R=$($ATK report "$OTA_PORT" 127.0.0.6 200 -); echo "      new IMEI x200: $R"
s=$(( $(grep -c 'flood' "$RUN/reports.jsonl") - 1 )) # the one of 861234567890002 above
check "200 reports from one address with new IMEIs: at most report_rate (30) stored ($s)" le "$s" 30
for a in 7 8 9 10 11 12 13 14 15 16; do $ATK report "$OTA_PORT" 127.0.0.$a 40 - >/dev/null; done
sz=$(stat -c %s "$RUN/reports.jsonl")
check "report log stops at report_max_bytes (20000; $sz)" le "$sz" 20000
R=$($ATK report "$OTA_PORT" 127.0.0.17 3 -)
check "past report_max_bytes: 5.03" grep -q "5.03" <<<"$R"
ota_server_stop

# three downloads, a wrong key and three reports: the refusal and the reports are logged
server_ini "log_rate = 10"
: >"$RUN/server.log"
ota_server_start || exit 1
for i in 1 2 3; do ota_device "$TMP/d$i" 17 1.0.0 86123456789010$i; done
ota_device "$TMP/bad" 17 1.0.0 861234567890109 product_key=wrong-key
CL=()
for i in 1 2 3; do timeout 60 "$BIN/ota-client" -t 8 -d "$TMP/d$i" update >/dev/null 2>&1 & CL+=($!); OTA_PIDS+=($!); done
timeout 30 "$BIN/ota-client" -t 8 -d "$TMP/bad" check >/dev/null 2>&1
wait "${CL[@]}" 2>/dev/null
wait_log 3 "res=report"
check "wrong product key during 3 downloads: the refusal is logged" grep -q "imei=861234567890109.*forbidden\|forbidden.*imei=861234567890109" "$RUN/server.log"
check "3 reports during 3 downloads: 3 report lines" eq "$(grep -c 'res=report' "$RUN/server.log")" 3
check "one 'download start' and one 'download end' line per device" \
  bash -c "[ \$(grep -c 'download start' '$RUN/server.log') -ge 3 ] && [ \$(grep -c 'download end.*bytes=' '$RUN/server.log') -ge 3 ]"
check "no per-block lines at info" bash -c "! grep -q 'block=[1-9]' '$RUN/server.log'"
ota_server_stop

fi

# ---- phase 2: report log on a full disk
if want 2; then
server_ini "log_rate = 10" "report_interval = 0"
sed -i 's|^report_log = .*|report_log = /dev/full|' "$RUN/ota.ini"
: >"$RUN/server.log"
ota_server_start || exit 1
R=$($ATK report "$OTA_PORT" 127.0.0.18 300 -); echo "      /dev/full x300: $R"
check "report log unwritable: reports get 5.03" grep -q "5.03=" <<<"$R"
sleep 1.2
n=$(grep -c 'report' "$RUN/server.log")
check "300 unstorable reports: at most 40 log lines about reports ($n)" le "$n" 40
ota_device "$TMP/full" 17 1.0.0 861234567890200
timeout 60 "$BIN/ota-client" -t 8 -d "$TMP/full" update >/dev/null 2>&1
check "report log unwritable: a device still updates (exit 0)" eq "$?" 0
ota_server_stop

fi

# ---- phase 3: coaps://
if want 3; then
DPORT=$(ota_free_port)
SECRET=$RUN/keys/psk.secret
printf 'attack-secret-%s\n' "$RANDOM$RANDOM" >"$SECRET"; chmod 600 "$SECRET"
server_ini "log_rate = 5"
sed -i "s|^product_key = .*|&\npsk_secret = $SECRET|" "$RUN/ota.ini"
# max_handshakes = 100 (libcoap's default): without the per-address gate
# the flood fills it within a second; with it, 10 addresses hold 80.
printf '[dtls]\nlisten = 127.0.0.1:%s\nmax_handshakes = 100\n' "$DPORT" >>"$RUN/ota.ini"
: >"$RUN/server.log"
ota_server_start || exit 1
for i in $(seq 1 50); do ota_port_served "$DPORT" && break; sleep 0.05; done
ota_cli_psk_imei "$RUN/ota.ini"
COAPS=$(command -v coap-client-openssl)
post() { timeout 20 "$COAPS" -B 6 -m post -u "$raw" -k "$key" -e "$1" "coaps://127.0.0.1:$DPORT/report" 2>&1; }
out=$(post "imei=999999999999999&result=0")
check "coaps:// report for another IMEI: 4.03" grep -q "4.03" <<<"$out"
check "... and not stored" bash -c "! grep -q 999999999999999 '$RUN/reports.jsonl'"
post "{\"imei\":\"$raw\",\"result\":0}" >/dev/null
check "coaps:// report for its own IMEI: stored with the DTLS identity" \
  grep -q "\"identity\":\"$raw\"" "$RUN/reports.jsonl"

CL=()
for i in $(seq 1 40); do
  timeout 5 "$COAPS" -B 2 -m get -u "not-an-imei-$i" -k "whatever" "coaps://127.0.0.1:$DPORT/fota" >/dev/null 2>&1 &
  CL+=($!); OTA_PIDS+=($!)
  [ $((i % 10)) = 0 ] && { wait "${CL[@]}" 2>/dev/null; CL=(); }
done
sleep 1.2
n=$(grep -c 'refused handshake\|dtls' "$RUN/server.log")
check "40 refused identities: at most 20 log lines ($n)" le "$n" 20
ST=$(timeout 20 coap-client-notls -B 5 -m get "coap://127.0.0.1:$OTA_PORT/stats" 2>&1)
check "/stats counts the 40 refused handshakes once each" \
  bash -c "grep -q '\"dtls_refused\":40,' <<<'$ST' && grep -q '\"dtls_failed\":40,' <<<'$ST'"
post "{\"imei\":\"$raw\",\"result\":1}" >/dev/null
ST=$(timeout 20 coap-client-notls -B 5 -m get "coap://127.0.0.1:$OTA_PORT/stats" 2>&1)
check "no handshake left in progress after refused and completed ones" \
  grep -q '"dtls_pending":0' <<<"$ST"

d=$TMP/legit
ota_device "$d" 18 1.0.0 "$raw"
sed -i "s|^server = .*|server = coaps://127.0.0.1:$DPORT|" "$d/device.ini"
echo "psk = $hex" >>"$d/device.ini"
$ATK hello "$DPORT" 127.0.0.20 10 110 16 >"$TMP/hello.out" &
HP=$!; OTA_PIDS+=("$HP")
sleep 4
ok=0
for i in 1 2 3; do # new handshakes each (a new client port per run)
  t0=$(date +%s.%N)
  timeout 10 "$BIN/ota-client" -t 8 -d "$d" check >/dev/null 2>"$d/client.err"; rc=$?
  t1=$(date +%s.%N)
  echo "      legitimate check $i during the flood: rc=$rc in $(echo "$t1 - $t0" | bc) s"
  [ "$rc" = 0 ] && ok=$((ok + 1))
done
check "ClientHello flood (10 addresses, 110/s): 3 of 3 legitimate checks complete within 10 s" eq "$ok" 3
ST=$(timeout 20 coap-client-notls -B 5 -m get "coap://127.0.0.1:$OTA_PORT/stats" 2>&1)
echo "      $(grep -o '"dtls_[a-z]*":[0-9]*' <<<"$ST" | tr '\n' ' ')"
check "during the flood: forged ClientHellos dropped, at most 8 per address in progress" \
  bash -c "grep -q '\"dtls_gated\":[1-9]' <<<'$ST' && [ \$(grep -o '\"dtls_pending\":[0-9]*' <<<'$ST' | cut -d: -f2) -le 80 ]"
wait "$HP"; echo "      $(cat "$TMP/hello.out")"
ota_server_stop; rc=$?
check "server exits 0 on SIGTERM" eq "$rc" 0
fi

ota_summary
