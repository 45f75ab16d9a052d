#!/usr/bin/env bash
# Installs ONNX Runtime for the ONNX export test and benchmark: npm's onnxruntime-node
# (its prebuilt libonnxruntime.so; Node.js and npm from Debian's nodejs and npm packages),
# with --ignore-scripts (nothing but the packages themselves is downloaded), and
# @huggingface/tokenizers (Tokenizers.js, the tokenizer of transformers.js, pure JS), the
# test's oracle for the exported tokenizer.json.
#   scripts/install-ort-node.sh [DIR]
# DIR defaults to $BIENC_ORT_DIR, else ~/.cache/bienc/onnxruntime-node. An existing install
# of the pinned version is kept. Prints DIR on success. Exit 77 (and the reason on stderr)
# when node or npm is missing or the npm registry cannot be reached, so a test can skip.
set -uo pipefail
VERSION=1.31.1 TOKENIZERS=0.2.0
DIR=${1:-${BIENC_ORT_DIR:-$HOME/.cache/bienc/onnxruntime-node}}
PKG=$DIR/node_modules/onnxruntime-node/package.json
TPKG=$DIR/node_modules/@huggingface/tokenizers/package.json
if [ -f "$PKG" ] && grep -q "\"version\": \"$VERSION\"" "$PKG" && [ -f "$TPKG" ] &&
   grep -q "\"version\": \"$TOKENIZERS\"" "$TPKG"; then
  echo "$DIR"
  exit 0
fi
for tool in node npm; do
  command -v $tool >/dev/null 2>&1 || { echo "install-ort-node: $tool not found (Debian: apt-get install nodejs npm)" >&2; exit 77; }
done
# a machine without the registry (CI may only reach Debian's mirror) is told in seconds, not
# after npm's minutes of retries
if ! timeout 30 npm view "onnxruntime-node@$VERSION" version --fetch-retries=0 --fetch-timeout=15000 >/dev/null 2>&1; then
  echo "install-ort-node: the npm registry cannot be reached (npm view onnxruntime-node@$VERSION failed)" >&2
  exit 77
fi
mkdir -p "$(dirname "$DIR")" || exit 1
# into a fresh directory first, then renamed: an interrupted install never looks complete
TMP=$(mktemp -d "$DIR.tmp.XXXXXX") || exit 1
if ! timeout 600 npm install --prefix "$TMP" --ignore-scripts --no-audit --no-fund --no-save \
     "onnxruntime-node@$VERSION" "@huggingface/tokenizers@$TOKENIZERS" > "$TMP.log" 2>&1; then
  echo "install-ort-node: npm install onnxruntime-node@$VERSION @huggingface/tokenizers@$TOKENIZERS failed" \
       "(registry unreachable?):" >&2
  tail -n 5 "$TMP.log" >&2
  rm -rf "$TMP" "$TMP.log"
  exit 77
fi
rm -f "$TMP.log"
rm -rf "$DIR"
mv "$TMP" "$DIR" || exit 1
echo "$DIR"
