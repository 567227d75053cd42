#!/usr/bin/env bash
# bench_gateways.sh - three ota-servers behind nginx's UDP load balancer
# (deploy/nginx/ota-stream.conf), figures for issue 10, not pass/fail.
#
# Usage: scripts/bench_gateways.sh [BUILD_DIR]   (default build/release;
# needs nginx, libnginx-mod-stream, rsync: scripts/deps.sh).
# 1. Block answers/s with ota-load, 1,000 devices: one gateway direct vs
#    the same load through nginx to three gateways, interleaved, median of
#    3 each; the proxy's cost as the ratio of the two (same run). On 2
#    shared cores nginx, three servers and the load generator compete for
#    the same CPUs: this measures the proxy's overhead, not scale-out.
# 2. coaps:// through nginx, 1,000 devices with ota-load -S (DTLS-PSK per
#    device): handshakes/s and block answers/s.
# 3. Failover: one gateway killed (-9) at a third of a 1,000-device run:
#    longest stall of a device, blocks asked again, failures.
# The gateways, nginx and the load run as in tests/e2e_gateways.sh, which
# this script reuses (GW_BENCH=1 makes it print figures and skip checks it
# does not need). Every process is stopped by PID on exit.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
GW_BENCH=1 exec bash tests/e2e_gateways.sh "$BUILD"
