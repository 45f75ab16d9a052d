#!/usr/bin/env bash
# Installs what bienc needs from Debian's packages: to build and run (no argument), or also
# to run the test suite (--tests).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
# The main job (build + `bienc run`): the toolchain, the libraries, python3-xapian for the
# BM25 baseline. `--tests` adds what only the test suite needs: PyTorch (the oracle of the
# parity tests, about 1 GB), numpy, h5py, the Unicode data the tables are checked against,
# OpenMPI (optional for users: with it, bienc also trains and encodes under mpirun; the
# suite runs the 2-rank equivalence and sharding tests), python3-onnx (the ONNX checker of
# the ONNX export) and Node.js + npm (ONNX Runtime comes from npm's onnxruntime-node:
# scripts/install-ort-node.sh, run by the test that needs it).
PKGS=(
  build-essential cmake pkg-config git
  libopenblas-openmp-dev libhdf5-dev libyaml-dev libcmocka-dev
  python3 python3-xapian
)
if [ "${1:-}" = "--tests" ]; then
  PKGS+=(python3-torch python3-numpy python3-h5py unicode-data libopenmpi-dev openmpi-bin python3-onnx)
  # a node / npm already on the PATH (another distribution's nodejs) is kept
  command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
  command -v npm >/dev/null 2>&1 || PKGS+=(npm)
fi
# Skip the network when everything is already there.
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# The built-in data set (bienc data debian) reads apt's English package descriptions.
have_translations=0
ls /var/lib/apt/lists/*_i18n_Translation-en* >/dev/null 2>&1 && have_translations=1
if [ "$have_translations" = 0 ]; then
  # Container images often switch translations off (Acquire::Languages "none" in a file of
  # apt.conf.d), and `-o Acquire::Languages=en` does not undo a list entry: read apt's
  # config parts without those files and ask for English.
  parts=$(mktemp -d)
  for f in /etc/apt/apt.conf.d/*; do
    [ -e "$f" ] && ! grep -q 'Acquire::Languages' "$f" && ln -s "$f" "$parts/"
  done
  printf 'Dir::Etc::Parts "%s";\nAcquire::Languages { "en"; };\n' "$parts" > "$parts.conf"
  echo "fetching apt's English package descriptions (the built-in data set)"
  $SUDO env APT_CONFIG="$parts.conf" apt-get update -qq
  rm -rf "$parts" "$parts.conf"
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  [ "$have_translations" = 1 ] && $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
