#!/bin/bash
# Encoding benchmark, bienc vs PyTorch, side by side (see eval/bench_encode.py):
# MiniLM-L6 size, random weights, vocab 30522; N MS MARCO passages of 16..128 tokens
# ("var") and N texts of exactly 128 tokens ("fixed"); batch 64; the same thread count
# and OPENBLAS_CORETYPE for both. The timed section (every run of both systems, interleaved)
# holds the shared heavy-work lock once, so both see the same machine; keep it under ~5
# minutes: pick N accordingly (the figures of eval/results/bench_encode_n*.md say how long a text takes).
#   eval/bench_encode.sh [--n 1000] [--repeats 3] [--threads 2]
# Results: eval/results/bench_encode_n<N>.{jsonl,md}
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
BIN=$BUILD_DIR/bienc
N=1000 R=3 T=2
while [ $# -gt 0 ]; do
  case $1 in
    --n) N=$2; shift 2;;
    --repeats) R=$2; shift 2;;
    --threads) T=$2; shift 2;;
    *) echo "usage: $0 [--n N] [--repeats R] [--threads T]" >&2; exit 2;;
  esac
done
[ -x "$BIN" ] || { echo "build bienc first ($BIN)" >&2; exit 1; }
OUT=${OUT:-/tmp/bienc_bench_encode}
mkdir -p "$OUT" "$SRC/eval/results"
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX} OMP_NUM_THREADS=$T
LOCK=/tmp/bienc-heavy.lock
PY=/usr/bin/python3
RES=$SRC/eval/results/bench_encode_n$N.jsonl
if [ "${BENCH_ENCODE_LOCKED:-0}" != 1 ]; then
  $PY "$SRC/eval/bench_encode.py" prep --out "$OUT" --bin "$BIN" --n "$N"
  : > "$RES"
  BENCH_ENCODE_LOCKED=1 OUT=$OUT BUILD_DIR=$BUILD_DIR flock "$LOCK" "$0" --n "$N" --repeats "$R" --threads "$T"
  $PY "$SRC/eval/bench_encode.py" report --out "$OUT" --results "$RES" --repeats "$R" | tee "$SRC/eval/results/bench_encode_n$N.md"
  exit 0
fi
# under the lock: the timed runs only
for set in var fixed; do
  for r in $(seq "$R"); do
    /usr/bin/time -f '%e %M' -o "$OUT/time.txt" "$BIN" encode --model "$OUT/model.h5" --input "$OUT/$set.tsv" \
      --output "$OUT/bienc_$set.h5" --side passage --batch-size 64 --threads "$T" 2> "$OUT/encode.log"
    read -r secs kb < "$OUT/time.txt"
    rate=$(tr '\r' '\n' < "$OUT/encode.log" | grep -o '[0-9.]* texts/s' | tail -1 | cut -d' ' -f1)
    echo "{\"system\": \"bienc\", \"set\": \"$set\", \"texts\": $N, \"seconds\": $secs, \"texts_per_s\": $(echo "$N / $secs" | bc -l),"\
         "\"encode_texts_per_s\": ${rate:-0}, \"peak_rss_mb\": $(echo "$kb / 1024" | bc -l), \"threads\": $T}" | tee -a "$RES"
    $PY "$SRC/eval/bench_encode.py" torch --out "$OUT" --set "$set" --threads "$T" | tee -a "$RES"
  done
done
