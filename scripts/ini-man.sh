#!/usr/bin/env bash
# ini-man.sh TEMPLATE README OUT - write ota.ini(5): the template with @KEYS@
# replaced by README.md's "ota.ini reference" table, one .TP entry per key
# grouped under a .SS per section. The README table stays the one list of
# keys, so the manual cannot fall behind it.
set -euo pipefail
tmpl=$1 readme=$2 out=$3
keys=$(awk -F'|' '
  /^## ota.ini reference/ { on = 1; next }
  on && /^## / { exit }
  on && /^\| *[a-z]+ *\| *`/ {
    sec = $2; key = $3; def = $4; txt = $5
    for (i = 6; i < NF; i++) txt = txt "|" $i   # a "|" inside the text
    gsub(/^ +| +$/, "", sec); gsub(/^ +| +$/, "", key)
    gsub(/^ +| +$/, "", def); gsub(/^ +| +$/, "", txt)
    gsub(/`/, "", key)
    if (sec != last) { printf ".SS [%s]\n", sec; last = sec }
    printf ".TP\n.B %s\n", key
    line = "Default: " def ". " txt
    gsub(/\\/, "\\e", line)
    # `code` -> bold; markdown emphasis dropped
    while (match(line, /`[^`]*`/)) {
      line = substr(line, 1, RSTART - 1) "\\fB" substr(line, RSTART + 1, RLENGTH - 2) "\\fR" substr(line, RSTART + RLENGTH)
    }
    gsub(/\*\*/, "", line)
    gsub(/ - /, " \\- ", line)
    wrap(line)
  }
  # roff source lines of at most 78 bytes; none may start with . or '"'"'
  function wrap(s,   out, w, n, i, words) {
    n = split(s, words, " "); out = ""
    for (i = 1; i <= n; i++) {
      w = words[i]
      if (out != "" && length(out) + 1 + length(w) > 78) { emit(out); out = w }
      else out = (out == "" ? w : out " " w)
    }
    if (out != "") emit(out)
  }
  function emit(l) { if (l ~ /^[.'"'"']/) l = "\\&" l; print l }' "$readme")
[ -n "$keys" ] || { echo "ini-man.sh: no key table found in $readme" >&2; exit 1; }
tmp=$(mktemp "$out.XXXXXX")
KEYS=$keys awk '$0 == "@KEYS@" { print ENVIRON["KEYS"]; next } { print }' "$tmpl" >"$tmp"
mv "$tmp" "$out"
