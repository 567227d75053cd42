#!/usr/bin/env bash
# check-src.sh - reject banned C functions and files without a top comment.
# Banned (unbounded or thread-unsafe): gets strcpy strcat sprintf vsprintf atoi strtok.
set -u
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null; ls common/*.[ch] server/*.[ch] client/*.[ch] cache/*.[ch] tests/*.c tests/*/*.c 2>/dev/null)
files=$(printf '%s\n' $files | sort -u)
if grep -nE '\b(gets|strcpy|strcat|sprintf|vsprintf|atoi|strtok)[[:space:]]*\(' $files; then
  echo "check-src: banned function used (see above)"; status=1
fi
for f in $files; do
  head -c 3 "$f" | grep -q '^/\*' || { echo "check-src: $f does not start with a comment"; status=1; }
done
[ $status -eq 0 ] && echo "check-src: $(echo "$files" | wc -l) files clean"
exit $status
