#!/usr/bin/env bash
# device-size.sh - footprint of the device library's update path on a Cortex-M4.
#
# Builds every .c under device/ except device/port/ with Debian's
# arm-none-eabi-gcc + picolibc at -Os -mthumb -mcpu=cortex-m4
# (-ffunction-sections -fdata-sections) and links them with --gc-sections
# against a tiny main that calls the public entry points, so only what the
# update path reaches counts: odev_init/recover/check/update when
# device/update exists, else the verify/apply entry points of dpkg. Done
# twice, at ODEV_WINDOW_BITS_MAX=9 and =15. Prints per module the .text
# (code + constants), .data and .bss that survived the link (from the link
# map; picolibc's memcpy and friends are the "libc" row and count), the
# worst-case stack of the entry points (each function's frame from
# -fstack-usage plus its deepest callee chain from -fcallgraph-info; an
# indirect call costs the deepest of the library's callback functions
# (device/dback.c, dpkg's sink, odev's area adapters); the port's own
# callbacks count 0 and belong to the port), sizeof(struct odev) and the
# port buffers apart. Ends with the fixed line
#   device: flash N bytes, ram M bytes (window 9), ram K bytes (window 15)
# flash = text + data of the linked path (window 15), ram = sizeof(struct
# odev) + data + bss + worst stack (plus struct dpkg_work while struct odev
# does not hold one yet). Exit 2 when a target is exceeded with
# --check (flash <= 32 KiB, ram <= 16 KiB at 9 and <= 48 KiB at 15).
# Usage: scripts/device-size.sh [--check] [OUTDIR] (default build/device-size).
set -euo pipefail
cd "$(dirname "$0")/.."
CHECK=0
[ "${1:-}" = --check ] && { CHECK=1; shift; }
OUT=${1:-build/device-size}
CC=${ARM_CC:-arm-none-eabi-gcc}
command -v "$CC" >/dev/null || { echo "device-size: $CC missing (scripts/deps.sh installs it)" >&2; exit 1; }
SRCS=$(find device -name '*.c' -not -path 'device/port/*' | sort)
INC=(-I"$PWD/device")
for d in $(find device -mindepth 1 -maxdepth 1 -type d -not -name port | sort); do INC+=(-I"$PWD/$d"); done
SPECS=(--specs=picolibc.specs)
FLAGS=(-Os -mthumb -mcpu=cortex-m4 -ffreestanding -ffunction-sections -fdata-sections
       -fstack-usage -fcallgraph-info=su -std=c11 -Wall -Wextra -Werror -Wshadow)

if [ -f device/update/odev.c ]; then
  ENTRY="odev_init odev_recover odev_check odev_update"
  MAIN='#include "odev.h"
int main(void)
{
    /* the state, config and port live wherever the firmware puts them:
     * counted as sizeof(struct odev), not as this test main'"'"'s bss */
    struct odev *d = *(struct odev *volatile *)0x20000000;
    const struct odev_config *c = *(const struct odev_config *volatile *)0x20000004;
    const struct odev_port *p = *(const struct odev_port *volatile *)0x20000008;
    struct odev_result r;
    odev_init(d, c, p);
    odev_recover(d);
    odev_check(d, &r);
    odev_update(d, &r);
    return (int)r.status;
}'
else
  ENTRY="dpkg_header_parse dpkg_verify dpkg_extract_core dpkg_extract_script"
  MAIN='#include "dpkg.h"
int main(void)
{
    struct dpkg_work *w = *(struct dpkg_work *volatile *)0x20000000;
    const struct dio_reader *r = *(const struct dio_reader *volatile *)0x20000004;
    const struct dio_writer *o = *(const struct dio_writer *volatile *)0x20000008;
    struct dpkg_header h;
    const char *why;
    int e = dpkg_header_parse((const uint8_t *)r, 256, 1000, &h, &why);
    dpkg_work_init(w);
    e |= dpkg_verify(w, r, &h, (const uint8_t(*)[32])o, 1, &why);
    e |= dpkg_extract_core(w, r, &h, r, 10, o, &why);
    e |= dpkg_extract_script(w, r, &h, o, &why);
    return e;
}'
fi

build() { # window bits -> objects and update.elf in $OUT/w$1
  local dir="$OUT/w$1" objs=() src obj
  mkdir -p "$dir"
  for src in $SRCS; do
    obj="$dir/$(basename "$src" .c).o"
    (cd "$dir" && "$CC" "${SPECS[@]}" "${FLAGS[@]}" "${INC[@]}" -DODEV_WINDOW_BITS_MAX="$1" \
       -c "$OLDPWD/$src" -o "$(basename "$obj")")
    objs+=("$obj")
  done
  printf '%s\n' "$MAIN" > "$dir/sizemain.c"
  (cd "$dir" && "$CC" "${SPECS[@]}" "${FLAGS[@]}" "${INC[@]}" -DODEV_WINDOW_BITS_MAX="$1" \
     -c sizemain.c -o sizemain.o)
  "$CC" "${SPECS[@]}" -mthumb -mcpu=cortex-m4 -Wl,--gc-sections -Wl,-Map,"$dir/update.map" \
    "$dir/sizemain.o" "${objs[@]}" -o "$dir/update.elf"
  # state sizes as the target lays the structs out
  printf '#include "odev.h"\n#include "dpkg.h"\n%s\n%s\n' \
    'char sz_odev[sizeof(struct odev) > 4 ? sizeof(struct odev) : 0 + 1];' \
    'char sz_dpkg_work[sizeof(struct dpkg_work)], sz_ddelta[sizeof(struct ddelta)], sz_dinfl[sizeof(struct dinfl)];' |
    "$CC" "${SPECS[@]}" -mthumb -mcpu=cortex-m4 -fno-common "${INC[@]}" -DODEV_WINDOW_BITS_MAX="$1" \
      -x c -c - -o "$dir/sizes.o"
}
build 9
build 15

python3 - "$OUT" "$CHECK" "$ENTRY" <<'PY'
import glob, os, re, subprocess, sys
out, check, entry = sys.argv[1], sys.argv[2] == '1', sys.argv[3].split()
FLASH_MAX, RAM_MAX = 32 * 1024, {9: 16 * 1024, 15: 48 * 1024}

def sections(w):
    """text/data/bss per module of the sections the link kept."""
    mods, live = {}, False
    cur = None
    for line in open('%s/w%d/update.map' % (out, w)):
        if line.startswith('Linker script and memory map'):
            live = True
        if not live:
            continue
        m = re.match(r'^ (\.\S+|COMMON)(?:\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+))?\s*$', line)
        if m and m.group(2) is None:
            cur = m.group(1)
            continue
        if not m:
            m2 = re.match(r'^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+\.o\)?)\s*$', line)
            if not (m2 and cur):
                cur = None
                continue
            name, size, path = cur, int(m2.group(2), 16), m2.group(3)
        else:
            name, size, path = m.group(1), int(m.group(3), 16), m.group(4)
        cur = None
        if size == 0 or not path.endswith(('.o', '.o)')):
            continue
        if 'libc.a' in path or 'libgcc' in path:
            mod = 'libc'
        elif 'crt0' in path or path.endswith('sizemain.o'):
            continue
        else:
            mod = os.path.basename(path)[:-2]
        kind = 'bss' if name.startswith(('.bss', 'COMMON', '.tbss')) else \
               'data' if name.startswith(('.data', '.tdata')) else 'text'
        if name.startswith(('.ARM.attributes', '.comment', '.debug', '.stack', '.heap')):
            continue
        mods.setdefault(mod, {'text': 0, 'data': 0, 'bss': 0})[kind] += size
    return mods

def stack(w):
    frame, calls, owner = {}, {}, {}
    for ci in glob.glob('%s/w%d/*.ci' % (out, w)):
        mod = os.path.basename(ci)[:-3]
        for line in open(ci):
            m = re.match(r'node: \{ title: "([^"]+)" label: "[^\\]*\\n[^\\]*\\n(\d+) bytes', line)
            if m:
                name = m.group(1).split(':')[-1]
                frame[name] = int(m.group(2)); owner[name] = mod
            m = re.match(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', line)
            if m:
                calls.setdefault(m.group(1).split(':')[-1], set()).add(m.group(2).split(':')[-1])
    # the library's own callbacks: what an indirect call may reach
    cb = [f for f in frame if owner[f] == 'dback' or f == 'dpkg_sink_write' or
          (owner[f] == 'odev' and re.search(r'(read|write|rd|wr)', f) and f not in entry)]
    memo = {}
    def worst(f, seen=()):
        if f in seen:
            return 0  # an indirect call back into its own chain: counted once
        if f == '__indirect_call':
            return max([worst(c, seen) for c in cb] or [0])
        if f not in memo or seen:
            v = frame.get(f, 0) + max([worst(c, seen + (f,)) for c in calls.get(f, ())] or [0])
            if seen:
                return v
            memo[f] = v
        return memo[f]
    return {e: worst(e) for e in entry if e in frame}

def sizes(w):
    s = {}
    for line in subprocess.check_output(['arm-none-eabi-nm', '-S', '%s/w%d/sizes.o' % (out, w)],
                                        text=True).splitlines():
        addr, size, kind, name = line.split()
        s[name[3:]] = int(size, 16)
    if s.get('odev', 0) <= 1:
        s['odev'] = 0  # the stand-in: no update flow yet
    return s

res = {}
for w in (9, 15):
    mods, st, sz = sections(w), stack(w), sizes(w)
    tot = {k: sum(m[k] for m in mods.values()) for k in ('text', 'data', 'bss')}
    worst = max(st.values() or [0])
    res[w] = (tot, worst, sz, mods, st)
tot15, worst15, sz15, mods15, st15 = res[15]
print('window 15 (ODEV_WINDOW_BITS_MAX=15), modules as linked into the update path:')
print('%-10s %6s %5s %5s' % ('module', 'text', 'data', 'bss'))
for mod in sorted(mods15, key=lambda m: (m == 'libc', m)):
    m = mods15[mod]
    print('%-10s %6d %5d %5d' % (mod, m['text'], m['data'], m['bss']))
print('%-10s %6d %5d %5d' % ('total', tot15['text'], tot15['data'], tot15['bss']))
for w in (9, 15):
    tot, worst, sz, mods, st = res[w]
    print('window %d: worst stack %d bytes (%s); struct odev %d, struct dpkg_work %d, '
          'struct ddelta %d, struct dinfl %d bytes' % (
              w, worst, ', '.join('%s %d' % kv for kv in sorted(st.items())), sz['odev'],
              sz['dpkg_work'], sz['ddelta'], sz['dinfl']))
print('port buffers (not counted): the port\'s own, e.g. mps2\'s AT hex line; none in the library')
flash = tot15['text'] + tot15['data']
# the state: struct odev, or before the update flow exists the verify/apply
# working memory it will hold
# (a struct odev smaller than dpkg_work cannot hold it yet: both count)
def state_of(z):
    return z['odev'] if z['odev'] >= z['dpkg_work'] else z['odev'] + z['dpkg_work']
state = {w: state_of(res[w][2]) for w in (9, 15)}
ram = {w: state[w] + res[w][0]['data'] + res[w][0]['bss'] + res[w][1] for w in (9, 15)}
over = flash > FLASH_MAX or any(ram[w] > RAM_MAX[w] for w in (9, 15))
if check and over:
    print('device-size: over target (flash <= %d, ram <= %d / %d)' % (FLASH_MAX, RAM_MAX[9],
          RAM_MAX[15]), file=sys.stderr)
print('device: flash %d bytes, ram %d bytes (window 9), ram %d bytes (window 15)' % (
    flash, ram[9], ram[15]))
sys.exit(2 if check and over else 0)
PY
