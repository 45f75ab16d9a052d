#!/bin/bash
# Bi-encoder training benchmark, bienc vs PyTorch at MiniLM-L6 size (see eval/bench_train.py).
# Builds the driver in $BUILD_DIR (default build/), then runs the whole benchmark (about
# 5 minutes) holding /tmp/bienc-heavy.lock (flock), so other heavy jobs do not skew it.
#   eval/bench_train.sh [--configs mnrl:32,mnrl:64,triplet:32,triplet:64] [--steps 3] [--warmup 2] [--bf16]
# --bf16 adds bienc bf16 and PyTorch autocast bf16 (issue 12).
# Results: printed, and written to eval/results/bench_train.md (--out FILE, --out '' for none).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
cmake -S "$SRC" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target torch_bench_train_driver >/dev/null
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
exec flock /tmp/bienc-heavy.lock /usr/bin/python3 "$SRC/eval/bench_train.py" --build-dir "$BUILD_DIR" "$@"
