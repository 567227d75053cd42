#!/usr/bin/env bash
# deps.sh - install the Debian packages this project builds, tests and
# benchmarks with, if any are missing. Idempotent and quiet when all is
# present; uses apt-get (as root, or through sudo when available).
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libcoap3-dev libcoap3-bin     # CoAP library with DTLS; coap-client/server as test oracles
  libssl-dev                    # libcoap-3-openssl's pkg-config pulls it in
  zlib1g-dev libinih-dev libdivsufsort-dev libsodium-dev libcmocka-dev
  clang libclang-rt-14-dev      # libFuzzer targets and sanitizers
  bsdiff xdelta3 zstd           # size/speed references for the delta engine (make bench)
  iproute2 procps openssl       # ss, ps, and openssl as an HMAC/DTLS oracle in tests
  python3                       # raw-datagram senders in the server tests
  curl                          # admin HTTP listener tests (e2e_admin.sh)
  libsystemd-dev                # sd_notify: Type=notify, watchdog
  libmicrohttpd-dev             # admin HTTP listener (metrics, health)
  systemd                       # systemd-analyze verify on the installed units
  mandoc                        # man page lint
  debhelper dpkg-dev fakeroot lintian   # Debian packages and their lint
  prometheus                    # promtool check metrics
  nginx libnginx-mod-stream rsync   # many gateways: UDP load balancer, ota-cache sync (e2e_gateways.sh)
  libjs-chart.js                # the operator console's charts (served from /usr/share/javascript)
  chromium chromium-driver python3-selenium   # the console tested in a real browser (e2e_console.sh)
  gcc-arm-none-eabi picolibc-arm-none-eabi libnewlib-arm-none-eabi   # device library footprint (scripts/device-size.sh)
)

missing=()
for p in "${PKGS[@]}"; do
  [[ "$p" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps.sh: installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install packages" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Installing a tool never starts its service (prometheus, nginx...): a
# policy-rc.d that denies every start, removed again unless it was there.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: done"
