#!/bin/bash
# The ONNX export run by ONNX Runtime (npm's onnxruntime-node, installed by
# scripts/install-ort-node.sh; Skipped, exit 77, where node/npm or the npm registry is not
# reachable): texts tokenized by `bienc tokenize` with the exported vocab.txt go through the
# exported model in padded batches of mixed lengths (and one at a time), and the outputs
# equal bienc's own within 1e-5 (max abs, fp32):
#   bi-encoders (mean / cls / max pooling, GELU erf / tanh): sentence_embedding vs `bienc
#   encode`; last_hidden_state pooled by numpy as sentence-transformers pools gives
#   sentence_embedding back
#   cross-encoder (three token types): logits vs `bienc score`
# and the exported tokenizer.json read by Tokenizers.js (@huggingface/tokenizers, what
# transformers.js tokenizes with) gives bienc's ids, for single texts and pairs.
set -u
BIN=${BIENC_BIN:-./bienc}
BUILD=${BIENC_BUILD_DIR:-.}
SRC=${BIENC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }
$PY -c 'import numpy' 2>/dev/null || { echo "SKIP: python3-numpy missing"; exit 77; }
ORT=$(bash "$SRC/scripts/install-ort-node.sh" 2>/tmp/bienc_ort_install.$$)
rc=$?
if [ $rc -ne 0 ]; then
  echo "SKIP: ONNX Runtime (onnxruntime-node) unavailable: $(cat /tmp/bienc_ort_install.$$)"
  rm -f /tmp/bienc_ort_install.$$
  [ $rc -eq 77 ] && exit 77
  exit 1
fi
rm -f /tmp/bienc_ort_install.$$
T=$(mktemp -d /tmp/bienc_test_ort.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$BUILD/tests/torch_export_models_driver" "$T" || fail "export driver"
ort_run() { # MODEL_DIR IN OUT [options]: ONNX Runtime with 1 thread, warnings are failures
  local d=$1 in=$2 out=$3; shift 3
  node "$SRC/eval/ort_run.js" --ort "$ORT" --model "$d/model.onnx" --input "$in" --output "$out" --threads 1 --no-spin \
    "$@" 2>"$T/ort.err" || fail "onnxruntime on $d: $(cat "$T/ort.err")"
  grep -v "Serializing optimized model" "$T/ort.err" | grep -q "W:onnxruntime" && fail "onnxruntime warns about $d: $(cat "$T/ort.err")"
  return 0
}
# fused_ops MODEL_DIR OPS...: ONNX Runtime's optimiser fused the graph's GELU and residual +
# LayerNorm (the export keeps the shapes it looks for; without it the benchmark would be unfair)
fused_ops() {
  local d=$1; shift
  $PY -c 'import onnx' 2>/dev/null || { echo "(python3-onnx missing: fusions not checked)"; return 0; }
  $PY - "$T/$(basename "$d").opt.onnx" "$@" <<'PY' || fail "$d: ONNX Runtime did not fuse"
import sys, collections, onnx
m = onnx.load(sys.argv[1])
ops = collections.Counter(n.op_type for n in m.graph.node)
missing = [o for o in sys.argv[2:] if not ops[o]]
assert not missing, "no %s in %s" % (missing, dict(ops))
print("fused by ONNX Runtime:", {o: ops[o] for o in sys.argv[2:]})
PY
}

# texts of 1 to 32 tokens (the passage max length: the longest is cut), unknown words included
cat > "$T/texts.txt" <<'TXT'
the cat is on the mat
water
the king of the fog was red and the dog with a book on the mat in the sun
xyz qq the sun is a star
a
dog dog dog dog cat
the mat of the king is red and the water is wet and the cat sat on the book of the star with a dog in fog
ÉTOILE, Ÿ — 水 the ##s [SEP]
don't STOP!!! naïve café 東京 x1.5 e-mail   and   spaces
TXT
"$BIN" export --model "$T/bi_mean.h5" --format onnx --output "$T/bi_mean" >/dev/null || fail "export bi_mean"
"$BIN" tokenize --vocab "$T/bi_mean/vocab.txt" < "$T/texts.txt" > "$T/bienc.tok" || fail "tokenize"
node "$SRC/tests/cli/hf_tokenize.js" "$ORT" "$T/bi_mean" "$T/texts.txt" > "$T/hf.tok" || fail "Tokenizers.js on tokenizer.json"
cmp -s "$T/bienc.tok" "$T/hf.tok" || fail "Tokenizers.js and bienc tokenize differ: $(diff "$T/bienc.tok" "$T/hf.tok")"
for m in bi_mean bi_cls bi_max; do
  "$BIN" export --model "$T/$m.h5" --format onnx --output "$T/$m" >/dev/null || fail "export $m"
  "$BIN" encode --model "$T/$m.h5" --input "$T/texts.txt" --side passage --output "$T/$m.npy" --output-format npy \
    --quiet || fail "encode $m"
  "$BIN" tokenize --vocab "$T/$m/vocab.txt" --max-length 32 < "$T/texts.txt" > "$T/$m.ids" || fail "tokenize $m"
  $PY -c 'import json, sys; json.dump({"ids": [[int(x) for x in l.split()] for l in open(sys.argv[1])]}, open(sys.argv[2], "w"))' \
    "$T/$m.ids" "$T/$m.in.json"
  ort_run "$T/$m" "$T/$m.in.json" "$T/$m.b3.json" --batch-size 3 --hidden-states --save-optimized "$T/$m.opt.onnx"
  if [ $m = bi_cls ]; then fused_ops "$T/$m" SkipLayerNormalization FastGelu; else fused_ops "$T/$m" SkipLayerNormalization BiasGelu; fi
  ort_run "$T/$m" "$T/$m.in.json" "$T/$m.b1.json" --batch-size 1
  ort_run "$T/$m" "$T/$m.in.json" "$T/$m.sorted.json" --batch-size 8 --sort
  $PY - "$T" "$m" <<'PY' || fail "$m: ONNX Runtime differs from bienc"
import json, sys
import numpy as np
t, m = sys.argv[1], sys.argv[2]
ref = np.load("%s/%s.npy" % (t, m))
pool, norm = {"bi_mean": ("mean", True), "bi_cls": ("cls", False), "bi_max": ("max", True)}[m]
lens = [len(l.split()) for l in open("%s/%s.ids" % (t, m))]
assert max(lens) == 32 and min(lens) == 3, lens  # truncation and a one-word text are exercised
for run in ("b3", "b1", "sorted"):
    o = json.load(open("%s/%s.%s.json" % (t, m, run)))
    e = np.array(o["sentence_embedding"], dtype=np.float32)
    assert e.shape == ref.shape, (e.shape, ref.shape)
    d = float(np.abs(e - ref).max())
    print("%s %-6s max |ONNX Runtime - bienc encode| = %.2e (|x| <= %.2f)" % (m, run, d, float(np.abs(ref).max())))
    assert d <= 1e-5, d
    if run == "b3":  # the token states, pooled as sentence-transformers pools them
        for i, h in enumerate(o["last_hidden_state"]):
            h = np.array(h, dtype=np.float32)
            assert h.shape == (lens[i], ref.shape[1]), h.shape
            p = h.mean(0) if pool == "mean" else h[0] if pool == "cls" else h.max(0)
            if norm:
                p = p / max(np.linalg.norm(p), 1e-12)
            assert np.abs(p - e[i]).max() <= 1e-5, (i, np.abs(p - e[i]).max())
PY
done

# the cross-encoder: [CLS] q [SEP] p [SEP], token types 0 / 1, and 2 for passage tokens that
# occur in the query (its type_vocab_size is 3), against `bienc score`
"$BIN" export --model "$T/cross.h5" --format onnx --output "$T/cross" >/dev/null || fail "export cross"
cat > "$T/triples.tsv" <<'TSV'
the cat	the cat is on the mat	water is red
where is the dog	the dog in the fog	a star
sun	the sun is a star of the king and the cat sat on the mat with a red book	book
what	x	the king was old
TSV
"$BIN" score --model "$T/cross.h5" --triples "$T/triples.tsv" --output "$T/scored.tsv" --quiet || fail "bienc score"
awk -F'\t' '{print $1 "\t" $2; print $1 "\t" $3}' "$T/triples.tsv" |
  "$BIN" tokenize --vocab "$T/cross/vocab.txt" --pair > "$T/pairs.ids" || fail "tokenize pairs"
awk -F'\t' '{print $1 "\t" $2; print $1 "\t" $3}' "$T/triples.tsv" > "$T/pairs.txt"
node "$SRC/tests/cli/hf_tokenize.js" "$ORT" "$T/cross" "$T/pairs.txt" --pair > "$T/hf_pairs.ids" || fail "Tokenizers.js pairs"
cmp -s "$T/pairs.ids" "$T/hf_pairs.ids" || fail "Tokenizers.js and bienc tokenize --pair differ: $(diff "$T/pairs.ids" "$T/hf_pairs.ids")"
$PY - "$T" <<'PY' || fail "cross-encoder input"
import json, sys
t = sys.argv[1]
ids = [[int(x) for x in l.split()] for l in open(t + "/pairs.ids")]
types = []
for r in ids:
    s = r.index(3)  # the first [SEP]
    q = set(r[1:s])
    types.append([0] * (s + 1) + [2 if r[i] in q and i < len(r) - 1 else 1 for i in range(s + 1, len(r))])
json.dump({"ids": ids, "types": types}, open(t + "/cross.in.json", "w"))
PY
ort_run "$T/cross" "$T/cross.in.json" "$T/cross.out.json" --batch-size 5
$PY - "$T" <<'PY' || fail "cross-encoder: ONNX Runtime differs from bienc score"
import json, sys
import numpy as np
t = sys.argv[1]
o = np.array(json.load(open(t + "/cross.out.json"))["logits"], dtype=np.float32)
assert o.shape == (8, 1), o.shape
ref = []
for l in open(t + "/scored.tsv"):
    f = l.rstrip("\n").split("\t")
    ref += [float(f[3]), float(f[4])]
ref = np.array(ref, dtype=np.float32)
d = float(np.abs(o[:, 0] - ref).max())
print("cross  max |ONNX Runtime - bienc score| = %.2e (|x| <= %.2f)" % (d, float(np.abs(ref).max())))
# bienc score prints 9 significant digits: that rounding is below 1e-8 here
assert d <= 1e-5, d
PY
echo "ok"
