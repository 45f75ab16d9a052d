#!/bin/bash
# Encoding benchmark, side by side (see eval/bench_encode.py): bienc fp32, bienc bf16
# (--precision bf16), bienc int8 (--precision int8), PyTorch fp32, PyTorch bf16 (pytorch_bf16:
# the same model under torch.autocast("cpu", dtype=torch.bfloat16) in inference mode; its
# header says what oneDNN runs), PyTorch int8 (pytorch_int8: quantize_dynamic's int8 linear
# layers) and ONNX Runtime fp32 (the model exported by `bienc export
# --format onnx`, graph optimisation "all", T intra-op threads, through npm's
# onnxruntime-node), on the same texts: MiniLM-L6 size, random weights, vocab 30522; N MS
# MARCO passages of 16..128 tokens ("var") and N texts of exactly 128 tokens ("fixed"); batch
# 64; the same thread count and OPENBLAS_CORETYPE for all. Each repeat runs every system on
# both sets in turn (interleaved); the report gives medians. The timed section holds the
# shared heavy-work lock once, so all see the same machine; keep it under ~5 minutes: pick N
# accordingly (the figures of eval/results/bench_encode_n*.md say how long a text takes).
#   eval/bench_encode.sh [--n 1000] [--repeats 3] [--threads 2]
#                        [--systems bienc,bienc_bf16,bienc_int8,pytorch,pytorch_bf16,pytorch_int8,onnxruntime]
# ONNX Runtime is installed by scripts/install-ort-node.sh (skipped, with a message, where npm
# cannot reach its registry). Results: eval/results/bench_encode_n<N>.{jsonl,md}
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
BIN=$BUILD_DIR/bienc
N=1000 R=3 T=2 SYSTEMS=bienc,bienc_bf16,bienc_int8,pytorch,pytorch_bf16,pytorch_int8,onnxruntime
while [ $# -gt 0 ]; do
  case $1 in
    --n) N=$2; shift 2;;
    --repeats) R=$2; shift 2;;
    --threads) T=$2; shift 2;;
    --systems) SYSTEMS=$2; shift 2;;
    *) echo "usage: $0 [--n N] [--repeats R] [--threads T] [--systems LIST]" >&2; exit 2;;
  esac
done
[ -x "$BIN" ] || { echo "build bienc first ($BIN)" >&2; exit 1; }
OUT=${OUT:-/tmp/bienc_bench_encode}
mkdir -p "$OUT" "$SRC/eval/results"
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX} OMP_NUM_THREADS=$T
LOCK=${BENCH_LOCK:-/tmp/bienc-heavy.lock}
PY=/usr/bin/python3
RES=${RES:-$SRC/eval/results/bench_encode_n$N.jsonl}
if [ "${BENCH_ENCODE_LOCKED:-0}" != 1 ]; then
  if [[ ",$SYSTEMS," == *,onnxruntime,* ]]; then
    if ORT=$(bash "$SRC/scripts/install-ort-node.sh"); then export ORT
    else echo "bench_encode: ONNX Runtime unavailable, left out" >&2; SYSTEMS=$(echo ",$SYSTEMS," | sed 's/,onnxruntime,/,/; s/^,//; s/,$//'); fi
  fi
  $PY "$SRC/eval/bench_encode.py" prep --out "$OUT" --bin "$BIN" --n "$N"
  : > "$RES"
  BENCH_ENCODE_LOCKED=1 OUT=$OUT BUILD_DIR=$BUILD_DIR RES=$RES flock "$LOCK" "$0" --n "$N" --repeats "$R" --threads "$T" --systems "$SYSTEMS"
  $PY "$SRC/eval/bench_encode.py" report --out "$OUT" --results "$RES" --repeats "$R" | tee "${RES%.jsonl}.md"
  exit 0
fi
# under the lock: the timed runs only
bienc_run() { # SET PRECISION
  local set=$1 prec=$2 name=bienc
  [ "$prec" != fp32 ] && name=bienc_$prec
  /usr/bin/time -f '%e %M' -o "$OUT/time.txt" "$BIN" encode --model "$OUT/model.h5" --input "$OUT/$set.tsv" \
    --output "$OUT/${name}_$set.h5" --side passage --batch-size 64 --threads "$T" --precision "$prec" 2> "$OUT/encode.log"
  read -r secs kb < "$OUT/time.txt"
  rate=$(tr '\r' '\n' < "$OUT/encode.log" | grep -o '[0-9.]* texts/s' | tail -1 | cut -d' ' -f1)
  echo "{\"system\": \"$name\", \"set\": \"$set\", \"texts\": $N, \"seconds\": $secs, \"texts_per_s\": $(echo "$N / $secs" | bc -l),"\
       "\"encode_texts_per_s\": ${rate:-0}, \"peak_rss_mb\": $(echo "$kb / 1024" | bc -l), \"threads\": $T}" | tee -a "$RES"
}
for r in $(seq "$R"); do
  for set in var fixed; do
    for s in ${SYSTEMS//,/ }; do
      case $s in
        bienc) bienc_run "$set" fp32;;
        bienc_bf16) bienc_run "$set" bf16;;
        bienc_int8) bienc_run "$set" int8;;
        pytorch) $PY "$SRC/eval/bench_encode.py" torch --out "$OUT" --set "$set" --threads "$T" | tee -a "$RES";;
        pytorch_bf16) $PY "$SRC/eval/bench_encode.py" torch --bf16 --out "$OUT" --set "$set" --threads "$T" | tee -a "$RES";;
        pytorch_int8) $PY "$SRC/eval/bench_encode.py" torch --int8 --out "$OUT" --set "$set" --threads "$T" | tee -a "$RES";;
        onnxruntime) $PY "$SRC/eval/bench_encode.py" ort --out "$OUT" --set "$set" --threads "$T" --ort "$ORT" | tee -a "$RES";;
        *) echo "unknown system $s" >&2; exit 2;;
      esac
    done
  done
done
