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
# 3. Failover: one gateway killed (-9) at a third of a 1,000-device run,
#    five times (GW_FAILOVER_RUNS; the gateway restarted and taken back in
#    between): every run's longest stall of a device, devices over 1/3/5 s,
#    blocks asked again, moves to a new source port (ota-load -M 2),
#    failures, ICMP port unreachables sent and rate-limited and datagrams
#    dropped on full receive buffers; then the median and the maximum.
#    GW_BENCH=failover scripts/bench_gateways.sh runs only this part
#    (run it under `unshare -rn` with `ip link set lo up` first for
#    counters of its own network namespace). A device whose move got no
#    answer either moves again after one RTO (README, "Many gateways").
# 4. GW_BENCH=client (only this part): ota-client over the nb2 link
#    through nginx, GW_CLIENT_RUNS times (default 4) with its gateway
#    killed mid-download and as many without, every download time and the
#    medians; GW_CLIENT=PATH measures another ota-client binary.
# The gateways, nginx and the load run as in tests/e2e_gateways.sh, which
# this script reuses (GW_BENCH=1 makes it print figures and skip checks it
# does not need). Every process is stopped by PID on exit.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/release}
GW_BENCH=${GW_BENCH:-1} exec bash tests/e2e_gateways.sh "$BUILD"
