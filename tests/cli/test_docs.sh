#!/bin/bash
# The documents the code cites exist: every docs/*.md path named in src/, include/ and the
# README is a file of the repository, and no comment points to a file outside it (an
# absolute path of a build machine, the old notes/ folder).
set -u
SRC=${BIENC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*"; exit 1; }
cd "$SRC" || fail "no source dir $SRC"
cited=$(grep -rhoE 'docs/[A-Za-z0-9_-]+\.md' src include README.md | sort -u)
[ -n "$cited" ] || fail "no docs/ citation found at all"
for d in $cited; do [ -f "$d" ] || fail "$d is cited but does not exist"; done
bad=$(grep -rnE '(^|[^A-Za-z_./])notes/[a-z-]+\.md|/work/|/home/' src include | head -5)
[ -z "$bad" ] || fail "comments cite files outside the repository: $bad"
echo "ok: $(echo "$cited" | wc -l) documents cited, all present"
