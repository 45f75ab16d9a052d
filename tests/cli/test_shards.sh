#!/bin/bash
# Sharded encode, index and search (README "Sharded encode, index and search"): a
# collection encoded as 3 shards (`bienc encode --shard I/3`), one index per shard, and
# `bienc search --index s0 --index s1 --index s2` give, with --exact, the very run (byte
# for byte) of one index over the whole collection; with HNSW, a run within the usual
# recall of it. The shards hold consecutive blocks of the input with every id once.
# (Under mpirun each rank encodes its block: tests/cli/test_mpi_train.sh.)
set -u
. "$(dirname "$0")/lib.sh"
scratch shards
tiny_model 2 o
head -n 900 "$T/deb/collection.tsv" > "$T/c.tsv"
head -n 40 "$T/deb/queries.dev.tsv" > "$T/q.tsv"
"$BIN" encode --model "$M" --input "$T/c.tsv" --output "$T/c.h5" --quiet >/dev/null || fail "encode"
"$BIN" encode --model "$M" --input "$T/q.tsv" --output "$T/q.h5" --quiet >/dev/null || fail "encode queries"
"$BIN" index build --embeddings "$T/c.h5" --output "$T/c.idx" >/dev/null || fail "index build"
"$BIN" search --index "$T/c.idx" --query-embeddings "$T/q.h5" --k 10 --exact --output "$T/whole.trec" 2>/dev/null ||
  fail "search"

tried=$((tried + 1))
shards=()
for i in 0 1 2; do
  "$BIN" encode --model "$M" --input "$T/c.tsv" --output "$T/c.h5" --shard $i/3 >"$T/enc$i.out" 2>&1 ||
    fail "encode --shard $i/3: $(cat "$T/enc$i.out")"
  [ -f "$T/c.shard$i.h5" ] || fail "no $T/c.shard$i.h5"
  grep -q "wrote 300 embeddings" "$T/enc$i.out" || bad "shard $i: $(cat "$T/enc$i.out")"
  "$BIN" index build --embeddings "$T/c.shard$i.h5" --output "$T/s$i.idx" >/dev/null || fail "index build shard $i"
  shards+=(--index "$T/s$i.idx")
done
"$BIN" search "${shards[@]}" --query-embeddings "$T/q.h5" --k 10 --exact --output "$T/merged.trec" 2>"$T/err" ||
  fail "sharded search: $(cat "$T/err")"
grep -q 'in 3 index shards' "$T/err" || bad "search does not say it merged 3 shards: $(cat "$T/err")"
cmp -s "$T/whole.trec" "$T/merged.trec" && ok || bad "merged exact run differs from the whole index's: $(diff "$T/whole.trec" "$T/merged.trec" | head -5)"

# the shards' ids: the collection's, each once, in order
tried=$((tried + 1))
if $PY -c 'import h5py' 2>/dev/null; then
  $PY - "$T" <<'PY' && ok || bad "shard ids or embeddings differ from the whole collection's"
import sys, h5py, numpy as np
T = sys.argv[1]
whole = h5py.File(f"{T}/c.h5", "r")
parts = [h5py.File(f"{T}/c.shard{i}.h5", "r") for i in range(3)]
ids = [x for p in parts for x in p["ids"][:]]
assert ids == list(whole["ids"][:]), "ids"
e = np.concatenate([p["embeddings"][:] for p in parts])
assert e.shape == whole["embeddings"].shape and np.abs(e - whole["embeddings"][:]).max() <= 1e-6, "embeddings"
PY
else echo "(h5py missing: shard ids not compared)"; ok; fi

# HNSW on the shards: recall@10 of the exact run at least 0.95
tried=$((tried + 1))
"$BIN" search "${shards[@]}" --query-embeddings "$T/q.h5" --k 10 --output "$T/hnsw.trec" 2>/dev/null || fail "hnsw search"
recall=$(awk 'NR==FNR { want[$1 " " $3] = 1; n++; next } ($1 " " $3) in want { hit++ } END { printf "%.3f", hit / n }' \
  "$T/whole.trec" "$T/hnsw.trec")
awk -v r="$recall" 'BEGIN { exit !(r >= 0.95) }' && { echo "HNSW shards: recall@10 of exact $recall"; ok; } ||
  bad "HNSW over shards: recall@10 $recall"

# a bad --shard is a usage error
tried=$((tried + 1))
"$BIN" encode --model "$M" --input "$T/c.tsv" --output "$T/x.h5" --shard 3/3 >/dev/null 2>"$T/err"
[ $? -eq 2 ] && grep -q 'shard must be I/N' "$T/err" && ok || bad "--shard 3/3 accepted: $(cat "$T/err")"
finish
