#!/bin/bash
# DistillKLDivLoss end to end on a slice of the built-in Debian data (tiny models, a few
# steps): `bienc run` with loss.name DistillKLDivLoss trains the teacher BEFORE the
# bi-encoder and hands it over as loss.teacher; `bienc train` with that teacher on the
# triples (K = 1) and on hard-negative JSON lines (K = 2): finite losses that change,
# --stop-at + --resume repeats the uninterrupted losses digit for digit; a missing or
# unreadable loss.teacher, loss.temperature <= 0 and teacher.init_from_bi_encoder are
# refused with messages naming the key.
set -u
BIN=${BIENC_BIN:-./bienc}
PY=/usr/bin/python3
. "$(dirname "$0")/lib.sh" # debian_slice
fail() { echo "FAIL: $*"; exit 1; }

if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
  echo "SKIP: no apt translations and no /var/lib/dpkg/status: cannot build the Debian data set"
  exit 77
fi
T=$(mktemp -d /tmp/bienc_test_distill.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
"$BIN" data debian --output "$T/full" >/dev/null 2>&1 || fail "bienc data debian failed"

# a slice: the first 600 passages and the queries whose positive is among them
D="$T/deb"
debian_slice "$T/full" "$D" 600
[ -s "$D/triples.train.tsv" ] || fail "empty training slice"

cat > "$T/run.yaml" <<YAML
model: {hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}
tokenizer: {train: {size: 1500}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $D}
loss: {name: DistillKLDivLoss, hard_negatives: 1, temperature: 2}
optim: {lr: 1.0e-3}
train: {batch_size: 8, steps: 6, seed: 5, log_every_steps: 1, precision: fp32}
eval: {every_steps: 0, max_queries: 20, baseline: false}
checkpoint: {dir: $T/ckpt, every_steps: 0}
output: {dir: $T/runs}
index: {k: 20}
teacher:
  enabled: true
  rerank_depth: 10
  model: {hidden: 32, layers: 1, heads: 2, intermediate: 64}
  train: {steps: 4, batch_size: 8}
YAML

# ---- bienc run: teacher stage, then the bi-encoder distilled from it
out=$("$BIN" run "$T/run.yaml" --set output.name=pipe --no-bm25 --threads 1 2>"$T/err") ||
  fail "bienc run exited with $?: $(tail -5 "$T/err")"
R="$T/runs/pipe"
[ -f "$R/teacher.h5" ] || fail "bienc run: no teacher.h5"
grep -q 'DistillKLDivLoss' "$T/err" || fail "bienc run: the bi-encoder's loss is not reported: $(cat "$T/err")"
$PY - "$R/report.json" <<'PY' || fail "bienc run: report.json"
import json, math, sys
r = json.load(open(sys.argv[1]))
assert len(r["teacher_losses"]) == 4, r["teacher_losses"]
assert len(r["bi_encoder_losses"]) == 6 and all(math.isfinite(x) for x in r["bi_encoder_losses"]), r["bi_encoder_losses"]
PY
# the teacher trained first: its stage line precedes the bi-encoder's
$PY - "$T/err" <<'PY' || fail "bienc run: the teacher should train before the bi-encoder: $(cat "$T/err")"
import sys
lines = open(sys.argv[1]).read().splitlines()
assert lines.index("== teacher") < lines.index("== train"), lines
PY
cp "$T/err" "$T/pipe.err"

# ---- bienc train with the pipeline's teacher (K = 1: the triples' negative)
ARGS=(--threads 1 --no-progress --no-eval-at-start --eval-passages 200 --set loss.teacher="$R/teacher.h5")
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=whole >"$T/out" 2>"$T/err" ||
  fail "DistillKLDivLoss training failed: $(cat "$T/err")"
M="$T/runs/whole/metrics.jsonl"
losses() { grep '"loss"' "$1" | sed 's/.*"loss":\([^,]*\),.*/\1/'; }
[ "$(losses "$M" | wc -l)" -eq 6 ] || fail "expected 6 loss rows: $(cat "$M")"
$PY - $(losses "$M") <<'PY' || fail "losses not finite or constant: $(losses "$M" | tr '\n' ' ')"
import math, sys
l = [float(x) for x in sys.argv[1:]]
assert all(math.isfinite(x) and x >= 0 for x in l), l
assert len(set(l)) > 1, l
PY
echo "K=1 losses: $(losses "$M" | tr '\n' ' ')"
# the pipeline's bi-encoder trained with this very teacher: the same losses
[ "$(losses "$M")" = "$(losses "$R/metrics.jsonl")" ] ||
  fail "bienc run's losses differ from bienc train's with loss.teacher=$R/teacher.h5"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=split --stop-at 3 >"$T/out1" 2>"$T/err" ||
  fail "--stop-at run failed: $(cat "$T/err")"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=split --resume >"$T/out2" 2>"$T/err" ||
  fail "--resume failed: $(cat "$T/err")"
grep -q 'resumed at 3' "$T/out2" || fail "resume did not start at step 3: $(cat "$T/out2")"
[ "$(losses "$M")" = "$(losses "$T/runs/split/metrics.jsonl")" ] ||
  fail "resumed losses differ: $(losses "$M" | tr '\n' ' ') vs $(losses "$T/runs/split/metrics.jsonl" | tr '\n' ' ')"

# ---- K = 2 hard negatives per query (sentence-transformers' hard-negative JSON lines)
$PY - "$D/qrels.train.tsv" "$D/collection.tsv" "$T/hn.jsonl" <<'PY' || fail "writing hard negatives"
import json, sys
pids = [l.split("\t")[0] for l in open(sys.argv[2], encoding="utf-8")]
with open(sys.argv[3], "w") as f:
    for n, line in enumerate(open(sys.argv[1])):
        qid, _, pid = line.split()[:3]
        negs = [p for p in (pids[(7 * n + 1) % len(pids)], pids[(13 * n + 5) % len(pids)]) if p != pid]
        if len(negs) == 2:
            f.write(json.dumps({"qid": qid, "pos": [pid], "neg": {"random": negs}}) + "\n")
PY
HN=(--set data.format=hard_negatives --set data.collection="$D/collection.tsv" --set data.queries="$D/queries.train.tsv"
    --set data.hard_negatives_file="$T/hn.jsonl" --set loss.hard_negatives=2 --set loss.similarity=dot_score
    --set loss.scale=1)
"$BIN" train "$T/run.yaml" "${ARGS[@]}" "${HN[@]}" --set output.name=hn >"$T/out" 2>"$T/err" ||
  fail "DistillKLDivLoss on hard negatives failed: $(cat "$T/err")"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" "${HN[@]}" --set output.name=hn2 --stop-at 2 >"$T/out1" 2>"$T/err" &&
"$BIN" train "$T/run.yaml" "${ARGS[@]}" "${HN[@]}" --set output.name=hn2 --resume >"$T/out2" 2>"$T/err" ||
  fail "K=2 stop/resume failed: $(cat "$T/err")"
[ "$(losses "$T/runs/hn/metrics.jsonl" | wc -l)" -eq 6 ] || fail "K=2: expected 6 loss rows"
[ "$(losses "$T/runs/hn/metrics.jsonl")" = "$(losses "$T/runs/hn2/metrics.jsonl")" ] ||
  fail "K=2 resumed losses differ: $(losses "$T/runs/hn/metrics.jsonl" | tr '\n' ' ') vs $(losses "$T/runs/hn2/metrics.jsonl" | tr '\n' ' ')"
echo "K=2 losses: $(losses "$T/runs/hn/metrics.jsonl" | tr '\n' ' ')"

# ---- loss.in_batch_weight: + w x MNRL over the batch. The first step's model is the same,
# so its loss is the KL plus a positive term; the sum resumes as exactly as the KL alone
IB=("${HN[@]}" --set loss.in_batch_weight=0.5)
"$BIN" train "$T/run.yaml" "${ARGS[@]}" "${IB[@]}" --set output.name=ib >"$T/out" 2>"$T/err" ||
  fail "DistillKLDivLoss + in-batch MNRL failed: $(cat "$T/err")"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" "${IB[@]}" --set output.name=ib2 --stop-at 2 >"$T/out1" 2>"$T/err" &&
"$BIN" train "$T/run.yaml" "${ARGS[@]}" "${IB[@]}" --set output.name=ib2 --resume >"$T/out2" 2>"$T/err" ||
  fail "in_batch_weight stop/resume failed: $(cat "$T/err")"
[ "$(losses "$T/runs/ib/metrics.jsonl")" = "$(losses "$T/runs/ib2/metrics.jsonl")" ] ||
  fail "in_batch_weight resumed losses differ"
$PY - "$(losses "$T/runs/hn/metrics.jsonl" | head -1)" "$(losses "$T/runs/ib/metrics.jsonl" | head -1)" <<'PY' ||
import sys
kl, total = float(sys.argv[1]), float(sys.argv[2])
# at step 1 the in-batch cross entropy over 8 x 3 passages is near log 24 ~ 3.2: demand 1 of it
assert total > kl + 0.5 * 1.0, (kl, total)
PY
  fail "in_batch_weight 0.5 did not add the in-batch term: $(losses "$T/runs/hn/metrics.jsonl" | head -1) vs $(losses "$T/runs/ib/metrics.jsonl" | head -1)"
echo "in_batch_weight 0.5 losses: $(losses "$T/runs/ib/metrics.jsonl" | tr '\n' ' ')"

# ---- errors name the key
"$BIN" train "$T/run.yaml" --threads 1 --no-progress --set output.name=e1 >"$T/out" 2>"$T/err" &&
  fail "DistillKLDivLoss without loss.teacher should fail"
grep -q 'loss.teacher' "$T/err" || fail "missing loss.teacher: unclear error: $(cat "$T/err")"
"$BIN" train "$T/run.yaml" --threads 1 --no-progress --set output.name=e2 --set loss.teacher="$T/nope.h5" \
  >"$T/out" 2>"$T/err" && fail "an unreadable loss.teacher should fail"
grep -q "loss.teacher $T/nope.h5" "$T/err" || fail "unreadable loss.teacher: unclear error: $(cat "$T/err")"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=e3 --set loss.temperature=0 >"$T/out" 2>"$T/err" &&
  fail "loss.temperature 0 should fail"
grep -q 'loss.temperature' "$T/err" || fail "loss.temperature 0: unclear error: $(cat "$T/err")"
"$BIN" run "$T/run.yaml" --set output.name=e4 --no-bm25 --set teacher.init_from_bi_encoder=true >"$T/out" 2>"$T/err" &&
  fail "DistillKLDivLoss with teacher.init_from_bi_encoder should fail"
grep -q 'DistillKLDivLoss needs the teacher before the bi-encoder' "$T/err" ||
  fail "init_from_bi_encoder: unclear error: $(cat "$T/err")"
echo PASS
