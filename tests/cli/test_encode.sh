#!/bin/bash
# bienc encode end to end: a 2-step tiny model on the Debian data -> encode the collection
# (h5 and npy) and the dev queries -> index build -> search -> eval. Checks formats, row
# counts, that h5 and npy hold the same vectors, that the same text gets the same vector
# whatever the batch size, and that bad input fails cleanly without leaving a file.
set -u
BIN=${BIENC_BIN:-./bienc}
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
  echo "SKIP: no apt translations and no /var/lib/dpkg/status: cannot build the Debian data set"
  exit 77
fi
T=$(mktemp -d /tmp/bienc_test_encode.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$BIN" data debian --output "$T/deb" >/dev/null 2>&1 || fail "bienc data debian failed"
head -n 500 "$T/deb/collection.tsv" > "$T/coll.tsv"
cat > "$T/run.yaml" <<YAML
model: {hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}
tokenizer: {train: {size: 1500}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb}
train: {batch_size: 8, steps: 2, seed: 3}
eval: {every_steps: 0, max_queries: 20}
checkpoint: {dir: $T/ckpt}
output: {dir: $T/runs, name: enc}
YAML
"$BIN" train "$T/run.yaml" --no-progress --no-eval-at-start --eval-passages 200 >/dev/null 2>"$T/err" || fail "train: $(cat "$T/err")"
M=$(ls "$T"/ckpt/enc/step-*.h5 | head -1)
[ -f "$M" ] || fail "no checkpoint"

"$BIN" encode --model "$M" --input "$T/coll.tsv" --output "$T/coll.h5" --quiet || fail "encode tsv -> h5"
"$BIN" encode --model "$M" --input "$T/coll.tsv" --output "$T/coll.npy" --output-format npy --batch-size 7 --quiet ||
  fail "encode tsv -> npy"
cut -f2 "$T/coll.tsv" | head -n 50 > "$T/lines.txt"
"$BIN" encode --model "$M" --input "$T/lines.txt" --side passage --output "$T/lines.h5" --quiet || fail "encode lines"
$PY - "$T" <<'PY' || fail "embeddings content"
import sys, h5py, numpy as np
t = sys.argv[1]
f = h5py.File(t + "/coll.h5", "r")
e = f["embeddings"][:]; ids = [x.decode() if isinstance(x, bytes) else x for x in f["ids"][:]]
pids = [l.split("\t")[0] for l in open(t + "/coll.tsv", encoding="utf-8")]
assert e.shape[0] == 500 and e.dtype == np.float32, e.shape
assert ids == pids, "ids differ from the collection's pids"
assert np.isfinite(e).all()
n = np.load(t + "/coll.npy")
assert n.shape == e.shape
# batch size 64 vs 7: same vectors (every op is per sequence)
assert np.abs(n - e).max() < 1e-5, np.abs(n - e).max()
assert [l.strip() for l in open(t + "/coll.npy.ids")] == pids
g = h5py.File(t + "/lines.h5", "r")
assert [x.decode() if isinstance(x, bytes) else x for x in g["ids"][:]] == [str(i) for i in range(50)]
assert np.abs(g["embeddings"][:] - e[:50]).max() < 1e-5
print("embeddings ok:", e.shape)
PY

# the whole retrieval path on these vectors
"$BIN" index build --embeddings "$T/coll.h5" --output "$T/coll.idx" >/dev/null || fail "index build"
head -n 20 "$T/deb/queries.dev.tsv" > "$T/q.tsv"
"$BIN" encode --model "$M" --input "$T/q.tsv" --output "$T/q.h5" --quiet || fail "encode queries"
"$BIN" search --index "$T/coll.idx" --query-embeddings "$T/q.h5" --k 10 --output "$T/run.trec" >/dev/null || fail "search"
[ "$(wc -l < "$T/run.trec")" -eq 200 ] || fail "run should have 20 x 10 lines"
awk 'NF != 6 || $2 != "Q0" { exit 1 }' "$T/run.trec" || fail "run format"

# bad input: clear error, non-zero exit, no output file left behind
printf 'no tab here\n' > "$T/bad.tsv"
if "$BIN" encode --model "$M" --input "$T/bad.tsv" --output "$T/bad.h5" 2>"$T/err"; then fail "malformed tsv accepted"; fi
grep -q 'bad.tsv:1' "$T/err" || fail "error should name file:line: $(cat "$T/err")"
[ ! -e "$T/bad.h5" ] || fail "partial output left behind"
if "$BIN" encode --model "$T/coll.tsv" --input "$T/coll.tsv" --output "$T/x.h5" 2>"$T/err"; then fail "non-checkpoint model accepted"; fi
grep -q 'coll.tsv' "$T/err" || fail "error should name the model file: $(cat "$T/err")"
"$BIN" encode --model "$M" 2>/dev/null; [ $? -eq 2 ] || fail "missing arguments should exit 2"
echo "PASS"
