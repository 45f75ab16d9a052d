#!/usr/bin/env bash
# End to end: embeddings written by h5py -> bienc index build -> bienc search (HNSW and
# --exact) -> TREC run format, recall of HNSW against exact, and clean failures on bad
# input (corrupt index, wrong dimension, missing arguments).
set -euo pipefail
BIN="${BIENC_BIN:?BIENC_BIN not set}"
PY=/usr/bin/python3
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 2,000 clustered 48-d documents with string ids, 50 queries; h5py's own string dtype.
$PY - "$T" <<'EOF'
import sys, numpy as np, h5py
t = sys.argv[1]
rng = np.random.default_rng(3)
c = rng.standard_normal((40, 48)).astype(np.float32)
def draw(n):
    return (c[rng.integers(0, 40, n)] + 0.4 * rng.standard_normal((n, 48))).astype(np.float32)
with h5py.File(f"{t}/docs.h5", "w") as f:
    f["embeddings"] = draw(2000)
    f["ids"] = np.array([f"doc{i * 7}" for i in range(2000)], dtype=h5py.string_dtype())
    f.attrs["normalized"] = False
with h5py.File(f"{t}/queries.h5", "w") as f:
    f["embeddings"] = draw(50)
    f["ids"] = np.array([f"q{i}" for i in range(50)], dtype=h5py.string_dtype())
with h5py.File(f"{t}/wrongdim.h5", "w") as f:
    f["embeddings"] = rng.standard_normal((3, 12)).astype(np.float32)
    f["ids"] = np.array(["a", "b", "c"], dtype=h5py.string_dtype())
EOF

"$BIN" index --help | grep -q "index build" || fail "index --help"
"$BIN" search --help | grep -q "query-embeddings" || fail "search --help"
"$BIN" index build --embeddings "$T/docs.h5" --output "$T/docs.idx" --metric cosine --threads 2 --seed 5 \
    | grep -q "indexed 2000 vectors of dim 48" || fail "index build"
"$BIN" index info --index "$T/docs.idx" | grep -q "elements 2000" || fail "index info"

"$BIN" search --index "$T/docs.idx" --query-embeddings "$T/queries.h5" --k 10 --ef 64 --threads 2 \
    --run-name hnswrun --output "$T/hnsw.trec"
"$BIN" search --index "$T/docs.idx" --query-embeddings "$T/queries.h5" --k 10 --exact --output "$T/exact.trec"
# a single-thread search gives the same run
"$BIN" search --index "$T/docs.idx" --query-embeddings "$T/queries.h5" --k 10 --ef 64 --threads 1 \
    --run-name hnswrun --output "$T/hnsw1.trec" 2>/dev/null
cmp -s "$T/hnsw.trec" "$T/hnsw1.trec" || fail "search depends on the thread count"

$PY - "$T" <<'EOF'
import sys, numpy as np, h5py
t = sys.argv[1]
def read(path, name):
    runs = {}
    for n, line in enumerate(open(path), 1):
        p = line.split()
        assert len(p) == 6, f"{path}:{n}: {len(p)} columns"
        qid, q0, doc, rank, score, run = p
        assert q0 == "Q0" and run == name, f"{path}:{n}: {line!r}"
        assert doc.startswith("doc"), f"{path}:{n}: doc id {doc}"
        runs.setdefault(qid, []).append((int(rank), float(score), doc))
    assert len(runs) == 50, f"{path}: {len(runs)} queries"
    for qid, hits in runs.items():
        assert [r for r, _, _ in hits] == list(range(1, 11)), f"{path}: ranks of {qid}"
        s = [s for _, s, _ in hits]
        assert all(a >= b for a, b in zip(s, s[1:])), f"{path}: scores of {qid} not descending"
    return runs
h = read(f"{t}/hnsw.trec", "hnswrun")
e = read(f"{t}/exact.trec", "bienc")
# exact scores are the true cosine similarities
with h5py.File(f"{t}/docs.h5") as f:
    x = f["embeddings"][:]
    ids = [s.decode() for s in f["ids"][:]]
with h5py.File(f"{t}/queries.h5") as f:
    q = f["embeddings"][:]
xn = x / np.linalg.norm(x, axis=1, keepdims=True)
qn = q / np.linalg.norm(q, axis=1, keepdims=True)
s = qn @ xn.T
for i in range(50):
    top = np.argsort(-s[i], kind="stable")[:10]
    got = e[f"q{i}"]
    assert abs(got[0][1] - s[i, top[0]]) < 1e-4, (got[0], s[i, top[0]])
    assert {ids[j] for j in top[:5]} <= {d for _, _, d in got}, f"exact run misses the true top of q{i}"
rec = np.mean([len({d for _, _, d in h[k]} & {d for _, _, d in e[k]}) / 10 for k in e])
print(f"recall@10 of HNSW vs exact: {rec:.3f}")
assert rec >= 0.9, rec
EOF

# failures: clear message and exit code
set +e
head -c 1000 "$T/docs.idx" > "$T/trunc.idx"
out="$("$BIN" search --index "$T/trunc.idx" --query-embeddings "$T/queries.h5" --output "$T/x.trec" 2>&1)"
[ $? -eq 1 ] || fail "truncated index: exit code"
echo "$out" | grep -q "trunc.idx" || fail "truncated index: message should name the file: $out"
out="$("$BIN" search --index "$T/docs.h5" --query-embeddings "$T/queries.h5" --output "$T/x.trec" 2>&1)"
[ $? -eq 1 ] && echo "$out" | grep -q "not a bienc HNSW index" || fail "foreign index: $out"
out="$("$BIN" search --index "$T/docs.idx" --query-embeddings "$T/wrongdim.h5" --output "$T/x.trec" 2>&1)"
[ $? -eq 1 ] && echo "$out" | grep -q "dimension 12" || fail "wrong dimension: $out"
"$BIN" search --index "$T/docs.idx" --output "$T/x.trec" 2>/dev/null
[ $? -eq 2 ] || fail "missing --query-embeddings should be a usage error"
"$BIN" index build --embeddings "$T/docs.h5" --output "$T/y.idx" --metric hamming 2>/dev/null
[ $? -eq 2 ] || fail "unknown metric should be a usage error"
out="$("$BIN" index build --embeddings "$T/missing.h5" --output "$T/y.idx" 2>&1)"
[ $? -eq 1 ] && echo "$out" | grep -q "missing.h5" || fail "missing embeddings: $out"
[ ! -e "$T/y.idx" ] || fail "a failed build left an index file"
set -e

# --model CKPT --queries queries.tsv: a 1-step tiny bi-encoder (hidden 32) on the built-in
# Debian data encodes the queries; the index holds 32-d vectors (a 48-d index must fail).
if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
  echo "SKIP (--model part): cannot build the Debian data set here"
else
  "$BIN" data debian --output "$T/deb" >/dev/null 2>&1 || fail "bienc data debian"
  cat > "$T/run.yaml" <<YAML
model: {size: tiny, hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}
tokenizer: {train: {size: 2000}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb}
train: {batch_size: 16, steps: 1, seed: 7}
eval: {every_steps: 0, max_queries: 10}
checkpoint: {dir: $T/ckpt, every_steps: 1, keep_last: 1}
output: {dir: $T/runs}
YAML
  "$BIN" train "$T/run.yaml" --threads 2 --eval-passages 50 --no-progress --no-eval-at-start \
      --set output.name=m >/dev/null 2>&1 || fail "tiny train"
  $PY -c "
import numpy as np, h5py
with h5py.File('$T/d32.h5', 'w') as f:
    f['embeddings'] = np.random.default_rng(1).standard_normal((300, 32)).astype('float32')
    f['ids'] = np.array(['d%d' % i for i in range(300)], dtype=h5py.string_dtype())
"
  "$BIN" index build --embeddings "$T/d32.h5" --output "$T/d32.idx" >/dev/null
  head -25 "$T/deb/queries.dev.tsv" > "$T/q.tsv"
  "$BIN" search --index "$T/d32.idx" --model "$T/ckpt/m/step-1.h5" --queries "$T/q.tsv" --k 7 \
      --output "$T/m.trec" 2>/dev/null || fail "search --model"
  [ "$(wc -l < "$T/m.trec")" -eq 175 ] || fail "search --model: expected 25 x 7 lines"
  [ "$(cut -d' ' -f1 "$T/m.trec" | uniq | tr '\n' ' ')" = "$(cut -f1 "$T/q.tsv" | tr '\n' ' ')" ] ||
      fail "search --model: query ids/order"
  set +e
  out="$("$BIN" search --index "$T/docs.idx" --model "$T/ckpt/m/step-1.h5" --queries "$T/q.tsv" \
      --output "$T/x.trec" 2>&1)"
  [ $? -eq 1 ] && echo "$out" | grep -q "dimension 32" || fail "model/index dimension mismatch: $out"
  "$BIN" search --index "$T/d32.idx" --model "$T/ckpt/m/step-1.h5" --output "$T/x.trec" 2>/dev/null
  [ $? -eq 2 ] || fail "--model without --queries should be a usage error"
  set -e
fi
echo "ok"
