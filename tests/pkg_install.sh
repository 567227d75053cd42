#!/usr/bin/env bash
# pkg_install.sh - `make install` into a DESTDIR under build/: every file in
# its place, man pages lint-clean, both systemd units verified by
# systemd-analyze against a small root made of the install plus the base
# targets, an existing ota.ini never overwritten, `make uninstall` removes
# what install added and keeps the configuration. Writes only below build/.
set -u
. "$(dirname "$0")/lib.sh"
cd "$OTA_ROOT" || exit 1
BUILD=${BUILD:-build/release}
ROOT="$OTA_ROOT/build/pkg-install/root"
rm -rf "$OTA_ROOT/build/pkg-install" && mkdir -p "$ROOT" || exit 1
P=/usr/local

make -s BUILD="$BUILD" install DESTDIR="$ROOT" PREFIX=$P >"$ROOT.log" 2>&1
check "make install succeeds" test $? -eq 0
for f in $P/bin/ota-cache $P/bin/ota-client $P/sbin/ota-server; do
  check "installed executable $f" test -x "$ROOT$f"
done
for f in man1/ota-cache.1 man1/ota-client.1 man5/ota.ini.5 man8/ota-server.8; do
  check "man page $f installed" test -s "$ROOT$P/share/man/$f"
  out=$(mandoc -Tlint -Wwarning "$ROOT$P/share/man/$f" 2>&1)
  check "man page $f is mandoc -Tlint clean" eq "$out" ""
done
# Every ota.ini key of the README is in ota.ini(5).
keys=$(awk -F'|' '/^## ota.ini reference/{on=1;next} on&&/^## /{exit}
  on&&/^\| *[a-z]+ *\| *`/{k=$3; gsub(/[ `]/,"",k); print k}' README.md | sort -u)
missing=""
for k in $keys; do
  grep -q "^\.B $k\$" "$ROOT$P/share/man/man5/ota.ini.5" || missing="$missing $k"
done
check "ota.ini(5) documents all $(echo "$keys" | wc -l) README keys" eq "$missing" ""
check "logrotate file installed" test -s "$ROOT/etc/logrotate.d/ota-server"
check "ota.ini installed under /etc/ota" test -s "$ROOT/etc/ota/ota.ini"
unit=$ROOT$P/lib/systemd/system
check "ota-server.service starts the installed binary" \
  grep -qx "ExecStart=$P/sbin/ota-server -c /etc/ota/ota.ini" "$unit/ota-server.service"
check "ota-server@.service reads /etc/ota/%i.ini" \
  grep -qx "ExecStart=$P/sbin/ota-server -c /etc/ota/%i.ini" "$unit/ota-server@.service"
check "unit does not restart on usage/config errors" \
  grep -qx "RestartPreventExitStatus=2 3" "$unit/ota-server.service"
check "ota-cache-watch.service runs the installed ota-cache" \
  grep -qx "ExecStart=$P/bin/ota-cache watch -c /etc/ota/ota.ini" "$unit/ota-cache-watch.service"

# systemd-analyze resolves default dependencies and executables inside
# --root: give it the base targets and kill(1), as any real root has.
mkdir -p "$ROOT/lib/systemd/system" "$ROOT/bin"
cp -a /lib/systemd/system/*.target /lib/systemd/system/*.slice "$ROOT/lib/systemd/system/" 2>/dev/null
cp /bin/kill "$ROOT/bin/"
out=$(systemd-analyze verify --man=no --root="$ROOT" "$unit/ota-server.service" \
        "$unit/ota-server@.service" "$unit/ota-cache-watch.service" 2>&1)
rc=$?
echo "$out"
check "systemd-analyze verify passes on the units" eq "$rc/$out" "0/"

# The installed packaged ota.ini parses (ota-cache reads it; the cache/key
# paths it names need not exist for `psk`-less commands).
"$ROOT$P/sbin/ota-server" --help >/dev/null
check "installed ota-server runs" test $? -eq 0

echo "; operator's edit" >>"$ROOT/etc/ota/ota.ini"
make -s BUILD="$BUILD" install DESTDIR="$ROOT" PREFIX=$P >>"$ROOT.log" 2>&1
check "a second install keeps the operator's ota.ini" grep -q "operator's edit" "$ROOT/etc/ota/ota.ini"
make -s BUILD="$BUILD" uninstall DESTDIR="$ROOT" PREFIX=$P >>"$ROOT.log" 2>&1
left=$(cd "$ROOT" && find . -type f ! -path './lib/systemd/system/*.target' \
         ! -path './lib/systemd/system/*.slice' ! -path ./bin/kill | sort | tr '\n' ' ')
check "uninstall leaves only the configuration" eq "$left" "./etc/ota/ota.ini "
ota_summary
