#!/bin/bash
# metrics.jsonl after an interrupted and resumed run equals an uninterrupted run's (issue
# 14, finding 7): the row in progress at the checkpoint (its first step and loss sum) is
# saved, so the first row after the resume averages the same steps; resuming a finished
# run adds no row. Compares every loss and eval value (not timings), stopping mid-row and
# on a row boundary.
set -u
. "$(dirname "$0")/lib.sh"
scratch resume_log
tiny_config 6 "$T/ckpt" r > "$T/run.yaml"
run() { "$BIN" train "$T/run.yaml" --no-progress --no-eval-at-start --eval-passages 200 \
  --set train.log_every_steps=3 --set eval.every_steps=3 "$@" >/dev/null 2>"$T/err" || fail "train $*: $(tail -c 300 "$T/err")"; }
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
finish
