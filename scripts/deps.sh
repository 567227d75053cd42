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
  bsdiff                        # size/speed reference for the delta engine
  iproute2 procps openssl       # ss, ps, and openssl as an HMAC/DTLS oracle in tests
  python3                       # raw-datagram senders in the server tests
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
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: done"
