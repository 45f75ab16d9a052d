#!/usr/bin/env bash
# bienc data debian: builds the Debian set into a temp dir and checks counts and file formats.
# Skips (exit 0 with a message) when the machine has neither apt translations nor dpkg status.
set -euo pipefail
BIN=${BIENC_BIN:-./bienc}
tmp=$(mktemp -d /tmp/bienc-test-debian-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Usage errors and help.
"$BIN" data --help | grep -q "bienc data debian" || fail "--help"
"$BIN" data debian --help | grep -q -- "--seed" || fail "debian --help"
rc=0; "$BIN" data debian --source bogus 2>/dev/null || rc=$?; [ "$rc" = 2 ] || fail "bad --source gave $rc"
rc=0; "$BIN" data nosuchset 2>/dev/null || rc=$?; [ "$rc" = 2 ] || fail "unknown set gave $rc"
rc=0; "$BIN" data debian --output "$tmp/x" --source apt --lists "$tmp/none" 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] || fail "missing lists gave $rc"
grep -q "apt-get update -o Acquire::Languages=en" "$tmp/err" || fail "no hint on missing lists"

# Compressed lists (what apt writes) go through apt-helper / the system tools.
mkdir -p "$tmp/lists"
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
  printf 'Package: pkg%s\nDescription-md5: %032d\nDescription-en: tool %s\n Long text of tool %s.\n .\n More.\n\n' $i $i $i $i
done > "$tmp/plain"
if command -v gzip >/dev/null; then
  gzip -c "$tmp/plain" > "$tmp/lists/x_dists_y_main_i18n_Translation-en.gz"
  "$BIN" data debian --output "$tmp/gz" --lists "$tmp/lists" --quiet > "$tmp/gz.out" || fail "gz list"
  grep -q "collection: 12 passages" "$tmp/gz.out" || fail "gz list: $(cat "$tmp/gz.out")"
  rm "$tmp/lists"/*
fi
if command -v lz4 >/dev/null; then
  lz4 -q -c "$tmp/plain" > "$tmp/lists/x_dists_y_main_i18n_Translation-en.lz4"
  "$BIN" data debian --output "$tmp/lz4" --lists "$tmp/lists" --quiet > "$tmp/lz4.out" || fail "lz4 list"
  grep -q "collection: 12 passages" "$tmp/lz4.out" || fail "lz4 list: $(cat "$tmp/lz4.out")"
fi

# The real set from this machine.
if ! ls /var/lib/apt/lists/*_i18n_Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
  echo "SKIP: no apt translations and no /var/lib/dpkg/status on this machine"
  exit 77
fi
out="$tmp/debian"
"$BIN" data debian --output "$out" --seed 3 --quiet > "$tmp/summary" || fail "build failed"
cat "$tmp/summary"
for f in collection.tsv queries.train.tsv queries.dev.tsv queries.test.tsv qrels.train.tsv qrels.dev.tsv \
         qrels.test.tsv triples.train.tsv; do
  [ -s "$out/$f" ] || fail "$f missing or empty"
done
n_col=$(wc -l < "$out/collection.tsv")
grep -q "collection: $n_col passages" "$tmp/summary" || fail "printed count differs from collection.tsv ($n_col)"
# Formats: pid\tpassage, qid\tquery, "qid 0 pid 1", query\tpositive\tnegative; no empty fields.
LC_ALL=C grep -vqP '^\d+\t[^\t]+$' "$out/collection.tsv" && fail "collection.tsv format"
for s in train dev test; do
  LC_ALL=C grep -vqP '^\d+\t[^\t]+$' "$out/queries.$s.tsv" && fail "queries.$s.tsv format"
  LC_ALL=C grep -vqP '^\d+ 0 \d+ 1$' "$out/qrels.$s.tsv" && fail "qrels.$s.tsv format"
  [ "$(wc -l < "$out/queries.$s.tsv")" = "$(wc -l < "$out/qrels.$s.tsv")" ] || fail "$s: one qrel per query"
  # every judged qid is a query of the split, every judged pid is in the collection
  awk -F'\t' 'FNR==NR {q[$1]=1; next} { split($0, a, " "); if (!(a[1] in q)) { print "qid " a[1]; exit 1 } }' \
    "$out/queries.$s.tsv" "$out/qrels.$s.tsv" || fail "qrels.$s.tsv: unknown qid"
  awk -F'\t' 'FNR==NR {p[$1]=1; next} { split($0, a, " "); if (!(a[3] in p)) { print "pid " a[3]; exit 1 } }' \
    "$out/collection.tsv" "$out/qrels.$s.tsv" || fail "qrels.$s.tsv: unknown pid"
done
LC_ALL=C grep -vqP '^[^\t]+\t[^\t]+\t[^\t]+$' "$out/triples.train.tsv" && fail "triples.train.tsv format"
awk -F'\t' '$2 == $3 { exit 1 }' "$out/triples.train.tsv" || fail "a negative equals its positive"
[ "$(wc -l < "$out/triples.train.tsv")" = "$(wc -l < "$out/queries.train.tsv")" ] || fail "one triple per train query"
# Splits are disjoint.
cat "$out"/queries.*.tsv | cut -f1 | sort | uniq -d | grep -q . && fail "a qid in two splits"
# Same seed, same bytes.
"$BIN" data debian --output "$tmp/again" --seed 3 --quiet > /dev/null || fail "second build"
for f in collection.tsv queries.train.tsv qrels.dev.tsv triples.train.tsv; do
  cmp -s "$out/$f" "$tmp/again/$f" || fail "$f differs between two runs with the same seed"
done
echo "PASS: $(wc -l < "$out/collection.tsv") passages, $(wc -l < "$out/triples.train.tsv") triples"
