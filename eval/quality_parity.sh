#!/bin/bash
# Quality parity, bienc vs PyTorch (see eval/quality_parity.py for what it does):
# a tiny bi-encoder trained on the built-in Debian set by `bienc train` and by PyTorch from
# the same initial weights on the same batches; both dev MRR@10 must agree within 0.02.
#   eval/quality_parity.sh [--steps 300] [--lr 2e-4] [--batch 32] [--work /tmp/bienc-quality-parity]
# Builds bienc and the driver in $BUILD_DIR (default build/), runs under the heavy-work lock
# (a few minutes on 2 cores) and writes eval/results/quality_parity.md (--out FILE).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$SRC/build}
cmake -S "$SRC" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j2 --target bienc torch_quality_parity_driver >/dev/null
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
exec flock /tmp/bienc-heavy.lock /usr/bin/python3 "$SRC/eval/quality_parity.py" --build-dir "$BUILD_DIR" "$@"
