#!/bin/bash
# Poisoned numbers are refused where they enter (issue 14, finding 4): a checkpoint whose
# weights hold NaN/Inf with valid checksums (encode, search --model, train --resume),
# optimiser state with a negative or infinite second moment (train --resume), a
# safetensors weight holding NaN (import), embeddings with NaN or norms whose scores would
# overflow (index build, search). Each must exit 1 naming the reason, and write nothing.
set -u
. "$(dirname "$0")/lib.sh"
need_h5py
scratch poison
head -n 200 "$T/deb/collection.tsv" > "$T/c.tsv"
head -n 10 "$T/deb/queries.dev.tsv" > "$T/q.tsv"
tiny_model 2 p --set checkpoint.every_steps=1
M="$T/ckpt/p/step-1.h5"
"$BIN" encode --model "$M" --input "$T/c.tsv" --output "$T/c.h5" --quiet >/dev/null || fail "encode"
"$BIN" encode --model "$M" --input "$T/q.tsv" --output "$T/q.h5" --quiet >/dev/null || fail "encode queries"
"$BIN" index build --embeddings "$T/c.h5" --output "$T/c.idx" >/dev/null || fail "index build"
"$BIN" export --model "$M" --output "$T/hf" >/dev/null || fail "export"

# poison SRC DST DATASET INDEX VALUE: a copy of an HDF5 file with one value changed (h5py
# rewrites the chunk and its Fletcher-32 checksum, the script the whole-file one)
poison() {
  cp "$1" "$2"
  $PY - "$2" "$3" "$4" "$5" <<'PY' || fail "poisoning $3"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r+")
d = f[sys.argv[2]]
a = d[...]
a.flat[int(sys.argv[3])] = np.float32(float(sys.argv[4]))
d[...] = a
f.close()
PY
  reseal "$2"
}
# refused WHAT OUT CMD...: exits 1, the message contains WHAT, OUT not written
refused() {
  local what=$1 out=$2; shift 2
  tried=$((tried + 1))
  rm -f "$out"
  "$BIN" "$@" >/dev/null 2>"$T/err"
  local rc=$?
  if [ $rc -ne 1 ]; then bad "exit $rc (want 1): $*: $(head -c 300 "$T/err")"; return; fi
  grep -q -- "$what" "$T/err" || { bad "$*: message should say '$what': $(head -c 300 "$T/err")"; return; }
  [ ! -e "$out" ] || { bad "$*: wrote $out"; return; }
  passed=$((passed + 1))
}
W=params/encoder.layer.0.attention.self.query.weight
poison "$M" "$T/nan.h5" $W 5 nan
poison "$M" "$T/inf.h5" params/embeddings.word_embeddings.weight 100 inf
refused "NaN" "$T/o.h5" encode --model "$T/nan.h5" --input "$T/c.tsv" --output "$T/o.h5" --quiet
refused "Inf" "$T/o.h5" encode --model "$T/inf.h5" --input "$T/c.tsv" --output "$T/o.h5" --quiet
refused "NaN" "$T/o.trec" search --index "$T/c.idx" --model "$T/nan.h5" --queries "$T/q.tsv" --output "$T/o.trec"

# optimiser state: resume from a checkpoint with a poisoned second (or first) moment
resume() { # CKPT: copies the run and resumes it from CKPT, 1 more step
  rm -rf "$T/ckpt2" "$T/runs2"
  sed -e "s#$T/ckpt#$T/ckpt2#" -e "s#$T/runs#$T/runs2#" -e "s#steps: 2#steps: 3#" "$T/run.yaml" > "$T/r2.yaml"
  mkdir -p "$T/ckpt2/p" && cp "$1" "$T/ckpt2/p/step-1.h5"
  "$BIN" train "$T/r2.yaml" --resume "$T/ckpt2/p/step-1.h5" --no-progress --eval-passages 200
}
V=optim/v/encoder.layer.0.attention.self.query.weight
for spec in "$V -1 second moment" "$V -1e-30 second moment" "$V inf Inf" "$V nan NaN" \
            "optim/m/embeddings.LayerNorm.bias inf Inf" "$W nan NaN"; do
  set -- $spec
  ds=$1 val=$2; shift 2
  poison "$M" "$T/opt.h5" "$ds" 3 "$val"
  tried=$((tried + 1))
  resume "$T/opt.h5" >/dev/null 2>"$T/err"
  rc=$?
  if [ $rc -ne 1 ]; then bad "resume with $ds[3] = $val: exit $rc (want 1): $(tail -c 300 "$T/err")"
  elif ! grep -q "$*" "$T/err"; then bad "resume with $ds[3] = $val: message should say '$*': $(tail -c 300 "$T/err")"
  elif ls "$T/ckpt2/p" | grep -qv '^step-1.h5$'; then bad "resume with $ds[3] = $val: wrote a checkpoint: $(ls "$T/ckpt2/p")"
  else passed=$((passed + 1)); fi
done
tried=$((tried + 1)) # the unpoisoned copy resumes fine
resume "$M" >/dev/null 2>"$T/err" && passed=$((passed + 1)) || bad "a clean resume failed: $(tail -c 300 "$T/err")"

# safetensors: a NaN weight in an otherwise valid file
$PY - "$T/hf/model.safetensors" "$T/hf_nan" <<'PY' || fail "poisoning safetensors"
import sys, json, struct, shutil, os
src, dst = sys.argv[1], sys.argv[2]
shutil.copytree(os.path.dirname(src), dst)
b = bytearray(open(src, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
name = [k for k in h if k != "__metadata__" and h[k]["dtype"] == "F32"][0]
off = 8 + n + h[name]["data_offsets"][0]
b[off + 4:off + 8] = struct.pack("<f", float("nan"))
open(os.path.join(dst, "model.safetensors"), "wb").write(b)
PY
refused "NaN" "$T/imp.h5" import --from "$T/hf_nan" --output "$T/imp.h5"

# embeddings: NaN, and finite values whose scores overflow (3e38: Inf dot products, NaN scores)
poison "$T/c.h5" "$T/cnan.h5" embeddings 7 nan
poison "$T/c.h5" "$T/cbig.h5" embeddings 7 3e38
poison "$T/q.h5" "$T/qbig.h5" embeddings 0 3e38
refused "not finite" "$T/o.idx" index build --embeddings "$T/cnan.h5" --output "$T/o.idx"
refused "overflow" "$T/o.idx" index build --embeddings "$T/cbig.h5" --output "$T/o.idx"
refused "overflow" "$T/o.trec" search --index "$T/c.idx" --query-embeddings "$T/qbig.h5" --output "$T/o.trec"
refused "overflow" "$T/o.trec" search --index "$T/c.idx" --query-embeddings "$T/qbig.h5" --exact --output "$T/o.trec"
finish
