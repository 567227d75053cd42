#!/usr/bin/env bash
# e2e_logrotate.sh - logrotate's way with the report log during a storm:
# 200 simulated devices POST /report (CON, 16 in flight, distinct IMEIs);
# after the first 100 acknowledgements the test renames reports.jsonl and
# sends SIGHUP, as /etc/logrotate.d/ota-server does, while reports keep
# coming. Every report answered 2.04 must be found exactly once across the
# rotated and the new file, and nothing unacknowledged may be stored.
# Usage: BUILD=build/release tests/e2e_logrotate.sh
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-e2e-logrotate.XXXXXX)
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
# report_fsync 1: the lines that are pending at SIGHUP must reach the old file.
sed -i 's|^\[server\]$|&\nreport_fsync = 1|' "$OTA_RUN/ota.ini"
ota_server_start || { echo "server failed to start"; exit 1; }
LOG=$OTA_RUN/reports.jsonl

timeout 120 python3 - "$OTA_PORT" "$OTA_SERVER_PID" "$LOG" "$TMP/acked.txt" <<'PY'
import os, random, select, signal, socket, sys, time
port, pid, log, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
N, INFLIGHT = 200, 16
rnd = random.Random(7)
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(INFLIGHT)]
for s in socks:
    s.bind(("127.0.0.1", 0))
def post(s, mid, imei):
    # CON POST /report, token 2 bytes, payload k=v
    hdr = bytes([0x42, 0x02, mid >> 8, mid & 255, mid >> 8, mid & 255])
    s.sendto(hdr + bytes([0xb6]) + b"report" + b"\xff" +
             ("imei=%s&result=0" % imei).encode(), ("127.0.0.1", port))
acked, pending, nxt, rotated = [], {}, 0, False
deadline = time.monotonic() + 100
while (nxt < N or pending) and time.monotonic() < deadline:
    for s in socks:
        if s not in pending and nxt < N:
            imei = "8612345%08d" % nxt
            mid = 0x1000 + nxt
            pending[s] = (mid, imei, time.monotonic(), 0)
            post(s, mid, imei)
            nxt += 1
    r, _, _ = select.select(list(pending), [], [], 0.2)
    now = time.monotonic()
    for s in r:
        data = s.recv(2048)
        mid, imei, t0, tries = pending[s]
        if len(data) >= 4 and (data[2] << 8 | data[3]) == mid:
            if data[1] == 0x44:          # 2.04 Changed
                acked.append(imei)
            del pending[s]
    for s, (mid, imei, t0, tries) in list(pending.items()):
        if now - t0 > 2:                 # CON retransmission, same MID
            if tries >= 4:
                del pending[s]; continue
            pending[s] = (mid, imei, now, tries + 1)
            post(s, mid, imei)
    if not rotated and len(acked) >= N // 2:
        os.rename(log, log + ".1")       # logrotate: rename, then SIGHUP
        os.kill(pid, signal.SIGHUP)
        rotated = True
open(out, "w").write("\n".join(acked) + "\n")
print("acked %d of %d, rotated=%s" % (len(acked), N, rotated))
PY
check "storm finished" test -s "$TMP/acked.txt"
# The server reopens the log within a tick: wait until the new file exists
# and the last acknowledged line is durable somewhere.
for i in $(seq 1 100); do [ -e "$LOG" ] && break; sleep 0.05; done
check "a new report log was opened after SIGHUP" test -s "$LOG"
check "the rotated log kept its lines" test -s "$LOG.1"
acked=$(grep -c . "$TMP/acked.txt")
check "at least 190 of 200 reports acknowledged" test "$acked" -ge 190
stored=$(cat "$LOG.1" "$LOG" | grep -o '"imei":"[0-9]*"' | cut -d'"' -f4 | sort)
dups=$(uniq -d <<<"$stored" | grep -c .)
missing=$(sort "$TMP/acked.txt" | comm -23 - <(echo "$stored") | grep -c .)
extra=$(comm -13 <(sort "$TMP/acked.txt") <(echo "$stored") | grep -c .)
check "every acknowledged report stored (missing: $missing)" eq "$missing" 0
check "no report stored twice (duplicates: $dups)" eq "$dups" 0
check "nothing stored that was not acknowledged (extra: $extra)" eq "$extra" 0
check "lines on both sides of the rotation" \
  test "$(grep -c . "$LOG.1")" -gt 0 -a "$(grep -c . "$LOG")" -gt 0
check "every line is one JSON object" \
  python3 -c 'import json,sys; [json.loads(l) for f in sys.argv[1:] for l in open(f)]' "$LOG.1" "$LOG"
ota_server_stop; check "server exits 0" test $? -eq 0
ota_summary
