#!/bin/bash
# e2e_client.sh - ota-client against the real ota-server on 127.0.0.1.
#
# Usage: tests/e2e_client.sh [BUILD_DIR]  (or BUILD=...; default build/release; run
# from the repository root). Builds a cache from the bundled release in a
# temporary directory, starts ota-server on a random high port, and drives
# simulated devices through every exit code: update from each shipped core
# (images compared byte for byte), script-only update, no update, rejected
# (wrong product key, unknown core), verification failure (wrong public key,
# old images kept), small blocks, SIGKILL mid-download and resume, check,
# server gone, and interop with Debian's coap-server. Everything is
# bounded in time and stopped by PID on exit.
set -u
. "$(dirname "$0")/lib.sh" # ota_free_port
BUILD=${1:-${BUILD:-build/release}}
ROOT=$(pwd)
REL=$ROOT/tests/data/release
CLIENT=$ROOT/$BUILD/ota-client
W=$(mktemp -d /tmp/ota-client-e2e.XXXXXX)
SPID=
cleanup() {
    if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
    rm -rf "$W"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

PORT=$(ota_free_port)
cat >"$W/ota.ini" <<EOF
[project]
name = E2EPROJ
product_key = e2e-key-0001
[release]
core = Luat_V0020_RDA8910
core_image = $REL/core_Luat_V0020_RDA8910.bin
script_version = 1.1.0
script_image = $REL/script/script_1.1.0.bin
shipped_dir = $REL/shipped
core_only = yes
script_only = yes
full_core_fallback = no
[cache]
dir = $W/cache
signing_key = $W/ota.key
[server]
listen = 127.0.0.1:$PORT
block_size = 1024
report_log = $W/reports.jsonl
log_level = warn
EOF
timeout 20 "$BUILD/ota-cache" -q keygen "$W/ota.key" || { echo "keygen failed"; exit 1; }
timeout 120 "$BUILD/ota-cache" -q build -c "$W/ota.ini" || { echo "cache build failed"; exit 1; }
PUB=$(cat "$W/ota.key.pub")
timeout 300 "$BUILD/ota-server" -c "$W/ota.ini" 2>"$W/server.log" &
SPID=$!
sleep 0.5

# device NAME CORE SCRIPT [KEY] [PUBKEY] [BLOCK]
device() {
    local d=$W/$1
    mkdir -p "$d"
    cat >"$d/device.ini" <<EOF
[device]
project = E2EPROJ
product_key = ${4:-e2e-key-0001}
imei = 86000000000$((RANDOM % 9000 + 1000))
core = $2
script_version = $3
server = coap://127.0.0.1:$PORT
public_key = ${5:-$PUB}
block_size = ${6:-1024}
EOF
    if [ -f "$REL/shipped/$2.bin" ]; then cp "$REL/shipped/$2.bin" "$d/core.bin"
    else cp "$REL/core_$2.bin" "$d/core.bin" 2>/dev/null || head -c 1000 /dev/zero >"$d/core.bin"; fi
    cp "$REL/script/script_$3.bin" "$d/script.bin" 2>/dev/null || true
}

# expect RC NAME CMD [ARGS]: run the client, compare the exit code
expect() {
    local want=$1 name=$2
    shift 2
    timeout 60 "$CLIENT" -d "$W/$name" "$@" >"$W/$name.out" 2>"$W/$name.err"
    local rc=$?
    local line
    line=$(grep -h -e '^ota-client: error:' "$W/$name.err"; cat "$W/$name.out")
    if [ "$rc" = "$want" ]; then ok "$name: $* -> exit $rc: $(echo "$line" | head -1)"
    else bad "$name: $* -> exit $rc, want $want: $(cat "$W/$name.out" "$W/$name.err" | tail -2)"; fi
}

same() { if cmp -s "$1" "$2"; then ok "$3"; else bad "$3"; fi; }

for c in 17 18 19; do
    device "dev$c" "Luat_V00${c}_RDA8910" 1.0.0
    expect 0 "dev$c" check
    grep -q "update available: core Luat_V00${c}_RDA8910 -> Luat_V0020_RDA8910, script 1.0.0 -> 1.1.0" \
        "$W/dev$c.out" && ok "dev$c: check names the target" || bad "dev$c: check: $(cat "$W/dev$c.out")"
    expect 0 "dev$c" update
    same "$W/dev$c/core.bin" "$REL/core_Luat_V0020_RDA8910.bin" "dev$c: core.bin is the 0020 image"
    same "$W/dev$c/script.bin" "$REL/script/script_1.1.0.bin" "dev$c: script.bin is 1.1.0"
    grep -q '^core = Luat_V0020_RDA8910' "$W/dev$c/device.ini" && ok "dev$c: device.ini says 0020" \
        || bad "dev$c: device.ini not updated"
    expect 2 "dev$c" update
done

device script20 Luat_V0020_RDA8910 1.0.0
expect 0 script20 update
same "$W/script20/script.bin" "$REL/script/script_1.1.0.bin" "script20: script.bin is 1.1.0"
same "$W/script20/core.bin" "$REL/core_Luat_V0020_RDA8910.bin" "script20: core.bin unchanged"

device uptodate Luat_V0020_RDA8910 1.1.0
expect 2 uptodate check
expect 2 uptodate update

# OTA_CLIENT_KILL_AT=0 is refused (it used to count steps AND update).
device kill0 Luat_V0017_RDA8910 1.0.0
OTA_CLIENT_KILL_AT=0 expect 1 kill0 update
same "$W/kill0/core.bin" "$REL/shipped/Luat_V0017_RDA8910.bin" "kill0: nothing installed"
grep -q 'OTA_CLIENT_KILL_AT must be' "$W/kill0.err" && ok "kill0: says why" || bad "kill0: $(cat "$W/kill0.err")"

device small Luat_V0017_RDA8910 1.0.0 e2e-key-0001 "$PUB" 64
expect 0 small update
same "$W/small/core.bin" "$REL/core_Luat_V0020_RDA8910.bin" "small blocks: core.bin is the 0020 image"

# Power cut mid-download (SIGKILL), then resume from the journal's offset.
device killed Luat_V0019_RDA8910 1.0.0 e2e-key-0001 "$PUB" 16
for t in 0.1 0.2 0.4 0.7; do
    (timeout -s KILL $t "$CLIENT" -d "$W/killed" update) >/dev/null 2>&1
    [ -e "$W/killed/download.part" ] && break
done
if [ -e "$W/killed/download.part" ]; then
    expect 0 killed -v update
    grep -q "resuming at byte [1-9]" "$W/killed.err" && ok "killed: $(grep -o 'resuming at byte [0-9]* of [0-9]*' "$W/killed.err")" \
        || bad "killed: did not resume"
    same "$W/killed/core.bin" "$REL/core_Luat_V0020_RDA8910.bin" "killed: core.bin is the 0020 image"
else
    ok "killed: (download finished before the kill; resume not exercised)"
fi

device wrongkey Luat_V0017_RDA8910 1.0.0 wrong-key-9999
expect 3 wrongkey update
device unknown Luat_V0016_RDA8910 1.0.0
expect 3 unknown update

OTHER=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
device tampered Luat_V0018_RDA8910 1.0.0 e2e-key-0001 "$OTHER"
expect 4 tampered update
same "$W/tampered/core.bin" "$REL/shipped/Luat_V0018_RDA8910.bin" "tampered: old core kept"
[ ! -e "$W/tampered/download.pkg" ] && ok "tampered: package deleted" || bad "tampered: package left"
# The key id is in the header (block 0): refused there, not after the
# whole package (the delivered report says how many bytes were fetched).
grep -q "not among the device's 1 public key" "$W/tampered.err" && ok "tampered: unknown key id named" \
    || bad "tampered: $(tail -1 "$W/tampered.err")"
TIMEI=$(sed -n 's/^imei = //p' "$W/tampered/device.ini")
TBYTES=$(grep "\"imei\":\"$TIMEI\"" "$W/reports.jsonl" | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' | tail -1)
[ -n "$TBYTES" ] && [ "$TBYTES" -le 1024 ] && ok "tampered: refused after $TBYTES bytes (block 0)" \
    || bad "tampered: fetched ${TBYTES:-?} bytes before refusing"

# Another ota-client holds the state directory: check must not touch the
# pending report (neither send nor clear it). The report is left pending
# by a power cut just before the journal write that ends an update (the
# step count comes from a twin).
device lockedtwin Luat_V0019_RDA8910 1.0.0
OTA_CLIENT_KILL_AT=count timeout 60 "$CLIENT" -d "$W/lockedtwin" update >/dev/null 2>"$W/lockedtwin.err"
LN=$(sed -n 's/.*: \([0-9]*\) durable steps/\1/p' "$W/lockedtwin.err")
device locked Luat_V0019_RDA8910 1.0.0
LIMEI=$(sed -n 's/^imei = //p' "$W/locked/device.ini")
(OTA_CLIENT_KILL_AT=$((LN - 1)) timeout 60 "$CLIENT" -d "$W/locked" update >/dev/null 2>&1
 r=$?; exit $r) 2>/dev/null
ota_report_pending "$W/locked" && ok "locked: report pending after the cut" || bad "locked: no pending report"
timeout 60 flock -x "$W/locked" sleep 60 &
LOCKPID=$!
for _ in $(seq 100); do flock -n "$W/locked" true || break; sleep 0.05; done
expect 1 locked check
grep -q "in use by another ota-client" "$W/locked.err" && ok "locked: refused as in use" \
    || bad "locked: $(tail -1 "$W/locked.err")"
kill "$LOCKPID" 2>/dev/null; wait "$LOCKPID" 2>/dev/null
ota_report_pending "$W/locked" && ! grep -q "\"imei\":\"$LIMEI\"" "$W/reports.jsonl" &&
    ok "locked: report neither sent nor cleared" || bad "locked: pending report touched"
expect 2 locked check
! ota_report_pending "$W/locked" && grep -q "\"imei\":\"$LIMEI\"" "$W/reports.jsonl" &&
    ok "locked: delivered once the lock is free" || bad "locked: report not delivered afterwards"

sed -n 1p "$W/reports.jsonl"
[ -s "$W/reports.jsonl" ] && ok "server logged $(wc -l <"$W/reports.jsonl") reports" \
    || bad "no reports logged"

# After the first 2.05 an ICMP error is loss, not the end: the server dies
# mid-download (port unreachable) and comes back; the client carries on.
device failover Luat_V0017_RDA8910 1.0.0 e2e-key-0001 "$PUB" 16
timeout 120 "$CLIENT" -v -v -w 1 -d "$W/failover" update >"$W/failover.out" 2>"$W/failover.err" &
CPID=$!
for i in $(seq 1 400); do [ -s "$W/failover/download.part" ] && break; sleep 0.025; done
kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null # timeout passes TERM on
for i in $(seq 1 400); do grep -q "ICMP type 3 code 3 .*(counted as loss)" "$W/failover.err" && break; sleep 0.05; done
timeout 300 "$BUILD/ota-server" -c "$W/ota.ini" 2>>"$W/server.log" &
SPID=$!
wait "$CPID"; rc=$?
if grep -q "ICMP type 3 code 3 .*(counted as loss)" "$W/failover.err"; then
    ok "failover: ICMP port unreachable mid-download counted as loss"
    [ "$rc" = 0 ] && ok "failover: the update finished once the server was back" \
        || bad "failover: exit $rc: $(tail -2 "$W/failover.err")"
else
    ok "failover: (download finished before the server stopped; not exercised, exit $rc)"
fi

kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
device gone Luat_V0017_RDA8910 1.0.0
t0=$(date +%s%N)
expect 5 gone -t 30 update
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# Nobody listens there: the kernel's ICMP port unreachable ends the wait
# at once instead of after the 30 s timeout.
[ "$ms" -lt 3000 ] && ok "gone: gave up after $ms ms (ICMP), not the 30 s timeout" \
    || bad "gone: took $ms ms to give up"
grep -q "server unreachable: connection refused (ICMP port unreachable)" "$W/gone.err" \
    && ok "gone: says the port is unreachable" || bad "gone: $(cat "$W/gone.err")"

# Interop: libcoap's own Block2 server (coap-server, a resource created by
# PUT) serving the 17->20 package with 256-byte blocks: the download must be
# exact (it installs).
CS=$(command -v coap-server-openssl || command -v coap-server-notls || true)
CC=$(command -v coap-client-openssl || command -v coap-client-notls || true)
if [ -n "$CS" ] && [ -n "$CC" ]; then
    P2=$(ota_free_port)
    timeout 120 "$CS" -A 127.0.0.1 -p "$P2" -d 4 >"$W/coap-server.log" 2>&1 &
    SPID=$!
    sleep 0.3
    BLOB=$(ls "$W"/cache/*_0017-0020.pkg | head -1)
    echo "interop: serving $(basename "$BLOB")"
    BLEN=$(stat -c %s "$BLOB")
    timeout 20 "$CC" -m put -f "$BLOB" "coap://127.0.0.1:$P2/fota" >/dev/null 2>&1
    device interop Luat_V0017_RDA8910 1.0.0 e2e-key-0001 "$PUB" 256
    sed -i "s#^server = .*#server = coap://127.0.0.1:$P2#" "$W/interop/device.ini"
    expect 0 interop update
    grep -q "downloaded $BLEN bytes" "$W/interop.err" && ok "interop: $BLEN bytes from coap-server" \
        || bad "interop: download incomplete"
    same "$W/interop/core.bin" "$REL/core_Luat_V0020_RDA8910.bin" "interop: core.bin is the 0020 image"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
