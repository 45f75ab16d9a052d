#!/bin/bash
# Encoder training-step benchmark, bienc vs PyTorch (see eval/bench_encoder.py).
# Builds the driver in $BUILD_DIR (default build/) and runs under the shared heavy-work
# lock so that other heavy jobs do not skew the figures.
#   eval/bench_encoder.sh [--threads 1,2] [--steps 5] [--warmup 1]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
cmake -S "$SRC" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target torch_bench_encoder_driver >/dev/null
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
exec flock /tmp/bienc-heavy.lock /usr/bin/python3 "$SRC/eval/bench_encoder.py" --build-dir "$BUILD_DIR" "$@"
