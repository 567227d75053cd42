#!/usr/bin/env bash
# pkg_debian.sh - build the Debian packages from a copy of the tree under
# build/ (dpkg-buildpackage -us -uc -b; nothing written outside the
# repository), check their contents and that lintian reports no error.
# Only as root with CI=true (a throw-away machine) it also installs them with
# apt-get (services never started: policy-rc.d), runs ota-cache keygen and a
# build from PATH, purges them and checks nothing is left but what policy
# keeps (the `ota` user, the operator's keys).
set -u
. "$(dirname "$0")/lib.sh"
cd "$OTA_ROOT" || exit 1
W="$OTA_ROOT/build/pkg-debian"
rm -rf "$W" && mkdir -p "$W/src" || exit 1

# The tree as a clean clone has it: tracked and new files, no build output.
git ls-files -co --exclude-standard | grep -v '^build/' | tar -cf - -T - | tar -xf - -C "$W/src"
check "source copied" test -f "$W/src/debian/control"
(cd "$W/src" && timeout 900 dpkg-buildpackage -us -uc -b -j2) >"$W/build.log" 2>&1
rc=$?
[ $rc -eq 0 ] || tail -30 "$W/build.log"
check "dpkg-buildpackage -us -uc -b succeeds" test $rc -eq 0
srv=$(ls "$W"/ota-server_*.deb 2>/dev/null | head -1)
tools=$(ls "$W"/ota-tools_*.deb 2>/dev/null | head -1)
check "ota-server and ota-tools packages built" test -n "$srv" -a -n "$tools"
[ -n "$srv" ] && [ -n "$tools" ] || { ota_summary; exit 1; }

has() { dpkg-deb -c "$1" | awk '{print $6}' | grep -qx "./$2"; }
for f in usr/sbin/ota-server lib/systemd/system/ota-server.service \
         lib/systemd/system/ota-server@.service lib/systemd/system/ota-cache-watch.service \
         etc/ota/ota.ini etc/logrotate.d/ota-server \
         usr/share/man/man8/ota-server.8.gz usr/share/man/man5/ota.ini.5.gz \
         usr/share/ota/console/index.html usr/share/ota/console/console.js; do
  check "ota-server contains /$f" has "$srv" "$f"
done
for f in usr/bin/ota-cache usr/bin/ota-client usr/share/man/man1/ota-cache.1.gz \
         usr/share/man/man1/ota-client.1.gz; do
  check "ota-tools contains /$f" has "$tools" "$f"
done
check "ota.ini is a conffile" sh -c "dpkg-deb -e '$srv' '$W/ctl' && grep -qx /etc/ota/ota.ini '$W/ctl/conffiles'"

lintian --tag-display-limit 0 "$srv" "$tools" >"$W/lintian.log" 2>&1
errors=$(grep -c '^E:' "$W/lintian.log")
grep -E '^(E|W):' "$W/lintian.log" | head -20
check "lintian reports no errors" eq "$errors" 0

if [ "$(id -u)" -ne 0 ] || [ "${CI:-}" != true ]; then
  echo "skip: install/purge runs only as root with CI=true (it changes the machine)"
  ota_summary; exit
fi

# --- install, use, purge (CI only) ------------------------------------------
policy=/usr/sbin/policy-rc.d
[ -e "$policy" ] && had_policy=1 || had_policy=0
restore_policy() { [ "$had_policy" = 1 ] || rm -f "$policy"; }
trap 'restore_policy; ota_cleanup' EXIT
[ "$had_policy" = 1 ] || printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
export DEBIAN_FRONTEND=noninteractive
timeout 600 apt-get install -y -q --no-install-recommends "$srv" "$tools" >"$W/apt.log" 2>&1
check "apt-get install ./ota-server ./ota-tools" test $? -eq 0
check "ota system user exists" getent passwd ota
check "state and log folders belong to ota" \
  eq "$(stat -c %U /var/lib/ota /var/lib/ota/cache /var/log/ota | sort -u)" ota
check "service left disabled" test ! -e /etc/systemd/system/multi-user.target.wants/ota-server.service

R="$W/release"; mkdir -p "$R"
ota_write_ini "$R" 5683   # the sample release; only ota-cache reads it here
check "ota-cache keygen from PATH" sh -c "cd '$R' && ota-cache -q keygen keys/ota.key >/dev/null"
check "ota-cache build from PATH" sh -c "ota-cache -q build -c '$R/ota.ini' >/dev/null"
check "packages built" test "$(ls "$R"/cache/*.pkg | wc -l)" -gt 0
check "ota-server from PATH" sh -c "ota-server --help >/dev/null"

timeout 600 apt-get purge -y -q ota-server ota-tools >>"$W/apt.log" 2>&1
check "apt-get purge" test $? -eq 0
check "binaries gone" test ! -e /usr/sbin/ota-server -a ! -e /usr/bin/ota-cache
check "units gone" test ! -e /lib/systemd/system/ota-server.service
check "configuration gone after purge" test ! -e /etc/ota/ota.ini
check "logs and cache gone after purge" test ! -e /var/log/ota -a ! -e /var/lib/ota/cache
check "dpkg forgot both packages" sh -c "! dpkg -s ota-server ota-tools >/dev/null 2>&1"
ota_summary
