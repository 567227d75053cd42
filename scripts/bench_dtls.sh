#!/usr/bin/env bash
# bench_dtls.sh - coaps:// cost (issue 6): DTLS-PSK handshakes per second,
# and the block rate over coaps:// as a ratio of coap:// in the same run.
#
# One ota-server serves both schemes on 127.0.0.1. Handshakes: CONC loops
# of Debian's coap-client-openssl, each run a new process and so a full
# PSK handshake (identity = IMEI, key derived by the server), for SECONDS;
# the same loops over coap:// give the process-start baseline. Block rate:
# ota-client downloads one full-core package (ESP8266 v1.10, ~600 KB
# package, ~590 blocks of 1024 bytes) on DEVS devices at once over each
# scheme, REPS rounds, best round.
# Usage: scripts/bench_dtls.sh BUILD_DIR   (figures, not pass/fail)
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
CONC=${CONC:-4} SECONDS_EACH=${SECONDS_EACH:-10} REPS=${REPS:-5}
. tests/lib.sh
command -v coap-client-openssl >/dev/null || { echo "bench_dtls: coap-client-openssl missing"; exit 1; }

TMP=$(mktemp -d /tmp/ota-bench-dtls.XXXXXX)
ota_setup "$TMP/run" >/dev/null || { echo "bench_dtls: setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
RUN=$TMP/run
DPORT=$(ota_free_port)
FW=tests/data/firmware/micropython-esp8266
head -c 200000 /dev/urandom >"$TMP/script.bin" # incompressible: a ~600 KB package
printf 'bench-product-secret-%s\n' "$RANDOM$RANDOM" >"$RUN/psk.secret"; chmod 600 "$RUN/psk.secret"
cat >"$RUN/ota.ini" <<EOF
[project]
name = BENCH
product_key = bench-key
psk_secret = psk.secret
[release]
core = Esp_V0010_LX106
core_image = $OTA_ROOT/$FW/v1.10.bin
script_version = 1.0.0
script_image = $TMP/script.bin
full_core_fallback = yes
core_only = no
script_only = no
[cache]
dir = cache2
signing_key = keys/ota.key
[server]
listen = 127.0.0.1:$OTA_PORT
log_level = warn
max_sessions = 256
[dtls]
listen = 127.0.0.1:$DPORT
EOF
"$BIN/ota-cache" -q build -c "$RUN/ota.ini" >/dev/null || exit 1
ota_server_start || exit 1
for i in $(seq 1 50); do ss -Hlun "sport = :$DPORT" | grep -q . && break; sleep 0.05; done
PKG=$(ls -S "$RUN"/cache2/*.pkg | head -1)
echo "server pid $OTA_SERVER_PID; package $(basename "$PKG"), $(stat -c %s "$PKG") bytes"

# A PSK without NUL bytes or a trailing newline, so coap-client's -k can carry it.
for n in $(seq 100 199); do
  IMEI=861234567890$n HEX=$("$BIN/ota-cache" psk -c "$RUN/ota.ini" "$IMEI")
  case $HEX in *0a) continue ;; esac
  [ "$(printf %s "$HEX" | sed 's/../&\n/g' | grep -c '^00$')" -eq 0 ] && break
done
KEY=$(printf "$(sed 's/../\\x&/g' <<<"$HEX")")

# loop SCHEME: one client loop for SECONDS_EACH; prints the count of good answers
loop() {
  local end=$((SECONDS + SECONDS_EACH)) n=0
  while [ $SECONDS -lt $end ]; do
    if [ "$1" = coaps ]; then
      timeout 5 coap-client-openssl -B 3 -u "$IMEI" -k "$KEY" -m get \
        "coaps://127.0.0.1:$DPORT/.well-known/core" 2>/dev/null | grep -q fota && n=$((n + 1))
    else
      timeout 5 coap-client-notls -B 3 -m get "coap://127.0.0.1:$OTA_PORT/.well-known/core" \
        2>/dev/null | grep -q fota && n=$((n + 1))
    fi
  done
  echo "$n"
}
rate() { # SCHEME -> requests per second over CONC loops
  local pids=() i total=0
  for i in $(seq 1 "$CONC"); do loop "$1" >"$TMP/loop.$1.$i" & pids+=($!); done
  for i in "${pids[@]}"; do wait "$i"; done
  for i in $(seq 1 "$CONC"); do total=$((total + $(cat "$TMP/loop.$1.$i"))); done
  awk -v t="$total" -v s="$SECONDS_EACH" 'BEGIN { printf "%.1f", t / s }'
}
hs=$(rate coaps); plain=$(rate coap)
echo
echo "handshakes: $hs new DTLS sessions/s ($CONC client processes, ${SECONDS_EACH} s)"
echo "            $plain plain coap:// exchanges/s with the same process churn (baseline)"

# Block rate: DEVS devices download the full package at once, over each
# scheme; best wall time of REPS rounds (each round new devices, so coaps://
# includes one handshake per device).
DEVS=${DEVS:-8}
dl_one() { # SCHEME DIR
  local d=$2
  ota_device "$d" 17 1.0.0 "$IMEI" >/dev/null
  sed -i "s|^project = .*|project = BENCH|; s|^product_key = .*|product_key = bench-key|; s|^core = .*|core = Esp_V0001_LX106|" "$d/device.ini"
  if [ "$1" = coaps ]; then
    sed -i "s|^server = .*|server = coaps://127.0.0.1:$DPORT|" "$d/device.ini"; echo "psk = $HEX" >>"$d/device.ini"
  fi
}
dl() { # SCHEME -> best milliseconds over REPS rounds of DEVS parallel downloads
  local best=999999 r i t0 t pids bad
  for r in $(seq 1 "$REPS"); do
    for i in $(seq 1 "$DEVS"); do dl_one "$1" "$TMP/dev-$1-$r-$i"; done
    t0=$(date +%s%N) pids=() bad=0
    for i in $(seq 1 "$DEVS"); do
      timeout 300 "$BIN/ota-client" -t 20 -d "$TMP/dev-$1-$r-$i" update >/dev/null \
        2>"$TMP/dev-$1-$r-$i.err" & pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
    t=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ $bad -eq 0 ] || { echo "bench_dtls: $1: $bad of $DEVS downloads failed" >&2; continue; }
    [ $t -lt $best ] && best=$t
  done
  echo "$best"
}
SIZE=$(stat -c %s "$PKG"); BLOCKS=$(( DEVS * ((SIZE + 1023) / 1024) ))
ms_plain=$(dl coap); ms_dtls=$(dl coaps)
echo
awk -v b="$BLOCKS" -v p="$ms_plain" -v d="$ms_dtls" -v n="$DEVS" 'BEGIN {
  rp = b / (p / 1000); rd = b / (d / 1000)
  printf "block rate: coap://  %d blocks in %d ms = %.0f blocks/s (%d devices at once, whole updates)\n", b, p, rp, n
  printf "            coaps:// %d blocks in %d ms = %.0f blocks/s\n", b, d, rd
  printf "            coaps/coap = %.2f (target >= 0.7)\n", rd / rp }'
