#!/usr/bin/env bash
# e2e_scale.sh - ota-server under load, overload, hot replace, reload and
# hostile datagrams, on 127.0.0.1 only.
#
# Checks (issue 4): 1,000 simulated devices (ota-load, one socket each)
# download and verify their package with zero failures; GET /stats answers
# an admin address only; the transfer cap and the per-source rate limit
# answer 5.03 (platform code 43) with Max-Age, and devices that honour it
# still finish; 1,000 devices downloading while the release is replaced
# twice (rename over every package) end with no wrong image, and some of
# them saw the ETag change and restarted; a served package truncated and
# rewritten in place is never served partially and never crashes the
# server; SIGHUP reloads ota.ini (new limits, new admin list; a broken
# file keeps the running config); malformed and oversized CoAP datagrams
# leave the server serving, unknown critical options get 4.02.
# Loads are sized for a sanitized build on 2 cores (well under a minute).
# Usage: BUILD=build/release tests/e2e_scale.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-e2e-scale.XXXXXX)
pass=0 fail=0
check() {
  local desc=$1; shift
  if "$@"; then echo "ok    $desc"; pass=$((pass + 1)); else echo "FAIL  $desc"; fail=$((fail + 1)); fi
}
has() { case $1 in *"$2"*) return 0 ;; esac; echo "      '$1' lacks '$2'" >&2; return 1; }
field() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1" | head -1; } # field RESULT-LINE KEY
COAP=$(command -v coap-client-notls || command -v coap-client-openssl) ||
  { echo "coap-client not installed (libcoap3-bin)"; exit 1; }
ulimit -n 4096 2>/dev/null || true

ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
LOAD="$BIN/ota-load"
[ -x "$LOAD" ] || { echo "ota-load not built ($LOAD)"; exit 1; }
CACHE=$OTA_RUN/cache INI=$OTA_RUN/ota.ini
cp "$INI" "$TMP/base.ini"
# ota-load's devices all share 127.0.0.1: 127.0.0.1 is a trusted proxy
# here, exempt from max_transfers_per_address (e2e_security.sh tests the cap)
echo "trusted_proxies = 127.0.0.1" >>"$TMP/base.ini"
# set_limits "key = value"...: the base ini plus these [server] keys
set_limits() { cp "$TMP/base.ini" "$INI"; printf '%s\n' "$@" >>"$INI"; }
# hup: SIGHUP, then wait (bounded) for the server's "SIGHUP: ..." line
reloads() { grep -c 'SIGHUP: ' "$OTA_RUN/server.log"; }
hup() {
  local n i; n=$(reloads)
  kill -HUP "$OTA_SERVER_PID"
  for i in $(seq 1 200); do [ "$(reloads)" -gt "$n" ] && return 0; sleep 0.05; done
  echo "      no reload line within 10 s of SIGHUP" >&2; return 1
}
URL="coap://127.0.0.1:$OTA_PORT"
Q=(-O 15,project_key=$OTA_PRODUCT_KEY -O 15,imei=861234567890123
   -O 15,firmware_name=DEMOPROJ_Luat_RDA8910 -O 15,core_version=17 -O 15,dfota=1 -O 15,version=1.0.0)
ask() { timeout 20 "$COAP" -B 5 -m get "$@" 2>&1 | head -1; }
alive() { kill -0 "$OTA_SERVER_PID" 2>/dev/null && has "$(ask -b 0,1024 "${Q[@]}" "$URL/fota" -o /dev/null; echo served)" served; }

set_limits "log_rate = 50"
ota_server_start || { echo "server failed to start"; exit 1; }

# -- 1,000 devices, zero failures, verified against the cache files
R=$(timeout 240 "$LOAD" -s "127.0.0.1:$OTA_PORT" -n 1000 -w 4 -i 64 -t 200 -k "$CACHE" \
      -P "$OTA_SERVER_PID" 2>"$TMP/load1.err" | tee "$TMP/load1.out" | grep '^RESULT')
check "1000 devices: all downloads verified" has "$R" "done=1000 failed=0 wrong=0"
check "1000 devices: server peak RSS reported" test "$(field "$R" hwm_kib)" -gt 0
sleep 1.2 # the count of suppressed lines is logged once a second
check "request log is rate-limited" grep -q "log suppressed [0-9]* lines" "$OTA_RUN/server.log"

# -- /stats: admin addresses only
S=$(timeout 20 "$COAP" -B 5 -m get "$URL/stats" 2>&1)
check "GET /stats from 127.0.0.1 -> counters" has "$S" '"blocks":'
# every block ota-load received (its own count; the package size follows the encoder)
check "GET /stats counts the $(field "$R" blocks) blocks ota-load received" \
  test "$(sed -n 's/.*"blocks":\([0-9]*\).*/\1/p' <<<"$S")" -ge "$(field "$R" blocks)"
set_limits "admin = 10.9.9.9"; hup
check "GET /stats from a non-admin -> 4.03" has "$(ask "$URL/stats")" '4.03'

# -- overload: transfer cap and rate limit -> 5.03 code 43 with Max-Age
set_limits "max_transfers = 1" "retry_after = 1" "transfer_idle = 30"; hup
# one raw GET of block 0 (not the last) holds the only transfer slot;
# a second device (another source port) must then be refused
cat >"$TMP/block0.py" <<'PY'
# block0.py PORT KEY: two sources ask for block 0 in turn.
# block0.py PORT KEY hold PID LOG: source A gets block 0, ota-server PID
# reloads (SIGHUP, then LOG gets one more "SIGHUP: " line; bounded wait),
# then source B asks for block 0 and A for block 1.
import os, signal, socket, sys, time
port, key = int(sys.argv[1]), sys.argv[2].encode()
def opt(delta, val):
    x = lambda v: (v, b'') if v < 13 else (13, bytes([v - 13]))
    d, de = x(delta); l, le = x(len(val))
    return bytes([d << 4 | l]) + de + le + val
q = [b'project_key=' + key, b'imei=861234567890123', b'firmware_name=DEMOPROJ_Luat_RDA8910',
     b'core_version=17', b'dfota=1', b'version=1.0.0']
m = b'\x42\x01\x12\x34\xaa\xbb' + opt(11, b'fota') + opt(4, q[0]) + b''.join(opt(0, v) for v in q[1:])
def ask(s, num):
    s.sendto(m + opt(8, bytes([num << 4 | 6])), ('127.0.0.1', port)); r = s.recv(2048)
    at, num, maxage = 6, 0, None
    while at < len(r) and r[at] != 0xff:
        d, l = r[at] >> 4, r[at] & 15; at += 1
        if d == 13: d = r[at] + 13; at += 1
        if l == 13: l = r[at] + 13; at += 1
        num += d
        if num == 14: maxage = int.from_bytes(r[at:at + l], 'big')
        at += l
    payload = r[at + 1:] if at < len(r) else b''
    return '%d.%02d max-age=%s %s' % (r[1] >> 5, r[1] & 31, maxage, payload[:60].decode('ascii', 'replace') if r[1] != 0x45 else '')
def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); return s
a, b = sock(), sock()
if len(sys.argv) < 4:
    print(' | '.join([ask(a, 0), ask(b, 0)])); sys.exit(0)
pid, log = int(sys.argv[4]), sys.argv[5]
out = [ask(a, 0)]
n = open(log, errors='replace').read().count('SIGHUP: ')
os.kill(pid, signal.SIGHUP)
end = time.time() + 10
while open(log, errors='replace').read().count('SIGHUP: ') <= n and time.time() < end:
    time.sleep(0.05)
print(' | '.join(out + [ask(b, 0), ask(a, 1)]))
PY
R=$(timeout 20 python3 "$TMP/block0.py" "$OTA_PORT" "$OTA_PRODUCT_KEY" 2>&1)
check "first device gets block 0 (2.05)" has "$R" "2.05 max-age=None"
check "transfer cap reached -> 5.03 code 43" has "$R" '5.03 max-age=1 {"code":43'
set_limits "max_transfers = 10" "retry_after = 1"; hup
R=$(timeout 120 "$LOAD" -s "127.0.0.1:$OTA_PORT" -n 60 -w 4 -i 60 -t 100 -x 1 -k "$CACHE" 2>/dev/null | grep '^RESULT')
check "60 devices over a cap of 10: refused with 5.03, then all finish" \
  bash -c "[ $(field "$R" busy) -gt 0 ] && [ $(field "$R" done) = 60 ] && [ $(field "$R" wrong) = 0 ]"
set_limits "rate_limit = 20" "rate_burst = 5"; hup
R=$(timeout 60 "$LOAD" -s "127.0.0.1:$OTA_PORT" -n 2 -w 8 -t 50 -x 1 -k "$CACHE" 2>/dev/null | grep '^RESULT')
check "rate limit per source -> 5.03 honoured, downloads finish" \
  bash -c "[ $(field "$R" busy) -gt 0 ] && [ $(field "$R" done) = 2 ]"
check "/stats counts the refusals" has "$(timeout 20 "$COAP" -B 5 -m get "$URL/stats" 2>&1)" '"unavailable":'

# -- SIGHUP with a broken ota.ini keeps the running configuration
printf 'max_transfers = lots\n' >>"$INI"; hup
check "broken ota.ini on SIGHUP: reload refused and logged" grep -q "reload failed" "$OTA_RUN/server.log"
check "broken ota.ini on SIGHUP: still serving" alive

# -- a reload that fails late (a missing allowlist, read after the new
# limits and a new cache dir) changes nothing: all or nothing (issue 16.3)
set_limits "max_transfers = 1"
printf '[fleet]\nallowlist = %s\n' "$TMP/missing.txt" >>"$INI"
hup
check "late reload failure: refused and logged" grep -q 'reload failed.*missing.txt' "$OTA_RUN/server.log"
R=$(timeout 20 python3 "$TMP/block0.py" "$OTA_PORT" "$OTA_PRODUCT_KEY" 2>&1)
check "late reload failure: the running limits stay (no max_transfers = 1)" \
  has "$R" "2.05 max-age=None  | 2.05 max-age=None"
mkdir -p "$TMP/empty"
sed "s#^dir = cache#dir = $TMP/empty#" "$TMP/base.ini" >"$INI"
printf '[fleet]\nallowlist = %s\n' "$TMP/missing.txt" >>"$INI"
hup
R=$(timeout 20 python3 "$TMP/block0.py" "$OTA_PORT" "$OTA_PRODUCT_KEY" 2>&1)
check "late reload failure: the running cache is still served (not the empty dir)" \
  has "$R" "2.05 max-age=None  | 2.05 max-age=None"

# -- hot replace: 1,000 devices while every package is replaced twice
set_limits "log_rate = 50"; hup
mkdir -p "$TMP/old" "$TMP/new"
cp "$CACHE"/*.pkg "$TMP/old/"
sed -e "s#^dir = cache#dir = $TMP/new#" -e 's/^\[release\]/[release]\nwindow_bits = 11/' \
  "$TMP/base.ini" >"$OTA_RUN/new.ini"
"$BIN/ota-cache" -q build -c "$OTA_RUN/new.ini" >/dev/null
check "second release built (same names, other bytes)" \
  bash -c "! cmp -s '$TMP/old/DEMOPROJ_1.1.0_0017-0020.pkg' '$TMP/new/DEMOPROJ_1.1.0_0017-0020.pkg'"
swap() { local f; for f in "$1"/*.pkg; do cp "$f" "$CACHE/.$(basename "$f").tmp.$$" && mv "$CACHE/.$(basename "$f").tmp.$$" "$CACHE/$(basename "$f")"; done; }
timeout 240 "$LOAD" -s "127.0.0.1:$OTA_PORT" -n 1000 -w 4 -i 16 -r 4 -t 200 -k "$TMP/old" -k "$TMP/new" \
  >"$TMP/load2.out" 2>"$TMP/load2.err" &
LP=$!; OTA_PIDS+=("$LP")
sleep 0.4; swap "$TMP/new"; sleep 0.6; swap "$TMP/old"
wait "$LP"; R=$(grep '^RESULT' "$TMP/load2.out")
check "release replaced during 1000 devices x 4 downloads: no wrong image" has "$R" "done=1000 failed=0 wrong=0"
check "devices saw the ETag change and restarted" test "$(field "$R" restarts)" -gt 0

# -- a served package rewritten in place: never served partially, no crash
P=$CACHE/DEMOPROJ_1.1.0_0017-0020.pkg
head -c 5000 "$TMP/new/$(basename "$P")" >"$P"; sleep 0.5
check "truncated in place -> not served (4.04 code 44)" has "$(ask "${Q[@]}" "$URL/fota")" '4.04 {"code":44'
cat "$TMP/new/$(basename "$P")" >"$P"; sleep 0.5
timeout 60 "$COAP" -B 30 -m get "${Q[@]}" "$URL/fota" -o "$TMP/inplace.pkg" >/dev/null 2>&1
check "rewritten in place -> the new bytes, whole" cmp -s "$TMP/inplace.pkg" "$TMP/new/$(basename "$P")"
E=$(timeout 20 "$COAP" -v 7 -B 5 -m get -b 0,1024 "${Q[@]}" "$URL/fota" 2>&1 | grep -a -o 'ETag:0x[0-9a-f]*' | head -1)
check "rewritten in place -> new ETag" has "$E" "$(sha256sum "$P" | cut -c1-16)"

# -- reports: JSON lines in report_log; `ota-cache report` once it is wired
# three devices (one report per IMEI per report_interval)
n=3
for r in '"from_core":"Luat_V0017_RDA8910","from_script":"1.0.0","result":0,"seconds":10' \
         '"from_core":"Luat_V0017_RDA8910","from_script":"1.0.0","result":0,"seconds":30' \
         '"from_core":"Luat_V0018_RDA8910","from_script":"1.0.0","result":3'; do
  timeout 20 "$COAP" -B 5 -m post -e "{\"imei\":\"86123456789012$n\",$r}" "$URL/report" >/dev/null 2>&1
  n=$((n + 1))
done
check "POST /report x3 -> 3 JSON lines in the report log" test "$(grep -c '"imei":"86123456789012[345]"' "$OTA_RUN/reports.jsonl")" = 3
if "$BIN/ota-cache" --help 2>/dev/null | grep -q 'report LOG'; then
  S=$("$BIN/ota-cache" report "$OTA_RUN/reports.jsonl" 2>&1)
  check "ota-cache report: 0017 has 2 ok, median 20 s" bash -c "grep -Eq 'Luat_V0017_RDA8910/1.0.0 +2 +0 +20.0' <<<'$S'"
  check "ota-cache report: 0018 has 1 failure" bash -c "grep -Eq 'Luat_V0018_RDA8910/1.0.0 +0 +1 ' <<<'$S'"
fi

# -- hostile datagrams (raw UDP), then the server must still serve
python3 - "$OTA_PORT" >"$TMP/raw.out" 2>&1 <<'PY'
import socket, struct, sys
port = int(sys.argv[1]); mid = [0x1000]
def opt(delta, val):
    def nib(x):
        if x < 13: return x, b''
        if x < 269: return 13, bytes([x - 13])
        return 14, struct.pack('!H', x - 269)
    d, de = nib(delta); l, le = nib(len(val))
    return bytes([d << 4 | l]) + de + le + val
def get(opts, typ=0, code=1, tkl=2, payload=None):
    mid[0] += 1
    m = bytes([0x40 | typ << 4 | tkl, code]) + struct.pack('!H', mid[0]) + b'\xab' * tkl + opts
    return m + (b'\xff' + payload if payload is not None else b'')
def path(p): return opt(11, p)
def send(name, data, want=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5)
    s.sendto(data, ('127.0.0.1', port))
    try: r = s.recv(2048); code = '%d.%02d' % (r[1] >> 5, r[1] & 31) if len(r) > 1 else 'short'
    except socket.timeout: code = 'none'
    ok = want is None or code in want
    print('%s %s -> %s' % ('ok  ' if ok else 'FAIL', name, code))
    return ok
good = True
for name, data in [('empty datagram', b''), ('1-byte header', b'\x40'), ('3-byte header', b'\x40\x01\x00'),
                   ('version 2', b'\x80\x01\x00\x01'), ('version 0', b'\x00\x01\x00\x01'),
                   ('token length 9', bytes([0x49, 1, 0, 9]) + b'\x00' * 9),
                   ('token length 15', bytes([0x4f, 1, 0, 10]) + b'\x00' * 15),
                   ('token longer than datagram', bytes([0x48, 1, 0, 11]) + b'\x00' * 3),
                   ('option delta 15', get(path(b'fota') + b'\xf1\x00')),
                   ('option length 15', get(path(b'fota') + b'\x1f' + b'a' * 20)),
                   ('option ext length past end', get(path(b'fota') + b'\x1e\xff\xff' + b'a' * 10)),
                   ('option delta ext past end', get(b'\xd0')),
                   ('payload marker, no payload', get(path(b'fota')) + b'\xff'),
                   ('reset for unknown mid', bytes([0x70, 0, 0x77, 0x77])),
                   ('ack for unknown mid', bytes([0x60, 0, 0x77, 0x78])),
                   ('response code in a request', get(path(b'fota'), code=0x45)),
                   ('65000-byte datagram', get(path(b'fota'), payload=b'A' * 64980)),
                   ('1400-byte option', get(path(b'fota') + opt(4, b'B' * 1400)))]:
    good &= send(name, data)
good &= send('unknown critical option 9 -> 4.02', get(opt(9, b'x') + opt(2, b'fota')), {'4.02'})
good &= send('unknown critical option 2049 -> 4.02', get(path(b'fota') + opt(2049 - 11, b'x')), {'4.02'})
# libcoap itself rejects a Block2 option longer than 3 bytes (RST, 0.00)
good &= send('Block2 of 4 bytes -> rejected', get(path(b'fota') + opt(15 - 11, b'project_key=x') + opt(23 - 15, b'\x00\x00\x00\x16')), {'4.00', '4.02', '0.00'})
many = path(b'fota') + opt(4, b'a=1') + b''.join(opt(0, b'a=1') for _ in range(200))
good &= send('200 Uri-Query options -> 4.00', get(many), {'4.00'})
good &= send('unknown path -> 4.04', get(path(b'nothing')), {'4.04'})
good &= send('POST /report of 1000 bytes -> 4.13', get(path(b'report'), code=2, payload=b'x' * 1000), {'4.13'})
good &= send('POST /report, bad payload -> 4.00', get(path(b'report'), code=2, payload=b'{"imei":'), {'4.00'})
sys.exit(0 if good else 1)
PY
RC=$?
sed 's/^/      /' "$TMP/raw.out"
check "malformed datagrams: expected answers (4.02 for critical options)" test "$RC" = 0
check "malformed datagrams: server still serves" alive

# -- a reload that resizes the source table keeps the running transfers
# (issue 16.5): a fresh server with one transfer slot, A holds it, SIGHUP
# with another max_sources, then newcomer B is refused and A goes on
ota_server_stop
set_limits "max_transfers = 1" "retry_after = 1" "transfer_idle = 30"
ota_server_start || { echo "server failed to restart"; exit 1; }
set_limits "max_transfers = 1" "retry_after = 1" "transfer_idle = 30" "max_sources = 1024"
R=$(timeout 30 python3 "$TMP/block0.py" "$OTA_PORT" "$OTA_PRODUCT_KEY" hold "$OTA_SERVER_PID" "$OTA_RUN/server.log" 2>&1)
check "max_sources reload: reloaded" grep -q "SIGHUP: reloaded" "$OTA_RUN/server.log"
check "max_sources reload: A had block 0" has "$R" "2.05 max-age=None  |"
check "max_sources reload: newcomer B still refused (5.03 code 43)" has "$R" '| 5.03 max-age=1 {"code":43'
check "max_sources reload: A's transfer goes on (block 1)" has "$R" "| 2.05 max-age=None "

ota_server_stop; RC=$?
check "SIGTERM: exit status 0" test "$RC" = 0
check "no sanitizer report in the server log" \
  bash -c "! grep -q -E 'ERROR: AddressSanitizer|runtime error|LeakSanitizer' '$OTA_RUN/server.log'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
