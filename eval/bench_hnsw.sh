#!/usr/bin/env bash
# HNSW benchmark: bienc vs native hnswlib vs Debian's python hnswlib vs FAISS HNSW.
# Builds the two C/C++ drivers, then runs eval/bench_hnsw.py (data, ground truth, table,
# SVG plot into eval/results/). Extra arguments go to bench_hnsw.py, e.g.
#   eval/bench_hnsw.sh --n 100000                # all four libraries
#   eval/bench_hnsw.sh --n 1000000 --libs bienc,hnswlib-native,hnswlib
# Needs scripts/install-bench-deps.sh (not needed by CI). Heavy: run it alone; the
# whole run holds /tmp/bienc-heavy.lock so other heavy jobs do not skew the timings.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BIENC_BUILD_DIR:-$ROOT/build-hnsw}"
WORK="${BIENC_BENCH_DIR:-/tmp/bienc-bench}"
mkdir -p "$WORK"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bienc_static >/dev/null
OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-openmp
gcc -O3 -march=native -fopenmp -I"$ROOT/include" -I"$ROOT/src" "$ROOT/eval/bench_hnsw.c" \
    "$BUILD/libbienc.a" -L"$OPENBLAS_DIR" -Wl,-rpath,"$OPENBLAS_DIR" -lopenblas -lm \
    -o "$WORK/bench_hnsw_bienc"
g++ -O3 -march=native -fopenmp "$ROOT/eval/hnswlib_native.cpp" -o "$WORK/hnswlib_native"
export OPENBLAS_CORETYPE=SkylakeX
exec flock /tmp/bienc-heavy.lock /usr/bin/python3 "$ROOT/eval/bench_hnsw.py" --work "$WORK" \
    --out "$ROOT/eval/results" "$@"
