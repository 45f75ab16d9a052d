#!/bin/bash
# bienc train end to end on the built-in Debian data (a very short run of a tiny model):
# summary, metrics.jsonl, checkpoints, --stop-at + --resume equal to one run (losses digit
# for digit), Ctrl-C saves a checkpoint and exits 130, usage errors exit 2.
set -u
BIN=${BIENC_BIN:-./bienc}
fail() { echo "FAIL: $*"; exit 1; }

if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
  echo "SKIP: no apt translations and no /var/lib/dpkg/status: cannot build the Debian data set"
  exit 77
fi
T=$(mktemp -d /tmp/bienc_test_train.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$BIN" data debian --output "$T/deb" >/dev/null 2>&1 || fail "bienc data debian failed"

cat > "$T/run.yaml" <<YAML
model: {size: tiny, hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}
tokenizer: {train: {size: 2000}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb}
optim: {lr: 1.0e-3}
train: {batch_size: 16, steps: 6, seed: 7, log_every_steps: 1}
eval: {every_steps: 0, max_queries: 40}
checkpoint: {dir: $T/ckpt, every_steps: 2, keep_last: 2}
output: {dir: $T/runs}
YAML
ARGS=(--threads 2 --eval-passages 300 --no-progress)

# one go: 6 steps
out=$("$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=whole --set checkpoint.dir="$T/ckpt" 2>"$T/err") ||
  fail "train exited with $?: $(cat "$T/err")"
echo "$out"
grep -q 'steps *6 of 6' <<<"$out" || fail "summary: steps"
grep -q 'dev MRR@10 .*untrained.* -> .*trained' <<<"$out" || fail "summary: MRR before/after"
grep -q 'pairs/s' <<<"$out" || fail "summary: pairs/s"
grep -q 'step 3/6' "$T/err" || fail "no plain progress lines on a non-TTY: $(cat "$T/err")"
[ -f "$T/ckpt/whole/step-6.h5" ] || fail "no final checkpoint"
[ -f "$T/ckpt/whole/step-4.h5" ] || fail "step-4.h5 should be kept (keep_last 2)"
[ ! -f "$T/ckpt/whole/step-2.h5" ] || fail "step-2.h5 should be pruned"
M="$T/runs/whole/metrics.jsonl"
[ "$(grep -c '"loss"' "$M")" -eq 6 ] || fail "metrics.jsonl: expected 6 loss rows: $(cat "$M")"
[ "$(grep -c '"eval"' "$M")" -eq 2 ] || fail "metrics.jsonl: expected eval rows at steps 0 and 6"

# data.max_examples keeps the first N training examples
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=few --set data.max_examples=50 --set train.steps=1 \
  --no-eval-at-start >"$T/out0" 2>"$T/err" || fail "max_examples run failed: $(cat "$T/err")"
grep -q 'using the first 50 of [0-9]* training examples' "$T/err" || fail "max_examples not reported: $(cat "$T/err")"
grep -q '; 50 training examples' "$T/err" || fail "max_examples not applied: $(cat "$T/err")"

# eval.max_passages sets the dev eval corpus like --eval-passages (which overrides it)
"$BIN" train "$T/run.yaml" --threads 2 --no-progress --set output.name=evp --set eval.max_passages=200 \
  --set train.steps=1 >"$T/out0" 2>"$T/err" || fail "eval.max_passages run failed: $(cat "$T/err")"
n200=$(grep -o '[0-9]* passages' "$T/err" | head -1)
"$BIN" train "$T/run.yaml" --threads 2 --no-progress --set output.name=evp2 --set eval.max_passages=200 \
  --eval-passages 300 --set train.steps=1 >"$T/out0" 2>"$T/err" || fail "--eval-passages run failed: $(cat "$T/err")"
n300=$(grep -o '[0-9]* passages' "$T/err" | head -1)
[ "${n200% passages}" -ge 200 ] && [ "${n200% passages}" -lt 300 ] && [ "${n300% passages}" -ge 300 ] ||
  fail "eval corpus sizes: eval.max_passages=200 gave '$n200', --eval-passages 300 gave '$n300'"

# MarginMSELoss on triples with a teacher margin column; plain triples are refused
head -200 "$T/deb/triples.train.tsv" | awk -F'\t' -v OFS='\t' '{print $1, $2, $3, 4.5}' >"$T/scored.tsv"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=mmse --set loss.name=MarginMSELoss \
  --set data.triples="$T/scored.tsv" --no-eval-at-start >"$T/out0" 2>"$T/err" || fail "MarginMSE run failed: $(cat "$T/err")"
grep -q 'MarginMSELoss' "$T/err" || fail "MarginMSE run: loss not reported: $(cat "$T/err")"
[ "$(grep -c '"loss"' "$T/runs/mmse/metrics.jsonl")" -eq 6 ] || fail "MarginMSE run: expected 6 loss rows"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=mmse2 --set loss.name=MarginMSELoss >"$T/out0" 2>"$T/err" &&
  fail "MarginMSELoss without teacher scores should fail"
grep -q 'MarginMSELoss needs teacher scores' "$T/err" || fail "MarginMSE without scores: unclear error: $(cat "$T/err")"

# the same run in two pieces: --stop-at 3, then --resume
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=split --stop-at 3 >"$T/out1" 2>"$T/err" ||
  fail "--stop-at run failed: $(cat "$T/err")"
grep -q 'stopped' "$T/out1" || fail "summary should say stopped"
[ -f "$T/ckpt/split/step-3.h5" ] || fail "no checkpoint at the stop"
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=split --resume >"$T/out2" 2>"$T/err" ||
  fail "--resume failed: $(cat "$T/err")"
grep -q 'resumed at 3' "$T/out2" || fail "resume did not start at step 3: $(cat "$T/out2")"
losses() { grep '"loss"' "$1" | sed 's/.*"loss":\([^,]*\),.*/\1/'; }
[ "$(losses "$M")" = "$(losses "$T/runs/split/metrics.jsonl")" ] ||
  fail "resumed losses differ: $(losses "$M" | tr '\n' ' ') vs $(losses "$T/runs/split/metrics.jsonl" | tr '\n' ' ')"

# Ctrl-C: the step finishes, a checkpoint is written, exit code 130
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --set output.name=sig --set train.steps=100000 --no-eval-at-start \
  >"$T/out3" 2>"$T/err" &
pid=$!
for _ in $(seq 1 300); do
  grep -q '"loss"' "$T/runs/sig/metrics.jsonl" 2>/dev/null && break
  sleep 0.1
done
kill -INT $pid
wait $pid
code=$?
[ $code -eq 130 ] || fail "Ctrl-C: exit code $code, expected 130: $(cat "$T/err")"
ls "$T/ckpt/sig/"step-*.h5 >/dev/null 2>&1 || fail "Ctrl-C: no checkpoint"
grep -q 'interrupted' "$T/err" || fail "Ctrl-C: no message"

# usage and errors
"$BIN" train --help | grep -q -- '--resume' || fail "--help"
"$BIN" train >/dev/null 2>&1; [ $? -eq 2 ] || fail "no config should be a usage error"
"$BIN" train "$T/run.yaml" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should be a usage error"
"$BIN" train "$T/missing.yaml" >/dev/null 2>&1; [ $? -eq 1 ] || fail "a missing config should fail with 1"
"$BIN" train "$T/run.yaml" --set optim.lr=abc >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "bad --set should fail"
grep -q 'optim.lr' "$T/err" || fail "bad --set: message should name the key"
echo "PASS"
