#!/usr/bin/env bash
# demo.sh - the whole update path on one machine, for `make demo`.
#
# Builds signed packages from the bundled sample release (tests/data/release:
# shipped cores 0017, 0018, 0019, target core 0020, script 1.0.0 -> 1.1.0),
# starts ota-server on 127.0.0.1 and, in front of it, the NB-IoT link
# simulator with the nb2 profile (100 kbit/s down, 60 kbit/s up, 300 ms
# one way, 1 % loss), updates five simulated devices with ota-client through
# it, checks every resulting image byte for byte against the release,
# prints a summary table and stops everything by PID.
# Usage: scripts/demo.sh [BUILD_DIR]   (default build/release)
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
. tests/lib.sh

RUN=$OTA_ROOT/demo-run
echo "== building packages from the sample release into $RUN/cache"
ota_setup "$RUN" || { echo "demo: setup failed" >&2; exit 1; }
"$BIN/ota-cache" list "$RUN/cache"

echo
echo "== starting ota-server on 127.0.0.1:$OTA_PORT"
ota_server_start || { echo "demo: server failed to start" >&2; exit 1; }
echo "   pid $OTA_SERVER_PID, log $RUN/server.log"
ota_link_start nb2 || { echo "demo: link simulator failed to start" >&2; exit 1; }
echo "== devices reach the server through nbsim nb2 on 127.0.0.1:$OTA_LINK_PORT (pid $OTA_LINK_PID)"

# name core script imei
DEVICES=(
  "dev-0017 17 1.0.0 861234567890017"
  "dev-0018 18 1.0.0 861234567890018"
  "dev-0019 19 1.0.0 861234567890019"
  "dev-0020-oldscript 20 1.0.0 861234567890020"
  "dev-0020-current 20 1.1.0 861234567890021"
)
want_core=$(ota_core_image 20)
want_script=$(ota_script_image 1.1.0)
rows=() bad=0
echo
echo "== updating devices"
for d in "${DEVICES[@]}"; do
  set -- $d
  name=$1 core=$2 script=$3 imei=$4 dir="$RUN/devices/$1"
  ota_device "$dir" "$core" "$script" "$imei"
  t0=$(date +%s%N)
  out=$(timeout 300 "$BIN/ota-client" -s "coap://127.0.0.1:$OTA_LINK_PORT" -d "$dir" update \
        2>"$dir/client.log"); rc=$?
  secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  echo "   $name: $out"
  if cmp -s "$dir/core.bin" "$want_core" && cmp -s "$dir/script.bin" "$want_script"; then
    images="core 0020 + script 1.1.0 exact"
  else
    images="MISMATCH"; bad=$((bad + 1))
  fi
  case $rc in 0) result="updated" ;; 2) result="no update" ;; *) result="exit $rc"; bad=$((bad + 1)) ;; esac
  [ "$name" = dev-0020-current ] && [ $rc -ne 2 ] && bad=$((bad + 1))
  after=$(sed -n 's/^core = Luat_V\([0-9]*\)_.*/\1/p' "$dir/device.ini")/$(sed -n 's/^script_version = //p' "$dir/device.ini")
  bytes=$(sed -n 's/.*(\([0-9]*\) bytes.*/\1/p' <<<"$out"); bytes=${bytes:-0}
  rows+=("$(printf '%-20s %-12s %-12s %-10s %8s %6.2f  %s' "$name" "00$core/$script" "$after" "$result" "$bytes" "$secs" "$images")")
done

ota_link_stop
ota_server_stop; src=$?
echo
echo "== link simulator"
cat "$RUN/nbsim.log"
echo
echo "== summary"
printf '%-20s %-12s %-12s %-10s %8s %6s  %s\n' DEVICE BEFORE AFTER RESULT BYTES SECS IMAGES
printf '%s\n' "${rows[@]}"
echo
echo "server stopped (exit $src); $(wc -l <"$RUN/reports.jsonl" 2>/dev/null || echo 0) device reports in $RUN/reports.jsonl"
if [ $bad -ne 0 ] || [ $src -ne 0 ]; then echo "demo: FAILED ($bad problems)"; exit 1; fi
echo "demo: all devices on core 0020 / script 1.1.0"
