#!/usr/bin/env bash
# bench_uplink.sh - issue 13 figures: CoAP uplink per KiB downloaded, the
# exchange before (ota-client --fota-only: every block request on /fota
# with the full query) and after (/p/<ETag hex>, up to 8 blocks per
# request), in the same run, on the nb2, nb1 and poor links of nbsim.
#
# Usage: scripts/bench_uplink.sh [BUILD_DIR]   (default build/release)
# The package: the ESP8266 MicroPython pair in tests/data/firmware
# (target v1.10 as core 0010; the device runs 0009, a core not shipped, so
# the server sends the full-core fallback: ~400 KB of zlib'd core) plus a
# 200 KB incompressible script (deterministic bytes), ~600 KB in all: the
# delta from v1.9.4 alone is only ~75 KB.
# Six runs, each on its own nbsim instance (same profile, same seed), in
# parallel: before and after on nb2, nb1 and poor. Per run: seconds,
# utilisation (size x 8 / downlink rate / seconds), uplink datagrams and
# UDP payload bytes the link carried (nbsim's count; lost ones are added
# at the mean size), bytes per KiB of package, and the block answers the
# server sent beyond one per block (downlink datagrams - blocks - the
# report's answer). Targets: nb2 after <= 15 bytes/KiB, utilisation not
# below before's. Bounded (BENCH_MAX, default 600 s), stopped by PID.
set -u
. "$(dirname "$0")/../tests/lib.sh" # ota_free_port
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
MAX=${BENCH_MAX:-600}
ROOT=$(pwd)
FW=$ROOT/tests/data/firmware/micropython-esp8266
W=$(mktemp -d /tmp/ota-bench-uplink.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT

# --- release: core 0010 = v1.10, script 9.9.9 = 200 KB of noise ----------
mkdir -p "$W/rel/shipped"
cp "$FW/v1.10.bin" "$W/rel/core.bin"
cp "$FW/v1.9.4.bin" "$W/rel/shipped/Mpy_V0009_ESP8266.bin"
# Incompressible but reproducible: AES-CTR keystream of a fixed key.
openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 0 -nosalt \
    -in /dev/zero 2>/dev/null | head -c 200000 >"$W/rel/script.bin"
PORT=$(ota_free_port)
cat >"$W/ota.ini" <<EOF
[project]
name = BENCH
product_key = bench-key-0001
[release]
core = Mpy_V0010_ESP8266
core_image = $W/rel/core.bin
script_version = 9.9.9
script_image = $W/rel/script.bin
shipped_dir = $W/rel/shipped
full_core_fallback = yes
[cache]
dir = $W/cache
signing_key = $W/ota.key
[server]
listen = 127.0.0.1:$PORT
report_log = $W/reports.jsonl
log_level = warn
EOF
"$BUILD/ota-cache" -q keygen "$W/ota.key" >/dev/null || exit 1
"$BUILD/ota-cache" -q build -c "$W/ota.ini" >/dev/null || exit 1
PKG=$(ls "$W"/cache/*_any-*.pkg 2>/dev/null | head -1)
[ -n "$PKG" ] || PKG=$(ls -S "$W"/cache/*.pkg | head -1)
SIZE=$(stat -c %s "$PKG")
echo "== link benchmark: $(basename "$PKG"), $SIZE bytes (full-core fallback + 200 KB script)"
timeout "$MAX" "$BUILD/ota-server" -c "$W/ota.ini" 2>"$W/server.log" &
PIDS+=($!)
for _ in $(seq 100); do ss -Hlun "sport = :$PORT" 2>/dev/null | grep -q . && break; sleep 0.05; done

# nbsim_for NAME PROFILE: a link of its own; port in NB_<NAME>
nbsim_for() {
    ASAN_OPTIONS=detect_leaks=0 timeout "$MAX" "$BUILD/nbsim" -l 0 -s "$PORT" -p "$2" --seed 11 --max-seconds "$MAX" \
        --port-file "$W/$1.port" 2>"$W/$1.nbsim" &
    PIDS+=($!)
    echo $! >"$W/$1.nbpid"
    for _ in $(seq 100); do [ -s "$W/$1.port" ] && break; sleep 0.02; done
}

device() { # device NAME
    mkdir -p "$W/$1"
    cat >"$W/$1/device.ini" <<EOF
[device]
project = BENCH
product_key = bench-key-0001
imei = 863000000000$((RANDOM % 900 + 100))
core = Mpy_V0007_ESP8266
script_version = 1.0.0
server = coap://127.0.0.1:$PORT
public_key = $(cat "$W/ota.key.pub")
EOF
    cp "$FW/v1.9.4.bin" "$W/$1/core.bin"
    head -c 1000 /dev/zero >"$W/$1/script.bin"
}

# ota NAME PROFILE [args]: one ota-client run in the background
ota() {
    local name=$1 prof=$2
    shift 2
    nbsim_for "$name" "$prof"
    device "$name"
    ( s=$(date +%s%N)
      timeout "$MAX" "$BUILD/ota-client" -v -d "$W/$name" -s "coap://127.0.0.1:$(cat "$W/$name.port")" \
          "$@" update >"$W/$name.out" 2>"$W/$name.err"
      echo "$? $(( ($(date +%s%N) - s) / 1000000 ))" >"$W/$name.res" ) &
    PIDS+=($!)
}


stop_link() { # stop_link NAME: the run's nbsim, so it prints its counts
    local pid
    pid=$(cat "$W/$1.nbpid" 2>/dev/null) && kill "$pid" 2>/dev/null
    for _ in $(seq 100); do grep -q "nbsim: up" "$W/$1.nbsim" 2>/dev/null && break; sleep 0.05; done
}
RUNS="nb2old nb2 nb1old nb1 poorold poor"
ota nb2old nb2 --fota-only
ota nb2 nb2
ota nb1old nb1 --fota-only
ota nb1 nb1
ota poorold poor --fota-only
ota poor poor
echo "   running (bounded by ${MAX} s)..."
for n in $RUNS; do
    while [ ! -s "$W/$n.res" ]; do sleep 1; done
    stop_link "$n"
done
rate_of() { case $1 in nb2*) echo 100000 ;; nb1*) echo 26000 ;; poor*) echo 20000 ;; esac; }
BLOCKS=$(( (SIZE + 1023) / 1024 ))
echo
printf '%-5s %-8s %7s %5s %6s %9s %7s %6s %s\n' LINK EXCHANGE TIME UTIL UP_DG UP_BYTES B/KIB EXTRA COMPLETE
for n in $RUNS; do
    read -r rc ms <"$W/$n.res"
    ok=no; [ "$rc" = 0 ] && cmp -s "$W/$n/core.bin" "$W/rel/core.bin" && ok=yes
    up=$(grep "nbsim: up" "$W/$n.nbsim")
    down=$(grep "nbsim: down" "$W/$n.nbsim")
    read -r dg by lost qd <<<"$(sed -E 's/.*carried ([0-9]+) datagrams ([0-9]+) bytes; dropped ([0-9]+) lost on air, ([0-9]+) queue full.*/\1 \2 \3 \4/' <<<"$up")"
    read -r ddg <<<"$(sed -E 's/.*carried ([0-9]+) datagrams.*dropped ([0-9]+) lost on air, ([0-9]+) queue.*/\1 \2 \3/' <<<"$down" | awk '{print $1 + $2 + $3}')"
    awk -v n="$n" -v ms="$ms" -v s="$SIZE" -v r="$(rate_of "$n")" -v dg="$dg" -v by="$by" \
        -v lost="$((lost + qd))" -v ddg="$ddg" -v blocks="$BLOCKS" -v ok="$ok" 'BEGIN {
        link = n; sub(/old$/, "", link); ex = (n ~ /old$/) ? "before" : "after";
        tot = dg + lost; bytes = dg ? by * tot / dg : 0;
        printf "%-5s %-8s %6.1fs %4.0f%% %6d %9d %7.1f %6d %s\n", link, ex, ms / 1000,
               100 * s * 8 / r / (ms / 1000), tot, bytes, bytes / (s / 1024), ddg - blocks - 1, ok }'
    eval "UP_$n=\"$dg $by\""
done
echo
echo "target (nb2, after): <= 15 uplink bytes per KiB downloaded, utilisation not below before's"
echo "EXTRA = block answers sent beyond one per block (sent twice or more; lost ones included)"
grep -ho 'window max.*srtt [0-9]* ms' "$W/nb2.err" "$W/poor.err" 2>/dev/null | sed 's/^/   /'
