#!/bin/bash
# Data-parallel training (README "Training on several machines"): `mpirun -np 2 bienc
# train` with global batch B gives the losses and the parameters of one process with batch
# B (within 1e-5 relative after several AdamW steps), dropout on, for MNRL (in-batch
# negatives across the ranks), GradCache with a mini-batch that splits the ranks' halves
# unevenly, dot-product MNRL with a hard negative, TripletLoss, and DistillKLDivLoss with
# the in-batch term (loss.in_batch_weight); a stop + resume under 2
# ranks repeats the uninterrupted 2-rank run digit for digit. The oracle is the one-process
# trainer (itself tested against PyTorch). Also: tests/core/test_comm.c on 3 ranks, and a
# 2-rank sharded encode whose merged --exact search is the whole collection's run.
# Skipped (77) without mpirun or an MPI build.
set -u
. "$(dirname "$0")/lib.sh"
command -v mpirun >/dev/null || { echo "SKIP: no mpirun (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }
"$BIN" version | grep -q '^mpi: yes' || { echo "SKIP: bienc was built without MPI"; exit 77; }
need_h5py
scratch mpi_train
# CI runs as root; one core per rank is enough, and the machine may have fewer cores than ranks
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe --bind-to none -np 2)

# the collectives themselves on 3 ranks (ring chunks of unequal size, lengths below 3)
tried=$((tried + 1))
COMM_TEST=${BIENC_BUILD_DIR:-.}/tests/core_test_comm
if [ -x "$COMM_TEST" ]; then
  mpirun --oversubscribe --bind-to none -np 3 "$COMM_TEST" >"$T/comm.out" 2>&1 && ok ||
    bad "core_test_comm on 3 ranks: $(tail -20 "$T/comm.out")"
else bad "$COMM_TEST missing"; fi

cat > "$T/run.yaml" <<YAML
model: {hidden: 32, layers: 2, heads: 2, intermediate: 64, max_positions: 64, dropout: 0.1, attention_dropout: 0.1}
tokenizer: {train: {size: 1500}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb, max_examples: 400}
optim: {lr: 1.0e-3}
train: {batch_size: 8, steps: 6, seed: 5, log_every_steps: 1}
eval: {every_steps: 0, max_queries: 20}
checkpoint: {dir: $T/ckpt, every_steps: 3}
output: {dir: $T/runs}
YAML
ARGS=(--threads 1 --no-progress --no-eval-at-start --eval-passages 100)

# train NAME NP [--set ...]: one run, on NP ranks (1: no mpirun)
train() {
  local name=$1 np=$2; shift 2
  local pre=(); [ "$np" -gt 1 ] && pre=("${MPIRUN[@]}")
  "${pre[@]}" "$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name="$name" "$@" >"$T/$name.out" 2>"$T/$name.err"
}
losses() { grep '"loss"' "$T/runs/$1/metrics.jsonl" | sed 's/.*"loss":\([^,]*\),.*/\1/'; }

# compare A B STEP: losses within 1e-5 relative, parameters within 1e-5 relative (per
# tensor, by norm). Except tensors whose true gradient is exactly zero, which AdamW fills
# with amplified rounding noise only: the attention key biases (softmax ignores them), and
# under TripletLoss the last LayerNorm bias (it shifts q, p and n alike, so no euclidean
# distance moves). They are recognised by their size (RMS < 1e-4 in both runs, where
# trained tensors are ~1e-2), and there may be at most 3 of them.
compare() {
  $PY - "$T/runs/$1/metrics.jsonl" "$T/runs/$2/metrics.jsonl" "$T/ckpt/$1/step-$3.h5" "$T/ckpt/$2/step-$3.h5" <<'PY'
import json, sys
import h5py, numpy as np
la = [json.loads(l)["loss"] for l in open(sys.argv[1]) if '"loss"' in l]
lb = [json.loads(l)["loss"] for l in open(sys.argv[2]) if '"loss"' in l]
assert len(la) == len(lb) and len(la) >= 5, (la, lb)
for s, (x, y) in enumerate(zip(la, lb)):
    assert abs(x - y) <= 1e-5 * abs(x), f"step {s + 1}: loss {x} vs {y}"
a, b = h5py.File(sys.argv[3], "r"), h5py.File(sys.argv[4], "r")
worst, n, noise = 0.0, 0, []
rms = lambda v: np.sqrt(np.mean(v * v))
for name in a["params"]:
    x, y = np.asarray(a["params"][name], np.float64), np.asarray(b["params"][name], np.float64)
    d, m = np.linalg.norm(x - y), np.linalg.norm(x)
    if rms(x) < 1e-4 and rms(y) < 1e-4:
        noise.append(name.replace("encoder.layer.", "L"))
        continue
    assert m > 0 and d <= 1e-5 * m, f"{name}: relative difference {d / m}"
    worst, n = max(worst, d / m), n + 1
assert len(noise) <= 3 and n > 10, (noise, n)
print(f"{len(la)} losses equal within 1e-5; {n} parameter tensors, worst relative difference {worst:.2e}"
      f" (gradient-free: {' '.join(noise)})")
PY
}

tried=$((tried + 1))
if train one 1 && train two 2; then
  grep -q 'x 2 ranks' "$T/two.err" || bad "the 2-rank run does not say so: $(head -3 "$T/two.err")"
  out=$(compare one two 6) && { echo "MNRL: $out"; ok; } || bad "MNRL, 1 vs 2 ranks: $out"
  [ ! -e "$T/runs/two/metrics.jsonl" ] || [ "$(grep -c '"loss"' "$T/runs/two/metrics.jsonl")" -eq 6 ] ||
    bad "rank 1 wrote log rows too: $(cat "$T/runs/two/metrics.jsonl")"
else bad "MNRL runs failed: $(cat "$T/one.err" "$T/two.err" | tail -5)"; fi

# the dropout is real: without it the losses change (so matching above means matching masks)
tried=$((tried + 1))
if train nodrop 1 --set model.dropout=0 --set model.attention_dropout=0; then
  [ "$(losses one)" != "$(losses nodrop)" ] && ok || bad "dropout on and off give the same losses"
else bad "no-dropout run failed: $(tail -3 "$T/nodrop.err")"; fi

# GradCache: mini-batches of 3 cut the global batch at 3, 6 and each rank's half at 3
tried=$((tried + 1))
if train gc1 1 --set loss.mini_batch_size=3 && train gc2 2 --set loss.mini_batch_size=3; then
  out=$(compare gc1 gc2 6) && { echo "GradCache: $out"; ok; } || bad "GradCache, 1 vs 2 ranks: $out"
else bad "GradCache runs failed: $(cat "$T/gc1.err" "$T/gc2.err" | tail -5)"; fi

# dot-product MNRL with a hard negative per query (gathered passages: positives then negatives)
tried=$((tried + 1))
dot=(--set loss.similarity=dot --set loss.scale=1 --set loss.hard_negatives=1)
if train dot1 1 "${dot[@]}" && train dot2 2 "${dot[@]}"; then
  out=$(compare dot1 dot2 6) && { echo "MNRL dot + negative: $out"; ok; } || bad "dot MNRL, 1 vs 2 ranks: $out"
else bad "dot runs failed: $(cat "$T/dot1.err" "$T/dot2.err" | tail -5)"; fi

# TripletLoss: a per-example loss, each rank its share of the mean
tried=$((tried + 1))
if train tri1 1 --set loss.name=TripletLoss && train tri2 2 --set loss.name=TripletLoss; then
  out=$(compare tri1 tri2 6) && { echo "TripletLoss: $out"; ok; } || bad "TripletLoss, 1 vs 2 ranks: $out"
else bad "triplet runs failed: $(cat "$T/tri1.err" "$T/tri2.err" | tail -5)"; fi

# DistillKLDivLoss + loss.in_batch_weight: the KL over each rank's own lists, the in-batch
# MNRL over every rank's passages (a 6-step late-interaction model is the teacher)
tried=$((tried + 1))
kd=(--set loss.name=DistillKLDivLoss --set loss.hard_negatives=1 --set loss.in_batch_weight=0.5
    --set loss.teacher="$T/ckpt/teach/step-6.h5")
if train teach 1 --set model.kind=late_interaction && train kd1 1 "${kd[@]}" && train kd2 2 "${kd[@]}"; then
  out=$(compare kd1 kd2 6) && { echo "DistillKLDivLoss + in-batch: $out"; ok; } || bad "KL + in-batch, 1 vs 2 ranks: $out"
else bad "KL + in-batch runs failed: $(cat "$T/teach.err" "$T/kd1.err" "$T/kd2.err" | tail -5)"; fi

# stop at 3 and resume, on 2 ranks: the losses of the uninterrupted 2-rank run, digit for digit
tried=$((tried + 1))
if train split 2 --stop-at 3 && train split 2 --resume; then
  grep -q 'resumed at 3' "$T/split.out" || bad "did not resume at 3: $(cat "$T/split.out")"
  [ "$(losses two)" = "$(losses split)" ] && ok ||
    bad "resumed losses differ: $(losses two | tr '\n' ' ') vs $(losses split | tr '\n' ' ')"
else bad "stop/resume on 2 ranks failed: $(tail -5 "$T/split.err")"; fi

# sharded encode: `mpirun -np 2 bienc encode` writes one shard per rank; searching both
# shards' indexes with --exact gives the run of one index over the whole collection
tried=$((tried + 1))
M="$T/ckpt/two/step-6.h5"
head -n 500 "$T/deb/collection.tsv" > "$T/c.tsv"
head -n 30 "$T/deb/queries.dev.tsv" > "$T/q.tsv"
if "$BIN" encode --model "$M" --input "$T/c.tsv" --output "$T/c.h5" --quiet >/dev/null &&
   "${MPIRUN[@]}" "$BIN" encode --model "$M" --input "$T/c.tsv" --output "$T/c.h5" >"$T/enc.out" 2>"$T/enc.err" &&
   "$BIN" encode --model "$M" --input "$T/q.tsv" --output "$T/q.h5" --quiet >/dev/null; then
  for f in c c.shard0 c.shard1; do "$BIN" index build --embeddings "$T/$f.h5" --output "$T/$f.idx" >/dev/null; done
  "$BIN" search --index "$T/c.idx" --query-embeddings "$T/q.h5" --exact --k 10 --output "$T/whole.trec" 2>/dev/null
  "$BIN" search --index "$T/c.shard0.idx" --index "$T/c.shard1.idx" --query-embeddings "$T/q.h5" --exact --k 10 \
    --output "$T/merged.trec" 2>/dev/null
  [ -s "$T/whole.trec" ] && cmp -s "$T/whole.trec" "$T/merged.trec" && ok ||
    bad "2-rank shards: merged run differs from the whole index's"
else bad "2-rank encode failed: $(cat "$T/enc.err")"; fi

# a global batch smaller than the ranks is refused with a clear message (not a hang)
tried=$((tried + 1))
if "${MPIRUN[@]}" "$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=tiny --set train.batch_size=1 \
  >"$T/tiny.out" 2>"$T/tiny.err"; then bad "batch 1 on 2 ranks should fail"
else grep -q 'cannot be split across 2 ranks' "$T/tiny.err" && ok || bad "unclear error: $(tail -3 "$T/tiny.err")"; fi
finish
