#!/usr/bin/env bash
# e2e_console.sh - the operator console on the [admin] listener.
#
# curl: every /api endpoint (with and without the token), bad input to
# each (bad IMEI, bad JSON, unknown keys, out-of-range percent, wrong
# content type, cross-site Origin / Sec-Fetch-Site, missing or oversized
# body, wrong method), the rollout file and allowlist written atomically
# and applied by the CoAP loop (devices checked with ota-client), a
# hand-broken rollout file ignored, the audit log, writes off without a
# token file. Browser: tests/tools/console.py drives headless Chromium
# through chromedriver (started here on a free port, stopped by PID):
# no console errors, charts from the census and report log made here,
# rollout 10 % -> 20 % in the page, pause, an allowlist edit, a write
# without the token refused; screenshots in $BUILD/console-shots/.
# Usage: BUILD=build/release tests/e2e_console.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-e2e-console.XXXXXX)
PY=/usr/bin/python3   # Debian's python3-selenium lives there
command -v curl >/dev/null || { echo "curl not installed"; exit 1; }
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
SHOTS="$OTA_ROOT/$BUILD/console-shots"
mkdir -p "$SHOTS"
HP=$(ota_free_port)
TOKEN=e2e-console-token-0123456789
printf 'operator-anna:%s\n' "$TOKEN" >"$OTA_RUN/admin.tokens"
chmod 600 "$OTA_RUN/admin.tokens"

# IMEIs by rollout bucket (SHA-256 of the IMEI, first 4 bytes mod 10000)
read -r IN NEW OUT ADD < <("$PY" -c '
import hashlib
def b(i): return int.from_bytes(hashlib.sha256(i.encode()).digest()[:4], "big") % 10000
want = [(0, 1000), (1000, 2000), (2000, 10000), (0, 1000)]
got = []
for n in range(861234567800000, 861234567805000):
    s = str(n)
    if len(got) < 4 and want[len(got)][0] <= b(s) < want[len(got)][1]:
        got.append(s)
print(*got)')
printf '# devices allowed\n%s\n%s\n%s\n' "$IN" "$NEW" "$OUT" >"$OTA_RUN/allow.txt"
cat >>"$OTA_RUN/ota.ini" <<EOF
[fleet]
allowlist = allow.txt
rollout_percent = 10
[cache]
drop_dir = drops
[admin]
listen = 127.0.0.1:$HP
token_file = admin.tokens
console_dir = $OTA_ROOT/console
EOF
# the census and report log the charts are drawn from
now=$(date +%s)
cat >"$OTA_RUN/census.txt" <<EOF
# ota census v1
DEMOPROJ Luat_V0017_RDA8910 1.0.0 40 $((now - 86400)) $now
DEMOPROJ Luat_V0020_RDA8910 1.1.0 7 $((now - 86400)) $now
DEMOPROJ Luat_V0019_RDA8910 1.0.0 3 $((now - 86400)) $now
# end 3
EOF
rep() { printf '{"time":"%sT10:00:00Z","peer":"127.0.0.1","imei":"%s","identity":"","project":"DEMOPROJ","from_core":"Luat_V0017_RDA8910","to_core":"Luat_V0020_RDA8910","from_script":"1.0.0","to_script":"1.1.0","result":%s,"bytes":1,"seconds":1.0,"etag":"","detail":"","reason":""}\n' "$1" "$2" "$3"; }
{ rep 2026-11-27 861234567890001 0; rep 2026-11-27 861234567890002 0; rep 2026-11-27 861234567890003 -4
  rep 2026-11-28 861234567890004 0; rep 2026-11-28 861234567890005 0; rep 2026-11-28 "$IN" 0
  rep 2026-11-28 861234567890007 -2; echo '{"torn line'; } >"$OTA_RUN/reports.jsonl"
mkdir -p "$OTA_RUN/drops/.rejected/bad-drop-20261128T100000"
echo "core.bin: sha256 mismatch (release.ini says 3fa2..., file is 9b1d...)" \
  >"$OTA_RUN/drops/.rejected/bad-drop-20261128T100000/REASON"

ota_server_start || { echo "server failed to start"; exit 1; }
A="http://127.0.0.1:$HP"
AUTH=(-H "Authorization: Bearer $TOKEN")
J=(-H "Content-Type: application/json")
# hreq PATH [curl args]: status of one request, body in $TMP/body, 5 s bound
hreq() { local p=$1; shift; curl -s -m 5 -o "$TMP/body" -w '%{http_code}' "$@" "$A$p"; }
has() { grep -q -- "$1" "$TMP/body" || { echo "      body lacks '$1': $(head -c 300 "$TMP/body")" >&2; return 1; }; }
# in_force KEY VALUE: wait (5 s) until GET /api/rollout shows it in force
in_force() {
  local i
  for i in $(seq 1 50); do
    hreq /api/rollout "${AUTH[@]}" >/dev/null
    "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if str(j["in_force"][sys.argv[2]]).lower()==sys.argv[3] else 1)' \
      "$TMP/body" "$1" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "      in force: $(cat "$TMP/body")" >&2; return 1
}
for i in $(seq 1 50); do [ "$(hreq /healthz "${AUTH[@]}")" = 200 ] && break; sleep 0.1; done

# devices: ota-client check exit 0 = offered, 2 = no update (27), 3 = refused (21)
for d in IN NEW OUT ADD; do ota_device "$TMP/dev-$d" 17 1.0.0 "${!d}"; done
dcheck() { timeout 60 "$BIN/ota-client" -d "$TMP/dev-$1" check >"$TMP/dev-$1.out" 2>&1; echo $?; }
cat >"$TMP/probe" <<EOF
#!/usr/bin/env bash
# called by console.py after each change in the page
d() { timeout 60 "$BIN/ota-client" -d "$TMP/dev-\$1" check >/dev/null 2>&1; echo \$?; }
case \$1 in
  raised) [ "\$(d NEW)" = 0 ] && [ "\$(d OUT)" = 2 ] ;;
  paused) [ "\$(d IN)" = 2 ] && [ "\$(d NEW)" = 2 ] ;;
  allowlisted) # the file is written; the CoAP loop applies it within a second
    for i in \$(seq 1 50); do [ "\$(d ADD)" = 0 ] && exit 0; sleep 0.1; done; exit 1 ;;
  *) exit 1 ;;
esac
EOF
chmod +x "$TMP/probe"

# -- static files and tokens
check "/ served without a token (no data in it)" eq "$(hreq /)" 200
check "  ... is the console page" has "<title>ota console</title>"
check "chart.js from /usr/share/javascript" eq "$(hreq /js/chart.min.js)" 200
check "  ... is Chart.js" has "Chart"
check "favicon" eq "$(hreq /favicon.ico)" 200
check "/api/hello: token required, none sent" eq "$(hreq /api/hello)" 200
check "  ... says so" has '"token_required":true,"token_ok":false'
for p in /api/fleet /api/releases /api/rollout /api/allowlist "/api/device?imei=$IN" /api/live /api/audit; do
  check "GET $p without token -> 401" eq "$(hreq "$p")" 401
  check "GET $p with token -> 200" eq "$(hreq "$p" "${AUTH[@]}")" 200
done

# -- reading views
hreq /api/fleet "${AUTH[@]}" >/dev/null
check "fleet: census pairs" has '"core":"Luat_V0017_RDA8910","script":"1.0.0","count":40'
check "fleet: target = the newest release" has '"target":{"core":"Luat_V0020_RDA8910","script":"1.1.0"}'
check "fleet: checks on target" has '"checks_on_target":7,"checks_total":50'
check "fleet: reports by day" has '{"day":"2026-11-27","updated":2,"failed":1},{"day":"2026-11-28","updated":3,"failed":1}'
check "fleet: a torn line is skipped" has '"lines":8,"counted":7'
hreq /api/releases "${AUTH[@]}" >/dev/null
check "releases: a delta with from/to, kind, share, key id" \
  has '"name":"DEMOPROJ_1.1.0_0017-0020.pkg","ok":true,"project":"DEMOPROJ","from":"Luat_V0017_RDA8910","to":"Luat_V0020_RDA8910","script":"1.1.0","kind":"delta","key_id":"'
check "releases: the refused drop and its reason" has '"name":"bad-drop-20261128T100000","reason":"core.bin: sha256 mismatch'
hreq /api/rollout "${AUTH[@]}" >/dev/null
check "rollout: 10 % from ota.ini" has '"in_force":{"percent":"10.00","paused":false}'
check "  ... allowlist of 3" has '"allowlist":{"set":true,"count":3'
check "  ... writes on, token name" has '"writes":true,"token":"operator-anna"'
hreq "/api/device?imei=$NEW" "${AUTH[@]}" >/dev/null
check "device: bucket, listed" has '"allowlist":{"set":true,"listed":true}'
check "  ... not yet" has '"verdict":"not yet"'
hreq "/api/device?imei=$IN" "${AUTH[@]}" >/dev/null
check "device: its last report from the log" has '"last_report":{"time":"2026-11-28T10:00:00Z"'
check "bad IMEI -> 400" eq "$(hreq '/api/device?imei=12ab' "${AUTH[@]}")" 400
check "no IMEI -> 400" eq "$(hreq /api/device "${AUTH[@]}")" 400
check "before: NEW (bucket 10..20 %) gets 27" eq "$(dcheck NEW)" 2
check "before: ADD (not allowlisted) is refused" eq "$(dcheck ADD)" 3
hreq "/api/device?imei=$NEW" "${AUTH[@]}" >/dev/null
check "device: last check recorded (held back, 4.04/27)" has '"code":"4.04","platform_code":27'
check "  ... with the core and script it sent" has '"core":"Luat_V0017_RDA8910","script":"1.0.0","answer":"'
hreq /api/live "${AUTH[@]}" >/dev/null
check "live: counters" has '"transfers_running":0'

# -- bad writes: nothing changes
post() { local p=$1 body=$2; shift 2; hreq "$p" -X POST --data-binary "$body" "$@"; }
check "POST without token -> 401" eq "$(post /api/rollout '{"percent":20}' "${J[@]}")" 401
check "text/plain body -> 415" eq "$(post /api/rollout '{"percent":20}' "${AUTH[@]}" -H 'Content-Type: text/plain')" 415
check "form body -> 415" eq "$(post /api/rollout 'percent=20' "${AUTH[@]}")" 415
check "cross-site Origin -> 403" eq "$(post /api/rollout '{"percent":20}' "${AUTH[@]}" "${J[@]}" -H 'Origin: http://evil.example')" 403
check "Sec-Fetch-Site: cross-site -> 403" eq "$(post /api/rollout '{"percent":20}' "${AUTH[@]}" "${J[@]}" -H 'Sec-Fetch-Site: cross-site')" 403
check "same Origin passes to the body check (bad key) -> 400" eq "$(post /api/rollout '{"x":1}' "${AUTH[@]}" "${J[@]}" -H "Origin: http://127.0.0.1:$HP")" 400
check "chunked body (no Content-Length) -> 411" eq "$(post /api/rollout '{"percent":20}' "${AUTH[@]}" "${J[@]}" -H 'Transfer-Encoding: chunked')" 411
head -c 300000 /dev/zero | tr '\0' ' ' >"$TMP/big"
check "body over 256 KiB -> 413" eq "$(hreq /api/allowlist -X POST --data-binary @"$TMP/big" "${AUTH[@]}" "${J[@]}")" 413
for bad in '' '{' '[1]' '{"percent":}' '{"percent":150}' '{"percent":-1}' '{"percent":10.123}' \
           '{"percent":"20"}' '{"paused":"yes"}' '{"percent":20,"percent":30}' '{"percent":20} x' \
           '{"a\\b":1}' '{}'; do
  check "rollout body '$bad' -> 400" eq "$(post /api/rollout "$bad" "${AUTH[@]}" "${J[@]}")" 400
done
for bad in '{"add":["12345"]}' '{"add":"861234567800000"}' '{"replace":[],"add":[]}' '{"drop":[]}' \
           '{"add":["8612345678000001"]}' '{"remove":[1]}'; do
  check "allowlist body '$bad' -> 400" eq "$(post /api/allowlist "$bad" "${AUTH[@]}" "${J[@]}")" 400
done
check "PUT -> 405" eq "$(hreq /api/rollout -X PUT "${AUTH[@]}")" 405
check "GET with a body -> 400" eq "$(hreq /api/rollout -X GET -d x "${AUTH[@]}")" 400
check "bad writes left no rollout file" [ ! -e "$OTA_RUN/rollout.state" ]
check "bad writes left no audit line" [ ! -s "$OTA_RUN/audit.log" ]

# -- a hand-broken rollout file is logged once and ignored
printf 'percent = lots\n' >"$OTA_RUN/rollout.state"
for i in $(seq 1 50); do grep -q "rollout: .*rollout.state:1: percent: " "$OTA_RUN/server.log" && break; sleep 0.1; done
check "broken rollout file logged, rollout kept" grep -q "rollout: .*rollout.state:1: percent: .*; keeping" "$OTA_RUN/server.log"
check "  ... 10 % still in force" in_force percent 10.00
rm -f "$OTA_RUN/rollout.state"

# -- the browser
DP=$(ota_free_port)
chromedriver --port="$DP" --allowed-ips=127.0.0.1 --log-path="$TMP/chromedriver.log" >/dev/null 2>&1 &
OTA_PIDS+=("$!")
for i in $(seq 1 100); do curl -s -m 1 "http://127.0.0.1:$DP/status" | grep -q '"ready": *true' && break; sleep 0.1; done
timeout 180 "$PY" tests/tools/console.py --url "$A" --token "$TOKEN" --driver-port "$DP" \
  --shots "$SHOTS" --probe "$TMP/probe" --imei-add "$ADD" >"$TMP/browser.out" 2>&1
cat "$TMP/browser.out"
checks=$((checks + $(grep -c '^ok \|^FAIL ' "$TMP/browser.out")))
fails=$((fails + $(grep -c '^FAIL ' "$TMP/browser.out")))
check "browser run completed" grep -q "a write without the token is refused" "$TMP/browser.out"
check "screenshots saved" [ -s "$SHOTS/console-fleet.png" ] && [ -s "$SHOTS/console-rollout.png" ]

# -- what the page did, on disk
check "rollout file written by the console" grep -q '^percent = 20.00$' "$OTA_RUN/rollout.state"
check "  ... resumed" grep -q '^paused = no$' "$OTA_RUN/rollout.state"
check "allowlist file has the new IMEI" grep -qx "$ADD" "$OTA_RUN/allow.txt"
check "no temporary files left" [ -z "$(ls "$OTA_RUN" | grep '\.tmp\.')" ]
check "audit log: rollout by the token's name" grep -q '"token":"operator-anna","action":"rollout","project":"DEMOPROJ","before":{"percent":"10.00","paused":false},"after":{"percent":"20.00","paused":false}' "$OTA_RUN/audit.log"
check "audit log: the allowlist edit" grep -q '"action":"allowlist edit","project":"DEMOPROJ","added":1,"removed":0,"count":4' "$OTA_RUN/audit.log"
check "ota.ini untouched" grep -q '^rollout_percent = 10$' "$OTA_RUN/ota.ini"

# -- curl writes: remove, no staged rollout; then writes off without a token file
check "allowlist remove -> 200" eq "$(post /api/allowlist "{\"remove\":[\"$ADD\"]}" "${AUTH[@]}" "${J[@]}")" 200
refused_again() {
  local i
  for i in $(seq 1 50); do [ "$(dcheck ADD)" = 3 ] && return 0; sleep 0.1; done
  return 1
}
check "  ... applied: ADD refused again" refused_again
check "percent null (no staged rollout) -> 200" eq "$(post /api/rollout '{"percent":null}' "${AUTH[@]}" "${J[@]}")" 200
check "  ... in force: none" in_force percent none
check "  ... OUT is offered now" eq "$(dcheck OUT)" 0
check "audit lines: 6 changes" eq "$(wc -l <"$OTA_RUN/audit.log")" 6
ota_server_stop
check "no sanitizer report in the server log" bash -c "! grep -q Sanitizer '$OTA_RUN/server.log'"
# a second project, without a token file: each project has its own rollout file
sed -i '/^token_file = admin.tokens$/d' "$OTA_RUN/ota.ini"
mkdir -p "$OTA_RUN/projects.d"
printf '[project]\nname = BETA\nproduct_key = beta-product-key-0001\n[fleet]\nrollout_percent = 5\n' \
  >"$OTA_RUN/projects.d/beta.ini"
printf '[projects]\ndir = projects.d\n' >>"$OTA_RUN/ota.ini"
ota_server_start || { echo "server failed to restart"; exit 1; }
for i in $(seq 1 50); do [ "$(hreq /healthz)" = 200 ] && break; sleep 0.1; done
check "no token file: reads open" eq "$(hreq /api/rollout)" 200
check "  ... writes shown off" has '"writes":false'
check "no token file: write -> 403" eq "$(post /api/rollout '{"percent":5}' "${J[@]}")" 403
check "  ... says why" has "token_file"
check "?project=BETA -> 200" eq "$(hreq '/api/rollout?project=BETA')" 200
check "  ... its own rollout and file" has '"project":"BETA","projects":\["BETA","DEMOPROJ"\],"in_force":{"percent":"5.00","paused":false},"rollout_file":"[^"]*/rollout-BETA.state"'
check "?project=DEMOPROJ keeps its rollout file" eq "$(hreq '/api/rollout?project=DEMOPROJ')" 200
check "  ... (no staged rollout, as set above)" has '"in_force":{"percent":"none"'
check "unknown project -> 404" eq "$(hreq '/api/fleet?project=NOPE')" 404
ota_summary
