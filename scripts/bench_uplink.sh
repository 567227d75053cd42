#!/usr/bin/env bash
# bench_uplink.sh - issue 13 figures: CoAP uplink per KiB downloaded, the
# exchange before (ota-client --fota-only: every block request on /fota
# with the full query) and after (/p/<ETag hex>, up to 8 blocks per
# request), in the same run, on the nb2, nb1 and poor links of nbsim.
#
# Usage: scripts/bench_uplink.sh [BUILD_DIR]   (default build/release)
# Environment: UPLINK_PROFILES (default "nb2 nb1 poor"), UPLINK_SEEDS
# (default "11 12 13": three loss patterns per link, run at once, and a
# mean row per link and exchange), UPLINK_KEEP=DIR (copy the clients' logs
# and nbsim's counts there).
# The package: the ESP8266 MicroPython pair in tests/data/firmware
# (target v1.10 as core 0010; the device runs 0009, a core not shipped, so
# the server sends the full-core fallback: ~400 KB of zlib'd core) plus a
# 200 KB incompressible script (deterministic bytes), ~600 KB in all: the
# delta from v1.9.4 alone is only ~75 KB.
# Runs, each on its own nbsim instance, all in parallel: before and after
# on nb2, nb1 and poor, for each seed (the two of a pair share the seed,
# so the same loss pattern). Per run: seconds,
# utilisation (size x 8 / downlink rate / seconds), uplink datagrams and
# UDP payload bytes the link carried (nbsim's count; lost ones are added
# at the mean size), bytes per KiB of package, and the block answers the
# server sent beyond one per block (downlink datagrams - blocks - the
# report's answer). Targets: nb2 after <= 15 bytes/KiB, utilisation not
# below before's (the mean rows, when several seeds). Bounded (BENCH_MAX, default 600 s), stopped by PID.
set -u
BENCH_NAME=uplink
. "$(dirname "$0")/bench_link_setup.sh" "$@"


stop_link() { # stop_link NAME: the run's nbsim, so it prints its counts
    local pid
    pid=$(cat "$W/$1.nbpid" 2>/dev/null) && kill "$pid" 2>/dev/null
    for _ in $(seq 100); do grep -q "nbsim: up" "$W/$1.nbsim" 2>/dev/null && break; sleep 0.05; done
}
RUNS=
SEEDS=${UPLINK_SEEDS:-11 12 13}
for prof in ${UPLINK_PROFILES:-nb2 nb1 poor}; do
    for LINK_SEED in $SEEDS; do
        sfx=; [ "$SEEDS" = 11 ] || sfx=.$LINK_SEED
        RUNS="$RUNS ${prof}old$sfx $prof$sfx"
        ota "${prof}old$sfx" "$prof" --fota-only
        ota "$prof$sfx" "$prof"
    done
done
echo "   running (bounded by ${MAX} s)..."
for n in $RUNS; do
    while [ ! -s "$W/$n.res" ]; do sleep 1; done
    stop_link "$n"
done
rate_of() { case $1 in nb2*) echo 100000 ;; nb1*) echo 26000 ;; poor*) echo 20000 ;; esac; }
BLOCKS=$(( (SIZE + 1023) / 1024 ))
echo
printf '%-5s %-8s %7s %6s %6s %9s %7s %6s %s\n' LINK EXCHANGE TIME UTIL UP_DG UP_BYTES B/KIB EXTRA COMPLETE
for n in $RUNS; do
    read -r rc ms <"$W/$n.res"
    ok=no; [ "$rc" = 0 ] && cmp -s "$W/$n/core.bin" "$W/rel/core.bin" && ok=yes
    up=$(grep "nbsim: up" "$W/$n.nbsim")
    down=$(grep "nbsim: down" "$W/$n.nbsim")
    read -r dg by lost qd <<<"$(sed -E 's/.*carried ([0-9]+) datagrams ([0-9]+) bytes; dropped ([0-9]+) lost on air, ([0-9]+) queue full.*/\1 \2 \3 \4/' <<<"$up")"
    read -r ddg <<<"$(sed -E 's/.*carried ([0-9]+) datagrams.*dropped ([0-9]+) lost on air, ([0-9]+) queue.*/\1 \2 \3/' <<<"$down" | awk '{print $1 + $2 + $3}')"
    awk -v n="${n%.*}" -v ms="$ms" -v s="$SIZE" -v r="$(rate_of "$n")" -v dg="$dg" -v by="$by" \
        -v lost="$((lost + qd))" -v ddg="$ddg" -v blocks="$BLOCKS" -v ok="$ok" 'BEGIN {
        link = n; sub(/old$/, "", link); ex = (n ~ /old$/) ? "before" : "after";
        tot = dg + lost; bytes = dg ? by * tot / dg : 0;
        printf "%-5s %-8s %6.1fs %5.1f%% %6d %9d %7.1f %6d %s\n", link, ex, ms / 1000,
               100 * s * 8 / r / (ms / 1000), tot, bytes, bytes / (s / 1024), ddg - blocks - 1, ok }'
done | tee "$W/rows"
if [ "$SEEDS" != 11 ]; then # one mean row per link and exchange
    echo "mean over seeds $SEEDS:"
    awk '{ k = $1 " " $2; n[k]++; t[k] += $3; u[k] += $4; d[k] += $5; b[k] += $6; p[k] += $7; e[k] += $8
           if (!(k in o)) { o[k] = ++no; ord[no] = k } }
         END { for (i = 1; i <= no; i++) { k = ord[i]; split(k, f, " ")
               printf "%-5s %-8s %6.1fs %4.1f%% %6.0f %9.0f %7.1f %6.1f\n", f[1], f[2], t[k] / n[k],
                      u[k] / n[k], d[k] / n[k], b[k] / n[k], p[k] / n[k], e[k] / n[k] } }' "$W/rows"
fi
echo
echo "target (nb2, after): <= 15 uplink bytes per KiB downloaded, utilisation not below before's"
echo "EXTRA = block answers sent beyond one per block (sent twice or more; lost ones included)"
for n in $RUNS; do
    grep -ho 'window max.*srtt [0-9]* ms' "$W/$n.err" 2>/dev/null | sed "s/^/   $n: /"
done
# UPLINK_KEEP=DIR: the clients' -v logs and nbsim's counts, for a look afterwards
[ -n "${UPLINK_KEEP:-}" ] && mkdir -p "$UPLINK_KEEP" && cp "$W"/*.err "$W"/*.nbsim "$UPLINK_KEEP"/
