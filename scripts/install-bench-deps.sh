#!/usr/bin/env bash
# Extra Debian packages for the benchmarks: the libraries bienc is compared with (HNSW:
# eval/bench_hnsw.sh; oneDNN's bf16 matmul: eval/bench_gemm_bf16.sh). Not needed to build
# or test bienc (CI does not run them). The plot is written as SVG by the script itself,
# so matplotlib is not required.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
PKGS=(python3-hnswlib python3-faiss libhnswlib-dev python3-numpy python3-torch python3-h5py g++ libdnnl-dev)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -o Acquire::Languages=en -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
