#!/usr/bin/env bash
# The test command: install the dependencies, build (Release), run the whole suite
# (cmocka unit tests, PyTorch parity scripts, CLI tests) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
