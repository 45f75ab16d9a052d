#!/bin/bash
# Data-parallel scaling on one machine (README "Training on several machines"): the same
# MNRL run at MiniLM-L6 size (6 x 384, 12 heads, vocabulary trained on the data) as
#   1 rank  x 2 threads  (bienc train --threads 2)
#   2 ranks x 1 thread   (mpirun -np 2 bienc train --threads 1)
# on the built-in Debian data, global batch 32, and prints pairs/s of each and the ratio.
# The gap between them is the communication share of a step (plus how well one BLAS
# call uses two threads versus two processes one each). Timing: run it on a quiet machine.
#   bash eval/bench_mpi.sh [STEPS] [SIZE]     defaults: 12 steps, minilm_l6 (tiny: a smoke run)
set -eu
STEPS=${1:-12}
SIZE=${2:-minilm_l6}
BIN=${BIENC_BIN:-build/bienc}
T=$(mktemp -d /tmp/bienc_bench_mpi.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=PASSIVE
"$BIN" data debian --output "$T/deb" >/dev/null 2>&1
if [ "$SIZE" = tiny ]; then MODEL="{hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 160}"
else MODEL="{size: $SIZE, max_positions: 512}"; fi
cat > "$T/run.yaml" <<YAML
model: $MODEL
tokenizer: {train: {size: 8000}, max_query_length: 32, max_passage_length: 128}
data: {format: debian, dir: $T/deb}
train: {batch_size: 32, steps: $STEPS, seed: 1}
eval: {every_steps: 0, max_queries: 10}
checkpoint: {dir: $T/ckpt}
output: {dir: $T/runs}
YAML
A=(--no-progress --no-eval-at-start --eval-passages 50)
OMP_NUM_THREADS=2 "$BIN" train "$T/run.yaml" "${A[@]}" --threads 2 --set output.name=one >"$T/one.out" 2>&1
OMP_NUM_THREADS=1 mpirun --oversubscribe --bind-to core -np 2 "$BIN" train "$T/run.yaml" "${A[@]}" --threads 1 \
  --set output.name=two >"$T/two.out" 2>&1
rate() { grep -o '[0-9.]* pairs/s (training)' "$1" | cut -d' ' -f1; }
r1=$(rate "$T/one.out"); r2=$(rate "$T/two.out")
echo "model $SIZE, batch 32, $STEPS steps (the first includes warm-up)"
echo "1 rank x 2 threads: $r1 pairs/s"
echo "2 ranks x 1 thread: $r2 pairs/s"
awk -v a="$r1" -v b="$r2" 'BEGIN { printf "2 ranks / 1 rank: %.2fx\n", b / a }'
