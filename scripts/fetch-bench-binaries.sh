#!/bin/bash
# fetch-bench-binaries.sh - real Debian binaries for the delta bench (issue 14).
#
# Usage: scripts/fetch-bench-binaries.sh [OUT_DIR]     (default build/bench-bin)
#
# Downloads, with `apt-get download`, two versions of each package below for
# x86-64 (amd64), ARM Thumb-2 (armhf) and AArch64 (arm64): the oldest and the
# newest version apt knows (bookworm and bookworm-security/-updates), extracts
# them with dpkg-deb, and copies the package's shared library to
# OUT_DIR/ARCH/PKG/{old,new}.bin; OUT_DIR/pairs.txt lists "name|old|new"
# (paths relative to OUT_DIR), which scripts/bench_delta.sh reads when present.
# Nothing here is committed (build/ is ignored).
#
# Side effect, on purpose and only here: armhf and arm64 are added as dpkg
# foreign architectures (`dpkg --add-architecture`) and `apt-get update` runs
# once, so apt can see those architectures' package lists. Nothing is
# installed; `dpkg --remove-architecture armhf arm64` undoes it.
# libssl3, openssh-client, libc6 and libcurl4 are kept for outside checks
# and must not be added here.
set -euo pipefail

OUT=${1:-build/bench-bin}
ARCHS=(amd64 armhf arm64)
# package|library file name pattern inside the package
PKGS=(
  "libxml2|libxml2.so.2.*"
  "libzstd1|libzstd.so.1.*"
)

log() { echo "fetch-bench-binaries: $*" >&2; }

ensure_archs() {
  local native added=0 a
  native=$(dpkg --print-architecture)
  for a in "${ARCHS[@]}"; do
    [ "$a" = "$native" ] && continue
    if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
      log "dpkg --add-architecture $a"
      dpkg --add-architecture "$a"
      added=1
    fi
  done
  if [ "$added" = 1 ] || [ -z "$(apt-cache madison "libxml2:armhf" 2>/dev/null)" ]; then
    log "apt-get update"
    apt-get update -qq
  fi
}

# Oldest and newest version of PKG:ARCH apt knows, one per line.
two_versions() {
  local vs oldest newest v
  vs=$(apt-cache madison "$1" | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -u)
  for v in $vs; do
    if [ -z "${oldest:-}" ] || dpkg --compare-versions "$v" lt "$oldest"; then oldest=$v; fi
    if [ -z "${newest:-}" ] || dpkg --compare-versions "$v" gt "$newest"; then newest=$v; fi
  done
  [ -n "${oldest:-}" ] && [ "$oldest" != "$newest" ] || return 1
  printf '%s\n%s\n' "$oldest" "$newest"
}

# Download PKG:ARCH=VER and copy its library matching PATTERN to DEST.
fetch_one() {
  local pkg=$1 arch=$2 ver=$3 pattern=$4 dest=$5 dir lib
  dir=$(mktemp -d)
  (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root "$pkg:$arch=$ver" >/dev/null)
  dpkg-deb -x "$dir"/*.deb "$dir/x"
  lib=$(find "$dir/x" -type f -name "$pattern" | head -n 1)
  [ -n "$lib" ] || { log "no $pattern in $pkg:$arch=$ver"; rm -rf "$dir"; return 1; }
  cp "$lib" "$dest"
  rm -rf "$dir"
}

ensure_archs
mkdir -p "$OUT"
: >"$OUT/pairs.txt.tmp"
for arch in "${ARCHS[@]}"; do
  for spec in "${PKGS[@]}"; do
    IFS='|' read -r pkg pattern <<<"$spec"
    if ! vers=$(two_versions "$pkg:$arch"); then
      log "skip $pkg:$arch: fewer than two versions"
      continue
    fi
    old=$(sed -n 1p <<<"$vers"); new=$(sed -n 2p <<<"$vers")
    d="$OUT/$arch/$pkg"
    mkdir -p "$d"
    if [ ! -s "$d/old.bin" ] || [ "$(cat "$d/versions" 2>/dev/null)" != "$old $new" ]; then
      log "$pkg:$arch $old -> $new"
      fetch_one "$pkg" "$arch" "$old" "$pattern" "$d/old.bin"
      fetch_one "$pkg" "$arch" "$new" "$pattern" "$d/new.bin"
      echo "$old $new" >"$d/versions"
    fi
    echo "$arch $pkg $old->$new|$arch/$pkg/old.bin|$arch/$pkg/new.bin" >>"$OUT/pairs.txt.tmp"
  done
done
mv "$OUT/pairs.txt.tmp" "$OUT/pairs.txt"
log "$(wc -l <"$OUT/pairs.txt") pairs in $OUT/pairs.txt"
