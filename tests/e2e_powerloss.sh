#!/bin/bash
# e2e_powerloss.sh - power-loss campaign: SIGKILL ota-client at seeded random
# points across download, apply and commit, and check nothing is bricked.
#
# Usage: tests/e2e_powerloss.sh [BUILD_DIR]  (or BUILD=...; default
# build/release; run from the repository root). KILLS (default 100) kill
# points, SEED (default 5). Devices start on core 0017 / script 1.0.0 and are
# updated to 0020 / 1.1.0 over 127.0.0.1 with 256-byte blocks (many
# checkpoints). Two kinds of power cut, chosen by a seeded generator:
#   - at the N-th durable step (fsync, rename, unlink, journal write, every
#     64 KB of apply output), N uniform over a whole update's steps, through
#     the client's OTA_CLIENT_KILL_AT hook;
#   - after a random delay (SIGKILL from outside), uniform over the time a
#     whole update takes.
# After each cut the device "boots" (ota-client recover, no network) and
# must hold exactly the old images or exactly the new ones, with device.ini
# naming the same versions. Each device takes up to three cuts, then one
# uninterrupted run must leave the new images, no package and no staging
# files. Before the campaign, one targeted cut: between the rename of
# download.part to download.pkg and the journal write after it; the next
# run must install without downloading again. Prints "N passed, N failed"
# over kill points and final checks.
set -u
. "$(dirname "$0")/lib.sh" # ota_free_port
BUILD=${1:-${BUILD:-build/release}}
KILLS=${KILLS:-100}
SEED=${SEED:-5}
ROOT=$(pwd)
REL=$ROOT/tests/data/release
CLIENT=$ROOT/$BUILD/ota-client
OLD_CORE=$REL/shipped/Luat_V0017_RDA8910.bin
OLD_SCRIPT=$REL/script/script_1.0.0.bin
NEW_CORE=$REL/core_Luat_V0020_RDA8910.bin
NEW_SCRIPT=$REL/script/script_1.1.0.bin
W=$(mktemp -d /tmp/ota-powerloss.XXXXXX)
SPID=
cleanup() {
    if [ -n "$SPID" ]; then kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; fi
    rm -rf "$W"
}
trap cleanup EXIT
pass=0 fail=0 bricked=0 kinds_step=0 kinds_time=0
declare -A phases
RANDOM=$SEED

PORT=$(ota_free_port)
RANDOM=$SEED # the campaign does not depend on which port was free
cat >"$W/ota.ini" <<EOF
[project]
name = PLPROJ
product_key = pl-key-0001
[release]
core = Luat_V0020_RDA8910
core_image = $NEW_CORE
script_version = 1.1.0
script_image = $NEW_SCRIPT
shipped_dir = $REL/shipped
[cache]
dir = $W/cache
signing_key = $W/ota.key
[server]
listen = 127.0.0.1:$PORT
report_log = $W/reports.jsonl
log_level = error
EOF
timeout 20 "$BUILD/ota-cache" -q keygen "$W/ota.key" || { echo "keygen failed"; exit 1; }
timeout 120 "$BUILD/ota-cache" -q build -c "$W/ota.ini" || { echo "cache build failed"; exit 1; }
PUB=$(cat "$W/ota.key.pub")
timeout 290 "$BUILD/ota-server" -c "$W/ota.ini" 2>"$W/server.log" &
SPID=$!
for _ in $(seq 100); do
  kill -0 "$SPID" 2>/dev/null || { cat "$W/server.log"; echo "ota-server did not start"; exit 1; }
  ota_port_served "$PORT" && break
  sleep 0.05
done

device() { # device DIR
    rm -rf "$1" && mkdir -p "$1"
    cat >"$1/device.ini" <<EOF
[device]
project = PLPROJ
product_key = pl-key-0001
imei = 86200000000$((RANDOM % 9000 + 1000))
core = Luat_V0017_RDA8910
script_version = 1.0.0
server = coap://127.0.0.1:$PORT
public_key = $PUB
block_size = 256
EOF
    cp "$OLD_CORE" "$1/core.bin" && cp "$OLD_SCRIPT" "$1/script.bin"
}

# What a bootloader would find: exactly old or exactly new, and device.ini
# agreeing. Prints old/new/BRICKED.
state_of() {
    local d=$1 v
    v=$(sed -n 's/^core = Luat_V\([0-9]*\)_.*/\1/p' "$d/device.ini")/$(sed -n 's/^script_version = //p' "$d/device.ini")
    if cmp -s "$d/core.bin" "$OLD_CORE" && cmp -s "$d/script.bin" "$OLD_SCRIPT" && [ "$v" = 0017/1.0.0 ]; then
        echo old
    elif cmp -s "$d/core.bin" "$NEW_CORE" && cmp -s "$d/script.bin" "$NEW_SCRIPT" && [ "$v" = 0020/1.1.0 ]; then
        echo new
    else
        echo "BRICKED($v)"
    fi
}

# Reference run: how many durable steps and how long one update takes.
device "$W/ref"
t0=$(date +%s%N)
OTA_CLIENT_KILL_AT=count timeout 120 "$CLIENT" -d "$W/ref" update >/dev/null 2>"$W/ref.err"
t1=$(date +%s%N)
STEPS=$(sed -n 's/.*: \([0-9]*\) durable steps/\1/p' "$W/ref.err")
MS=$(( (t1 - t0) / 1000000 ))
if [ -z "$STEPS" ] || [ "$(state_of "$W/ref")" != new ]; then
    echo "FAIL reference update did not complete"; cat "$W/ref.err"; exit 1
fi
echo "reference update: $STEPS durable steps, $MS ms; $KILLS kill points, seed $SEED"

# The cut between "download.part renamed to download.pkg" and the journal
# write that says "downloaded": the first step after which the journal
# still says downloading (phase byte 1) and download.pkg exists. The next
# run must install that package without fetching it again.
renamed=
for n in $(seq 1 "$STEPS"); do
    device "$W/renamed"
    (OTA_CLIENT_KILL_AT=$n timeout 120 "$CLIENT" -d "$W/renamed" update >/dev/null 2>&1
     r=$?; exit $r) 2>/dev/null
    if [ -e "$W/renamed/download.pkg" ] &&
       [ "$(od -An -tu1 -j5 -N1 "$W/renamed/journal" 2>/dev/null | tr -d ' ')" = 1 ]; then
        renamed=$n; break
    fi
done
if [ -z "$renamed" ]; then
    fail=$((fail + 1)); echo "FAIL no step leaves download.pkg with the journal downloading"
else
    timeout 120 "$CLIENT" -d "$W/renamed" -v update >"$W/renamed.out" 2>"$W/renamed.err"
    rc=$?
    if [ $rc = 0 ] && [ "$(state_of "$W/renamed")" = new ] &&
       grep -q "download.pkg is complete" "$W/renamed.err" && ! grep -q "downloaded [0-9]* bytes" "$W/renamed.err"; then
        pass=$((pass + 1)); echo "ok   cut at step $renamed (renamed, journal not yet written): installed without a re-download"
    else
        fail=$((fail + 1)); echo "FAIL cut at step $renamed (renamed, journal not yet written): exit $rc, $(grep -o 'downloaded [0-9]* bytes' "$W/renamed.err" | tail -1)"
    fi
fi

k=0 dev=0
while [ $k -lt "$KILLS" ]; do
    dev=$((dev + 1))
    d=$W/dev$dev
    device "$d"
    for _ in 1 2 3; do
        [ $k -lt "$KILLS" ] || break
        k=$((k + 1))
        if [ $((RANDOM % 4)) -lt 3 ]; then
            n=$((RANDOM % STEPS + 1)); what="step $n"; kinds_step=$((kinds_step + 1))
            (OTA_CLIENT_KILL_AT=$n timeout 120 "$CLIENT" -d "$d" update >"$d/run$k.out" 2>&1
             r=$?; exit $r) 2>/dev/null
        else
            ms=$((RANDOM % (MS + 1))); what="${ms} ms"; kinds_time=$((kinds_time + 1))
            (timeout -s KILL "$(awk -v m="$ms" 'BEGIN { printf "%.3f", (m + 1) / 1000 }')" \
                "$CLIENT" -d "$d" update >"$d/run$k.out" 2>&1; r=$?; exit $r) 2>/dev/null
        fi
        rc=$?
        # Where the cut fell: the journal's phase byte (see client/journal.h).
        phase=$(od -An -tu1 -j5 -N1 "$d/journal" 2>/dev/null | tr -d ' ')
        [ $rc = 0 ] && phase=done
        phases[${phase:-0}]=$(( ${phases[${phase:-0}]:-0} + 1 ))
        timeout 60 "$CLIENT" -d "$d" recover >/dev/null 2>"$d/recover$k.err"
        st=$(state_of "$d")
        case $st in
            old|new) pass=$((pass + 1)) ;;
            *) fail=$((fail + 1)); bricked=$((bricked + 1))
               echo "FAIL kill $k (device $dev, $what, exit $rc): $st after recovery, journal phase ${phase:-none}" ;;
        esac
    done
    # The last run is not interrupted and must finish the update.
    timeout 120 "$CLIENT" -d "$d" update >"$d/final.out" 2>&1
    rc=$?
    st=$(state_of "$d")
    left=$(ls "$d" | grep -E '^(download\.(part|pkg)|core\.new|script\.new)|\.tmp\.' | tr '\n' ' ')
    if [ "$st" = new ] && [ -z "$left" ] && { [ $rc = 0 ] || [ $rc = 2 ]; }; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL device $dev: final update exit $rc, $st, left: ${left:-nothing}"
        tail -3 "$d/final.out"
    fi
done
echo "campaign: $k kill points ($kinds_step at a durable step, $kinds_time at a random time)" \
     "on $dev devices; $bricked bricked"
echo "cuts by journal phase: idle ${phases[0]:-0}, downloading ${phases[1]:-0}," \
     "downloaded ${phases[2]:-0}, applying ${phases[3]:-0}, committing ${phases[4]:-0}," \
     "committed ${phases[5]:-0}, finished before the cut ${phases[done]:-0}"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
