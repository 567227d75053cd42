#!/usr/bin/env bash
# bench.sh - `make bench`: every benchmark, figures not pass/fail.
#
# Runs each scripts/bench_*.sh (delta codec vs bsdiff, server throughput
# and scale, cost of the admin listener, link utilisation) with the
# build directory, in that order, one after the other so they do not
# disturb each other's timings. Each
# compares against its Debian reference in the same run and prints its
# targets. Output is also kept in build/bench.log.
# Usage: scripts/bench.sh [BUILD_DIR]
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
status=0
{
  echo "# make bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(uname -r)"
  for b in scripts/bench_delta.sh scripts/bench_server.sh scripts/bench_admin.sh scripts/bench_link.sh scripts/bench_uplink.sh scripts/bench_dtls.sh scripts/bench_gateways.sh scripts/bench_ondemand.sh scripts/bench_projects.sh scripts/bench_http.sh; do
    [ -x "$b" ] || continue
    echo; echo "== $b"
    bash "$b" "$BUILD" || { echo "bench: $b failed"; status=1; }
  done
} 2>&1 | tee build/bench.log
exit $status
