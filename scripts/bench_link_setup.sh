# bench_link_setup.sh - sourced by bench_link.sh and bench_uplink.sh: the
# ~600 KB release (full-core fallback + 200 KB of incompressible script),
# its signed packages, ota-server on a free port, and the helpers that
# start one nbsim link per run (nbsim_for NAME PROFILE; its pid in
# $W/NAME.nbpid) and one ota-client run on it (ota NAME PROFILE [args];
# "rc ms" in $W/NAME.res). Sourced with the script's arguments
# ([BUILD_DIR]) and BENCH_NAME set; sets BUILD, MAX, ROOT, FW, W (a
# temporary folder removed on exit), PIDS (stopped by PID on exit), PKG,
# SIZE and PORT, and changes to the repository root.
. "$(dirname "${BASH_SOURCE[0]}")/../tests/lib.sh" # ota_free_port, ota_port_served
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${1:-build/release}
MAX=${BENCH_MAX:-600}
ROOT=$(pwd)
FW=$ROOT/tests/data/firmware/micropython-esp8266
W=$(mktemp -d /tmp/ota-bench-$BENCH_NAME.XXXXXX)
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
ota_wait_for 5 ota_port_served "$PORT"

# nbsim_for NAME PROFILE [SEED]: a link of its own (loss pattern from SEED,
# default 11); port in $W/NAME.port
nbsim_for() {
    ASAN_OPTIONS=detect_leaks=0 timeout "$MAX" "$BUILD/nbsim" -l 0 -s "$PORT" -p "$2" --seed "${3:-11}" --max-seconds "$MAX" \
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

# ota NAME PROFILE [args]: one ota-client run in the background, on a link
# seeded with $LINK_SEED (default 11)
ota() {
    local name=$1 prof=$2
    shift 2
    nbsim_for "$name" "$prof" "${LINK_SEED:-11}"
    device "$name"
    ( s=$(date +%s%N)
      timeout "$MAX" "$BUILD/ota-client" -v -d "$W/$name" -s "coap://127.0.0.1:$(cat "$W/$name.port")" \
          "$@" update >"$W/$name.out" 2>"$W/$name.err"
      echo "$? $(( ($(date +%s%N) - s) / 1000000 ))" >"$W/$name.res" ) &
    PIDS+=($!)
}
