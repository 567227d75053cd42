#!/usr/bin/env bash
# device-fw-size.sh - footprint of the emulated device's firmware
# (build/device/ota-mps2.elf, make device-fw): the whole image, the state
# the library needs (struct odev), and the mps2 port's own buffers listed
# apart (modem RX ring, AT line, flash and provisioning structs), as issue
# 12 asks. Usage: scripts/device-fw-size.sh [ELF]
set -euo pipefail
elf=${1:-build/device/ota-mps2.elf}
[ -f "$elf" ] || { echo "device-fw-size: $elf missing (make device-fw)" >&2; exit 1; }
read -r text data bss _ < <(arm-none-eabi-size "$elf" | awk 'NR == 2')
ram_limit=$(sed -n 's/.*RAM *(rwx) *: *ORIGIN = [^,]*, LENGTH = \([0-9]*\)K.*/\1/p' device/port/mps2/mps2.ld)
stack=$(sed -n 's/^MPS2_STACK = \([0-9]*\)K;/\1/p' device/port/mps2/mps2.ld)
sym() { arm-none-eabi-nm -S -t d "$elf" | awk -v n="$1" '$4 == n { print $2 + 0; f = 1 } END { if (!f) print 0 }'; }
echo "ota-mps2.elf: flash $((text + data)) bytes (.text $text, .data $data), RAM .data+.bss $((data + bss)) bytes of ${ram_limit} KiB (stack ${stack} KiB reserved)"
echo "  library state struct odev (dev):    $(sym dev) bytes"
echo "  port buffers (apart from the library):"
echo "    modem UART RX ring (mps2_ring):   $(sym mps2_ring) bytes"
echo "    modem + flash state (port):       $(sym port) bytes, of which AT line $(sed -n 's/^#define BC95_LINE_MAX \([0-9]*\).*/\1/p' device/port/mps2/bc95.h) bytes"
echo "    provisioning + config (prov):     $(sym prov) bytes"
echo "    AT hex line buffer:               0 bytes (hex streamed to/from the library's datagram buffers)"
