#!/usr/bin/env bash
# bienc mine and bienc fuse end to end: usage errors, hand-checked outputs, errors that name
# the file, an existing output kept when mining fails, the trainer reading the mined file
# (data.format hard_negatives), and fusion of TREC DL 2019-style runs checked against an
# independent Python RRF.
set -euo pipefail
BIN=${BIENC_BIN:?BIENC_BIN not set}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- usage ----
"$BIN" mine --help | grep -q -- "--range-min" || fail "mine --help lacks options"
"$BIN" fuse --help | grep -q -- "--rrf-k" || fail "fuse --help lacks options"
set +e
"$BIN" mine --run x 2>/dev/null; [ $? -eq 2 ] || fail "mine without --qrels should exit 2"
"$BIN" mine --run x --qrels y --output z --sampling best 2>/dev/null; [ $? -eq 2 ] || fail "bad --sampling should exit 2"
"$BIN" mine --run x --qrels y --output z --teacher t 2>/dev/null; [ $? -eq 2 ] || fail "--teacher without texts should exit 2"
"$BIN" fuse --run a --output o 2>/dev/null; [ $? -eq 2 ] || fail "fuse with one run should exit 2"
"$BIN" fuse --weight 2 --run a --run b --output o 2>/dev/null; [ $? -eq 2 ] || fail "--weight before any --run should exit 2"
"$BIN" fuse --run a --run b --output o --method max 2>/dev/null; [ $? -eq 2 ] || fail "bad --method should exit 2"
set -e

# ---- mine: a hand case ----
printf 'q1 Q0 p1 1 9 bm25\nq1 Q0 n1 2 8 bm25\nq1 Q0 n2 3 7 bm25\nq2 Q0 n3 1 5 bm25\nq2 Q0 p2 2 4 bm25\n' > "$T/bm25.trec"
printf 'q1 Q0 n2 1 0.9 dense\nq1 Q0 n4 2 0.8 dense\n' > "$T/dense.trec"
printf 'q1 0 p1 1\nq2 0 p2 1\nq3 0 p9 1\n' > "$T/qrels.txt"
"$BIN" mine --run "$T/bm25.trec" --run "$T/dense.trec" --qrels "$T/qrels.txt" --num-negatives 1 \
    --output "$T/negs.jsonl" >"$T/out" || fail "mine failed: $(cat "$T/out")"
grep -q "mined 3 negatives for 2 of 3 judged queries" "$T/out" || fail "mine summary: $(cat "$T/out")"
cat > "$T/expect" <<'EOF'
{"qid": "q1", "pos": ["p1"], "neg": {"bm25": ["n1"], "dense": ["n2"]}}
{"qid": "q2", "pos": ["p2"], "neg": {"bm25": ["n3"]}}
EOF
cmp -s "$T/negs.jsonl" "$T/expect" || fail "mined lines differ: $(cat "$T/negs.jsonl")"

# errors name the file and line, exit 1, and leave an existing output as it was
printf 'q1 Q0 n1 1 oops bm25\n' > "$T/bad.trec"
set +e
msg=$("$BIN" mine --run "$T/bad.trec" --qrels "$T/qrels.txt" --output "$T/negs.jsonl" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "malformed run should exit 1, got $rc"
grep -q "bad.trec line 1" <<<"$msg" || fail "message should name bad.trec line 1: $msg"
cmp -s "$T/negs.jsonl" "$T/expect" || fail "a failed mine changed the existing output"
set +e
msg=$("$BIN" mine --run "$T/missing.trec" --qrels "$T/qrels.txt" --output "$T/x.jsonl" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -q "missing.trec" <<<"$msg" || fail "missing run: rc $rc: $msg"
set +e
msg=$("$BIN" mine --run "$T/bm25.trec" --qrels "$T/qrels.txt" --output "$T/x.jsonl" --range-min 5 --range-max 3 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -q "range" <<<"$msg" || fail "empty range: rc $rc: $msg"
[ ! -e "$T/x.jsonl" ] || fail "a failed mine left an output"

# ---- the trainer reads what mine writes ----
{
  for i in $(seq 1 40); do printf 'p%d\tpassage number %d about topic %d and words w%d\n' $i $i $((i % 7)) $i; done
} > "$T/collection.tsv"
{
  for i in $(seq 1 20); do printf 'q%d\ttopic %d words w%d\n' $i $((i % 7)) $i; done
} > "$T/queries.tsv"
for i in $(seq 1 20); do printf 'q%d 0 p%d 1\n' $i $i; done > "$T/train_qrels.txt"
# a run ranking every passage for every query (the positive somewhere in it)
$PY - "$T/run.trec" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for q in range(1, 21):
        for r, p in enumerate(sorted(range(1, 41), key=lambda p: (abs(p - q), p))[:10]):
            f.write(f"q{q} Q0 p{p} {r + 1} {10 - r} bm25\n")
PY
"$BIN" mine --run "$T/run.trec" --qrels "$T/train_qrels.txt" --num-negatives 2 --output "$T/hn.jsonl" >/dev/null ||
    fail "mine of the synthetic run failed"
[ "$(wc -l < "$T/hn.jsonl")" -eq 20 ] || fail "expected 20 mined rows"
grep -q '"pos": \["p1"\]' "$T/hn.jsonl" || fail "q1's positive"
! grep -q '"q1", "pos": \["p1"\], "neg": {"bm25": \[[^]]*"p1"' "$T/hn.jsonl" || fail "a positive was mined as a negative"
printf 'train:\n  seed: 1\n' > "$T/hn.yaml"
"$BIN" train "$T/hn.yaml" --set data.format=hard_negatives --set data.collection="$T/collection.tsv" \
    --set data.queries="$T/queries.tsv" --set data.hard_negatives_file="$T/hn.jsonl" --set loss.hard_negatives=2 \
    --set model.size=tiny --set model.hidden=32 --set model.layers=1 --set model.heads=2 --set model.intermediate=64 \
    --set tokenizer.train.size=200 --set tokenizer.train.min_frequency=1 --set train.steps=3 --set train.batch_size=4 \
    --set output.dir="$T/runs" --set output.name=hn --set checkpoint.dir="$T/ck" --threads 1 --quiet \
    >"$T/train.out" 2>&1 || fail "training on mined negatives failed: $(tail -3 "$T/train.out")"
ls "$T"/ck/hn/step-3.h5 >/dev/null || fail "no checkpoint after training on mined negatives"
# the same with GradCache (loss.mini_batch_size): embeds 3 sequences at a time
"$BIN" train "$T/hn.yaml" --set data.format=hard_negatives --set data.collection="$T/collection.tsv" \
    --set data.queries="$T/queries.tsv" --set data.hard_negatives_file="$T/hn.jsonl" --set loss.hard_negatives=2 \
    --set model.size=tiny --set model.hidden=32 --set model.layers=1 --set model.heads=2 --set model.intermediate=64 \
    --set tokenizer.train.size=200 --set tokenizer.train.min_frequency=1 --set train.steps=3 --set train.batch_size=8 \
    --set loss.mini_batch_size=3 --set output.dir="$T/runs" --set output.name=gc --set checkpoint.dir="$T/ck" \
    --threads 1 --quiet >"$T/train.out" 2>&1 || fail "GradCache training failed: $(tail -3 "$T/train.out")"
ls "$T"/ck/gc/step-3.h5 >/dev/null || fail "no checkpoint after GradCache training"
set +e
msg=$("$BIN" train "$T/hn.yaml" --set data.format=hard_negatives --set data.collection="$T/collection.tsv" \
    --set data.queries="$T/queries.tsv" --set data.hard_negatives_file="$T/hn.jsonl" --set loss.name=TripletLoss \
    --set loss.mini_batch_size=3 --set output.dir="$T/runs" --set output.name=gc2 --set checkpoint.dir="$T/ck" --quiet 2>&1); rc=$?
set -e
[ $rc -ne 0 ] && grep -q "mini_batch_size" <<<"$msg" || fail "GradCache with TripletLoss should be refused: $msg"

# ---- fuse: a hand case and an independent RRF ----
printf 'q1 Q0 x 1 3 a\nq1 Q0 y 2 2 a\nq1 Q0 z 3 1 a\n' > "$T/a.trec"
printf 'q1 Q0 z 1 9 b\nq1 Q0 w 2 8 b\nq2 Q0 u 1 1 b\n' > "$T/b.trec"
"$BIN" fuse --run "$T/a.trec" --run "$T/b.trec" --output "$T/f.trec" >/dev/null || fail "fuse failed"
head -1 "$T/f.trec" | grep -Eq '^q1 Q0 z 1 0\.032[0-9]* fused$' || fail "RRF top line: $(head -1 "$T/f.trec")"
[ "$(wc -l < "$T/f.trec")" -eq 5 ] || fail "fused run should have 5 lines"
"$BIN" fuse --run "$T/a.trec" --run "$T/b.trec" --weight 0 --k 1 --name only-a --output "$T/f1.trec" >/dev/null
[ "$(head -1 "$T/f1.trec")" = "q1 Q0 x 1 0.01639344262295082 only-a" ] || fail "weighted RRF: $(head -1 "$T/f1.trec")"
"$BIN" fuse --run "$T/a.trec" --run "$T/b.trec" --method linear --output "$T/fl.trec" >/dev/null
grep -q '^q1 Q0 z 1 1 fused$' "$T/fl.trec" || fail "linear fusion: z should get 0 + 1: $(cat "$T/fl.trec")"
set +e
msg=$("$BIN" fuse --run "$T/a.trec" --run "$T/bad.trec" --output "$T/f2.trec" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] && grep -q "bad.trec line 1" <<<"$msg" || fail "fuse of a bad run: rc $rc: $msg"

# random runs over DL19-like ids: bienc's RRF equals an independent Python RRF
$PY - "$T" <<'PY'
import random, sys
t = sys.argv[1]
rnd = random.Random(7)
docs = [f"d{i}" for i in range(300)]
for name in ("r1", "r2", "r3"):
    with open(f"{t}/{name}.trec", "w") as f:
        for q in range(25):
            ranked = rnd.sample(docs, 60)
            for r, d in enumerate(ranked):
                f.write(f"q{q} Q0 {d} {r + 1} {round(100 - r * 1.37, 3)} {name}\n")
PY
"$BIN" fuse --run "$T/r1.trec" --run "$T/r2.trec" --weight 0.5 --run "$T/r3.trec" --rrf-k 10 --k 0 \
    --output "$T/rf.trec" >/dev/null || fail "fuse of three runs failed"
$PY - "$T" <<'PY' || fail "RRF differs from the Python reference"
import sys, collections
t = sys.argv[1]
w = {"r1": 1.0, "r2": 0.5, "r3": 1.0}
ref = collections.defaultdict(lambda: collections.defaultdict(float))
for name in w:
    runs = collections.defaultdict(list)
    for line in open(f"{t}/{name}.trec"):
        q, _, d, r, s, _ = line.split()
        runs[q].append((-float(s), d))
    for q, lst in runs.items():
        for rank, (_, d) in enumerate(sorted(lst)):
            ref[q][d] += w[name] / (10 + rank + 1)
got = collections.defaultdict(dict)
for line in open(f"{t}/rf.trec"):
    q, _, d, r, s, _ = line.split()
    got[q][d] = float(s)
assert set(got) == set(ref), "queries differ"
for q in ref:
    assert set(got[q]) == set(ref[q]), q
    for d, v in ref[q].items():
        assert abs(got[q][d] - v) < 1e-12, (q, d, got[q][d], v)
print("RRF equal to the reference on", sum(len(v) for v in ref.values()), "fused entries")
PY
echo "test_mine_fuse: passed"
