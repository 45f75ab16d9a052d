#!/bin/bash
# The documents the code cites exist: every docs/*.md path named in src/, include/ and the
# README is a file of the repository, and no comment points to a file outside it (an
# absolute path of a build machine, the old notes/ folder); the README's config key table is
# what `bienc config --keys --markdown` prints (regenerate it with that command).
set -u
SRC=${BIENC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*"; exit 1; }
cd "$SRC" || fail "no source dir $SRC"
cited=$(grep -rhoE 'docs/[A-Za-z0-9_-]+\.md' src include README.md | sort -u)
[ -n "$cited" ] || fail "no docs/ citation found at all"
for d in $cited; do [ -f "$d" ] || fail "$d is cited but does not exist"; done
bad=$(grep -rnE '(^|[^A-Za-z_./])notes/[a-z-]+\.md|/work/|/home/' src include | head -5)
[ -z "$bad" ] || fail "comments cite files outside the repository: $bad"
BIN=${BIENC_BIN:-$SRC/build/bienc}
if [ -x "$BIN" ]; then
  n=$(grep -n '^## Config keys' README.md | cut -d: -f1)
  [ -n "$n" ] || fail "README has no '## Config keys' section"
  diff <(tail -n +$((n + 2)) README.md) <("$BIN" config --keys --markdown) > /tmp/bienc_keys_diff.$$ ||
    fail "README's config key table differs from bienc config --keys --markdown: $(head -6 /tmp/bienc_keys_diff.$$)"
  rm -f /tmp/bienc_keys_diff.$$
fi
echo "ok: $(echo "$cited" | wc -l) documents cited, all present; README key table current"
