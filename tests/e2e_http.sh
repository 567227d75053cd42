#!/usr/bin/env bash
# e2e_http.sh - the device HTTP API ([http] listen) against ota-module, a
# simulated module that updates the way the platform's update.lua does
# (tests/tools/ota-module.c), and curl for the headers.
#
# 1. a full update: the FOTA area equals the package file byte for byte;
# 2. resume at 50 seeded random cut points, byte for byte;
# 3. Range past the end: 416 with Content-Range bytes */LEN and JSON code 3;
# 4. If-Range: the package replaced (rebuilt), the old ETag gets the whole
#    new package (200), the new one a 206; a package replaced while an
#    answer streams finishes with the old bytes;
# 5. every refusal: status, JSON code, Retry-After, body <= 200 bytes,
#    never a 2xx with JSON;
# 6. hostile HTTP: oversized headers, bad Range forms, path characters,
#    a slow sender, more connections than max_connections: 4xx or a closed
#    connection, and a normal update succeeds afterwards;
# 7. CoAP serving (ota-client) unaffected while HTTP downloads run;
# 8. (restart) limits: check_interval (429 code 40); a request over
#    rate_limit gets 503 code 43 with Retry-After, the module waits and
#    finishes; need_oss_url=1 is redirected to redirect_base and
#    the module follows it to a plain web server holding the cache.
# Loopback only; every process is bounded and stopped by PID (tests/lib.sh).
# Usage: BUILD=build/release tests/e2e_http.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
command -v curl >/dev/null || { echo "curl not installed"; exit 1; }

TMP=$(mktemp -d /tmp/ota-e2e-http.XXXXXX)
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
has() { case $1 in *"$2"*) return 0 ;; esac; echo "      '$1' lacks '$2'" >&2; return 1; }
HP=$(ota_free_port)
AP=$(ota_free_port); while [ "$AP" = "$HP" ]; do AP=$(ota_free_port); done
while ss -Hltn "sport = :$HP" | grep -q .; do HP=$(ota_free_port); done
H="http://127.0.0.1:$HP"
P=/api/site/firmware_upgrade
sed -i 's/^log_level = info/log_level = info\nlog_rate = 0/' "$OTA_RUN/ota.ini"
cat >>"$OTA_RUN/ota.ini" <<EOF
[http]
listen = 127.0.0.1:$HP
timeout = 2
max_connections = 32
threads = 2
[admin]
listen = 127.0.0.1:$AP
EOF
PKG17="$OTA_RUN/cache/${OTA_PROJECT}_1.1.0_0017-0020.pkg"
echo 100 >"$TMP/imei.n"
imei() { # a fresh device (check_interval); a file because callers are subshells
  local n=$(($(cat "$TMP/imei.n") + 1)); echo "$n" >"$TMP/imei.n"; echo "861234567890$n"
}
# q IMEI CORE SCRIPT [extra]: the module's query
q() {
  echo "project_key=$OTA_PRODUCT_KEY&imei=$1&firmware_name=${OTA_PROJECT}_Luat_V00$2_RDA8910&core_version=00$2&dfota=1&version=$3${4:-}"
}
# module OUT IMEI [ota-module options]: a module on core 17, script 1.0.0
module() {
  local out=$1 im=$2; shift 2
  timeout 120 "$BIN/ota-module" -u "$H" -q "$(q "$im" 17 1.0.0 "${QEXTRA:-}")" -o "$out" "$@" \
    2>>"$TMP/module.err"
}
# hget QUERY [curl args]: status; head in $TMP/h, body in $TMP/b
hget() { local x=$1; shift; curl -s -m 10 -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$@" "$H$P?$x"; }
hdr() { tr -d '\r' <"$TMP/h" | awk -v n="$1" 'tolower($1) == tolower(n) ":" { $1 = ""; sub(/^ /, ""); print }'; }
# slow_get QUERY OUT: a reader with a 2 KB receive window taking 1 KB every
# 50 ms, so the server's answer stays in flight (not in socket buffers) for
# about 2 s; OUT.started appears once the head is in. Bounded (30 s).
slow_get() {
  timeout 30 python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-\r\n\r\n" % sys.argv[2]).encode())
buf=b""
while b"\r\n\r\n" not in buf: buf += s.recv(1024)
head, body = buf.split(b"\r\n\r\n", 1)
n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
open(sys.argv[3] + ".started", "w").close()
while len(body) < n:
  time.sleep(0.05); d = s.recv(1024)
  if not d: break
  body += d
open(sys.argv[3], "wb").write(body)' "$HP" "$P?$1" "$2"
}
code_of() { sed -n 's/.*"code":\([0-9]*\).*/\1/p' "$TMP/b"; }

ota_server_start || { echo "server failed to start"; exit 1; }
for i in $(seq 1 50); do curl -s -o /dev/null -m 1 "$H/" && break; sleep 0.1; done

# -- 1. a full update
OUT=$(module "$TMP/area1" "$(imei)"); rc=$?
check "1. full update: exit 0" eq "$rc" 0
check "   the FOTA area equals the package" cmp -s "$TMP/area1" "$PKG17"
check "   one download, no retries" has "$OUT" "downloads=1 retries=0"
metric_is_1() { curl -s "http://127.0.0.1:$AP/metrics" | grep -qE "^ota_package_downloads_$1_total\\{[^}]*0017-0020.pkg[^}]*\\} 1\$"; }
check "   /metrics: one download of the package started" ota_wait_for 5 metric_is_1 started
check "   /metrics: ... and completed" ota_wait_for 5 metric_is_1 completed

# -- 2. resume at 50 seeded random cut points
OUT=$(module "$TMP/area2" "$(imei)" --cuts 50 --seed 20261 --retries 60); rc=$?
check "2. 50 cuts: exit 0" eq "$rc" 0
check "   the FOTA area equals the package byte for byte" cmp -s "$TMP/area2" "$PKG17"
check "   50 broken connections resumed" has "$OUT" "retries=50"
check "   resumed with 206 from the cut (server log)" \
  grep -q "http download start .* bytes=[1-9][0-9]*-" "$OTA_RUN/server.log"

# -- 3. 416
SIZE=$(stat -c %s "$PKG17")
check "3. Range at the end -> 416" eq "$(hget "$(q "$(imei)" 17 1.0.0)" -H "Range: bytes=$SIZE-")" 416
check "   Content-Range: bytes */$SIZE" eq "$(hdr Content-Range)" "bytes */$SIZE"
check "   JSON code 3" eq "$(code_of)" 3

# -- 4. If-Range and a replaced package
IM=$(imei)
hget "$(q "$IM" 17 1.0.0)" -H 'Range: bytes=0-' >/dev/null
E1=$(hdr ETag)
cp "$PKG17" "$TMP/old.pkg"
sed -i 's/^\[release\]/[release]\nwindow_bits = 12/' "$OTA_RUN/ota.ini"
"$BIN/ota-cache" -q build -c "$OTA_RUN/ota.ini" >/dev/null 2>&1
check "4. the rebuilt package differs" bash -c "! cmp -s '$TMP/old.pkg' '$PKG17'"
for i in $(seq 1 100); do
  hget "$(q "$IM" 17 1.0.0)" -H 'Range: bytes=100-' >/dev/null; [ "$(hdr ETag)" != "$E1" ] && break; sleep 0.1
done
E2=$(hdr ETag)
check "   a new ETag is served" bash -c "[ -n '$E2' ] && [ '$E2' != '$E1' ]"
check "   If-Range with the old ETag -> 200" eq "$(hget "$(q "$IM" 17 1.0.0)" -H 'Range: bytes=100-' -H "If-Range: $E1")" 200
check "   ... the whole new package" cmp -s "$TMP/b" "$PKG17"
check "   If-Range with the new ETag -> 206" eq "$(hget "$(q "$IM" 17 1.0.0)" -H 'Range: bytes=100-' -H "If-Range: $E2")" 206
check "   ... Content-Range bytes 100-" has "$(hdr Content-Range)" "bytes 100-$(($(stat -c %s "$PKG17") - 1))/"
cp "$PKG17" "$TMP/v2.pkg"
slow_get "$(q "$IM" 17 1.0.0)" "$TMP/slow.out" &
SLOW=$!; OTA_PIDS+=("$SLOW")
for i in $(seq 1 100); do [ -e "$TMP/slow.out.started" ] && break; sleep 0.05; done
sed -i 's/^window_bits = 12/window_bits = 11/' "$OTA_RUN/ota.ini"
"$BIN/ota-cache" -q build -c "$OTA_RUN/ota.ini" >/dev/null 2>&1
wait "$SLOW"
check "   an answer started before the rebuild carries the old bytes" cmp -s "$TMP/slow.out" "$TMP/v2.pkg"
check "   ... and the package on disk is another one" bash -c "! cmp -s '$TMP/v2.pkg' '$PKG17'"
for i in $(seq 1 100); do
  hget "$(q "$IM" 17 1.0.0)" -H 'Range: bytes=100-' >/dev/null; [ "$(hdr ETag)" != "$E2" ] && break; sleep 0.1
done
OUT=$(module "$TMP/area4" "$(imei)" --cut-at 5000 --if-range); rc=$?
check "   module after the replacement: exit 0, area = new package" \
  bash -c "[ $rc = 0 ] && cmp -s '$TMP/area4' '$PKG17'"

# -- 5. refusals: status, code, JSON <= 200 bytes, never 2xx
refusal() { # refusal DESC STATUS CODE QUERY [curl args]
  local desc=$1 st=$2 code=$3 x=$4; shift 4
  local got; got=$(hget "$x" -H 'Range: bytes=0-' "$@")
  check "5. $desc -> $st code $code" eq "$got $(code_of)" "$st $code"
  check "   ... JSON body of at most 200 bytes" bash -c "[ \$(stat -c %s '$TMP/b') -le 200 ] && \
    head -c 1 '$TMP/b' | grep -q '{' && grep -qi '^content-type: application/json' '$TMP/h'"
}
refusal "up to date" 404 27 "$(q "$(imei)" 20 1.1.0)"
refusal "a core with no package" 404 44 "$(q "$(imei)" 16 1.0.0)"
refusal "wrong product key" 403 25 "$(q "$(imei)" 17 1.0.0 | sed 's/project_key=[^&]*/project_key=wrong-key-000000000/')"
refusal "another product line" 403 21 "$(q "$(imei)" 17 1.0.0 | sed 's/RDA8910/EC618/')"
refusal "bad imei" 400 3 "$(q 12 17 1.0.0)"
refusal "bad version" 400 26 "$(q "$(imei)" 17 100000.0.0)"
OUT=$(module "$TMP/area5" 12); rc=$?
check "   module on a refusal: exit 2 with the code" bash -c "[ $rc = 2 ] && case '$OUT' in *code=3*) ;; *) false ;; esac"
check "   the module's area stays empty (no JSON written to flash)" bash -c "[ ! -s '$TMP/area5' ]"

# -- 6. hostile HTTP
big=$(head -c 12000 /dev/zero | tr '\0' a)
st=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H "X-Big: $big" "$H$P?$(q "$(imei)" 17 1.0.0)")
check "6. oversized headers: 4xx or closed ($st)" bash -c "case $st in 4*|000) ;; *) false ;; esac"
for r in 'bytes=abc' 'bytes=5-3' 'bytes=0-1,5-6' 'items=0-' 'bytes=-' 'bytes=99999999999999999999-'; do
  check "   Range '$r' -> 400 code 3" eq "$(hget "$(q "$(imei)" 17 1.0.0)" -H "Range: $r") $(code_of)" "400 3"
done
for p in '/api/site/%2e%2e/api/site/firmware_upgrade' '//api/site/firmware_upgrade' \
         '/api/site/firmware_upgrade/../firmware_upgrade' '/api/site/firmware_upgrade%00'; do
  st=$(curl -s -m 10 --path-as-is -o /dev/null -w '%{http_code}' "$H$p?$(q "$(imei)" 17 1.0.0)")
  check "   path '$p' -> 4xx ($st)" bash -c "case $st in 4*|000) ;; *) false ;; esac"
done
check "   '%2e%2e' in a query value -> 400 code 3" \
  eq "$(hget "$(q "$(imei)" 17 1.0.0 '&x=%2e%2e')") $(code_of)" "400 3"
check "   POST -> 405" eq "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST "$H$P")" 405
# a slow sender: half a request line, then silence: closed within timeout (2 s) + margin
SLOWRES=$(timeout 20 python3 -c 'import socket,sys,time
s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(b"GET /api/site/firm")
t=time.time(); s.settimeout(15); d=s.recv(100); print("closed" if not d else "answered", round(time.time()-t))' "$HP")
check "   slow sender: connection closed by the server ($SLOWRES)" has "$SLOWRES" "closed"
# more connections than max_connections (32), held open by one process
timeout 30 python3 -c 'import socket,sys,time
c=[socket.create_connection(("127.0.0.1",int(sys.argv[1]))) for i in range(200)]
print("held", flush=True); time.sleep(8)' "$HP" >"$TMP/hold.out" 2>&1 &
HOLD=$!; OTA_PIDS+=("$HOLD")
for i in $(seq 1 100); do grep -q held "$TMP/hold.out" && break; sleep 0.05; done
OUT=$(module "$TMP/area6" "$(imei)" --timeout 20); rc=$?
check "   200 idle connections held: a module still updates (exit $rc)" \
  bash -c "[ $rc = 0 ] && cmp -s '$TMP/area6' '$PKG17'"
kill "$HOLD" 2>/dev/null; wait "$HOLD" 2>/dev/null
check "   the server is still running" kill -0 "$OTA_SERVER_PID"

# -- 7. CoAP while HTTP is busy: three modules download in a loop until told to stop
BUSY=()
for k in 1 2 3; do
  im=$(imei)
  ( while [ ! -e "$TMP/stop" ]; do
      timeout 60 "$BIN/ota-module" -u "$H" -q "$(q "$im" 17 1.0.0)" -o /dev/null --repeat 50 \
        >"$TMP/busy$k.out" 2>&1 || { echo "result=failed" >>"$TMP/busy$k.fail"; break; }
      echo x >>"$TMP/busy$k.runs"
    done ) &
  BUSY+=("$!"); OTA_PIDS+=("$!")
done
for i in $(seq 1 100); do [ -s "$TMP/busy3.runs" ] && break; sleep 0.05; done
ota_device "$TMP/dev7" 17 1.0.0 "$(imei)"
OUT=$(timeout 120 "$BIN/ota-client" -t 15 -d "$TMP/dev7" update 2>"$TMP/dev7.err"); rc=$?
check "7. ota-client over CoAP while HTTP downloads run: exit 0" eq "$rc" 0
check "   ... now on the release" has "$(cat "$TMP/dev7/device.ini")" "core = Luat_V0020_RDA8910"
check "   ... the HTTP modules were still downloading" bash -c "[ ! -e '$TMP/stop' ] && kill -0 ${BUSY[0]}"
touch "$TMP/stop"
for p in "${BUSY[@]}"; do wait "$p"; done
for k in 1 2 3; do
  check "   HTTP module $k: every run of 50 downloads ok ($(wc -l <"$TMP/busy$k.runs") runs)" \
    bash -c "[ ! -e '$TMP/busy$k.fail' ] && grep -q result=ok '$TMP/busy$k.out'"
done

# -- 8. limits and redirect (restart with other settings)
ota_server_stop
WP=$(ota_free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$OTA_RUN/cache" "$WP" >"$TMP/web.log" 2>&1 &
WEB=$!; OTA_PIDS+=("$WEB")
sed -i 's/^\[server\]/[server]\nrate_limit = 1\nrate_burst = 1/' "$OTA_RUN/ota.ini"
printf '[fleet]\ncheck_interval = 3600\n[http]\n' >>"$OTA_RUN/ota.ini"
printf 'redirect_base = http://127.0.0.1:%s/\n' "$WP" >>"$OTA_RUN/ota.ini"
ota_server_start || { echo "server failed to restart"; exit 1; }
for i in $(seq 1 50); do curl -s -o /dev/null -m 1 "$H/" && break; sleep 0.1; done
for i in $(seq 1 50); do curl -s -o /dev/null -m 1 "http://127.0.0.1:$WP/" && break; sleep 0.1; done
U="$H$P?$(q "$(imei)" 17 1.0.0)"
st=$(curl -s -m 10 -H 'Range: bytes=0-' -w '%{http_code} ' -o /dev/null "$U" -D "$TMP/h" -o "$TMP/b" "$U")
check "8. a second request on one connection over rate_limit -> 503 code 43" eq "$st$(code_of)" "206 503 43"
check "   ... Retry-After" bash -c "[ '$(hdr Retry-After)' -ge 1 ] 2>/dev/null"
OUT=$(module "$TMP/area8" "$(imei)" --repeat 3 --wait-scale 0.5); rc=$?
check "   the module waits out code 43 and finishes its downloads" \
  bash -c "[ $rc = 0 ] && cmp -s '$TMP/area8' '$PKG17' && case '$OUT' in *waits=0*) false ;; esac"
IM=$(imei)
for i in $(seq 1 9); do hget "$(q "$IM" 20 1.1.0)" >/dev/null; done
refusal "a check within check_interval, past the 8 repeats of one check" 429 40 "$(q "$IM" 20 1.1.0)"
check "   ... Retry-After" bash -c "[ '$(hdr Retry-After)' -gt 0 ] 2>/dev/null"
check "   need_oss_url=1 -> 302 to redirect_base" \
  eq "$(hget "$(q "$(imei)" 17 1.0.0 '&need_oss_url=1')") $(hdr Location)" \
  "302 http://127.0.0.1:$WP/$(basename "$PKG17")"
OUT=$(QEXTRA='&need_oss_url=1' module "$TMP/area9" "$(imei)"); rc=$?
check "   the module follows it to the web server: the package" \
  bash -c "[ $rc = 0 ] && cmp -s '$TMP/area9' '$PKG17'"
check "ota-server stops cleanly" ota_server_stop
ota_summary
