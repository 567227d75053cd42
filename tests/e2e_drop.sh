#!/usr/bin/env bash
# e2e_drop.sh - release drops (issue 11.2) and the on-demand builder (11.3).
#
# `ota-cache publish` of a good drop (release.ini with sha256, and the
# platform's file names) is archived, built from every archived core,
# served to a real ota-client, and retires the previous release. Every kind
# of broken drop (missing file, truncated vs sha256, too small, wrong core
# name/chip, lower core, lower script, garbage release.ini, unknown
# project, an archived version with other bytes) is refused with exit 4
# and leaves the cache and the archive's release.ini byte for byte as they
# were. `ota-cache watch` never publishes a drop still being copied (the
# core arrives in chunks; the cache is compared between chunks), moves it
# to .done/ once settled, and moves a broken drop to .rejected/ with a
# REASON. The spool: a request yields the package and is removed; a
# request for an unarchived core becomes .failed with error=.
# Usage: BUILD=build/release tests/e2e_drop.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-drop.XXXXXX)
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
RUN=$OTA_RUN
sed -i 's|^signing_key = keys/ota.key$|&\narchive_dir = archive\ndrop_dir = drops\nspool_dir = spool\ndrop_settle = 2|' \
  "$RUN/ota.ini"
ota_server_start || { echo "server failed to start"; exit 1; }
CACHE=$RUN/cache ARCH=$RUN/archive/DEMOPROJ

# An image of a new core NUM: the target core with a few bytes changed.
make_core() {
  cp "$(ota_core_image 20)" "$2" && printf 'core %s' "$1" |
    dd of="$2" bs=1 seek=4096 conv=notrunc status=none
}
make_script() { { cat "$(ota_script_image 1.1.0)"; printf 'script %s\n' "$1"; } >"$2"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# drop_ini DIR CORE SCRIPT [extra lines]: a drop with release.ini + sha256
drop_ini() {
  local dir=$1 core=$2 script=$3; shift 3
  cat >"$dir/release.ini" <<EOF
[release]
project = DEMOPROJ
core = $core
core_image = core.bin        ; copied first
core_sha256 = $(sha "$dir/core.bin")
script_version = $script
script_image = script.bin
script_sha256 = $(sha "$dir/script.bin")
EOF
  local l; for l in "$@"; do echo "$l" >>"$dir/release.ini"; done
}
publish() { "$BIN/ota-cache" publish -c "$RUN/ota.ini" "$1" >"$TMP/pub.out" 2>&1; RC=$?; }
state() { (cd "$CACHE" && ls -l --time-style=full-iso; cat "$ARCH/release.ini" 2>/dev/null) | md5sum; }
cur_core() { sed -n 's/^core = //p' "$ARCH/release.ini"; }
# the server's index has settled on what the cache holds now
served() {
  [ "$(grep -o 'index: [0-9]* package(s) served' "$RUN/server.log" | tail -n 1 | cut -d' ' -f2)" = \
    "$(ls "$CACHE"/*.pkg | wc -l)" ]
}

# -- a good drop, published while ota-server serves
D=$TMP/d21; mkdir -p "$D"
make_core 21 "$D/core.bin"; make_script 1.2.0 "$D/script.bin"; drop_ini "$D" Luat_V0021_RDA8910 1.2.0
publish "$D"
check "good drop: publish exits 0" eq "$RC" 0
check "good drop: migrated the shipped cores into the archive" \
  eq "$(ls "$ARCH/core" | sed 's/-.*//' | tr '\n' ' ')" \
  "Luat_V0017_RDA8910 Luat_V0018_RDA8910 Luat_V0019_RDA8910 Luat_V0020_RDA8910 Luat_V0021_RDA8910 "
check "good drop: archive names are content-addressed" \
  test -e "$ARCH/core/Luat_V0021_RDA8910-$(sha "$D/core.bin" | cut -c1-16).bin"
check "good drop: release.ini is the new release" eq "$(cur_core)" Luat_V0021_RDA8910
for f in 0017 0018 0019 0020; do
  check "good drop: package from $f" test -s "$CACHE/DEMOPROJ_1.2.0_$f-0021.pkg"
done
check "good drop: previous release pruned" eq "$(ls "$CACHE" | grep -c '1\.1\.0')" 0
check "good drop: no temp file left in the cache" eq "$(ls -a "$CACHE" | grep -c '\.tmp')" 0
check "good drop: the server serves the new cache" ota_wait_for 30 served
dev=$TMP/dev17; ota_device "$dev" 17 1.0.0 861234567890171
OUT=$(timeout 120 "$BIN/ota-client" -t 15 -d "$dev" update 2>"$dev/err"); RC=$?
check "good drop: a device on core 17 updates (exit 0)" eq "$RC" 0
check "good drop: device core is the dropped core byte for byte" cmp -s "$dev/core.bin" "$D/core.bin"
check "good drop: device script is the dropped script" cmp -s "$dev/script.bin" "$D/script.bin"

# -- broken drops: refused (exit 4), nothing changes
before=$(state)
broken() { # NAME: build $TMP/b and publish it
  publish "$TMP/b"
  check "broken ($1): refused with exit 4" eq "$RC" 4
  check "broken ($1): reason on stderr" grep -q 'ota-cache: error:' "$TMP/pub.out"
  check "broken ($1): cache and release.ini unchanged" eq "$(state)" "$before"
  rm -rf "$TMP/b"
}
fresh() { rm -rf "$TMP/b"; mkdir -p "$TMP/b"; make_core "$1" "$TMP/b/core.bin"; make_script "$2" "$TMP/b/script.bin"; }
fresh 22 1.3.0; drop_ini "$TMP/b" Luat_V0022_RDA8910 1.3.0; rm "$TMP/b/script.bin"; broken "missing script"
fresh 22 1.3.0; drop_ini "$TMP/b" Luat_V0022_RDA8910 1.3.0; truncate -s 100000 "$TMP/b/core.bin"
broken "truncated core vs sha256"
fresh 22 1.3.0; : >"$TMP/b/script.bin"; cat >"$TMP/b/release.ini" <<EOF
[release]
project = DEMOPROJ
core = Luat_V0022_RDA8910
core_image = core.bin
script_version = 1.3.0
script_image = script.bin
EOF
broken "empty script, no sha256"
fresh 22 1.3.0; drop_ini "$TMP/b" Luat_V0022_ESP32 1.3.0; broken "wrong chip"
fresh 22 1.3.0; drop_ini "$TMP/b" Air_V0022_RDA8910 1.3.0; broken "wrong core name"
fresh 22 1.3.0; drop_ini "$TMP/b" Luat_V22_RDA8910 1.3.0; broken "malformed core version"
fresh 19 1.3.0; drop_ini "$TMP/b" Luat_V0019_RDA8910 1.3.0; broken "lower core"
fresh 22 1.1.0; drop_ini "$TMP/b" Luat_V0022_RDA8910 1.1.0; broken "lower script"
fresh 21 1.2.0; drop_ini "$TMP/b" Luat_V0021_RDA8910 1.2.0; broken "same release again"
fresh 22 1.3.0; head -c 700 /dev/urandom >"$TMP/b/release.ini"; broken "garbage release.ini"
fresh 22 1.3.0; drop_ini "$TMP/b" Luat_V0022_RDA8910 1.3.0; sed -i 's/DEMOPROJ/OTHERPROJ/' "$TMP/b/release.ini"
broken "unknown project"
fresh 22 1.3.0; broken "no release.ini, no platform names"
# archive immutability: core 21 again with other bytes
arch21=$(ls "$ARCH"/core/Luat_V0021_RDA8910-*.bin); sum21=$(sha "$arch21")
fresh 23 1.3.0; drop_ini "$TMP/b" Luat_V0021_RDA8910 1.3.0; broken "archived core with other bytes"
check "archive: core 21 kept byte for byte" eq "$(sha "$arch21")" "$sum21"
check "archive: nothing new archived by refused drops" eq "$(ls "$ARCH/core" | wc -l) $(ls "$ARCH/script" | wc -l)" "5 2"

# -- platform names, with a vendor package; a bad vendor sha256 refuses it all
D=$TMP/plat; mkdir -p "$D"
make_core 22 "$D/DEMOPROJ_1.3.0_Luat_V0022_RDA8910.bin"; make_script 1.3.0 "$D/DEMOPROJ_1.3.0_script.bin"
head -c 5000 /dev/urandom >"$D/up21.dfota.bin"
echo "up21.dfota.bin DEMOPROJ Luat_V0021_RDA8910 Luat_V0022_RDA8910 1.3.0 $(printf '%064d' 0)" \
  >"$D/vendor.manifest"
before=$(state); publish "$D"
check "vendor: a wrong SHA-256 refuses the drop (exit 4)" eq "$RC" 4
check "vendor: nothing published" eq "$(state)" "$before"
check "vendor: the reason names the SHA-256" grep -q 'SHA-256 differs from vendor.manifest' "$TMP/pub.out"
echo "up21.dfota.bin DEMOPROJ Luat_V0021_RDA8910 Luat_V0022_RDA8910 1.3.0 $(sha "$D/up21.dfota.bin")" \
  >"$D/vendor.manifest"
publish "$D"
check "platform names: publish exits 0" eq "$RC" 0
check "platform names: release is core 22 / 1.3.0" eq "$(cur_core)" Luat_V0022_RDA8910
check "platform names: package from 0021" test -s "$CACHE/DEMOPROJ_1.3.0_0021-0022.pkg"
check "vendor: bytes copied unchanged" cmp -s "$CACHE/DEMOPROJ_1.3.0_0021-0022.vendor" "$D/up21.dfota.bin"
check "vendor: manifest written" grep -qx "sha256 = $(sha "$D/up21.dfota.bin")" "$CACHE/DEMOPROJ_1.3.0_0021-0022.vendor.ini"

# -- the spool: request -> package, unknown core -> .failed
mkdir -p "$RUN/spool"
rm "$CACHE/DEMOPROJ_1.3.0_0018-0022.pkg"
req() { printf 'project=DEMOPROJ\ncore=%s\nscript=%s\n' "$1" "$2" >"$RUN/spool/DEMOPROJ+$1+$2.req"; }
req Luat_V0018_RDA8910 1.0.0; req Luat_V0015_RDA8910 1.0.0
"$BIN/ota-cache" build-pending -c "$RUN/ota.ini" >"$TMP/bp.out" 2>&1; RC=$?
check "spool: build-pending reports the failure (exit 1)" eq "$RC" 1
check "spool: the package for core 18 is back" test -s "$CACHE/DEMOPROJ_1.3.0_0018-0022.pkg"
check "spool: its request is removed" test ! -e "$RUN/spool/DEMOPROJ+Luat_V0018_RDA8910+1.0.0.req"
check "spool: unarchived core -> .failed with error=" \
  grep -q '^error=.*not archived' "$RUN/spool/DEMOPROJ+Luat_V0015_RDA8910+1.0.0.failed"
check "spool: the failed request is no longer pending" test ! -e "$RUN/spool/DEMOPROJ+Luat_V0015_RDA8910+1.0.0.req"
req Luat_V0017_RDA8910 1.0.0
"$BIN/ota-cache" build-pending -c "$RUN/ota.ini" >"$TMP/bp.out" 2>/dev/null
check "spool: a request for a package already there is just removed" \
  eq "$(test -e "$RUN/spool/DEMOPROJ+Luat_V0017_RDA8910+1.0.0.req"; echo $?) $(cat "$TMP/bp.out")" \
  "1 1 request(s) built, 0 failed"

# -- the watch service
"$BIN/ota-cache" watch -c "$RUN/ota.ini" >>"$RUN/watch.log" 2>&1 &
WPID=$!; OTA_PIDS+=("$WPID")
check "watch: starts and makes .done/.rejected" ota_wait_for 30 test -d "$RUN/drops/.rejected"
# a slow copy: script (the marker) first, then the core in 16 KiB chunks
make_core 23 "$TMP/core23.bin"; make_script 1.4.0 "$TMP/s14.bin"
W=$RUN/drops/slow; mkdir -p "$W"
cp "$TMP/s14.bin" "$W/DEMOPROJ_1.4.0_script.bin"
: >"$W/DEMOPROJ_1.4.0_Luat_V0023_RDA8910.bin"
before=$(state) half=0 size=$(stat -c %s "$TMP/core23.bin")
for off in $(seq 0 16384 $((size - 1))); do
  dd if="$TMP/core23.bin" of="$W/DEMOPROJ_1.4.0_Luat_V0023_RDA8910.bin" bs=16384 \
    skip=$((off / 16384)) seek=$((off / 16384)) count=1 conv=notrunc status=none
  [ "$(state)" = "$before" ] && [ -d "$W" ] || half=1
  sleep 0.2
done
check "watch: nothing published while the copy runs" eq "$half" 0
check "watch: the settled drop moves to .done/" ota_wait_for 30 eval 'ls -d "$RUN"/drops/.done/slow-* >/dev/null 2>&1'
check "watch: release is core 23 / 1.4.0" eq "$(cur_core)" Luat_V0023_RDA8910
check "watch: archived core 23 is the whole image" \
  cmp -s "$(ls "$ARCH"/core/Luat_V0023_RDA8910-*.bin)" "$TMP/core23.bin"
check "watch: package from 0022" test -s "$CACHE/DEMOPROJ_1.4.0_0022-0023.pkg"
check "watch: the previous release's vendor package is retired" \
  eq "$(ls "$CACHE" | grep -c vendor)" 0
# a broken drop: moved to .rejected with the reason
before=$(state)
B=$RUN/drops/bad; mkdir -p "$B.tmp"; make_core 24 "$B.tmp/core.bin"; make_script 1.0.0 "$B.tmp/script.bin"
drop_ini "$B.tmp" Luat_V0024_RDA8910 1.0.0; mv "$B.tmp" "$RUN/drops/.x"; mv "$RUN/drops/.x" "$B"
check "watch: broken drop moves to .rejected/" ota_wait_for 30 eval 'ls "$RUN"/drops/.rejected/bad-*/REASON >/dev/null 2>&1'
check "watch: REASON names the lower script" grep -q 'refused: script 1.0.0 is older' "$RUN"/drops/.rejected/bad-*/REASON
check "watch: cache unchanged by the broken drop" eq "$(state)" "$before"
# a request while watching
rm "$CACHE/DEMOPROJ_1.4.0_0019-0023.pkg"
req Luat_V0019_RDA8910 1.0.0
check "watch: a request is built and removed" \
  ota_wait_for 30 eval 'test ! -e "$RUN/spool/DEMOPROJ+Luat_V0019_RDA8910+1.0.0.req" && test -s "$CACHE/DEMOPROJ_1.4.0_0019-0023.pkg"'
kill -TERM "$WPID"; wait "$WPID"; RC=$?
check "watch: stops cleanly on SIGTERM" eq "$RC" 0
ota_summary
