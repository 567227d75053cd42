#!/bin/bash
# e2e_link.sh - ota-client over the simulated NB-IoT link (tests/tools/nbsim.c).
#
# Usage: tests/e2e_link.sh [BUILD_DIR]  (or BUILD=...; default build/release;
# run from the repository root). Builds a cache from the bundled release,
# starts ota-server on 127.0.0.1 and nbsim in front of it, then: the windowed
# download over nb2 (and strict --window 1), nb1 and poor complete with exact
# images; out-of-order and duplicated datagrams; the package replaced in the
# cache mid-download (ETag change -> clean restart); the server's block
# size lowered by SIGHUP mid-download (smaller blocks adopted); the server gone
# mid-download (exit 5, then resume); a result report that a power cut kept
# from the server is delivered by the next run. Every process is bounded in
# time and stopped by PID on exit. Prints "N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh" # ota_free_port
BUILD=${1:-${BUILD:-build/release}}
ROOT=$(pwd)
REL=$ROOT/tests/data/release
CLIENT=$ROOT/$BUILD/ota-client
NBSIM=$ROOT/$BUILD/nbsim
NEW_CORE=$REL/core_Luat_V0020_RDA8910.bin
NEW_SCRIPT=$REL/script/script_1.1.0.bin
W=$(mktemp -d /tmp/ota-link-e2e.XXXXXX)
SPID= NBPID=
stop() { if [ -n "$1" ]; then kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; fi; }
cleanup() { stop "$NBPID"; stop "$SPID"; [ -n "${KEEP:-}" ] || rm -rf "$W"; }
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }

PORT=$(ota_free_port)
write_ini() { # write_ini FILE WINDOW_BITS
    cat >"$1" <<EOF
[project]
name = LINKPROJ
product_key = link-key-0001
[release]
core = Luat_V0020_RDA8910
core_image = $NEW_CORE
script_version = 1.1.0
script_image = $NEW_SCRIPT
shipped_dir = $REL/shipped
window_bits = $2
[cache]
dir = $W/cache
signing_key = $W/ota.key
[server]
listen = 127.0.0.1:$PORT
report_log = $W/reports.jsonl
log_level = warn
EOF
}
write_ini "$W/ota.ini" 15
timeout 20 "$BUILD/ota-cache" -q keygen "$W/ota.key" || { echo "keygen failed"; exit 1; }
timeout 120 "$BUILD/ota-cache" -q build -c "$W/ota.ini" || { echo "cache build failed"; exit 1; }
PUB=$(cat "$W/ota.key.pub")

server_start() {
    timeout 280 "$BUILD/ota-server" -c "$W/ota.ini" 2>>"$W/server.log" &
    SPID=$!
    for _ in $(seq 100); do
        ota_port_served "$PORT" && return 0
        sleep 0.05
    done
    echo "server did not start"; exit 1
}

# nbsim_start PROFILE [nbsim options]: the link in front of the server
nbsim_start() {
    stop "$NBPID"
    rm -f "$W/nb.port"
    # (no leak check: LeakSanitizer's exit-time scan has been seen to spin
    # after SIGTERM in a container; nbsim is a test tool, not the product)
    ASAN_OPTIONS=detect_leaks=0 timeout 250 "$NBSIM" -l 0 -s "$PORT" -p "$@" --seed 5 --max-seconds 240 \
        --port-file "$W/nb.port" 2>"$W/nbsim.log" &
    NBPID=$!
    for _ in $(seq 100); do [ -s "$W/nb.port" ] && break; sleep 0.02; done
    NBPORT=$(cat "$W/nb.port")
}
nbsim_stop() { stop "$NBPID"; NBPID=; sed 's/^/       /' "$W/nbsim.log" | grep -v profile; }

# device NAME CORE_NUMBER SCRIPT [BLOCK]
device() {
    local d=$W/$1
    rm -rf "$d" && mkdir -p "$d"
    cat >"$d/device.ini" <<EOF
[device]
project = LINKPROJ
product_key = link-key-0001
imei = 86100000000$((RANDOM % 9000 + 1000))
core = Luat_V00$2_RDA8910
script_version = $3
server = coap://127.0.0.1:$PORT
public_key = $PUB
block_size = ${4:-1024}
EOF
    cp "$REL/shipped/Luat_V00$2_RDA8910.bin" "$d/core.bin"
    cp "$REL/script/script_$3.bin" "$d/script.bin"
}

# run NAME SECONDS [client args...]: through the link; sets RC
run() {
    local name=$1 secs=$2
    shift 2
    timeout -s KILL "$secs" "$CLIENT" -d "$W/$name" -s "coap://127.0.0.1:$NBPORT" -v "$@" \
        >"$W/$name.out" 2>"$W/$name.err"
    RC=$?
    return $RC
}
updated() { cmp -s "$W/$1/core.bin" "$NEW_CORE" && cmp -s "$W/$1/script.bin" "$NEW_SCRIPT"; }
stat_line() { grep -ho 'window max.*' "$W/$1.err" | tail -1; }
elapsed() { grep -ho 'downloaded [0-9]* bytes in [0-9.]* s' "$W/$1.err" | tail -1; }

server_start

# 1. nb2, default adaptive window, and strict NSTART=1.
nbsim_start nb2
device nb2 17 1.0.0
run nb2 120 update
check "nb2: windowed update exit 0, exact images ($(elapsed nb2))" '[ $RC = 0 ] && updated nb2'
check "nb2: window opened beyond 1 ($(stat_line nb2))" \
    'grep -Eq "window max 32 peak ([2-9]|[1-9][0-9])" "$W/nb2.err"'
device strict 19 1.0.0
run strict 120 -w 1 update
check "nb2 --window 1: exit 0, exact images ($(elapsed strict))" '[ $RC = 0 ] && updated strict'
check "nb2 --window 1: never more than one in flight" 'grep -q "window max 1 peak 1.0" "$W/strict.err"'
nbsim_stop

# 2. nb1 and poor complete.
for prof in nb1 poor; do
    nbsim_start "$prof"
    device "$prof" 17 1.0.0
    run "$prof" 200 update
    check "$prof: update exit 0, exact images ($(elapsed "$prof"); $(stat_line "$prof"))" \
        '[ $RC = 0 ] && updated "$prof"'
    nbsim_stop
done

# 3. Reordered and duplicated datagrams, small blocks (many of them).
nbsim_start lan --reorder 0.3,0.05 --dup 0.2 --loss 0.02
device reorder 17 1.0.0 64
run reorder 120 update
check "reorder+dup+loss: update exit 0, exact images" '[ $RC = 0 ] && updated reorder'
check "reorder+dup+loss: duplicates seen and ignored ($(stat_line reorder))" \
    'grep -Eq "[1-9][0-9]* duplicate answers" "$W/reorder.err"'
nbsim_stop

# 4. The package is replaced in the cache mid-download: new ETag, restart
# (--fota-only: the short exchange would finish the old package from the
# server's grace copy, tests/e2e_uplink.sh).
nbsim_start nb1
device replaced 18 1.0.0 256
run replaced 200 --fota-only update &
CPID=$!
sleep 4
write_ini "$W/ota2.ini" 12
timeout 120 "$BUILD/ota-cache" -q build -c "$W/ota2.ini" >/dev/null
wait $CPID; RC=$?
check "replaced: update exit 0, exact images" '[ $RC = 0 ] && updated replaced'
check "replaced: ETag change seen, clean restart" \
    'grep -q "changed during the download, restarting from 0" "$W/replaced.err"'
nbsim_stop

# 4b. The server's block_size lowered by SIGHUP mid-download (once a
# quarter of the package is stored): the client adopts the smaller blocks
# and keeps what it has.
nbsim_start nb2
device resized 17 1.0.0 1024
run resized 200 update &
CPID=$!
for _ in $(seq 400); do
    [ "$(stat -c %s "$W/resized/download.part" 2>/dev/null || echo 0)" -ge 10240 ] && break
    sleep 0.025
done
echo "block_size = 256" >>"$W/ota.ini" # [server] is its last section
kill -HUP "$SPID"
wait $CPID; RC=$?
check "block size lowered mid-download: update exit 0, exact images" '[ $RC = 0 ] && updated resized'
check "block size lowered mid-download: 256-byte blocks adopted ($(grep -o 'server answers in .*' "$W/resized.err" | head -1))" \
    'grep -q "server answers in 256-byte blocks, not 1024, from byte [1-9]" "$W/resized.err"'
nbsim_stop

# 5. The server goes away mid-download: exit 5, journal kept, resume later.
nbsim_start nb1
device gone 19 1.0.0 64
run gone 60 -t 4 update &
CPID=$!
sleep 2.5
stop "$SPID"; SPID=
wait $CPID; RC=$?
check "server gone: exit 5 within the timeout" '[ $RC = 5 ]'
check "server gone: partial download kept" '[ -s "$W/gone/download.part" ] && [ -s "$W/gone/journal" ]'
server_start
run gone 120 update
check "server back: resumed, exit 0, exact images" \
    '[ $RC = 0 ] && updated gone && grep -q "resuming at byte [1-9]" "$W/gone.err"'
nbsim_stop

# 6. A power cut after the commit but before the report: the next run
# (here a check) delivers it. Step count from a dry run on a twin device.
device twin 19 1.0.0
OTA_CLIENT_KILL_AT=count timeout 60 "$CLIENT" -d "$W/twin" update >/dev/null 2>"$W/twin.err"
N=$(sed -n 's/.*: \([0-9]*\) durable steps/\1/p' "$W/twin.err")
device report 19 1.0.0
IMEI=$(sed -n 's/^imei = //p' "$W/report/device.ini")
(OTA_CLIENT_KILL_AT=$((N - 1)) timeout 60 "$CLIENT" -d "$W/report" update >/dev/null 2>&1
 r=$?; exit $r) 2>/dev/null
check "report: power cut at step $((N - 1)) of $N leaves the report pending in the journal, none logged" \
    'ota_report_pending "$W/report" && ! grep -q "$IMEI" "$W/reports.jsonl" 2>/dev/null'
timeout 60 "$CLIENT" -d "$W/report" check >/dev/null 2>&1
check "report: the next run delivers it and clears it" \
    '! ota_report_pending "$W/report" && grep -q "\"imei\":\"$IMEI\".*\"result\":0" "$W/reports.jsonl"'
check "report: images are the new ones" 'updated report'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
