#!/usr/bin/env bash
# e2e_device.sh - the emulated device: firmware on QEMU mps2-an386 updated
# by the real ota-server over the nb2 link.
#
#   firmware --UART0--> QEMU chardev --TCP--> ota-modem --UDP--> nbsim (nb2) --> ota-server
#
# Builds the sample release's cache, writes the device's flash image
# (provisioning record, factory core 0017 and script 1.0.0, everything
# else erased; layout from device/port/mps2/nor.h), boots the firmware
# (build/device/ota-mps2.elf, `make device-fw`) with that image loaded into
# its emulated flash, and checks its exit status (semihosting) and the
# flash it writes back at power-off: the core and script slots must be the
# release images byte for byte. A second boot from that flash finds
# nothing newer; a device with another public key refuses the package;
# power cuts (the firmware's cut_at hook) mid-download and during the
# commit are recovered by the next boot. Every process is bounded and
# stopped by PID.
# Usage: BUILD=build/release tests/e2e_device.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

FW=build/device/ota-mps2.elf
QEMU=$(command -v qemu-system-arm)
[ -n "$QEMU" ] || { echo "qemu-system-arm missing (scripts/deps.sh)"; exit 1; }
[ -f "$FW" ] || { echo "$FW missing: make device-fw"; exit 1; }
TMP=$(mktemp -d /tmp/ota-device.XXXXXX)
trap 'ota_cleanup; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
RUN=$TMP/run
ota_server_start || { echo "server failed to start"; exit 1; }
ota_link_start nb2 || { echo "nbsim failed to start"; exit 1; }

# nor_def NAME: a layout constant of the firmware's flash (nor.h).
nor_def() { printf '%d' "$(sed -n "s/^#define NOR_$1 \(0x[0-9a-fA-F]*\).*/\1/p" device/port/mps2/nor.h)"; }

# prov_text [key=value...]: the device's provisioning record (factory
# images 0017 and 1.0.0, public key $PUB), extra lines appended.
prov_text() {
  echo "# written by tests/e2e_device.sh"
  echo "project=$OTA_PROJECT"
  echo "product_key=$OTA_PRODUCT_KEY"
  echo "imei=$IMEI"
  echo "core_name=Luat"
  echo "chip=RDA8910"
  echo "core=17"
  echo "script=1.0.0"
  echo "core_len=$(stat -L -c %s "$OLD_CORE")"
  echo "script_len=$(stat -L -c %s "$OLD_SCRIPT")"
  echo "pubkey=$PUB"
  echo "server=127.0.0.1:$OTA_LINK_PORT"
  echo "flash_out=flash.out"
  local kv; for kv in "$@"; do echo "$kv"; done
}

# provision FLASH [key=value...]: (re)write FLASH's provisioning sector,
# as a factory (or the test between two boots) would.
provision() {
  local f=$1; shift
  prov_text "$@" >"$RUN/prov.txt"
  [ "$(stat -c %s "$RUN/prov.txt")" -lt "$(nor_def SECTOR)" ] || return 1
  head -c "$(nor_def SECTOR)" /dev/zero | tr '\0' '\377' | dd of="$f" conv=notrunc status=none &&
  dd if="$RUN/prov.txt" of="$f" conv=notrunc status=none
}

# factory_flash OUT [key=value...]: the flash as the device leaves the
# factory: erased, core 0017 and script 1.0.0 in their slots, provisioned.
factory_flash() {
  local out=$1; shift
  head -c "$(nor_def TOTAL)" /dev/zero | tr '\0' '\377' >"$out"
  dd if="$OLD_CORE" of="$out" oflag=seek_bytes seek="$(nor_def CORE_OFF)" conv=notrunc status=none &&
  dd if="$OLD_SCRIPT" of="$out" oflag=seek_bytes seek="$(nor_def SCRIPT_OFF)" conv=notrunc status=none &&
  provision "$out" "$@"
}

# modem_start: tests/tools/ota-modem on a free port (it listens, QEMU connects).
modem_start() {
  rm -f "$RUN/modem.port"
  timeout 300 "$BIN/ota-modem" --listen 0 --port-file "$RUN/modem.port" --max-seconds 280 \
    --log "$RUN/modem.log" &
  OTA_PIDS+=("$!")
  ota_wait_for 10 test -s "$RUN/modem.port" && MODEM_PORT=$(cat "$RUN/modem.port")
}

# boot NAME: one power-on of the device with flash.bin; sets RC (the
# firmware's exit status) and SECS; the flash comes back in flash.out.
boot() {
  local t0=$SECONDS
  rm -f "$RUN/flash.out"
  (cd "$RUN" && exec timeout 120 "$QEMU" -M mps2-an386 -nographic -monitor none \
      -semihosting-config enable=on,target=native -kernel "$OTA_ROOT/$FW" \
      -device loader,file=flash.bin,addr=0x21000000,force-raw=on \
      -chardev socket,id=modem,host=127.0.0.1,port="$MODEM_PORT" -serial chardev:modem \
      -serial file:"console-$1.log" >"qemu-$1.log" 2>&1) &
  local pid=$!
  OTA_PIDS+=("$pid")
  wait "$pid"; RC=$?
  SECS=$((SECONDS - t0))
}

# slot FLASH CORE|SCRIPT LEN OUT: LEN bytes of that slot of a flash file.
slot() {
  local off
  off=$(nor_def "$2_OFF")
  tail -c +"$((off + 1))" "$1" | head -c "$3" >"$4"
}
# console_field BOOT KEY: KEY=value from that boot's console lines.
console_field() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" "$RUN/console-$1.log" | tail -1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

NEW_CORE=$(ota_core_image 20)
NEW_SCRIPT=$(ota_script_image 1.1.0)
OLD_CORE=$(ota_core_image 17)
OLD_SCRIPT=$(ota_script_image 1.0.0)
IMEI=861234567890417
PUB=$(cat "$RUN/keys/ota.key.pub")
modem_start || { echo "ota-modem failed to start"; exit 1; }
factory_flash "$RUN/flash.bin" || { echo "flash image failed"; exit 1; }

# -- first boot: 0017 + 1.0.0 -> 0020 + 1.1.0 over nb2
boot first
sed 's/^/      | /' "$RUN/console-first.log"
check "first boot: firmware exits 0 (updated) in ${SECS}s, update $(console_field first ms) ms" eq "$RC" 0
check "first boot: the flash came back over semihosting" test -s "$RUN/flash.out"
check "first boot: running core 20, script 1.1.0" \
  eq "$(console_field first core) $(console_field first script)" "20 1.1.0"
core_len=$(console_field first core_len) script_len=$(console_field first script_len)
slot "$RUN/flash.out" CORE "${core_len:-0}" "$RUN/core.bin"
slot "$RUN/flash.out" SCRIPT "${script_len:-0}" "$RUN/script.bin"
check "first boot: core slot is core 0020 byte for byte" cmp -s "$RUN/core.bin" "$NEW_CORE"
check "first boot: script slot is script 1.1.0 byte for byte" cmp -s "$RUN/script.bin" "$NEW_SCRIPT"
check "first boot: SHA-256 over the UART matches both release images" \
  eq "$(console_field first core_sha256) $(console_field first script_sha256)" "$(sha "$NEW_CORE") $(sha "$NEW_SCRIPT")"
check "first boot: no byte lost on the modem UART" eq "$(console_field first uart_overruns)" 0
check "first boot: the modem refused no command" bash -c "! grep -q -- '-> ERROR' '$RUN/modem.log'"

# -- second boot from the flash the first one left: nothing newer
cp "$RUN/flash.out" "$RUN/flash.bin"
boot second
sed 's/^/      | /' "$RUN/console-second.log"
check "second boot: firmware exits 2 (no update) in ${SECS}s" eq "$RC" 2
check "second boot: still core 20, script 1.1.0 (from the journal)" \
  eq "$(console_field second core) $(console_field second script)" "20 1.1.0"
slot "$RUN/flash.out" CORE "$(stat -L -c %s "$NEW_CORE")" "$RUN/core2.bin"
slot "$RUN/flash.out" SCRIPT "$(stat -L -c %s "$NEW_SCRIPT")" "$RUN/script2.bin"
check "second boot: core and script slots unchanged" \
  bash -c "cmp -s '$RUN/core2.bin' '$NEW_CORE' && cmp -s '$RUN/script2.bin' '$NEW_SCRIPT'"

# slots_are FLASH CORE_FILE SCRIPT_FILE: both slots hold exactly those images.
slots_are() {
  slot "$1" CORE "$(stat -L -c %s "$2")" "$RUN/c.bin" && cmp -s "$RUN/c.bin" "$2" &&
  slot "$1" SCRIPT "$(stat -L -c %s "$3")" "$RUN/s.bin" && cmp -s "$RUN/s.bin" "$3"
}
total_ops=$(console_field first flash_ops)

# -- a package signed by another key: refused after download, old images kept
PUB=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') factory_flash "$RUN/flash.bin"
boot wrongkey
check "wrong public key: firmware exits 4 (verification failed)" eq "$RC" 4
check "wrong public key: slots still hold 0017 and 1.0.0 byte for byte" \
  slots_are "$RUN/flash.out" "$OLD_CORE" "$OLD_SCRIPT"

# -- power cut mid-download (flash operation 40 of the boot, torn), then a
# boot that recovers and resumes
factory_flash "$RUN/flash.bin" cut_at=40
boot cut-download
check "cut mid-download: the boot ends in a power cut (75)" eq "$RC" 75
cp "$RUN/flash.out" "$RUN/flash.bin" && provision "$RUN/flash.bin"
boot resume
got=$(console_field resume bytes)
check "after the cut: the next boot updates (exit 0)" eq "$RC" 0
check "after the cut: the download resumed (${got:-?} of $(stat -c %s "$RUN/cache/DEMOPROJ_1.1.0_0017-0020.pkg") bytes fetched)" \
  test "${got:-99999999}" -lt "$(stat -c %s "$RUN/cache/DEMOPROJ_1.1.0_0017-0020.pkg")"
check "after the cut: core 0020 and script 1.1.0 byte for byte" \
  slots_are "$RUN/flash.out" "$NEW_CORE" "$NEW_SCRIPT"

# -- power cut near the end (commit: 60 operations before the first boot's
# last), then a boot that recovers
cut=$(( ${total_ops:-100} - 60 ))
factory_flash "$RUN/flash.bin" "cut_at=$cut"
boot cut-commit
check "cut at flash operation $cut of ${total_ops:-?}: power cut (75)" eq "$RC" 75
cp "$RUN/flash.out" "$RUN/flash.bin" && provision "$RUN/flash.bin"
boot recovered
check "after the commit cut: the next boot ends updated or up to date (exit $RC)" \
  bash -c "[ '$RC' = 0 ] || [ '$RC' = 2 ]"
check "after the commit cut: core 0020 and script 1.1.0 byte for byte" \
  slots_are "$RUN/flash.out" "$NEW_CORE" "$NEW_SCRIPT"
check "after the commit cut: running core 20, script 1.1.0" \
  eq "$(console_field recovered core) $(console_field recovered script)" "20 1.1.0"
check "the server logged the device's success report (result 0)" grep -q '"imei":"861234567890417".*"result":0' "$RUN/reports.jsonl"
ota_summary
