#!/bin/bash
# metrics.jsonl after an interrupted and resumed run equals an uninterrupted run's (issue
# 14, finding 7): the row in progress at the checkpoint (its first step and loss sum) is
# saved, so the first row after the resume averages the same steps; resuming a finished
# run adds no row. Compares every loss and eval value (not timings), stopping mid-row and
# on a row boundary.
set -u
BIN=${BIENC_BIN:-./bienc}
tried=0; passed=0
fail() { echo "FAIL: $*"; echo "cases: $tried tried, $passed passed"; exit 1; }
bad() { echo "FAIL: $*"; }
if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
  echo "SKIP: no apt translations and no /var/lib/dpkg/status: cannot build the Debian data set"
  exit 77
fi
T=$(mktemp -d /tmp/bienc_test_resume_log.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$BIN" data debian --output "$T/deb" >/dev/null 2>&1 || fail "bienc data debian failed"
cat > "$T/run.yaml" <<YAML
model: {hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}
tokenizer: {train: {size: 1500}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb}
train: {batch_size: 8, steps: 6, seed: 3, log_every_steps: 3}
eval: {every_steps: 3, max_queries: 20}
checkpoint: {dir: $T/ckpt}
output: {dir: $T/runs, name: r}
YAML
run() { "$BIN" train "$T/run.yaml" --no-progress --no-eval-at-start --eval-passages 200 "$@" >/dev/null 2>"$T/err" || fail "train $*: $(tail -c 300 "$T/err")"; }
# the values of metrics.jsonl without timings
values() { sed -E 's/,?"(pairs_per_s|seconds)":[0-9.e+-]+//g' "$T/runs/r/metrics.jsonl"; }
run
values > "$T/full"
grep -q '"loss"' "$T/full" || fail "no loss rows in $(cat "$T/full")"
for stop in 2 3 5; do
  tried=$((tried + 1))
  rm -rf "$T/ckpt" "$T/runs"
  run --stop-at $stop
  run --resume
  if diff "$T/full" <(values) >"$T/diff"; then passed=$((passed + 1))
  else bad "stopped at $stop and resumed: metrics.jsonl differs: $(cat "$T/diff")"; fi
done
tried=$((tried + 1))
run --resume # a finished run: nothing to add
run --resume
if diff "$T/full" <(values) >"$T/diff"; then passed=$((passed + 1))
else bad "resuming a finished run changed metrics.jsonl: $(cat "$T/diff")"; fi
echo "cases: $tried tried, $passed passed"
[ "$passed" -eq "$tried" ] || exit 1
echo "PASS"
