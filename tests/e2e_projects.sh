#!/usr/bin/env bash
# e2e_projects.sh - several projects on one gateway, and vendor packages.
#
# One ota.ini with [projects] dir: DEMOPROJ (ota.ini's own), BETA and VEND
# (package_format = vendor) side by side on one cache. Each project's
# device gets its own package (the same core line in two projects: the
# selection memo must not mix them), another project's product key or an
# unknown project gets 4.03; `ota-cache` needs -p with several projects.
# coaps:// with two psk secrets: PROJECT/IMEI identities update, a bare
# IMEI is refused. Vendor packages (ota-cache vendor-add) are served byte
# for byte over CoAP and HTTP, never to an ota-format device (nor signed packages
# to a vendor device), and a tampered one is not served. SIGHUP adds a
# third project; a broken project file is refused and the running
# configuration kept. A release drop names its project (publish and
# build-pending need no -p; publish -p of another project's drop is
# refused); the census lists every project.
# Usage: BUILD=build/release tests/e2e_projects.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-proj.XXXXXX)
COAP=$(command -v coap-client-notls || command -v coap-client-openssl) ||
  { echo "coap-client not installed (libcoap3-bin)"; exit 1; }
quiet() { "$@" >/dev/null; }
not_ok() { ! "$@" 2>/dev/null; }
not_zero() { [ "$1" -ne 0 ]; }
has() { case $1 in *"$2"*) return 0 ;; esac; echo "      '$1' lacks '$2'" >&2; return 1; }

ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
RUN=$OTA_RUN CACHE=$OTA_RUN/cache
DPORT=$(ota_free_port) HPORT=$(ota_free_port)
mkdir -p "$RUN/projects.d"
for p in demo beta; do
  printf 'secret-of-%s-%s\n' "$p" "$RANDOM$RANDOM" >"$RUN/keys/$p.secret"
  chmod 600 "$RUN/keys/$p.secret"
done
sed -i "s|^product_key = .*|&\npsk_secret = keys/demo.secret|" "$RUN/ota.ini"
printf '[projects]\ndir = projects.d\n[dtls]\nlisten = 127.0.0.1:%s\n[http]\nlisten = 127.0.0.1:%s\n' \
  "$DPORT" "$HPORT" >>"$RUN/ota.ini"

# project_ini NAME KEY [EXTRA project lines]: a project file with the sample release
project_ini() {
  cat <<EOI
[project]
name = $1
product_key = $2
$3
[release]
core = Luat_V0020_RDA8910
core_image = $OTA_REL/core_Luat_V0020_RDA8910.bin
script_version = 1.1.0
script_image = $OTA_REL/script/script_1.1.0.bin
shipped_dir = $OTA_REL/shipped
EOI
}
project_ini BETA beta-key-0002 "psk_secret = ../keys/beta.secret" >"$RUN/projects.d/beta.ini"
project_ini VEND vend-key-0003 "package_format = vendor" >"$RUN/projects.d/vend.ini"

# ---- ota-cache with several projects
out=$("$BIN/ota-cache" build -c "$RUN/ota.ini" 2>&1); rc=$?
check "build without -p: usage error (exit 2)" eq "$rc" 2
check "build without -p: names the projects" has "$out" "BETA, DEMOPROJ, VEND"
check "build -p BETA" quiet "$BIN/ota-cache" build -c "$RUN/ota.ini" -p BETA
check "build -p VEND (signed packages a vendor device must never get)" \
  quiet "$BIN/ota-cache" build -c "$RUN/ota.ini" -p VEND
check "BETA's packages carry the project in their names" test -f "$CACHE/BETA_1.1.0_0018-0020.pkg"
out=$("$BIN/ota-cache" list -p BETA "$CACHE")
check "list -p BETA shows only BETA" eq "$(grep -c '^DEMOPROJ\|^VEND' <<<"$out")" 0
out=$("$BIN/ota-cache" psk -c "$RUN/ota.ini" -p NOPE 861234567890018 2>&1); rc=$?
check "psk -p for an unknown project: exit 2, names the projects" has "$rc $out" "2 "

# Vendor packages: VEND 0018 -> 0020 (served), DEMOPROJ 0017 -> 0020 tiny
# (would win as the smallest if an ota device could see it).
head -c 3000 /dev/urandom >"$TMP/vend.bin"
head -c 100 /dev/urandom >"$TMP/tiny.bin"
check "vendor-add for VEND" "$BIN/ota-cache" -q vendor-add -c "$RUN/ota.ini" -p VEND \
  --from Luat_V0018_RDA8910 --to Luat_V0020_RDA8910 --script 1.1.0 "$TMP/vend.bin"
check "vendor-add for DEMOPROJ (an ota project)" quiet "$BIN/ota-cache" vendor-add \
  -c "$RUN/ota.ini" -p DEMOPROJ --from Luat_V0017_RDA8910 --to Luat_V0020_RDA8910 \
  --script 1.1.0 --name demo-tiny "$TMP/tiny.bin"
VEND=$CACHE/VEND_1.1.0_0018-0020.vendor
# VEND's core 0017 is archived: an ota project would build its package on
# demand (5.03 code 43); a vendor project cannot, its devices get 44
mkdir -p "$RUN/archive/VEND/core"
cp "$OTA_REL/shipped/Luat_V0017_RDA8910.bin" "$RUN/archive/VEND/core/Luat_V0017_RDA8910-0123456789abcdef.bin"
check "vendor-add wrote NAME.vendor and NAME.vendor.ini" test -f "$VEND" -a -f "$VEND.ini"
check "list marks vendor packages" grep -q "VEND_1.1.0_0018-0020.vendor.ini .* vendor delta+script" \
  <("$BIN/ota-cache" list "$CACHE")
check "verify checks a vendor package against its manifest" quiet "$BIN/ota-cache" verify "$VEND.ini"

ota_server_start || { echo "server failed to start"; exit 1; }
URL="coap://127.0.0.1:$OTA_PORT"
opts() {
  OPTS=(-O "15,project_key=$1" -O 15,imei=861234567890123 -O "15,firmware_name=$2"
        -O "15,core_version=$3" -O 15,dfota=1 -O "15,version=$4")
}
fetch() { # OUT KEY FW CORE SCRIPT
  local out=$1; shift
  opts "$@"; rm -f "$out"
  timeout 120 "$COAP" -B 60 -m get -b 1024 "${OPTS[@]}" "$URL/fota" -o "$out" >/dev/null 2>&1
}
ask() { opts "$@"; timeout 30 "$COAP" -B 10 -m get "${OPTS[@]}" "$URL/fota" 2>&1 | head -1; }
DK=$OTA_PRODUCT_KEY BK=beta-key-0002 VK=vend-key-0003

# ---- two projects side by side
fetch "$TMP/d18" "$DK" DEMOPROJ_Luat_RDA8910 18 1.0.0
check "DEMOPROJ device gets DEMOPROJ's package" cmp -s "$TMP/d18" "$CACHE/DEMOPROJ_1.1.0_0018-0020.pkg"
fetch "$TMP/b18" "$BK" BETA_Luat_RDA8910 18 1.0.0
check "BETA device on the same core gets BETA's package" cmp -s "$TMP/b18" "$CACHE/BETA_1.1.0_0018-0020.pkg"
check "BETA device with DEMOPROJ's key: 4.03" has "$(ask "$DK" BETA_Luat_RDA8910 18 1.0.0)" "4.03"
check "unknown project: 4.03 code 25" has "$(ask "$DK" NOPE_Luat_RDA8910 18 1.0.0)" '"code":25'

# ---- vendor packages
fetch "$TMP/v18" "$VK" VEND_Luat_RDA8910 18 1.0.0
check "vendor package bytes served unchanged over CoAP" cmp -s "$TMP/v18" "$TMP/vend.bin"
timeout 60 "$BIN/ota-module" -u "http://127.0.0.1:$HPORT" -k "$VK" -i 861234567890124 \
  -f VEND_Luat_RDA8910 -c 18 -v 1.0.0 -o "$TMP/v18h" >/dev/null 2>&1
check "... and over HTTP (a module's download)" cmp -s "$TMP/v18h" "$TMP/vend.bin"
timeout 60 "$BIN/ota-module" -u "http://127.0.0.1:$HPORT" -k "$BK" -i 861234567890125 \
  -f BETA_Luat_RDA8910 -c 18 -v 1.0.0 -o "$TMP/b18h" >/dev/null 2>&1
check "a BETA module over HTTP gets BETA's package" cmp -s "$TMP/b18h" "$CACHE/BETA_1.1.0_0018-0020.pkg"
timeout 60 "$BIN/ota-module" -u "http://127.0.0.1:$HPORT" -k "$DK" -i 861234567890126 \
  -f BETA_Luat_RDA8910 -c 18 -v 1.0.0 -o "$TMP/x18h" >/dev/null 2>&1
check "a BETA module with DEMOPROJ's key over HTTP: refused (exit 2)" eq "$?" 2
check "vendor device with no vendor package for its core: no signed package, no build (4.04 code 44)" \
  has "$(ask "$VK" VEND_Luat_RDA8910 17 1.0.0)" '"code":44'
check "... and no build request for it" not_ok ls "$RUN"/spool/VEND+*
fetch "$TMP/d17" "$DK" DEMOPROJ_Luat_RDA8910 17 1.0.0
check "ota device never gets the (smaller) vendor package" \
  cmp -s "$TMP/d17" "$CACHE/DEMOPROJ_1.1.0_0017-0020.pkg"
printf 'X' | dd of="$VEND" bs=1 seek=10 conv=notrunc status=none
for i in $(seq 1 200); do grep -q "skipping VEND_1.1.0_0018-0020.vendor.ini: .*SHA-256" \
  "$RUN/server.log" && break; sleep 0.05; done
check "a tampered vendor file is logged and skipped" grep -q "SHA-256 differs" "$RUN/server.log"
check "a tampered vendor file is not served (4.04)" has "$(ask "$VK" VEND_Luat_RDA8910 18 1.0.0)" "4.04"
check "verify refuses the tampered vendor file" not_ok "$BIN/ota-cache" -q verify "$VEND.ini"

# ---- coaps:// with two psk secrets
coaps_device() { # DIR PROJECT KEY IMEI PSK [identity]
  ota_device "$1" 18 1.0.0 "$4" project="$2" product_key="$3"
  sed -i "s|^server = .*|server = coaps://127.0.0.1:$DPORT|" "$1/device.ini"
  echo "psk = $5" >>"$1/device.ini"
  [ -n "${6:-}" ] && echo "psk_identity = $6" >>"$1/device.ini"
}
for i in $(seq 1 50); do ota_port_served "$DPORT" && break; sleep 0.05; done
IMEI=861234567890555
for p in DEMOPROJ BETA; do
  key=$DK; [ $p = BETA ] && key=$BK
  psk=$("$BIN/ota-cache" psk -c "$RUN/ota.ini" -p $p $IMEI 2>"$TMP/psk.err")
  check "psk -p $p tells the PROJECT/IMEI identity" grep -q "identity $p/$IMEI" "$TMP/psk.err"
  coaps_device "$TMP/s$p" $p "$key" $IMEI "$psk" project
  timeout 60 "$BIN/ota-client" -t 8 -d "$TMP/s$p" update >/dev/null 2>"$TMP/s$p.err"
  check "coaps:// $p/IMEI device updates" eq "$?" 0
done
coaps_device "$TMP/bare" DEMOPROJ "$DK" $IMEI "$("$BIN/ota-cache" psk -c "$RUN/ota.ini" -p DEMOPROJ $IMEI 2>/dev/null)"
timeout 60 "$BIN/ota-client" -t 4 -d "$TMP/bare" check >/dev/null 2>&1
check "a bare IMEI identity is refused with two psk projects" not_zero $?
check "the refusal is logged" grep -q "refused handshake: identity is not PROJECT/IMEI" "$RUN/server.log"
coaps_device "$TMP/cross" BETA "$BK" $IMEI "$("$BIN/ota-cache" psk -c "$RUN/ota.ini" -p DEMOPROJ $IMEI 2>/dev/null)" project
timeout 60 "$BIN/ota-client" -t 4 -d "$TMP/cross" check >/dev/null 2>&1
check "BETA identity with DEMOPROJ's device key gets nothing" not_zero $?

# ---- release drops and on-demand builds with several projects: the drop's
# release.ini, the request's name and the census line pick the project
mkdir -p "$TMP/drop"
cp "$OTA_REL/core_Luat_V0020_RDA8910.bin" "$TMP/drop/core.bin"
{ cat "$OTA_REL/script/script_1.1.0.bin"; echo "script 1.2.0"; } >"$TMP/drop/script.bin"
printf '[release]\nproject = BETA\ncore = Luat_V0020_RDA8910\ncore_image = core.bin\nscript_version = 1.2.0\nscript_image = script.bin\n' \
  >"$TMP/drop/release.ini"
DEMO_BEFORE=$(ls -l --time-style=full-iso "$CACHE"/DEMOPROJ_* | md5sum)
"$BIN/ota-cache" -q publish -c "$RUN/ota.ini" -p DEMOPROJ "$TMP/drop" >/dev/null 2>&1
check "publish -p DEMOPROJ of BETA's drop: refused (exit 4)" eq "$?" 4
check "publish without -p: the drop names BETA" quiet "$BIN/ota-cache" publish -c "$RUN/ota.ini" "$TMP/drop"
check "BETA's new packages are in the cache" test -f "$CACHE/BETA_1.2.0_0018-0020.pkg"
check "BETA's previous release is retired" not_ok test -f "$CACHE/BETA_1.1.0_0018-0020.pkg"
check "DEMOPROJ's packages are untouched" eq "$(ls -l --time-style=full-iso "$CACHE"/DEMOPROJ_* | md5sum)" "$DEMO_BEFORE"
check "the archive is per project" test -f "$RUN/archive/BETA/release.ini"
for i in $(seq 1 100); do fetch "$TMP/b12" "$BK" BETA_Luat_RDA8910 18 1.0.0 && cmp -s "$TMP/b12" "$CACHE/BETA_1.2.0_0018-0020.pkg" && break; sleep 0.1; done
check "a BETA device gets BETA's new release" cmp -s "$TMP/b12" "$CACHE/BETA_1.2.0_0018-0020.pkg"
rm -f "$CACHE"/BETA_1.2.0_0017-0020*.pkg
mkdir -p "$RUN/spool"
printf 'project=BETA\ncore=Luat_V0017_RDA8910\nscript=1.0.0\n' >"$RUN/spool/BETA+Luat_V0017_RDA8910+1.0.0.req"
check "build-pending builds BETA's request without -p" quiet "$BIN/ota-cache" build-pending -c "$RUN/ota.ini"
check "BETA 0017 package rebuilt" test -f "$CACHE/BETA_1.2.0_0017-0020.pkg"
kill -HUP "$OTA_SERVER_PID"
for i in $(seq 1 100); do grep -q '^BETA ' "$RUN/census.txt" 2>/dev/null && break; sleep 0.05; done
out=$("$BIN/ota-cache" census -c "$RUN/ota.ini" 2>&1)
check "census without -p lists every project's pairs" has "$out" "BETA"
check "census -p BETA lists only BETA" eq "$("$BIN/ota-cache" census -c "$RUN/ota.ini" -p BETA | grep -c '^DEMOPROJ')" 0

# ---- reload: a third project, then a broken project file
project_ini GAMMA gamma-key-0004 "" >"$RUN/projects.d/gamma.ini"
check "build -p GAMMA" quiet "$BIN/ota-cache" build -c "$RUN/ota.ini" -p GAMMA
check "GAMMA before the reload: 4.03" has "$(ask gamma-key-0004 GAMMA_Luat_RDA8910 18 1.0.0)" "4.03"
reloads() { grep -c "SIGHUP: reloaded\|SIGHUP: reload failed" "$RUN/server.log"; }
hup() { # wait for one more reload line
  local n; n=$(reloads); kill -HUP "$OTA_SERVER_PID"
  for i in $(seq 1 100); do [ "$(reloads)" -gt "$n" ] && return 0; sleep 0.05; done
}
hup
check "SIGHUP loads 4 projects" grep -q "reloaded .*: 4 project(s)" "$RUN/server.log"
fetch "$TMP/g18" gamma-key-0004 GAMMA_Luat_RDA8910 18 1.0.0
check "GAMMA served after the reload" cmp -s "$TMP/g18" "$CACHE/GAMMA_1.1.0_0018-0020.pkg"
printf '[project]\nname = BROKEN\nproduct_key = broken-key\n[server]\nlisten = 127.0.0.1:1\n' \
  >"$RUN/projects.d/broken.ini"
hup
check "a broken project file: reload refused, names the file" \
  grep -q "reload failed.*broken.ini.*belongs in ota.ini" "$RUN/server.log"
fetch "$TMP/g18b" gamma-key-0004 GAMMA_Luat_RDA8910 18 1.0.0
check "the running configuration is kept (GAMMA still served)" cmp -s "$TMP/g18b" "$TMP/g18"
project_ini BETA other-key-0009 "" >"$RUN/projects.d/broken.ini"
hup
check "a project defined twice: reload refused" grep -q "project BETA is defined twice" "$RUN/server.log"
fetch "$TMP/b18b" "$BK" BETA_Luat_RDA8910 18 1.0.0
check "BETA still served with its own key" cmp -s "$TMP/b18b" "$CACHE/BETA_1.2.0_0018-0020.pkg"

ota_server_stop
check "server exits 0" eq "$?" 0
ota_summary
