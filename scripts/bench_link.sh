#!/usr/bin/env bash
# bench_link.sh - issue 5 link figures: a ~600 KB package over simulated
# NB-IoT links (tests/tools/nbsim.c), ota-client vs Debian's coap-client.
#
# Usage: scripts/bench_link.sh [BUILD_DIR]   (default build/release)
# The package: the ESP8266 MicroPython pair in tests/data/firmware
# (target v1.10 as core 0010; the device runs 0009, a core not shipped, so
# the server sends the full-core fallback: ~400 KB of zlib'd core) plus a
# 200 KB incompressible script (deterministic bytes), ~600 KB in all: the
# delta from v1.9.4 alone is only ~75 KB.
# Runs, each on its own nbsim instance (same profile, same seed), in
# parallel so the slow baseline does not serialise the rest:
#   nb2  ota-client (adaptive window)      nb2  ota-client --window 1
#   nb2  coap-client-openssl (Block2, CON) nb1  ota-client     poor ota-client
# Prints seconds, utilisation = size x 8 / downlink rate / seconds (the
# issue's target: >= 80 % on nb2, i.e. time <= 1.25 x size x 8 / rate) and
# the speed-up over coap-client. Everything is bounded (BENCH_MAX seconds,
# default 600) and stopped by PID on exit; traffic stays on 127.0.0.1.
set -u
CC=$(command -v coap-client-openssl || command -v coap-client || true)
BENCH_NAME=link
. "$(dirname "$0")/bench_link_setup.sh" "$@"

# The query as explicit Uri-Query options: coap-client 4.3.1 keeps only the
# first four fields of a long "?a=1&b=2..." URI.
QUERY=(-O 15,project_key=bench-key-0001 -O 15,imei=863000000000999
       -O 15,firmware_name=BENCH_Mpy_ESP8266 -O 15,core_version=7 -O 15,dfota=1
       -O 15,version=1.0.0)
coap() { # the baseline: libcoap's own client, Block2 1024, CON
    nbsim_for coap nb2
    ( s=$(date +%s%N)
      timeout "$MAX" "$CC" -m get -b 1024 -B "$MAX" "${QUERY[@]}" -o "$W/coap.pkg" \
          "coap://127.0.0.1:$(cat "$W/coap.port")/fota" >"$W/coap.out" 2>&1
      echo "$? $(( ($(date +%s%N) - s) / 1000000 ))" >"$W/coap.res" ) &
    PIDS+=($!)
}

ota nb2 nb2
ota nb2w1 nb2 -w 1
ota nb1 nb1
ota poor poor
[ -n "$CC" ] && coap
echo "   running (bounded by ${MAX} s; coap-client, stop-and-wait, is the slow one)..."
for n in nb2 nb2w1 nb1 poor coap; do
    while [ ! -s "$W/$n.res" ] && { [ "$n" != coap ] || [ -n "$CC" ]; }; do sleep 1; done
done

rate_of() { case $1 in nb2*|coap) echo 100000 ;; nb1) echo 26000 ;; poor) echo 20000 ;; esac; }
line() { # line NAME PROFILE LABEL
    local rc ms ok=yes
    read -r rc ms <"$W/$1.res"
    if [ "$1" = coap ]; then cmp -s "$W/coap.pkg" "$PKG" || ok=no
    else [ "$rc" = 0 ] && cmp -s "$W/$1/core.bin" "$W/rel/core.bin" || ok=no; fi
    local secs util
    secs=$(awk -v m="$ms" 'BEGIN { printf "%.1f", m / 1000 }')
    util=$(awk -v s="$SIZE" -v r="$(rate_of "$1")" -v m="$ms" 'BEGIN { printf "%.0f", 100 * s * 8 / r / (m / 1000) }')
    [ "$ok" = no ] && util=- # an incomplete transfer used no measurable share of the link
    printf '%-5s %-34s %7s s  %4s %%  exit %-3s complete %-3s %s\n' "$2" "$3" "$secs" "$util" "$rc" "$ok" \
        "$(grep -ho 'window max.*srtt [0-9]* ms' "$W/$1.err" 2>/dev/null | sed 's/ requests.*rtt min/ ... rtt min/')"
    eval "MS_$1=$ms"
}
echo
printf '%-5s %-34s %9s  %6s\n' LINK CLIENT TIME UTIL
line nb2 nb2 "ota-client (adaptive window)"
line nb2w1 nb2 "ota-client --window 1 (NSTART=1)"
[ -n "$CC" ] && line coap nb2 "coap-client-openssl (Block2 CON)"
line nb1 nb1 "ota-client (adaptive window)"
line poor poor "ota-client (adaptive window)"
echo
ideal=$(awk -v s="$SIZE" 'BEGIN { printf "%.1f", s * 8 / 100000 }')
echo "nb2 target: <= $(awk -v i="$ideal" 'BEGIN { printf "%.1f", i * 1.25 }') s (1.25 x $ideal s), utilisation >= 80 %"
if [ -n "$CC" ]; then
    echo "speed-up over coap-client-openssl on nb2: $(awk -v a="$MS_coap" -v b="$MS_nb2" 'BEGIN { printf "%.1f", a / b }') x (target >= 3 x)"
    cmp -s "$W/coap.pkg" "$PKG" || echo "   coap-client did not finish within ${MAX} s: $(stat -c %s "$W/coap.pkg" 2>/dev/null || echo 0) of $SIZE bytes" \
        "(libcoap 4.3.1 drops its Block2 state ~93 s into a transfer, DESIGN.md 9); the ratio is a lower bound"
    echo "speed-up over our own strict --window 1 on nb2: $(awk -v a="$MS_nb2w1" -v b="$MS_nb2" 'BEGIN { printf "%.1f", a / b }') x"
fi
for n in nb2 coap nb1 poor; do [ -s "$W/$n.nbsim" ] && sed "s/^nbsim:/   [$n]/" "$W/$n.nbsim" | grep -v profile; done
