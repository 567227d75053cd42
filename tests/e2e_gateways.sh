#!/usr/bin/env bash
# e2e_gateways.sh - three stateless ota-servers on one cache behind nginx's
# UDP load balancer (deploy/nginx/ota-stream.conf, the shipped example).
#
# Usage: tests/e2e_gateways.sh [BUILD_DIR]  (or BUILD=...; default
# build/release; run from the repository root; needs nginx with the stream
# module and rsync: scripts/deps.sh; skipped with a note if they are
# missing). Loopback only. nginx runs from a generated configuration with
# its error log at GW_NGX_LOG (default notice; info logs every session) and
# its own prefix and pid file under the run directory (no system nginx is
# touched); the generated file is the shipped example with only the
# gateways' and listen addresses replaced.
# The cache goes to each gateway with `ota-cache sync`.
#   1. N devices (ota-load, every image checked) through nginx: 0 wrong, 0 failed.
#   2. kill -9 one gateway when about a third of the blocks are served: every
#      device still ends with a correct image, devices move to a new source
#      port after 2 s without an answer (ota-load -M 2), again after one
#      RTO when the move got no answer either; prints the longest
#      stall of a device, the blocks asked for again (retransmits) and the
#      ICMP errors and receive-buffer drops of the network namespace.
#   3. restart it: it takes traffic again, 0 wrong.
#   4. a new release synced to the three caches one after another during an
#      N-device run: 0 wrong (devices see the ETag change and restart).
#   5. NS coaps:// devices (ota-load -S: DTLS-PSK per device) through nginx:
#      0 failed; ota-client over coaps:// through nginx, its gateway killed
#      mid-download: the update completes after one new handshake.
#   6. ota-client through nginx over the nb2 link simulator, its gateway
#      killed mid-download: the update completes and its log says so.
# N = 1000, NS = 200 in the release build; 300 and 100 under ASan (the sanitized server and
# load generator are several times slower; the script stays well within
# run.sh's 300 s). Every process is bounded and stopped by PID on exit.
# GW_SS=1 keeps `ss -uamnp` (every socket's drop count) after each kill run.
# GW_MOVE_S=0 keeps devices on their port (the device-side failover off).
# GW_BENCH=1|failover|client: figures only (scripts/bench_gateways.sh).
set -u
. "$(dirname "$0")/lib.sh"
BUILD=${1:-${BUILD:-build/release}}
export BUILD
case $BUILD in *asan*) N=300 NS=100 ;; *) N=1000 NS=200 ;; esac
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
NGX_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
if [ ! -x "$NGINX" ] || [ ! -f "$NGX_MOD" ] || ! command -v rsync >/dev/null; then
  echo "e2e_gateways: nginx, libnginx-mod-stream or rsync missing (scripts/deps.sh): skipped"
  exit 0
fi
ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"

W=$(mktemp -d /tmp/ota-gw-e2e.XXXXXX)
ota_setup "$W/run" >/dev/null || { echo "FAIL  setup"; exit 1; }
gw_cleanup() { ota_cleanup; [ -n "${KEEP:-}" ] && echo "kept $W" || rm -rf "$W"; }
trap gw_cleanup EXIT
CACHE_TOOL="$BIN/ota-cache"
LOAD="$BIN/ota-load"
COAP=$(command -v coap-client-notls || command -v coap-client-openssl)
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
"$CACHE_TOOL" -q psk-secret "$W/run/keys/psk.secret" || { echo "FAIL  psk-secret"; exit 1; }
sed -i "s#^\[project\]#[project]\npsk_secret = $W/run/keys/psk.secret#" "$W/run/ota.ini"

# ---- three gateways on 127.0.0.1, each with its own copy of the cache ---
declare -a GW_PORT GW_DPORT GW_PID
gw_ini() { # gw_ini I: the gateway's ota.ini (absolute paths, nginx trusted)
  local d=$W/gw$1
  mkdir -p "$d/cache"
  sed -e "s#^dir = cache#dir = $d/cache#" -e "s#^signing_key = keys#signing_key = $W/run/keys#" \
      -e "s#^listen = .*#listen = 127.0.0.1:${GW_PORT[$1]}#" \
      -e "s#^report_log = .*#report_log = $d/reports.jsonl#" "$W/run/ota.ini" >"$d/ota.ini"
  cat >>"$d/ota.ini" <<EOF
trusted_proxies = 127.0.0.1
max_transfers = 4000
rate_limit = 0
max_sessions = 4000
[dtls]
listen = 127.0.0.1:${GW_DPORT[$1]}
handshakes_per_address = 1024
EOF
}
gw_start() { # gw_start I: start gateway I, wait until both ports listen
  local i=$1 k
  "$BIN/ota-server" -c "$W/gw$i/ota.ini" >>"$W/gw$i/server.log" 2>&1 &
  GW_PID[$i]=$!
  OTA_PIDS+=("${GW_PID[$i]}")
  for k in $(seq 1 200); do
    ota_port_served "${GW_PORT[$i]}" && ota_port_served "${GW_DPORT[$i]}" &&
      return 0
    kill -0 "${GW_PID[$i]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "gateway $i did not start" >&2; cat "$W/gw$i/server.log" >&2
  return 1
}
gw_kill() { kill -9 "${GW_PID[$1]}"; wait "${GW_PID[$1]}" 2>/dev/null; }
# gw_stat I FIELD: a /stats counter of gateway I (absent = 0)
gw_stat() {
  local s
  s=$(timeout 10 "$COAP" -B 5 -m get "coap://127.0.0.1:${GW_PORT[$1]}/stats" 2>/dev/null)
  s=$(sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" <<<"$s")
  echo "${s:-0}"
}
blocks_all() { echo $(($(gw_stat 1 blocks) + $(gw_stat 2 blocks) + $(gw_stat 3 blocks))); }

for i in 1 2 3; do
  GW_PORT[$i]=$(ota_free_port); GW_DPORT[$i]=$(ota_free_port)
  gw_ini "$i"
done
check "ota-cache sync puts the cache on the three gateways" \
  "$CACHE_TOOL" -q sync -c "$W/run/ota.ini" "$W/gw1/cache" "$W/gw2/cache" "$W/gw3/cache"
check "every gateway holds the same packages" \
  eq "$(cd "$W/gw3/cache" && sha256sum ./*.pkg | sha256sum)" "$(cd "$W/run/cache" && sha256sum ./*.pkg | sha256sum)"
for i in 1 2 3; do gw_start "$i" || exit 1; done

# ---- nginx from the shipped example -------------------------------------
NP=$(ota_free_port); NPS=$(ota_free_port)
mkdir -p "$W/ngx/logs"
{
  echo "load_module $NGX_MOD;"
  echo "daemon off; master_process on; worker_processes 1; worker_rlimit_nofile 16384;"
  [ "$(id -u)" -eq 0 ] && echo "user root;"
  echo "pid $W/ngx/nginx.pid; error_log $W/ngx/logs/error.log ${GW_NGX_LOG:-notice};"
  echo "events { worker_connections 8192; }"
  sed -e "s#/var/log/nginx/ota-stream.log#$W/ngx/logs/ota-stream.log#" \
      -e "s#listen 5683 #listen 127.0.0.1:$NP #" -e "s#listen 5684 #listen 127.0.0.1:$NPS #" \
      -e "s#192\.0\.2\.11:5683#127.0.0.1:${GW_PORT[1]}#" -e "s#192\.0\.2\.11:5684#127.0.0.1:${GW_DPORT[1]}#" \
      -e "s#192\.0\.2\.12:5683#127.0.0.1:${GW_PORT[2]}#" -e "s#192\.0\.2\.12:5684#127.0.0.1:${GW_DPORT[2]}#" \
      -e "s#192\.0\.2\.13:5683#127.0.0.1:${GW_PORT[3]}#" -e "s#192\.0\.2\.13:5684#127.0.0.1:${GW_DPORT[3]}#" \
      "$OTA_ROOT/deploy/nginx/ota-stream.conf"
} >"$W/ngx/nginx.conf"
check "the example configuration passes nginx -t" \
  timeout 20 "$NGINX" -t -q -p "$W/ngx" -c "$W/ngx/nginx.conf"
timeout 600 "$NGINX" -p "$W/ngx" -c "$W/ngx/nginx.conf" 2>>"$W/ngx/logs/stderr.log" &
NGX_PID=$!; OTA_PIDS+=("$NGX_PID")
for k in $(seq 1 100); do ss -Hlun "sport = :$NP" | grep -q . && break; sleep 0.05; done

# load_at HOST:PORT ARGS...: one ota-load run (stopped by PID on exit);
# RESULT line in $R. load ARGS...: the same through nginx.
load_at() {
  local to=$1 lp; shift
  timeout 200 "$LOAD" -s "$to" -t 180 "$@" >"$W/one.out" 2>>"$W/load.err" &
  lp=$!; OTA_PIDS+=("$lp")
  wait "$lp"
  cat "$W/one.out" >>"$W/load.out"
  R=$(grep '^RESULT' "$W/one.out")
}
# Devices behind the balancer move to a new source port after MOVE_S
# seconds without an answer (README, "Many gateways": device-side failover).
MOVE_S=${GW_MOVE_S:-2}
load() { load_at "127.0.0.1:$NP" -M "$MOVE_S" "$@"; }
field() { sed -n "s/.*[ ]$1=\([^ ]*\).*/\1/p" <<<"$R"; }
clean() { [ "$(field failed)" = 0 ] && [ "$(field wrong)" = 0 ] && [ "$(field done)" = "$2" ] && [ -n "$1" ]; }

# net_counters: this network namespace's counters "Icmp OutDestUnreachs
# OutRateLimitGlobal OutRateLimitHost, Udp RcvbufErrors" (shared with
# whatever else runs in it: evidence, not an assertion)
net_counters() {
  awk '/^(Icmp|Udp):/ { if (!h[$1]) { for (i = 2; i <= NF; i++) n[$1, i] = $i; h[$1] = 1 }
                        else for (i = 2; i <= NF; i++) v[$1 n[$1, i]] = $i }
       END { print v["Icmp:OutDestUnreachs"] + 0, v["Icmp:OutRateLimitGlobal"] + 0,
                   v["Icmp:OutRateLimitHost"] + 0, v["Udp:RcvbufErrors"] + 0 }' /proc/net/snmp
}
# kill_at_third: N devices through nginx, gateway 2 killed (-9) once a
# third of the TOTAL blocks of a run are served (watched on gateway 1
# alone, which serves a third of them: one /stats request per look keeps
# the kill near the third on a busy machine); sets R, AT and NET (the
# port unreachables sent and rate-limited during the run after the kill,
# and the datagrams dropped on full receive buffers)
kill_at_third() {
  local b1 k lp i0 i1
  b1=$(gw_stat 1 blocks)
  timeout 200 "$LOAD" -s "127.0.0.1:$NP" -M "$MOVE_S" -t 180 -n "$N" -k "$W/run/cache" \
    >"$W/kill.out" 2>>"$W/load.err" &
  lp=$!; OTA_PIDS+=("$lp")
  for k in $(seq 1 600); do
    [ $(($(gw_stat 1 blocks) - b1)) -ge $((TOTAL / 9)) ] && break
    kill -0 "$lp" 2>/dev/null || break
    sleep 0.05
  done
  AT=$((($(gw_stat 1 blocks) - b1) * 3)) # a dead gateway has no /stats
  read -ra i0 < <(net_counters)
  gw_kill 2
  echo "kill $(date +%T.%N)" >>"$W/kills.log"
  wait "$lp"
  read -ra i1 < <(net_counters)
  NET="ICMP port unreachable sent $((i1[0] - i0[0])), rate-limited global $((i1[1] - i0[1])) host $((i1[2] - i0[2])); UDP datagrams dropped on full receive buffers $((i1[3] - i0[3]))"
  [ -n "${GW_SS:-}" ] && ss -uamnp >"$W/ss.$(date +%s)"
  cat "$W/kill.out" >>"$W/load.out"
  R=$(grep '^RESULT' "$W/kill.out")
}
# gw_taken_back I: after gateway I restarted, nginx lets one session try
# it per fail_timeout and counts it good again only when that session
# ends well (after proxy_timeout): wait until a small run puts more than
# one device on it, then it takes its share again.
gw_taken_back() {
  local k s0
  for k in $(seq 1 60); do
    s0=$(gw_stat "$1" transfers_started)
    load -n 20 -k "$W/run/cache"
    [ "$(gw_stat "$1" transfers_started)" -ge $((s0 + 2)) ] && return 0
    sleep 0.5
  done
  return 1
}
# stall_figure: the scenario 2 figures of the last kill_at_third
stall_figure() {
  echo "gateway killed at about $AT of $TOTAL blocks: failed $(field failed), wrong $(field wrong), longest stall of a device $(field stall_max_ms) ms (devices over 1/3/5 s: $(field stalled_1s)/$(field stalled_3s)/$(field stalled_5s)), blocks asked again $(field retransmits), moves to a new port $(field moves), 5.03 answers $(field busy); $NET"
}
# gw_failover_runs RUNS: scenario 2 RUNS times (gateway 2 restarted and
# taken back in between), every stall, their median and maximum
gw_failover_runs() {
  local r st=()
  for r in $(seq 1 "$1"); do
    kill_at_third
    echo "== 3. failover run $r: $(stall_figure)"
    st+=("$(field stall_max_ms)")
    gw_start 2 && gw_taken_back 2 || echo "gateway 2 not taken back"
  done
  echo "== 3. longest stall of a device over $1 runs: ${st[*]} ms; median $(printf '%s\n' "${st[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') ms, max $(printf '%s\n' "${st[@]}" | sort -n | tail -1) ms"
}
# ota-client through nginx (5., 6. and GW_BENCH=client), its gateway killed mid-download
NEW_CORE=$OTA_REL/core_Luat_V0020_RDA8910.bin
# busy_gw: the gateway that started a transfer since client_through (0
# if none yet); transfers_running would also count transfers that earlier
# runs abandoned
busy_gw() {
  local i
  for i in 1 2 3; do
    [ "$(gw_stat "$i" transfers_started)" -gt "${TS0[$i]}" ] && { echo "$i"; return; }
  done
  echo 0
}
# client_through NAME URL: run ota-client in the background on device NAME
declare -a TS0
client_through() {
  local i
  for i in 1 2 3; do TS0[$i]=$(gw_stat "$i" transfers_started); done
  timeout -s KILL 170 "${GW_CLIENT:-$BIN/ota-client}" -d "$W/$1" -s "$2" -v update >"$W/$1.out" 2>"$W/$1.err" &
  CPID=$!; OTA_PIDS+=("$CPID")
}
# kill_its_gateway: wait for the client's transfer, let it run, kill -9
# the gateway serving it; sets KILLED
kill_its_gateway() {
  local k b
  KILLED=0
  for k in $(seq 1 300); do
    KILLED=$(busy_gw); [ "$KILLED" != 0 ] && break
    kill -0 "$CPID" 2>/dev/null || return
    sleep 0.1
  done
  [ "$KILLED" != 0 ] || return
  b=$(gw_stat "$KILLED" blocks)
  for k in $(seq 1 300); do
    [ "$(gw_stat "$KILLED" blocks)" -ge $((b + 8)) ] && break
    sleep 0.1
  done
  gw_kill "$KILLED"
}
restart_killed() { [ "$KILLED" != 0 ] && gw_start "$KILLED"; }
# client_seconds NAME: the download time in the client's log
client_seconds() { sed -n 's/.*downloaded [0-9]* bytes in \([0-9.]*\) s.*/\1/p' "$W/$1.err" | tail -1; }
# gw_client_runs RUNS: scenario 6 RUNS times with its gateway killed and
# RUNS times without (interleaved): every download time, the medians
gw_client_runs() {
  local r k name nk=() wk=() m
  OTA_PORT=$NP
  ota_link_start nb2 || { echo "nbsim did not start"; return 1; }
  for r in $(seq 1 "$1"); do
    for k in 0 1; do
      name=cb$r$k; ota_device "$W/$name" 17 1.0.0
      client_through "$name" "coap://127.0.0.1:$OTA_LINK_PORT"
      KILLED=0; [ $k = 1 ] && kill_its_gateway
      wait "$CPID"; RC=$?
      cmp -s "$W/$name/core.bin" "$NEW_CORE" || RC="$RC (core differs)"
      m=$(grep -c 'new source port' "$W/$name.err")
      echo "== client run $r, $([ $k = 1 ] && echo "gateway $KILLED killed" || echo "no kill"): exit $RC, $(client_seconds "$name") s, moves $m; $(grep -E 'resent' "$W/$name.err" | cut -c1-120 | tr '\n' '|')"
      if [ $k = 1 ]; then wk+=("$(client_seconds "$name")"); restart_killed && gw_taken_back "$KILLED"
      else nk+=("$(client_seconds "$name")"); fi
    done
  done
  ota_link_stop
  echo "== client over nb2 through nginx: no kill ${nk[*]} s (median $(printf '%s\n' "${nk[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')), gateway killed ${wk[*]} s (median $(printf '%s\n' "${wk[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'))"
}
median3() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
# gw_bench: figures for scripts/bench_gateways.sh, then exit;
# GW_BENCH=failover: only the failover runs (GW_FAILOVER_RUNS, default 5);
# GW_BENCH=client: only scenario 6, GW_CLIENT_RUNS (default 4) times with
# the kill and as many without (GW_CLIENT: another ota-client binary)
gw_bench() {
  local k d=() p=() md mp
  [ "$GW_BENCH" = failover ] && { gw_failover_runs "${GW_FAILOVER_RUNS:-5}"; exit 0; }
  [ "$GW_BENCH" = client ] && { gw_client_runs "${GW_CLIENT_RUNS:-4}"; exit 0; }
  for k in 1 2 3; do
    load -n "$N" -k "$W/run/cache"; p+=("$(field blocks_per_s)")
    load_at "127.0.0.1:${GW_PORT[1]}" -n "$N" -k "$W/run/cache"
    d+=("$(field blocks_per_s)")
  done
  md=$(median3 "${d[@]}") mp=$(median3 "${p[@]}")
  echo "== 1. block answers/s, $N devices: one gateway direct $md/s (runs ${d[*]}), through nginx to three $mp/s (runs ${p[*]}), nginx/direct $(awk -v a="$mp" -v b="$md" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
  load_at "127.0.0.1:$NPS" -S "$W/run/keys/psk.secret" -n "$N" -k "$W/run/cache"
  echo "== 2. coaps:// through nginx, $N devices: DTLS handshakes $(field handshakes_per_s)/s, block answers $(field blocks_per_s)/s, failed $(field failed), wrong $(field wrong)"
  gw_failover_runs "${GW_FAILOVER_RUNS:-5}"
  exit 0
}

# 1. N devices through nginx
B0=$(blocks_all)
load -n "$N" -k "$W/run/cache"
check "1. $N devices through nginx: 0 wrong, 0 failed ($(field blocks_per_s) blocks/s)" clean "$R" "$N"
TOTAL=$(($(blocks_all) - B0))
check "1. every gateway served a share (blocks $(gw_stat 1 blocks)/$(gw_stat 2 blocks)/$(gw_stat 3 blocks))" \
  test "$(gw_stat 1 blocks)" -gt 0 -a "$(gw_stat 2 blocks)" -gt 0 -a "$(gw_stat 3 blocks)" -gt 0
[ -n "${GW_BENCH:-}" ] && gw_bench

# 2. kill -9 gateway 2 when a third of the blocks are served
kill_at_third
check "2. gateway 2 killed at about $AT of $TOTAL blocks: all $N devices end with a correct image" clean "$R" "$N"
STALL=${R:+$(field stall_max_ms)}
echo "      $(stall_figure) (target <= 5000 ms: $([ "${STALL:-99999}" -le 5000 ] && echo met || echo NOT met))"
# The target is reported, not asserted (a busy machine adds losses of its
# own: each costs a retransmission timeout). Asserted: the devices left the
# dead gateway by moving to a new source port (a device that keeps
# retransmitting into its nginx session keeps it bound to the dead gateway:
# 7 s), and none waited anywhere near its retransmissions' end (1+2+4+8 s).
# Whether a device needs to move depends on timing: when nginx met the
# dead gateway's ICMP errors early, every session failed over before any
# device was silent for MOVE_S. So: a device silent past the move bound
# (plus a second for its timers) must have moved.
check "2. a device silent past the ${MOVE_S} s move bound moved to a new source port ($(field moves) moves, longest stall ${STALL:-?} ms)" \
  test "${STALL:-99999}" -le $((MOVE_S * 1000 + 1000)) -o "$(field moves)" -gt 0
check "2. longest stall < 10 s" test "${STALL:-99999}" -lt 10000

# 3. restart it: it takes traffic again once nginx has tried it
gw_start 2 || exit 1
gw_taken_back 2
B2=$(gw_stat 2 blocks)
load -n "$N" -k "$W/run/cache"
check "3. gateway 2 restarted: $N devices, 0 wrong, 0 failed" clean "$R" "$N"
check "3. gateway 2 takes traffic again ($(($(gw_stat 2 blocks) - B2)) blocks)" test "$(gw_stat 2 blocks)" -gt "$B2"

# 4. a new release, synced to the three gateways one after another mid-run
mkdir -p "$W/old" && cp "$W/run/cache"/*.pkg "$W/old/"
sed -e "s#^dir = cache#dir = $W/rel2#" -e 's/^\[release\]/[release]\nwindow_bits = 11/' \
  "$W/run/ota.ini" >"$W/run/rel2.ini"
"$CACHE_TOOL" -q build -c "$W/run/rel2.ini" >/dev/null || echo "FAIL  second release build"
B0=$(blocks_all)
timeout 200 "$LOAD" -s "127.0.0.1:$NP" -M "$MOVE_S" -t 180 -n "$N" -k "$W/old" -k "$W/rel2" \
  >"$W/release.out" 2>>"$W/load.err" &
LP=$!; OTA_PIDS+=("$LP")
synced=0
for i in 1 2 3; do
  for k in $(seq 1 300); do # each gateway switches after another sixth of the blocks
    [ $(($(blocks_all) - B0)) -ge $((TOTAL * i / 6)) ] && break
    kill -0 "$LP" 2>/dev/null || break
    sleep 0.05
  done
  "$CACHE_TOOL" -q sync -c "$W/run/rel2.ini" "$W/gw$i/cache" && synced=$((synced + 1))
done
wait "$LP"
R=$(grep '^RESULT' "$W/release.out")
check "4. new release synced to 3 gateways one by one during $N devices: 0 wrong, 0 failed (restarts $(field restarts))" \
  clean "$R" "$N"
check "4. the three gateways hold the new release" \
  eq "$synced$(cd "$W/gw2/cache" && sha256sum ./*.pkg | sha256sum)" "3$(cd "$W/rel2" && sha256sum ./*.pkg | sha256sum)"


# 5. coaps:// devices through nginx, keys derived from the product secret
load_at "127.0.0.1:$NPS" -S "$W/run/keys/psk.secret" -n "$NS" -k "$W/old" -k "$W/rel2"
check "5. $NS coaps:// devices through nginx: 0 wrong, 0 failed ($(field handshakes) handshakes, $(field handshakes_per_s)/s)" \
  clean "$R" "$NS"

# the release of scenario 4 is now served: both candidates are right
ota_cli_psk_imei "$W/run/ota.ini"
ota_device "$W/dtls" 17 1.0.0 "$raw"
echo "psk = $hex" >>"$W/dtls/device.ini"
# both over nb2 (about 5 s for the 41-block package): the kill lands mid-way
OTA_PORT=$NPS
ota_link_start nb2 || echo "FAIL  nbsim did not start"
declare -a HB; for i in 1 2 3; do HB[$i]=$(gw_stat "$i" dtls_handshakes); done
client_through dtls "coaps://127.0.0.1:$OTA_LINK_PORT"
kill_its_gateway
wait "$CPID"; RC=$?
NEWHS=0; for i in 1 2 3; do [ "$i" = "$KILLED" ] || NEWHS=$((NEWHS + $(gw_stat "$i" dtls_handshakes) - HB[i])); done
check "5. coaps:// over nb2 through nginx, gateway $KILLED killed mid-download: update exit 0, exact core" \
  eval '[ "$KILLED" != 0 ] && [ $RC = 0 ] && cmp -s "$W/dtls/core.bin" "$NEW_CORE"'
echo "      client log: $(grep -E 'downloaded|resent|handshake|session' "$W/dtls.err" | cut -c1-160 | tr '\n' '|')"
check "5. the kill cost one new handshake, on a surviving gateway ($NEWHS)" eq "$NEWHS" 1
ota_link_stop
restart_killed

OTA_PORT=$NP
ota_link_start nb2 || echo "FAIL  nbsim did not start"
ota_device "$W/nb2" 17 1.0.0
client_through nb2 "coap://127.0.0.1:$OTA_LINK_PORT"
kill_its_gateway
wait "$CPID"; RC=$?
check "6. nb2 link through nginx, gateway $KILLED killed mid-download: update exit 0, exact core" \
  eval '[ "$KILLED" != 0 ] && [ $RC = 0 ] && cmp -s "$W/nb2/core.bin" "$NEW_CORE"'
echo "      client log: $(grep -E 'downloaded|resent' "$W/nb2.err" | cut -c1-160 | tr '\n' '|')"
check "6. the client's log counts the requests the kill lost" grep -Eq '[1-9][0-9]* resent' "$W/nb2.err"
ota_link_stop
ota_summary
