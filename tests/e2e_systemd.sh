#!/usr/bin/env bash
# e2e_systemd.sh - ota-server's systemd protocol without systemd: the test
# is the service manager. It binds a datagram socket, starts ota-server
# with NOTIFY_SOCKET and WATCHDOG_USEC pointing at it, and checks the
# messages arrive in order: READY=1 (with STATUS=) only once the server
# answers, RELOADING=1 then READY=1 around SIGHUP, WATCHDOG=1 repeatedly,
# STOPPING=1 on SIGTERM, exit 0. Also: with JOURNAL_STREAM naming stderr,
# log lines carry sd-daemon <N> priority prefixes; without it they do not.
# Usage: BUILD=build/release tests/e2e_systemd.sh
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh

TMP=$(mktemp -d /tmp/ota-e2e-systemd.XXXXXX)
ota_setup "$TMP/run" || { echo "setup failed"; exit 1; }
trap 'ota_cleanup; rm -rf "$TMP"' EXIT

# The manager: bounded in time (30 s), writes the messages it got, one per
# line, to notify.log and the server's exit status to notify.rc.
timeout 60 python3 - "$TMP/notify.sock" "$BIN/ota-server" "$OTA_RUN/ota.ini" \
    "$TMP/notify.log" "$TMP/notify.rc" "$OTA_PORT" 2>"$TMP/manager.err" <<'PY' &
import os, signal, socket, subprocess, sys, time
sock_path, server, ini, log_path, rc_path, port = sys.argv[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock_path)
env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="400000")
p = subprocess.Popen([server, "-c", ini], env=env, stdout=subprocess.DEVNULL,
                     stderr=open(log_path + ".server", "w"))
env_pid = p.pid
got = []
deadline = time.monotonic() + 30
def wait_for(pred):
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            m = s.recv(4096).decode()
        except socket.timeout:
            break
        for line in m.split("\n"):
            got.append(line)
        if pred(m):
            return True
    return False
def answers():
    # a CoAP GET /.well-known/core must be answered once READY=1 is sent
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(2)
    c.sendto(bytes([0x40, 1, 0x12, 0x34, 0xbb]) + b".well-known" + bytes([0x04]) + b"core",
             ("127.0.0.1", int(port)))
    try:
        return len(c.recv(2048)) > 4
    except socket.timeout:
        return False
ok = wait_for(lambda m: "READY=1" in m)
got.append("ANSWERS=%d" % (1 if ok and answers() else 0))
p.send_signal(signal.SIGHUP)
wait_for(lambda m: "RELOADING=1" in m)
wait_for(lambda m: "READY=1" in m)
n0 = sum(1 for g in got if g == "WATCHDOG=1")
wait_for(lambda m: sum(1 for g in got if g == "WATCHDOG=1") >= n0 + 3)
p.send_signal(signal.SIGTERM)
wait_for(lambda m: "STOPPING=1" in m)
try:
    rc = p.wait(timeout=max(1, deadline - time.monotonic()))
except subprocess.TimeoutExpired:
    p.kill(); rc = "timeout"
open(log_path, "w").write("\n".join(got) + "\n")
open(rc_path, "w").write(str(rc))
PY
MGR=$!; OTA_PIDS+=("$MGR")
wait "$MGR"
check "manager finished" test -s "$TMP/notify.rc"
cat "$TMP/manager.err" >&2

has_prefix() { case $1 in "$2"*) return 0 ;; esac; echo "      '$1' does not start with '$2'" >&2; return 1; }
# The sequence of protocol messages, WATCHDOG=1 collapsed.
seq=$(grep -E '^(READY|RELOADING|STOPPING|WATCHDOG|ANSWERS)=' "$TMP/notify.log" |
      uniq | tr '\n' ' ')
echo "      sequence: $seq"
check "READY=1 first, and the server answers by then" has_prefix "$seq" "READY=1 ANSWERS=1 "
check "RELOADING=1 then READY=1 around SIGHUP" grep -q "RELOADING=1 READY=1" <<<"$seq"
check "WATCHDOG=1 pings from the main loop" \
  test "$(grep -c '^WATCHDOG=1$' "$TMP/notify.log")" -ge 3
check "STOPPING=1 last" grep -q "STOPPING=1 $" <<<"$seq"
check "STATUS= names the packages" grep -q '^STATUS=serving [1-9][0-9]* package' "$TMP/notify.log"
check "exit status 0 after SIGTERM" eq "$(cat "$TMP/notify.rc")" 0

# Journal priority prefixes: JOURNAL_STREAM names stderr's device:inode.
: >"$OTA_RUN/server.log"
export JOURNAL_STREAM; JOURNAL_STREAM=$(stat -c '%d:%i' "$OTA_RUN/server.log")
ota_server_start && ota_server_stop
unset JOURNAL_STREAM
check "journal: info lines carry <6>" grep -q '^<6>' "$OTA_RUN/server.log"
check "journal: every line has a priority prefix" \
  eq "$(grep -cv '^<[0-7]>' "$OTA_RUN/server.log")" 0
: >"$OTA_RUN/server.log"
ota_server_start && ota_server_stop
check "no prefixes when stderr is not the journal" \
  eq "$(grep -c '^<[0-7]>' "$OTA_RUN/server.log")" 0
check "but the same log lines" grep -q 'ota-server' "$OTA_RUN/server.log"
ota_summary
