#!/usr/bin/env bash
# e2e_security.sh - coaps:// with DTLS-PSK and fleet control on 127.0.0.1.
#
# Phase 1, security: a world-readable product secret stops the server;
# a device with the provisioned PSK updates over coaps://; a wrong PSK
# gets no data; with the right PSK a query for another IMEI gets 4.03;
# `ota-cache psk` agrees with openssl's HMAC. Phase 2, allowlist: a device
# not listed gets 4.03 code 21, and is served once the file lists it (no
# restart). Phase 3, check rate: a second check inside check_interval gets
# 4.29 code 40 with Max-Age, and the limit lifts afterwards. Phase 4, one
# host (127.0.0.2, many source ports) cannot take every transfer slot
# (max_transfers_per_address) nor a device's check budget with forged
# coap:// checks of its IMEI.
# Debian's coap-client-openssl is the DTLS oracle.
# Usage: BUILD=build/release tests/e2e_security.sh   (exit 0 = all passed)
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-sec.XXXXXX)
COAPS=$(command -v coap-client-openssl)

ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT
RUN=$TMP/run
DPORT=$(ota_free_port)
SECRET=$RUN/keys/psk.secret
printf 'e2e-product-secret-%s\n' "$RANDOM$RANDOM" >"$SECRET"
cp "$RUN/ota.ini" "$RUN/base.ini"

# write_ini EXTRA_SECTIONS: base ini + psk_secret + [dtls] + the extra text
write_ini() {
  sed "s|^product_key = .*|&\npsk_secret = $SECRET|" "$RUN/base.ini" >"$RUN/ota.ini"
  printf '[dtls]\nlisten = 127.0.0.1:%s\n%s\n' "$DPORT" "$1" >>"$RUN/ota.ini"
}
psk_of() { "$BIN/ota-cache" psk -c "$RUN/ota.ini" "$1"; }
# coaps_device DIR IMEI PSK_HEX: a device on core 0018 that talks coaps://
coaps_device() {
  ota_device "$1" 18 1.0.0 "$2"
  sed -i "s|^server = .*|server = coaps://127.0.0.1:$DPORT|" "$1/device.ini"
  echo "psk = $3" >>"$1/device.ini"
}
run_client() { OUT=$(timeout 60 "$BIN/ota-client" -t 8 -d "$1" "$2" 2>"$1/client.err"); RC=$?; }

# ---- phase 1: DTLS-PSK
write_ini ""
chmod 644 "$SECRET"
out=$(timeout 10 "$BIN/ota-server" -c "$RUN/ota.ini" 2>&1); rc=$?
check "world-readable psk_secret: server refuses to start (exit 3)" eq "$rc" 3
check "world-readable psk_secret: message says how to fix it" grep -q "chmod 600" <<<"$out"
chmod 600 "$SECRET"

IMEI=861234567890018
check "ota-cache psk equals HMAC-SHA256(secret, IMEI) from openssl" eq "$(psk_of $IMEI)" \
  "$(printf %s $IMEI | openssl dgst -sha256 -hmac "$(head -c -1 "$SECRET")" | sed 's/.*= //')"
ota_server_start || { echo "server failed to start"; exit 1; }
for i in $(seq 1 50); do ota_port_served "$DPORT" && break; sleep 0.05; done

d=$TMP/good
coaps_device "$d" $IMEI "$(psk_of $IMEI)"
run_client "$d" update
check "coaps:// with the provisioned PSK: update exits 0" eq "$RC" 0
check "coaps:// update: core is the target byte for byte" cmp -s "$d/core.bin" "$(ota_core_image 20)"
check "coaps:// update: script is 1.1.0 byte for byte" cmp -s "$d/script.bin" "$(ota_script_image 1.1.0)"

d=$TMP/wrongpsk
coaps_device "$d" 861234567890019 "$(psk_of 861234567890020)"
cp "$d/core.bin" "$d/core.orig"
t0=$(date +%s%N)
OUT=$(timeout 60 "$BIN/ota-client" -t 40 -d "$d" update 2>"$d/client.err"); RC=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "coaps:// with a wrong PSK: network error (exit 5)" eq "$RC" 5
check "wrong PSK: the client names the DTLS failure" grep -q "DTLS handshake failed: wrong PSK?" "$d/client.err"
check "wrong PSK: fails fast ($ms ms), not after the 40 s timeout" test "$ms" -lt 10000
check "wrong PSK: no package bytes were stored" \
  bash -c "! test -s '$d/download.part' && ! test -e '$d/download.pkg'"
check "wrong PSK: core unchanged" cmp -s "$d/core.bin" "$d/core.orig"

# Raw DTLS with Debian's client. Its -k takes the key as a string, so pick
# an IMEI whose derived key has no NUL byte and does not end in a newline.
ota_cli_psk_imei "$RUN/ota.ini"
Q=(-O "15,project_key=$OTA_PRODUCT_KEY" -O "15,firmware_name=${OTA_PROJECT}_Luat_RDA8910"
   -O 15,dfota=1 -O 15,core_version=18 -O 15,version=1.0.0)
coaps() { timeout 20 "$COAPS" -B 6 -m get "$@" "coaps://127.0.0.1:$DPORT/fota" 2>&1; }
coaps -u "$raw" -k "$key" "${Q[@]}" -O "15,imei=$raw" -o "$TMP/raw.pkg" >/dev/null
check "coap-client over DTLS, right PSK: the 0018 package byte for byte" \
  cmp -s "$TMP/raw.pkg" "$RUN/cache/DEMOPROJ_1.1.0_0018-0020.pkg"
out=$(coaps -u "$raw" -k "$key" "${Q[@]}" -O "15,imei=861234567890018")
check "right PSK, another IMEI in the query: 4.03" grep -q "4.03" <<<"$out"
rm -f "$TMP/raw2.pkg"
coaps -u "$raw" -k "wrong-key-$key" "${Q[@]}" -O "15,imei=$raw" -o "$TMP/raw2.pkg" >/dev/null
check "coap-client over DTLS, wrong PSK: no data" bash -c "! test -s '$TMP/raw2.pkg'"
d=$TMP/nodtls
coaps_device "$d" 861234567890021 "$(psk_of 861234567890021)"
sed -i "s|^server = .*|server = coaps://127.0.0.1:$(ota_free_port)|" "$d/device.ini"
t0=$(date +%s%N)
OUT=$(timeout 60 "$BIN/ota-client" -t 40 -d "$d" check 2>"$d/client.err"); RC=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "coaps:// to a closed port: exit 5 after $ms ms (ICMP), not 40 s" \
  bash -c "[ $RC = 5 ] && [ $ms -lt 3000 ] && grep -q 'server unreachable' '$d/client.err'"
check "plain coap:// still served alongside" \
  bash -c "timeout 20 coap-client-notls -B 5 -m get coap://127.0.0.1:$OTA_PORT/.well-known/core | grep -q fota"
ota_server_stop

# ---- phase 2: allowlist, reloaded without restart
ALLOW=$RUN/allow.txt
echo "861234567890001" >"$ALLOW"
write_ini "[fleet]
allowlist = $ALLOW"
ota_server_start || { echo "server failed to start (phase 2)"; exit 1; }
d=$TMP/unlisted
ota_device "$d" 17 1.0.0 861234567890777
run_client "$d" update
check "not in the allowlist: rejected (exit 3)" eq "$RC" 3
check "not in the allowlist: platform code 21" grep -q "code 21" "$d/client.err"
check "server logged the refusal with its reason" grep -q "not in the allowlist" "$RUN/server.log"
echo "861234567890777" >>"$ALLOW"
sleep 1.5
run_client "$d" update
check "listed after an edit of the allowlist: update exits 0 without restart" eq "$RC" 0
ota_server_stop

# ---- phase 3: per-IMEI check rate
write_ini "[fleet]
check_interval = 3"
ota_server_start || { echo "server failed to start (phase 3)"; exit 1; }
d=$TMP/eager
ota_device "$d" 17 1.0.0 861234567890555
run_client "$d" check
check "first check: update available (exit 0)" eq "$RC" 0
out=$(timeout 20 coap-client-notls -B 5 -m get -O "15,project_key=$OTA_PRODUCT_KEY" \
  -O 15,imei=861234567890555 -O "15,firmware_name=${OTA_PROJECT}_Luat_RDA8910" -O 15,dfota=1 \
  -O 15,core_version=17 -O 15,version=1.0.0 "coap://127.0.0.1:$OTA_PORT/fota" 2>&1)
check "second check inside check_interval: 4.29 with code 40" grep -q '4.29.*"code":40' <<<"$out"
run_client "$d" check
check "client told to retry later (exit 5)" eq "$RC" 5
sleep 3.2
run_client "$d" update
check "after check_interval: the update goes through (exit 0)" eq "$RC" 0
ota_server_stop

# ---- phase 4: one host cannot take the transfer slots or a device's
# check budget (issue 18). An attacker on 127.0.0.2 opens 300 source
# ports, asks for block 0 with 300 IMEIs (one transfer each), then 20
# times with the victim's IMEI over coap://; the victim still updates over
# coaps://, and another device over coap:// from 127.0.0.1 too.
write_ini "[fleet]
check_interval = 30"
sed -i "s|^log_level = .*|&\nmax_transfers = 20\nmax_transfers_per_address = 4|" "$RUN/ota.ini"
ota_server_start || { echo "server failed to start (phase 4)"; exit 1; }
for i in $(seq 1 50); do ota_port_served "$DPORT" && break; sleep 0.05; done
VICTIM=861234567890044
cat >"$TMP/attack.py" <<'PY'
import socket, sys
port, key, victim = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
def opt(delta, val):
    x = lambda v: (v, b'') if v < 13 else (13, bytes([v - 13]))
    d, de = x(delta); l, le = x(len(val))
    return bytes([d << 4 | l]) + de + le + val
def get(imei, mid):
    q = [b'project_key=' + key, b'imei=' + imei, b'firmware_name=DEMOPROJ_Luat_RDA8910',
         b'core_version=18', b'dfota=1', b'version=1.0.0']
    return (bytes([0x42, 1, mid >> 8, mid & 255, 0xaa, 0xbb]) + opt(11, b'fota') + opt(4, q[0]) +
            b''.join(opt(0, v) for v in q[1:]) + opt(8, b'\x06'))
codes = {}
socks = []
for i in range(320):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.2', 0)); s.settimeout(2)
    imei = victim if i >= 300 else b'8612345670%05d' % i
    s.sendto(get(imei, i + 1), ('127.0.0.1', port)); socks.append(s)
    try: r = s.recv(2048); c = '%d.%02d' % (r[1] >> 5, r[1] & 31)
    except socket.timeout: c = 'none'
    codes[c] = codes.get(c, 0) + 1
print(' '.join('%s=%d' % kv for kv in sorted(codes.items())))
PY
R=$(timeout 60 python3 "$TMP/attack.py" "$OTA_PORT" "$OTA_PRODUCT_KEY" "$VICTIM" 2>&1)
echo "      attacker from 127.0.0.2: $R"
check "attacker: at most max_transfers_per_address (4) blocks" \
  bash -c "! grep -Eq '2.05=([5-9]|[0-9]{2,})' <<<'$R'"
d=$TMP/victim
coaps_device "$d" $VICTIM "$(psk_of $VICTIM)"
run_client "$d" update
check "victim over coaps:// after the attack: update exits 0" eq "$RC" 0
d=$TMP/plain
ota_device "$d" 17 1.0.0 861234567890045
run_client "$d" update
check "another device over coap:// after the attack: update exits 0" eq "$RC" 0
ota_server_stop; rc=$?
check "server exits 0 on SIGTERM" eq "$rc" 0

ota_summary
