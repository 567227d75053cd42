#!/usr/bin/env bash
# bench_http.sh - device HTTP API throughput: ota-server vs Debian's nginx
# serving the same 600 KB package file to the same client.
#
# A release with 600 KB random (incompressible) core images gives a
# package of about 600 KB for core 17. The client is tests/tools
# ota-module in keep-alive mode (-o /dev/null, Range: bytes=0- on every
# request, each download checked for its full length): P processes, each
# with one connection doing D downloads one after the other (P x D >= 500).
# nginx runs from a generated configuration with its own prefix and pid
# file in the run directory (never the system nginx): 2 workers, sendfile,
# no access log, keepalive_requests above D; ota-server runs its [http]
# listener with threads = 2, rate_limit = 0 and log_level = warn (the
# same "no per-request log" as nginx). Rounds alternate between the two;
# the medians of bytes/s are compared. Target: ota-server >= 0.9 x nginx.
# The same comparison runs a second time with curl as the client (a client
# of nobody's making here: each process gives curl its DOWNLOADS URLs in
# one command line, which it fetches over one kept-alive connection, with
# Range: bytes=0- like the module); CLIENTS picks which ones run.
# Usage: scripts/bench_http.sh [BUILD_DIR]   (ROUNDS, PROCS, DOWNLOADS, CLIENTS override)
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
ROUNDS=${ROUNDS:-5} PROCS=${PROCS:-4} DOWNLOADS=${DOWNLOADS:-125}
CLIENTS=${CLIENTS:-ota-module curl}
. tests/lib.sh
BUILD=$BUILD
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "bench_http: nginx missing (scripts/deps.sh): skipped"; exit 0; }
W=$(mktemp -d /tmp/ota-bench-http.XXXXXX)
ota_setup "$W/run" >/dev/null || { echo "bench_http: setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$W"' EXIT

# ---- a 600 KB package ------------------------------------------------------
python3 -c 'import random,sys
r = random.Random(11)
for path in sys.argv[1:]:
    open(path, "wb").write(bytes(r.getrandbits(8) for _ in range(600 * 1024)))' \
  "$W/shipped17.bin" "$W/core20.bin"
mkdir -p "$W/shipped" && mv "$W/shipped17.bin" "$W/shipped/Luat_V0017_RDA8910.bin"
HP=$(ota_free_port); NP=$(ota_free_port)
while [ "$NP" = "$HP" ]; do NP=$(ota_free_port); done
sed -i -e "s#^core_image = .*#core_image = $W/core20.bin#" -e "s#^shipped_dir = .*#shipped_dir = $W/shipped#" \
  -e 's/^log_level = info/log_level = warn\nrate_limit = 0/' "$OTA_RUN/ota.ini"
printf '[http]\nlisten = 127.0.0.1:%s\nthreads = 2\n' "$HP" >>"$OTA_RUN/ota.ini"
rm -f "$OTA_RUN"/cache/*.pkg
"$BIN/ota-cache" -q build -c "$OTA_RUN/ota.ini" >/dev/null || { echo "bench_http: build failed"; exit 1; }
PKG="$OTA_RUN/cache/${OTA_PROJECT}_1.1.0_0017-0020.pkg"
SIZE=$(stat -c %s "$PKG")

# ---- nginx on a copy of the same file --------------------------------------------
mkdir -p "$W/ngx/logs" "$W/ngx/www" "$W/ngx/tmp"
cp "$PKG" "$W/ngx/www/firmware_upgrade"
chmod 755 "$W" "$W/ngx" "$W/ngx/www" && chmod 644 "$W/ngx/www/firmware_upgrade" # nginx workers run as nobody
cat >"$W/ngx/nginx.conf" <<EOF
worker_processes 2;
pid $W/ngx/nginx.pid;
error_log $W/ngx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 60;
  default_type application/octet-stream;
  client_body_temp_path $W/ngx/tmp; proxy_temp_path $W/ngx/tmp; fastcgi_temp_path $W/ngx/tmp;
  uwsgi_temp_path $W/ngx/tmp; scgi_temp_path $W/ngx/tmp;
  server {
    listen 127.0.0.1:$NP;
    location /api/site/ { alias $W/ngx/www/; }
  }
}
EOF
timeout 900 "$NGINX" -p "$W/ngx" -c "$W/ngx/nginx.conf" -g 'daemon off;' 2>>"$W/ngx/logs/stderr.log" &
OTA_PIDS+=("$!")
ota_server_start || { echo "bench_http: ota-server failed"; exit 1; }
for i in $(seq 1 100); do
  curl -s -o /dev/null -m 1 "http://127.0.0.1:$NP/" && curl -s -o /dev/null -m 1 "http://127.0.0.1:$HP/" && break
  sleep 0.1
done

Q="project_key=$OTA_PRODUCT_KEY&imei=861234567890123&firmware_name=${OTA_PROJECT}_Luat_V0017_RDA8910&core_version=0017&dfota=1&version=1.0.0"
# one_client PORT K: process K's DOWNLOADS downloads on one connection;
# its output holds one "size=N " per download
one_client() {
  local url="http://127.0.0.1:$1/api/site/firmware_upgrade?$Q" args=() i
  if [ "$CLIENT" = curl ]; then
    for i in $(seq 1 "$DOWNLOADS"); do args+=(-o /dev/null "$url"); done
    timeout 300 curl -sS -r 0- -w 'size=%{size_download} \n' "${args[@]}"
  else
    timeout 300 "$BIN/ota-module" -u "http://127.0.0.1:$1" -q "$Q" -o /dev/null --repeat "$DOWNLOADS"
  fi
}
# run PORT -> bytes/s of PROCS x DOWNLOADS downloads (0 if any failed)
run() {
  local port=$1 k t0 t1 ok=1 pids=()
  t0=$(date +%s.%N)
  for k in $(seq 1 "$PROCS"); do
    one_client "$port" "$k" >"$W/m$k.out" 2>&1 &
    pids+=("$!")
  done
  for k in "${pids[@]}"; do wait "$k" || ok=0; done
  t1=$(date +%s.%N)
  for k in $(seq 1 "$PROCS"); do
    [ "$(grep -c "size=$SIZE " "$W/m$k.out")" -ge "$([ "$CLIENT" = curl ] && echo "$DOWNLOADS" || echo 1)" ] || ok=0
  done
  [ "$ok" = 1 ] || { cat "$W/m1.out" "$W/ngx/logs/stderr.log" >&2; echo 0; return; }
  awk -v b=$((PROCS * DOWNLOADS * SIZE)) -v a="$t0" -v z="$t1" 'BEGIN { printf "%.0f", b / (z - a) }'
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for CLIENT in $CLIENTS; do
o=() n=()
for r in $(seq 1 "$ROUNDS"); do
  o+=("$(run "$HP")"); n+=("$(run "$NP")")
done
mo=$(echo "${o[*]}" | median) mn=$(echo "${n[*]}" | median)
ratio=$(awk -v a="$mo" -v b="$mn" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "== device HTTP, client $CLIENT, $((PROCS * DOWNLOADS)) keep-alive downloads of $SIZE bytes ($PROCS connections x $DOWNLOADS), $ROUNDS rounds:"
echo "   ota-server $(awk -v v="$mo" 'BEGIN { printf "%.0f", v / 1e6 }') MB/s (runs ${o[*]}), nginx $(awk -v v="$mn" 'BEGIN { printf "%.0f", v / 1e6 }') MB/s (runs ${n[*]})"
echo "   ota-server/nginx $ratio (target >= 0.9): $(awk -v r="$ratio" 'BEGIN { print (r >= 0.9 ? "met" : "NOT met") }')"
echo "RESULT client=$CLIENT ota_bytes_per_s=$mo nginx_bytes_per_s=$mn ratio=$ratio"
done
