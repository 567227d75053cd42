#!/usr/bin/env bash
# device-size-crypto.sh - footprint of the device crypto and inflater on a Cortex-M4.
#
# Compiles each module (DEVICE_CRYPTO_SRC below, also listed as
# DEVICE_SRC in the Makefile) with Debian's arm-none-eabi-gcc at
# -Os -mthumb -mcpu=cortex-m4 against picolibc's headers, and prints per
# module .text/.data/.bss and the worst-case stack of its public entry
# points: each function's frame from -fstack-usage plus its deepest callee
# chain from -fcallgraph-info (nothing here recurses; library calls such
# as memcpy count 0), then the caller-owned state sizes. The device
# library's `make device-size` folds these numbers into its own table.
# Usage: scripts/device-size-crypto.sh [OUTDIR] (default build/device-size).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build/device-size}
CC=${ARM_CC:-arm-none-eabi-gcc}
DEVICE_CRYPTO_SRC="device/crypto/dsha256.c device/crypto/dsha512.c device/crypto/ded25519.c device/inflate/dinfl.c"
command -v "$CC" >/dev/null || { echo "device-size-crypto: $CC missing (scripts/deps.sh installs it)" >&2; exit 1; }
SPECS=()
"$CC" --specs=picolibc.specs -E -x c /dev/null -o /dev/null 2>/dev/null && SPECS=(--specs=picolibc.specs)
FLAGS=(-Os -mthumb -mcpu=cortex-m4 -ffunction-sections -fdata-sections -fstack-usage
       -fcallgraph-info=su -std=c11 -Wall -Wextra -Werror -Wshadow -Idevice/crypto -Idevice/inflate)
mkdir -p "$OUT"
objs=()
for src in $DEVICE_CRYPTO_SRC; do
  obj="$OUT/$(basename "$src" .c).o"
  (cd "$OUT" && "$CC" "${SPECS[@]}" "${FLAGS[@]/#-Idevice/-I$OLDPWD/device}" -c "$OLDPWD/$src" -o "$(basename "$obj")")
  objs+=("$obj")
done

# state sizes as the target lays the structs out
printf '#include "dsha256.h"\n#include "dsha512.h"\n#include "ded25519.h"\n#include "dinfl.h"\n%s\n' \
  'char sz_dsha256[sizeof(struct dsha256)], sz_dsha512[sizeof(struct dsha512)];' \
  'char sz_ded25519_ph[sizeof(struct ded25519_ph)], sz_dinfl[sizeof(struct dinfl)];' |
  "$CC" "${SPECS[@]}" -mthumb -mcpu=cortex-m4 -fno-common -Idevice/crypto -Idevice/inflate -x c -c - -o "$OUT/sizes.o"

python3 - "$OUT" "${objs[@]}" <<'PY'
import re, subprocess, sys
out, objs = sys.argv[1], sys.argv[2:]
frame, calls, owner = {}, {}, {}
for o in objs:
    mod = o.rsplit('/', 1)[1][:-2]
    for line in open(o[:-2] + '.ci'):
        m = re.match(r'node: \{ title: "([^"]+)" label: "[^\\]*\\n[^\\]*\\n(\d+) bytes', line)
        if m:
            name = m.group(1).split(':')[-1]
            frame[name] = int(m.group(2)); owner[name] = mod
        m = re.match(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', line)
        if m:
            calls.setdefault(m.group(1).split(':')[-1], set()).add(m.group(2).split(':')[-1])
def worst(f, seen=()):
    if f in seen:
        raise SystemExit('device-size-crypto: recursion through ' + f)
    return frame.get(f, 0) + max([worst(c, seen + (f,)) for c in calls.get(f, ())] or [0])
print('%-10s %6s %5s %5s  %s' % ('module', 'text', 'data', 'bss', 'worst stack (public entry points)'))
tot = [0, 0, 0]
for o in objs:
    mod = o.rsplit('/', 1)[1][:-2]
    t, d, b = map(int, subprocess.check_output(['arm-none-eabi-size', o], text=True).split('\n')[1].split()[:3])
    tot = [tot[0] + t, tot[1] + d, tot[2] + b]
    syms = subprocess.check_output(['arm-none-eabi-nm', '-g', '--defined-only', o], text=True).split()
    pub = [s for s in syms[2::3]]
    stacks = {p: worst(p) for p in pub}
    top = max(stacks, key=stacks.get)
    print('%-10s %6d %5d %5d  %d bytes (%s)' % (mod, t, d, b, stacks[top], top))
print('%-10s %6d %5d %5d' % ('total', *tot))
sizes = {}
for line in subprocess.check_output(['arm-none-eabi-nm', '-S', out + '/sizes.o'], text=True).splitlines():
    addr, size, kind, name = line.split()
    sizes[name[3:]] = int(size, 16)
print('state: struct dsha256 %(dsha256)d, struct dsha512 %(dsha512)d, struct ded25519_ph %(ded25519_ph)d, '
      'struct dinfl %(dinfl)d bytes (+ a 2^wbits-byte window)' % sizes)
PY
