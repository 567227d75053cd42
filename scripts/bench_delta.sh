#!/bin/bash
# bench_delta.sh - delta codec benchmark against Debian's bsdiff (issue 3).
#
# Usage: scripts/bench_delta.sh BUILD_DIR   (needs BUILD_DIR/delta-bench)
# For each firmware pair under tests/data/firmware and, when present,
# ../shared/data/firmware (which adds the 3.4 MB libpython pair), and the
# Debian binaries of scripts/fetch-bench-binaries.sh when build/bench-bin/
# holds them, prints new size, our delta size (format v2, auto transform),
# the same without address transforms (v1: what the transforms contribute;
# it may still be format v3 when ADRP page moves pay),
# the same with zlib's own deflate instead of the size-parsing one (zl: what
# the parsing deflate contributes), the same without format v3's ADRP page
# moves (noadj: what they contribute), the same in one stream instead of
# format v4's control and data streams (onestr: what they contribute),
# bsdiff's, xdelta3's (-9 -S djw) and zstd --patch-from's (-19) sizes,
# encode time of ours (on delta_params.threads threads, 2: the closing
# lines say how many CPUs the machine has) and bsdiff (best of three, same
# run) and the ratio, then the same in CPU time (user + system, all our
# threads: on a machine shared with other work the wall clock measures the
# others too),
# decoder working memory and decode throughput; then totals, and the same
# pairs at the smallest zlib window. Figures, not pass/fail; the targets
# (issue 14) are in the closing lines.
set -euo pipefail

BUILD=${1:?usage: $0 BUILD_DIR}
BENCH=$BUILD/delta-bench
[ -x "$BENCH" ] || { echo "bench_delta: error: $BENCH not built" >&2; exit 1; }
command -v bsdiff >/dev/null || { echo "bench_delta: error: bsdiff not installed" >&2; exit 1; }
ROOTS=(tests/data/firmware)
[ -d ../shared/data/firmware ] && ROOTS+=(../shared/data/firmware)
WMIN=9

# name|old|new, relative to a firmware root
PAIRS=(
  "esp8266 v1.9.4->v1.10|micropython-esp8266/v1.9.4.bin|micropython-esp8266/v1.10.bin"
  "pybv11 v1.10->dirty fw1|micropython-pybv11/v1.10/firmware1.bin|micropython-pybv11/1f5d945af-dirty/firmware1.bin"
  "pybv11 v1.10->1f5d945af fw1|micropython-pybv11/v1.10/firmware1.bin|micropython-pybv11/1f5d945af/firmware1.bin"
  "pybv11 1f5d945af->dirty fw1|micropython-pybv11/1f5d945af/firmware1.bin|micropython-pybv11/1f5d945af-dirty/firmware1.bin"
  "pybv11 v1.10->1f5d945af fw0|micropython-pybv11/v1.10/firmware0.bin|micropython-pybv11/1f5d945af/firmware0.bin"
  "simba shell m4 old->new|simba-shell-cortex-m4/old.bin|simba-shell-cortex-m4/new.bin"
  "programmer 0.8.0->0.9.0|programmer-cortex-m4/0.8.0.bin|programmer-cortex-m4/0.9.0.bin"
  "simba shell pi3 1->2|simba-shell-pi3-aarch64/1.bin|simba-shell-pi3-aarch64/2.bin"
  "libpython 3.7.2->3.7.3|libpython-aarch64/3.7.2-3/libpython3.7m.so.1.0|libpython-aarch64/3.7.3-1/libpython3.7m.so.1.0"
)

BIN=build/bench-bin
if [ -f "$BIN/pairs.txt" ]; then
  ROOTS+=("$BIN")
  while IFS= read -r l; do PAIRS+=("$l"); done <"$BIN/pairs.txt"
fi
have_xd=$(command -v xdelta3 || true); have_zs=$(command -v zstd || true)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }

bsdiff_time() { # best of three wall-clock seconds, and best of three CPU seconds (user + system)
  local best=999 cbest=999 t
  for _ in 1 2 3; do
    t=$( { TIMEFORMAT='%3R %3U %3S'; time bsdiff "$1" "$2" "$TMP/p.bsdiff" >/dev/null 2>&1; } 2>&1 )
    best=$(awk -v a="${t%% *}" -v b="$best" 'BEGIN{print (a<b)?a:b}')
    cbest=$(awk -v t="$t" -v b="$cbest" 'BEGIN{split(t, f, " "); c = f[2] + f[3]; print (c<b)?c:b}')
  done
  echo "$best $cbest"
}

xdelta_size() { [ -n "$have_xd" ] || { echo 0; return; }
  xdelta3 -e -9 -S djw -f -s "$1" "$2" "$TMP/p.xd3" && stat -c %s "$TMP/p.xd3"; }
zstd_size() { [ -n "$have_zs" ] || { echo 0; return; }
  zstd -q -f -19 --long=27 --patch-from="$1" "$2" -o "$TMP/p.zst" 2>/dev/null && stat -c %s "$TMP/p.zst"; }

printf '%-34s %9s %8s %8s %8s %8s %8s %8s %8s %8s %6s %6s %7s %7s %6s %7s %7s %6s %7s %8s %6s\n' pair new ours \
  v1 zl noadj onestr bsdiff xdelta3 zstd ratio v1_rat enc_s bsd_s t_rat enc_cpu bsd_cpu c_rat dec_mem dec_MB/s w${WMIN}_rat
THREADS=?
T_NEW=0 T_OURS=0 T_V1=0 T_ZL=0 T_NA=0 T_OS=0 T_BSD=0 T_XD=0 T_ZS=0 T_SMALL=0 MAXR=0 SLOWER=0 SLOWER_CPU=0 MAXMEM=0 MAXMEM_S=0
MINMBPS=1e9 MAXSR=0
for spec in "${PAIRS[@]}"; do
  IFS='|' read -r name old new <<<"$spec"
  root=
  for r in "${ROOTS[@]}"; do
    if [ -f "$r/$old" ] && [ -f "$r/$new" ]; then root=$r; break; fi
  done
  [ -n "$root" ] || continue
  line=$("$BENCH" "$root/$old" "$root/$new")
  v1=$(field delta "$("$BENCH" --xf=0 "$root/$old" "$root/$new")")
  zl=$(field delta "$("$BENCH" --passes=0 "$root/$old" "$root/$new")")
  na=$(field delta "$("$BENCH" --adj=0 "$root/$old" "$root/$new")")
  os=$(field delta "$("$BENCH" --split=0 "$root/$old" "$root/$new")")
  small=$("$BENCH" "$root/$old" "$root/$new" $WMIN)
  xd=$(xdelta_size "$root/$old" "$root/$new"); zs=$(zstd_size "$root/$old" "$root/$new")
  read -r bt bc < <(bsdiff_time "$root/$old" "$root/$new")
  bs=$(stat -c %s "$TMP/p.bsdiff")
  nsz=$(field new "$line"); ours=$(field delta "$line"); et=$(field enc_s "$line"); ec=$(field enc_cpu_s "$line")
  THREADS=$(field threads "$line")
  mem=$(field dec_mem "$line"); mbps=$(field dec_mbps "$line")
  ssz=$(field delta "$small"); smem=$(field dec_mem "$small")
  ratio=$(awk -v a="$ours" -v b="$bs" 'BEGIN{printf "%.3f", a/b}')
  trat=$(awk -v a="$et" -v b="$bt" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')
  crat=$(awk -v a="$ec" -v b="$bc" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')
  srat=$(awk -v a="$ssz" -v b="$ours" 'BEGIN{printf "%.3f", a/b}')
  v1rat=$(awk -v a="$v1" -v b="$bs" 'BEGIN{printf "%.3f", a/b}')
  printf '%-34s %9d %8d %8d %8d %8d %8d %8d %8d %8d %6s %6s %7s %7s %6s %7s %7s %6s %7d %8s %6s\n' "$name" \
    "$nsz" "$ours" "$v1" "$zl" "$na" "$os" "$bs" "$xd" "$zs" "$ratio" "$v1rat" "$et" "$bt" "$trat" "$ec" "$bc" \
    "$crat" "$mem" "$mbps" "$srat"
  T_NEW=$((T_NEW + nsz)); T_OURS=$((T_OURS + ours)); T_BSD=$((T_BSD + bs)); T_SMALL=$((T_SMALL + ssz))
  T_V1=$((T_V1 + v1)); T_ZL=$((T_ZL + zl)); T_NA=$((T_NA + na)); T_OS=$((T_OS + os)); T_XD=$((T_XD + xd)); T_ZS=$((T_ZS + zs))
  MAXSR=$(awk -v a="$srat" -v b="$MAXSR" 'BEGIN{print (a>b)?a:b}')
  MAXR=$(awk -v a="$ratio" -v b="$MAXR" 'BEGIN{print (a>b)?a:b}')
  SLOWER=$(awk -v a="$et" -v b="$bt" -v s="$SLOWER" 'BEGIN{print (a>b)?s+1:s}')
  SLOWER_CPU=$(awk -v a="$ec" -v b="$bc" -v s="$SLOWER_CPU" 'BEGIN{print (a>b)?s+1:s}')
  MAXMEM=$(( mem > MAXMEM ? mem : MAXMEM )); MAXMEM_S=$(( smem > MAXMEM_S ? smem : MAXMEM_S ))
  MINMBPS=$(awk -v a="$mbps" -v b="$MINMBPS" 'BEGIN{print (a<b)?a:b}')
done
printf '%-34s %9d %8d %8d %8d %8d %8d %8d %8d %8d %6s %6s\n' TOTAL "$T_NEW" "$T_OURS" "$T_V1" "$T_ZL" \
  "$T_NA" "$T_OS" "$T_BSD" \
  "$T_XD" "$T_ZS" "$(awk -v a="$T_OURS" -v b="$T_BSD" 'BEGIN{printf "%.3f", a/b}')" \
  "$(awk -v a="$T_V1" -v b="$T_BSD" 'BEGIN{printf "%.3f", a/b}')"
echo
echo "size:    total $(awk -v a="$T_OURS" -v b="$T_BSD" 'BEGIN{printf "%.3f", a/b}') x bsdiff (target <= 0.90), worst pair $MAXR x (target <= 1.00)"
echo "techniques: address transforms save $(awk -v a="$T_OURS" -v b="$T_V1" 'BEGIN{printf "%.2f", (b-a)*100/b}') % of the v1 total ($T_V1 -> $T_OURS B)"
echo "            size-parsing deflate saves $(awk -v a="$T_OURS" -v b="$T_ZL" 'BEGIN{printf "%.2f", (b-a)*100/b}') % of the zlib-deflated total ($T_ZL -> $T_OURS B)"
echo "            two streams (format v4) save $(awk -v a="$T_OURS" -v b="$T_OS" 'BEGIN{printf "%.2f", (b-a)*100/b}') % of the one-stream total ($T_OS -> $T_OURS B)"
echo "            ADRP page moves (format v3) save $(awk -v a="$T_OURS" -v b="$T_NA" 'BEGIN{printf "%.2f", (b-a)*100/b}') % of the total without them ($T_NA -> $T_OURS B)"
echo "encode:  $SLOWER pair(s) slower than bsdiff (target 0); ours on $THREADS thread(s), bsdiff on 1, $(nproc) CPU(s), load $(cut -d' ' -f1 /proc/loadavg)"
echo "         $SLOWER_CPU pair(s) use more CPU time than bsdiff (all our threads counted; less sensitive to other work on the machine)"
echo "memory:  decoder <= $MAXMEM B at window 15 (target <= 45056); <= $MAXMEM_S B at window $WMIN (target <= 12288)"
echo "window $WMIN: total delta $(awk -v a="$T_SMALL" -v b="$T_OURS" 'BEGIN{printf "%.3f", a/b}') x the default window, worst pair $MAXSR (target <= 1.10 each)"
echo "decode:  slowest $MINMBPS MB/s (target > 20)"
