#!/bin/bash
# Inconsistent inputs are refused (issue 14, finding 5): embeddings whose ids are
# duplicated, empty or hold whitespace (index build, search: the same rule as encode's
# readers), a JSONL object naming "_id" twice, a resume whose config changes the
# architecture (the message names the key), and the accepted cases still pass.
set -u
. "$(dirname "$0")/lib.sh"
need_h5py
scratch consistency
tiny_model 1 c

# emb NAME ID...: an embeddings file with one 4-dim row per id
emb() {
  local out=$1; shift
  $PY - "$out" "$@" <<'PY' || fail "writing $1"
import sys, h5py, numpy as np
ids = sys.argv[2:]
f = h5py.File(sys.argv[1], "w")
f["embeddings"] = np.arange(4 * len(ids), dtype=np.float32).reshape(len(ids), 4) / 10 + 0.1
f.create_dataset("ids", data=ids, dtype=h5py.string_dtype())
f.attrs["normalized"] = np.int8(0)
PY
}
# refused WHAT CMD...: exits 1 with WHAT in the message
refused() {
  local what=$1; shift
  tried=$((tried + 1))
  "$BIN" "$@" >/dev/null 2>"$T/err"
  local rc=$?
  if [ $rc -ne 1 ]; then bad "exit $rc (want 1): $*: $(tail -c 300 "$T/err")"
  elif ! grep -q -- "$what" "$T/err"; then bad "$*: message should say '$what': $(tail -c 300 "$T/err")"
  else passed=$((passed + 1)); fi
}
accepted() {
  tried=$((tried + 1))
  "$BIN" "$@" >/dev/null 2>"$T/err" && passed=$((passed + 1)) || bad "should pass: $*: $(tail -c 300 "$T/err")"
}
emb "$T/ok.h5" d1 d2 d3 d4
emb "$T/dup.h5" d1 d2 d1 d4
emb "$T/empty.h5" d1 "" d3 d4
emb "$T/space.h5" d1 "d 2" d3 d4
emb "$T/tab.h5" d1 d2 "d3	x" d4
accepted index build --embeddings "$T/ok.h5" --output "$T/ok.idx"
refused "duplicate id 'd1'" index build --embeddings "$T/dup.h5" --output "$T/x.idx"
refused "empty id" index build --embeddings "$T/empty.h5" --output "$T/x.idx"
refused "space or control" index build --embeddings "$T/space.h5" --output "$T/x.idx"
refused "space or control" index build --embeddings "$T/tab.h5" --output "$T/x.idx"
accepted search --index "$T/ok.idx" --query-embeddings "$T/ok.h5" --k 2 --output "$T/ok.trec"
refused "duplicate id" search --index "$T/ok.idx" --query-embeddings "$T/dup.h5" --k 2 --output "$T/x.trec"
refused "space or control" search --index "$T/ok.idx" --query-embeddings "$T/space.h5" --k 2 --exact --output "$T/x.trec"
tried=$((tried + 1))
[ ! -e "$T/x.idx" ] && [ ! -e "$T/x.trec" ] && passed=$((passed + 1)) || bad "a refused command wrote its output"

# JSONL: a member named twice is ambiguous (Python keeps the last, a first-match reader the first)
printf '{"_id": "1", "text": "a b", "_id": "2"}\n{"_id": "3", "text": "c"}\n' > "$T/dup.jsonl"
printf '{"_id": "1", "text": "a b", "title": "t", "meta": {"x": 1, "y": 2}}\n{"_id": "3", "text": "c"}\n' > "$T/ok.jsonl"
printf '{"_id": "1", "text": "a b", "meta": {"x": 1, "x": 2}}\n' > "$T/nested.jsonl"
accepted encode --model "$M" --input "$T/ok.jsonl" --output "$T/j.h5" --quiet
refused 'duplicate member name "_id"' encode --model "$M" --input "$T/dup.jsonl" --output "$T/j2.h5" --quiet
refused 'duplicate member name "x"' encode --model "$M" --input "$T/nested.jsonl" --output "$T/j2.h5" --quiet

# model/kind as h5py writes it (ASCII or UTF-8, variable or fixed length): an unknown kind
# is named, a known one loads
kind() { # OUT VALUE TYPE
  cp "$M" "$1"
  $PY - "$1" "$2" "$3" <<'PY' || fail "setting model/kind"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+")
v, t = sys.argv[2], sys.argv[3]
del f["model"].attrs["kind"]
if t == "ascii": f["model"].attrs.create("kind", v.encode(), dtype=h5py.string_dtype("ascii"))
elif t == "fixed": f["model"].attrs["kind"] = np.bytes_(v)
else: f["model"].attrs["kind"] = v
f.close()
PY
  reseal "$1"
}
for t in ascii fixed utf8; do
  kind "$T/k.h5" mystery_encoder $t
  refused "model/kind is 'mystery_encoder'" encode --model "$T/k.h5" --input "$T/ok.jsonl" --output "$T/k.out" --quiet
  kind "$T/k.h5" bi_encoder $t
  accepted encode --model "$T/k.h5" --input "$T/ok.jsonl" --output "$T/k.out" --quiet
done

# resume: the architecture cannot change; the message names the key
sed "s#steps: 1#steps: 2#" "$T/run.yaml" > "$T/r2.yaml"
for set in "model.hidden=64" "model.layers=2" "model.heads=4" "model.intermediate=128" "model.max_positions=128" \
           "model.pooling=cls" "model.normalize=true" "model.activation=gelu_new"; do
  refused "resume: ${set%%=*}" train "$T/r2.yaml" --resume "$M" --set "$set" --no-progress --eval-passages 200
done
refused "resume: model.hidden" train "$T/r2.yaml" --resume "$M" --set model.size=mini --set model.hidden=0 \
  --set model.layers=0 --set model.heads=0 --set model.intermediate=0 --no-progress --eval-passages 200
# a changed dropout or learning rate is not the architecture: resuming with it works
accepted train "$T/r2.yaml" --resume "$M" --set model.dropout=0.2 --set optim.lr=1e-4 --no-progress --eval-passages 200
finish
