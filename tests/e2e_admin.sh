#!/usr/bin/env bash
# e2e_admin.sh - the [admin] HTTP listener: /metrics, /healthz, /stats.
#
# Start-up refusals (token file readable by others, admin port taken);
# counters against a scripted load (coap-client fetches of a package whose
# size is known, refusals, a report, an ota-load run) compared exactly
# with /metrics; `promtool check metrics` clean; bearer tokens (none,
# wrong, right, the name logged at debug, refusals logged with the
# address and rate-limited, new tokens after SIGHUP); 405 for other methods,
# 400 for a body, keep-alive between scrapes; oversized
# headers and a half-sent request refused or closed within [admin]
# timeout, and a connection over max_connections waits at most that long,
# while CoAP keeps answering; /healthz 503 with an empty cache
# and 200 again once packages are back; /stats equals CoAP /stats.
# Usage: BUILD=build/release tests/e2e_admin.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-e2e-admin.XXXXXX)
COAP=$(command -v coap-client-notls || command -v coap-client-openssl) ||
  { echo "coap-client not installed (libcoap3-bin)"; exit 1; }
command -v curl >/dev/null || { echo "curl not installed"; exit 1; }
PROMTOOL=$(command -v promtool) || { echo "promtool not installed (prometheus)"; exit 1; }
has() { case $1 in *"$2"*) return 0 ;; esac; echo "      '$1' lacks '$2'" >&2; return 1; }

ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
HP=$(ota_free_port)
while ss -Hltn "sport = :$HP" | grep -q .; do HP=$(ota_free_port); done
TOKEN=e2e-admin-token-0123456789
printf '# scrapers\nprometheus:%s\n' "$TOKEN" >"$OTA_RUN/admin.tokens"
chmod 644 "$OTA_RUN/admin.tokens"
sed -i 's/^log_level = info/log_level = debug\nlog_rate = 0/' "$OTA_RUN/ota.ini"
printf '[admin]\nlisten = 127.0.0.1:%s\ntoken_file = admin.tokens\ntimeout = 2\nmax_connections = 4\n' "$HP" \
  >>"$OTA_RUN/ota.ini"
A="http://127.0.0.1:$HP"
URL="coap://127.0.0.1:$OTA_PORT"
AUTH=(-H "Authorization: Bearer $TOKEN")
# hget PATH [curl args]: "STATUS BODY" of one admin request, 5 s bound
hget() { local p=$1; shift; curl -s -m 5 -o "$TMP/body" -w '%{http_code}' "$@" "$A$p"; }
# metric NAME{labels}: its value in the last scrape ($TMP/m)
metric() { awk -v n="$1" '$1 == n { print $2 }' "$TMP/m"; }
scrape() { curl -s -m 5 "${AUTH[@]}" "$A/metrics" >"$TMP/m"; }
# wait_metric NAME WANT: scrape until the value is WANT (snapshots are 100 ms apart)
wait_metric() {
  local i
  for i in $(seq 1 50); do scrape; [ "$(metric "$1")" = "$2" ] && return 0; sleep 0.1; done
  eq "$(metric "$1")" "$2"
}

# -- start-up refusals
timeout 10 "$BIN/ota-server" -c "$OTA_RUN/ota.ini" >"$TMP/insecure.log" 2>&1; rc=$?
check "token file readable by others: refused at start (exit 1)" eq "$rc" 1
check "  ... with 'insecure permissions'" has "$(cat "$TMP/insecure.log")" "insecure permissions"
chmod 600 "$OTA_RUN/admin.tokens"
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("bound", flush=True); time.sleep(30)' \
  "$HP" >"$TMP/squat.out" &
SQUAT=$!; OTA_PIDS+=("$SQUAT")
for i in $(seq 1 50); do [ -s "$TMP/squat.out" ] && break; sleep 0.05; done
timeout 10 "$BIN/ota-server" -c "$OTA_RUN/ota.ini" >"$TMP/busy.log" 2>&1; rc=$?
check "admin port taken: fatal at start (exit 1)" eq "$rc" 1
check "  ... naming [admin] listen" has "$(cat "$TMP/busy.log")" "[admin] listen 127.0.0.1:$HP: cannot bind"
kill "$SQUAT"; wait "$SQUAT" 2>/dev/null

ota_server_start || { echo "server failed to start"; exit 1; }
for i in $(seq 1 50); do [ "$(hget /healthz "${AUTH[@]}")" = 200 ] && break; sleep 0.1; done
check "/healthz 200 with packages" eq "$(hget /healthz "${AUTH[@]}")" 200
check "  ... body says ok" has "$(cat "$TMP/body")" "ok: serving 7 package(s)"

# -- tokens
check "no token -> 401" eq "$(hget /metrics)" 401
check "wrong token -> 401" eq "$(hget /metrics -H 'Authorization: Bearer e2e-admin-token-0123456788')" 401
check "token as Basic -> 401" eq "$(hget /metrics -H "Authorization: Basic $TOKEN")" 401
check "right token -> 200" eq "$(hget /metrics "${AUTH[@]}")" 200
check "refusal logged with the client address" has "$(cat "$OTA_RUN/server.log")" \
  "http admin: refused peer=127.0.0.1 method=GET path=/metrics why=token"
check "accepted request logs the token name at debug" has "$(cat "$OTA_RUN/server.log")" \
  "http admin: GET /metrics token=prometheus"
# refusal lines are rate-limited (5/s, burst 10): 40 fast refusals log at most 20
python3 - "$HP" <<'EOF2'
import http.client, sys
for i in range(40):
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
    c.request("GET", "/flood")
    c.getresponse().read()
    c.close()
EOF2
flood=$(grep -c "path=/flood why=token" "$OTA_RUN/server.log")
check "40 refused requests: at most 20 log lines (got $flood)" [ "$flood" -le 20 ]
for i in $(seq 1 30); do
  hget /flood2 >/dev/null
  grep -q "path=/flood2 why=token dropped=[1-9]" "$OTA_RUN/server.log" && break
  sleep 0.1
done
check "the next refusal line counts the dropped ones" grep -q "path=/flood2 why=token dropped=[1-9]" "$OTA_RUN/server.log"
check "POST -> 405" eq "$(hget /metrics "${AUTH[@]}" -X POST -d x=1)" 405
check "DELETE -> 405" eq "$(hget /healthz "${AUTH[@]}" -X DELETE)" 405
check "GET with a body -> 400" eq "$(hget /metrics "${AUTH[@]}" -X GET -d x=1)" 400
check "keep-alive: a second scrape reuses the connection" eq "$(curl -s -m 5 "${AUTH[@]}" \
  -o /dev/null -o /dev/null -w '%{num_connects}' "$A/healthz" "$A/metrics")" 10
check "unknown path -> 404" eq "$(hget /admin "${AUTH[@]}")" 404
for i in $(seq 1 30); do   # the refusal log may still be rate-limited from the flood
  hget '/esc%1b%5b31m' >/dev/null
  grep -q 'path=/esc' "$OTA_RUN/server.log" && break
  sleep 0.1
done
check "a control byte in a path is logged as '?'" grep -q 'path=/esc?\[31m why=token' "$OTA_RUN/server.log"
check "HEAD /metrics -> 200" eq "$(hget /metrics "${AUTH[@]}" -I)" 200

# -- scripted CoAP load, then exact counters
PKG=$OTA_RUN/cache/DEMOPROJ_1.1.0_0017-0020.pkg
SIZE=$(stat -c %s "$PKG")
NB=$(( (SIZE + 1023) / 1024 ))
Q=(-O "15,project_key=$OTA_PRODUCT_KEY" -O 15,imei=861234567890123
   -O 15,firmware_name=DEMOPROJ_Luat_RDA8910 -O 15,core_version=17 -O 15,dfota=1)
timeout 120 "$COAP" -B 60 -m get -b 1024 "${Q[@]}" -O 15,version=1.0.0 "$URL/fota" \
  -o "$TMP/p17" >/dev/null 2>&1
check "coap-client download is the package" cmp -s "$TMP/p17" "$PKG"
Q20=(-O "15,project_key=$OTA_PRODUCT_KEY" -O 15,imei=861234567890123
     -O 15,firmware_name=DEMOPROJ_Luat_RDA8910 -O 15,core_version=20 -O 15,dfota=1)
timeout 30 "$COAP" -B 10 -m get "${Q20[@]}" -O 15,version=1.1.0 "$URL/fota" >/dev/null 2>&1
timeout 30 "$COAP" -B 10 -m get "${Q20[@]}" -O 15,version=1.1.0 "$URL/fota" >/dev/null 2>&1
timeout 30 "$COAP" -B 10 -m get -O 15,project_key=wrong-key -O 15,imei=861234567890123 \
  -O 15,firmware_name=DEMOPROJ_Luat_RDA8910 -O 15,core_version=17 -O 15,dfota=1 \
  -O 15,version=1.0.0 "$URL/fota" >/dev/null 2>&1
timeout 30 "$COAP" -B 10 -m post -e 'imei=861234567890123&result=0' "$URL/report" >/dev/null 2>&1
timeout 30 "$COAP" -B 10 -m post -e 'imei=861234567890124&result=-3' "$URL/report" >/dev/null 2>&1
wait_metric 'ota_reports_total{result="failure"}' 1
check "block answers = $NB blocks of a $SIZE-byte package" eq "$(metric ota_block_answers_total)" "$NB"
check "block bytes = package size" eq "$(metric ota_block_answer_bytes_total)" "$SIZE"
check "per-package block answers" eq \
  "$(metric 'ota_package_block_answers_total{package="DEMOPROJ_1.1.0_0017-0020.pkg"}')" "$NB"
check "per-package bytes" eq \
  "$(metric 'ota_package_block_answer_bytes_total{package="DEMOPROJ_1.1.0_0017-0020.pkg"}')" "$SIZE"
check "other packages untouched" eq \
  "$(metric 'ota_package_block_answers_total{package="DEMOPROJ_1.1.0_0018-0020.pkg"}')" 0
check "requests fota/content" eq \
  "$(metric 'ota_requests_total{resource="fota",outcome="content",code="2.05",platform_code="0"}')" "$NB"
check "requests fota/no-update (4.04 code 27) = 2" eq \
  "$(metric 'ota_requests_total{resource="fota",outcome="no-update",code="4.04",platform_code="27"}')" 2
check "requests fota/forbidden (4.03 code 25) = 1" eq \
  "$(metric 'ota_requests_total{resource="fota",outcome="forbidden",code="4.03",platform_code="25"}')" 1
check "requests report/changed = 2" eq \
  "$(metric 'ota_requests_total{resource="report",outcome="changed",code="2.04",platform_code="0"}')" 2
check "reports by result: success 1" eq "$(metric 'ota_reports_total{result="success"}')" 1
check "transfers started 1, completed 1" eq \
  "$(metric ota_transfers_started_total)/$(metric ota_transfers_completed_total)" 1/1
check "packages loaded 7, rejected 0" eq \
  "$(metric 'ota_packages{state="loaded"}')/$(metric 'ota_packages{state="rejected"}')" 7/0
check "build info carries the libcoap version" has "$(grep '^ota_build_info' "$TMP/m")" 'libcoap="4.3.1"'
check "process RSS and open fds present" eq \
  "$( [ "$(metric process_resident_memory_bytes)" -gt 0 ] && [ "$(metric process_open_fds)" -gt 3 ] && echo y)" y
check "promtool check metrics is clean" "$PROMTOOL" check metrics <"$TMP/m"

# a known ota-load run: 4 devices x NB blocks, no retransmission on loopback
timeout 120 "$BIN/ota-load" -s "127.0.0.1:$OTA_PORT" -n 4 -w 4 -T 5000 -t 100 -e "$PKG" \
  >"$TMP/load.out" 2>&1
R=$(grep '^RESULT' "$TMP/load.out")
check "ota-load: 4 devices done" has "$R" "done=4 failed=0"
LOADREQ=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$R")
check "ota-load sent 4 x $NB requests" eq "$LOADREQ" $((4 * NB))
wait_metric ota_block_answers_total $((5 * NB))
check "block answers after ota-load = 5 x $NB" eq "$(metric ota_block_answers_total)" $((5 * NB))
check "block bytes after ota-load = 5 x size" eq "$(metric ota_block_answer_bytes_total)" $((5 * SIZE))
check "transfers completed = 5" eq "$(metric ota_transfers_completed_total)" 5

# -- /stats: the same JSON as CoAP /stats
HS=$(curl -s -m 5 "${AUTH[@]}" "$A/stats")
CS=$(timeout 10 "$COAP" -B 5 -m get "$URL/stats" 2>/dev/null | tail -1)
keys() { grep -o '"[a-z_-]*":' <<<"$1" | tr -d '\n'; }
check "/stats over HTTP has CoAP /stats' keys" eq "$(keys "$HS")" "$(keys "$CS")"
check "/stats blocks equal" eq "$(sed 's/.*"blocks":\([0-9]*\).*/\1/' <<<"$HS")" \
  "$(sed 's/.*"blocks":\([0-9]*\).*/\1/' <<<"$CS")"

# -- bad HTTP input while CoAP serves
BIG=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${AUTH[@]}" -H "X-Big: $BIG" "$A/metrics")
check "20 KB header -> 431 or closed (got $code)" eq "$( [ "$code" = 431 ] || [ "$code" = 413 ] || [ "$code" = 000 ] && echo ok)" ok
python3 - "$HP" >"$TMP/slow.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bear")
t0 = time.monotonic()
try:
    data = s.recv(4096)
    print("closed after %.1f s, got %d bytes %r" % (time.monotonic() - t0, len(data), data[:12]))
except socket.timeout:
    print("still open after 10 s")
EOF
SLOW=$!; OTA_PIDS+=("$SLOW")
timeout 30 "$COAP" -B 10 -m get "${Q20[@]}" -O 15,version=1.1.0 "$URL/fota" >"$TMP/mid.out" 2>&1
check "CoAP answers while a half-sent request is open" has "$(cat "$TMP/mid.out")" '"code":27'
check "/healthz answers while a half-sent request is open" eq "$(hget /healthz "${AUTH[@]}")" 200
wait "$SLOW"
S=$(cat "$TMP/slow.out")
secs=$(sed -n 's/closed after \([0-9.]*\) s.*/\1/p' <<<"$S")
check "half-sent request closed within timeout (2 s) + 2 s: $S" \
  awk -v s="${secs:-99}" 'BEGIN { exit !(s <= 4.0) }'

# max_connections (4) silent connections: a fifth waits in the kernel's
# backlog (libmicrohttpd stops accepting) until they time out, then is
# answered; CoAP answers meanwhile
python3 - "$HP" >"$TMP/fill.out" 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(4)]
for s in held:
    s.sendall(b"GET /metrics HTTP/1.1\r\n")
time.sleep(0.3)
extra = socket.create_connection(("127.0.0.1", port), timeout=5)
t0 = time.monotonic()
try:
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = extra.recv(4096)
    print("fifth: %s after %.1f s" % ("closed" if not data else "answered", time.monotonic() - t0))
except (ConnectionResetError, BrokenPipeError):
    print("fifth: closed after %.1f s" % (time.monotonic() - t0))
except socket.timeout:
    print("fifth: still open")
for s in held:
    s.recv(1)
EOF
FILL=$!; OTA_PIDS+=("$FILL")
for i in $(seq 1 50); do [ -s "$TMP/fill.out" ] && break; sleep 0.1; done
timeout 30 "$COAP" -B 10 -m get "${Q20[@]}" -O 15,version=1.1.0 "$URL/fota" >"$TMP/mid2.out" 2>&1
check "CoAP answers while the admin listener is full" has "$(cat "$TMP/mid2.out")" '"code":27'
wait "$FILL"
F=$(cat "$TMP/fill.out")
check "connection over max_connections waits for a slot, answered within the timeout: $F" \
  awk -v s="$(sed -n 's/fifth: answered after \([0-9.]*\) s/\1/p' <<<"$F")" 'BEGIN { exit !(s != "" && s <= 3.0) }'
check "listener serves again after the timeout" eq "$(hget /healthz "${AUTH[@]}")" 200

# -- SIGHUP: new tokens
printf 'grafana:e2e-second-token-9876543210\n' >"$OTA_RUN/admin.tokens"
kill -HUP "$OTA_SERVER_PID"
for i in $(seq 1 50); do
  [ "$(hget /healthz -H 'Authorization: Bearer e2e-second-token-9876543210')" = 200 ] && break
  sleep 0.1
done
check "after SIGHUP the new token works" eq \
  "$(hget /healthz -H 'Authorization: Bearer e2e-second-token-9876543210')" 200
check "after SIGHUP the old token is refused" eq "$(hget /healthz "${AUTH[@]}")" 401
AUTH=(-H "Authorization: Bearer e2e-second-token-9876543210")
check "config reloads ok = 1" wait_metric 'ota_config_reloads_total{result="ok"}' 1

# -- /healthz follows the cache
mkdir -p "$TMP/aside"
mv "$OTA_RUN/cache"/*.pkg "$TMP/aside/"
for i in $(seq 1 100); do [ "$(hget /healthz "${AUTH[@]}")" = 503 ] && break; sleep 0.1; done
check "empty cache -> /healthz 503" eq "$(hget /healthz "${AUTH[@]}")" 503
check "  ... with the reason" has "$(cat "$TMP/body")" "no valid package"
mv "$TMP/aside"/*.pkg "$OTA_RUN/cache/"
for i in $(seq 1 100); do [ "$(hget /healthz "${AUTH[@]}")" = 200 ] && break; sleep 0.1; done
check "packages back -> /healthz 200" eq "$(hget /healthz "${AUTH[@]}")" 200

ota_server_stop; rc=$?
check "SIGTERM: exit 0" eq "$rc" 0
check "admin port closed after exit" eq "$(hget /healthz)" 000
ota_summary
