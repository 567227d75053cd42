#!/bin/bash
# e2e_stress.sh - packages replaced at random instants under devices that
# are downloading them, through the link simulator (tests/tools/nbsim).
#
# Usage: tests/e2e_stress.sh [BUILD_DIR]  (or BUILD=...; default
# build/release; run from the repository root). STRESS_COUNT replacements
# (default 15: the short version tests/run.sh runs; `make stress` runs 200),
# STRESS_SEED (default 1), STRESS_DEVICES devices per round (default 4).
#
# Two packages give core 0020 + script 1.1.0 to a device on core 0017 /
# script 1.0.0: the delta+script package (about 42 KB) and the full-core
# fallback (about 214 KB, from a second cache built without shipped
# cores). The served file for core 0017 is replaced by the other one with
# rename (so the server sees a complete file), bigger and smaller in turn.
# Each round resets the devices (block sizes 1024, 256, 512, ...), starts
# them in parallel through a fresh nbsim (fast link, 1 % loss, some
# reordering), replaces the package once or, one round in four, twice, at
# instants drawn from the seeded generator over the previous round's
# duration, and waits for every device. Every device must exit 0 with
# exactly the new images. Prints "N passed, N failed" (one check per
# device run) and how many downloads restarted on an ETag change or a 4.02.
set -u
. "$(dirname "$0")/lib.sh"
BUILD=${1:-${BUILD:-build/release}}
COUNT=${STRESS_COUNT:-15}
SEED=${STRESS_SEED:-1}
NDEV=${STRESS_DEVICES:-4}
NEW_CORE=$OTA_REL/core_Luat_V0020_RDA8910.bin
NEW_SCRIPT=$OTA_REL/script/script_1.1.0.bin
W=$(mktemp -d /tmp/ota-stress.XXXXXX)
RUNNING=()
stress_cleanup() {
    local p
    for p in "${RUNNING[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    ota_cleanup
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
ota_setup "$W/run" || { echo "setup failed"; exit 1; }
trap stress_cleanup EXIT
R=$OTA_RUN
sed -i 's/^log_level = info/log_level = warn/' "$R/ota.ini"
echo "rate_limit = 0" >>"$R/ota.ini" # one source per device run; no 5.03 on block 0

# The second package: a full-core fallback (no shipped cores known).
mkdir -p "$R/none"
sed -e 's/^dir = cache/dir = cacheB/' -e "s#^shipped_dir = .*#shipped_dir = $R/none\nfull_core_fallback = yes\ncore_only = no\nscript_only = no#" \
    "$R/ota.ini" >"$R/otaB.ini"
timeout 120 "$BIN/ota-cache" -q build -c "$R/otaB.ini" >/dev/null || { echo "cache B build failed"; exit 1; }
SERVED=$(ls "$R"/cache/*_0017-0020.pkg)
cp "$SERVED" "$R/pkgA"
cp "$(ls "$R"/cacheB/*_any-0020.pkg)" "$R/pkgB"
rm -f "$R"/cache/*_0017-0020_core.pkg # only one package fits a 0017 device
echo "packages: A $(stat -c %s "$R/pkgA") bytes (delta+script), B $(stat -c %s "$R/pkgB") bytes (full+script)"
ota_server_start || exit 1

RANDOM=$SEED
CUR=A
replace() { # the other package, under the served name, by rename
    CUR=$([ "$CUR" = A ] && echo B || echo A)
    cp "$R/pkg$CUR" "$R/cache/swap.tmp" && mv -f "$R/cache/swap.tmp" "$SERVED"
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
pause_ms() { sleep "$(awk -v m="$1" 'BEGIN { printf "%.3f", m / 1000 }')"; }

blocks=(1024 256 512 1024 256 512)
done_swaps=0 round=0 est=1500 restarts=0 probes=0 pass=0 fail=0
t_start=$(now_ms)
while [ $done_swaps -lt "$COUNT" ]; do
    round=$((round + 1))
    swaps=1
    [ $((RANDOM % 4)) = 0 ] && [ $((done_swaps + 2)) -le "$COUNT" ] && swaps=2
    # a fresh link per round: nbsim keeps a fixed table of client addresses
    ota_link_start lan --down-kbit 4000 --up-kbit 2000 --delay-ms 20 --loss 0.01 \
        --reorder 0.02,0.05 --seed $((SEED * 1000 + round)) || { echo "nbsim failed"; exit 1; }
    RUNNING=()
    for i in $(seq 1 "$NDEV"); do
        d=$R/dev$i
        rm -rf "$d"
        ota_device "$d" 17 1.0.0 "8650000$(printf '%04d%04d' "$round" "$i")" >/dev/null
        echo "block_size = ${blocks[$(( (i + round) % ${#blocks[@]} ))]}" >>"$d/device.ini"
        timeout -s KILL 60 "$BIN/ota-client" -d "$d" -s "coap://127.0.0.1:$OTA_LINK_PORT" -v \
            update >"$d.out" 2>"$d.err" &
        RUNNING+=($!)
    done
    t0=$(now_ms)
    for _ in $(seq 1 $swaps); do
        pause_ms $(( (RANDOM * 32768 + RANDOM) % (est / swaps + 1) ))
        replace
        done_swaps=$((done_swaps + 1))
    done
    for i in $(seq 1 "$NDEV"); do
        wait "${RUNNING[$((i - 1))]}"
        rc=$?
        d=$R/dev$i
        restarts=$((restarts + $(grep -c "restarting from 0" "$d.err")))
        probes=$((probes + $(grep -c "4.02 for block" "$d.err")))
        if [ $rc = 0 ] && cmp -s "$d/core.bin" "$NEW_CORE" && cmp -s "$d/script.bin" "$NEW_SCRIPT"; then
            pass=$((pass + 1))
        else
            fail=$((fail + 1))
            echo "FAIL round $round device $i ($(sed -n 's/^block_size = //p' "$d/device.ini")-byte blocks): exit $rc: $(grep -h 'error' "$d.err" | tail -1)"
        fi
    done
    RUNNING=()
    est=$(( $(now_ms) - t0 ))
    [ $est -gt 100 ] || est=100
    ota_link_stop
done
echo "stress: $done_swaps replacements in $round rounds of $NDEV devices, seed $SEED," \
     "$(( ($(now_ms) - t_start) / 1000 )) s; $restarts restarts on a new ETag, $probes 4.02 probes"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
