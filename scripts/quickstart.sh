#!/usr/bin/env bash
# The quickstart main job: install the dependencies, build, and run the whole pipeline
# on the built-in Debian data (data set -> vocabulary -> teacher -> bi-encoder -> encode
# -> HNSW -> search -> rerank -> metrics), writing runs/quickstart/report.{md,json,svg}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
./build/bienc version
./build/bienc run configs/quickstart.yaml "$@"
