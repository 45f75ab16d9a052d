#!/usr/bin/env bash
# bf16 GEMM micro-benchmark (eval/bench_gemm_bf16.c): sgemm fp32 peak, bienc's bf16
# kernels and, when libdnnl-dev is installed, oneDNN's bf16 matmul, on a square product
# and MiniLM-L6's training shapes, 2 threads, interleaved rounds.
#   eval/bench_gemm_bf16.sh [rounds]    (ONEDNN_VERBOSE=1 shows which ISA oneDNN picks)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BIENC_BUILD_DIR:-$ROOT/build}"
WORK="${BIENC_BENCH_DIR:-/tmp/bienc-bench}"
mkdir -p "$WORK"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bienc_static >/dev/null
OPENBLAS_DIR=/usr/lib/x86_64-linux-gnu/openblas-openmp
DNNL=()
if [ -f /usr/include/dnnl.h ]; then DNNL=(-DBIENC_HAVE_DNNL -ldnnl); fi
gcc -O3 -march=native -fopenmp -I"$ROOT/include" -I"$ROOT/src" -I/usr/include/x86_64-linux-gnu/openblas-openmp \
    "$ROOT/eval/bench_gemm_bf16.c" "$BUILD/libbienc.a" \
    -L"$OPENBLAS_DIR" -Wl,-rpath,"$OPENBLAS_DIR" -lopenblas -lm "${DNNL[@]}" -o "$WORK/bench_gemm_bf16"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$WORK/bench_gemm_bf16" "$@"
