#!/bin/bash
# bienc pretrain end to end on the built-in Debian data (a tiny model, a few steps): the
# MLM loss starts at ln(vocab) and the run writes metrics.jsonl, config.yaml and step
# checkpoints holding the MLM head under HF names; --stop-at + --resume equals one run
# (losses digit for digit); the checkpoint starts a bi-encoder (model.init_from: head
# dropped, weights identical); `bienc run` with pretrain.enabled starts the bi-encoder and
# the teacher from it, and the teacher (trained through the one loop) writes metrics.jsonl
# and checkpoints in RUN_DIR/teacher; bad input fails.
set -u
BIN=${BIENC_BIN:-./bienc}
PY=/usr/bin/python3
. "$(dirname "$0")/lib.sh" # debian_slice
fail() { echo "FAIL: $*"; exit 1; }
if ! ls /var/lib/apt/lists/*Translation-en* >/dev/null 2>&1 && [ ! -r /var/lib/dpkg/status ]; then
  echo "SKIP: no apt translations and no /var/lib/dpkg/status: cannot build the Debian data set"
  exit 77
fi
T=$(mktemp -d /tmp/bienc_test_pretrain.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$BIN" data debian --output "$T/deb" >/dev/null 2>&1 || fail "bienc data debian failed"
cat > "$T/run.yaml" <<YAML
model: {hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}
tokenizer: {train: {size: 1500}, max_query_length: 16, max_passage_length: 48}
data: {format: debian, dir: $T/deb}
train: {batch_size: 8, steps: 2, seed: 3}
eval: {every_steps: 0, max_queries: 20}
checkpoint: {dir: $T/ckpt, every_steps: 2, keep_last: 0}
output: {dir: $T/runs}
pretrain: {max_length: 40, train: {batch_size: 8, steps: 6, log_every_steps: 1}, optim: {lr: 1.0e-3}}
teacher: {model: {hidden: 32, layers: 1, heads: 2, intermediate: 64, max_positions: 64}, train: {steps: 2, batch_size: 4}}
YAML
ARGS=(--threads 2 --no-progress)

out=$("$BIN" pretrain "$T/run.yaml" "${ARGS[@]}" --set output.name=one 2>"$T/err") || fail "pretrain: $(cat "$T/err")"
grep -q 'bienc pretrain: done' <<<"$out" || fail "summary: $out"
grep -q 'steps          6 of 6' <<<"$out" || fail "steps: $out"
[ -f "$T/runs/one-pretrain/config.yaml" ] && [ -f "$T/runs/one-pretrain/vocab.txt" ] || fail "run dir files"
[ "$(grep -c '"loss"' "$T/runs/one-pretrain/metrics.jsonl")" = 6 ] || fail "metrics.jsonl rows"
CK="$T/ckpt/one-pretrain/step-6.h5"
[ -f "$CK" ] && [ -f "$T/ckpt/one-pretrain/step-2.h5" ] || fail "checkpoints: $(ls "$T/ckpt/one-pretrain")"
# the loss of the first step is about ln(vocab): an untrained head predicts uniformly
"$PY" - "$T/runs/one-pretrain/metrics.jsonl" "$(wc -l <"$T/runs/one-pretrain/vocab.txt")" <<'PYEOF' || fail "first loss"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
first, v = rows[0]["loss"], int(sys.argv[2])
print("  pretrain losses:", " ".join("%.4f" % r["loss"] for r in rows), "ln(V) = %.4f" % math.log(v))
sys.exit(0 if abs(first - math.log(v)) < 0.1 else 1)
PYEOF
if "$PY" -c "import h5py" 2>/dev/null; then
  "$PY" - "$CK" <<'PYEOF' || fail "checkpoint layout"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
head = sorted(k for k in f["params"].keys() if k.startswith("cls."))
want = sorted(["cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias",
               "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.dense.bias",
               "cls.predictions.transform.dense.weight"])
assert head == want, head
assert f["params/cls.predictions.bias"].shape[0] == f["params/embeddings.word_embeddings.weight"].shape[0]
assert "cls.predictions.decoder.weight" not in f["params"]  # tied to the word embeddings
for a in ("optim/step", "data/epoch", "data/position", "rng/state"):
    g, k = a.split("/")
    assert k in f[g].attrs, a
assert "config" in f.attrs
PYEOF
fi

# --stop-at 3 then --resume: the same losses as one run
"$BIN" pretrain "$T/run.yaml" "${ARGS[@]}" --set output.name=split --stop-at 3 >"$T/o1" 2>"$T/err" ||
  fail "stop-at: $(cat "$T/err")"
grep -q 'stopped' "$T/o1" || fail "not stopped: $(cat "$T/o1")"
"$BIN" pretrain "$T/run.yaml" "${ARGS[@]}" --set output.name=split --resume >"$T/o2" 2>"$T/err" ||
  fail "resume: $(cat "$T/err")"
grep -q 'resumed at 3' "$T/o2" || fail "resume summary: $(cat "$T/o2")"
diff <(grep -o '"loss":[^,]*' "$T/runs/one-pretrain/metrics.jsonl") \
     <(grep -o '"loss":[^,]*' "$T/runs/split-pretrain/metrics.jsonl") >/dev/null || fail "resumed losses differ"
# a fresh start refuses the earlier run's checkpoints
"$BIN" pretrain "$T/run.yaml" "${ARGS[@]}" --set output.name=split >/dev/null 2>"$T/err" && fail "fresh over old should fail"
grep -q 'already holds checkpoints' "$T/err" || fail "message: $(cat "$T/err")"

# a bi-encoder starts from it: the same encoder weights (lr 0 keeps them)
"$BIN" train "$T/run.yaml" "${ARGS[@]}" --no-eval-at-start --eval-passages 100 --set output.name=ft \
  --set model.init_from="$CK" --set optim.lr=0 >"$T/o3" 2>"$T/err" || fail "train from pretrain: $(cat "$T/err")"
if "$PY" -c "import h5py" 2>/dev/null; then
  "$PY" - "$CK" "$T/ckpt/ft/step-2.h5" <<'PYEOF' || fail "init_from weights"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
enc = [k for k in a["params"].keys() if not k.startswith("cls.")]
assert sorted(enc) == sorted(b["params"].keys()), "the bi-encoder holds the encoder only"
for k in enc:
    assert np.array_equal(a["params"][k][()], b["params"][k][()]), k
print("  bi-encoder from the MLM checkpoint: %d encoder tensors identical, head dropped" % len(enc))
PYEOF
fi
# bienc run with pretrain.enabled on a slice (600 passages): the pretrain stage runs first
# and both the bi-encoder and the teacher (3 token types: the stored 2 rows are copied)
# start from its checkpoint
D="$T/slice"
debian_slice "$T/deb" "$D" 600
SRC=${BIENC_SOURCE_DIR:-.}
"$BIN" run "$SRC/configs/quickstart.yaml" --threads 2 --set data.dir="$D" --set output.dir="$T/runs" \
  --set checkpoint.dir="$T/ckpt" --set model.hidden=32 --set model.layers=1 --set model.heads=2 \
  --set model.intermediate=64 --set teacher.model.hidden=32 --set teacher.model.layers=1 \
  --set teacher.model.heads=2 --set teacher.model.intermediate=64 --set tokenizer.train.size=1500 \
  --set tokenizer.max_query_length=16 --set tokenizer.max_passage_length=48 --set train.steps=2 \
  --set train.batch_size=8 --set teacher.train.steps=2 --set teacher.train.batch_size=4 --set eval.every_steps=0 \
  --set eval.max_queries=10 --set teacher.rerank_depth=10 --set index.k=20 --set checkpoint.every_steps=0 \
  --set pretrain.enabled=true --set pretrain.train.steps=3 --set pretrain.train.batch_size=8 \
  --set pretrain.max_length=48 >"$T/o4" 2>"$T/err" || fail "bienc run with pretrain: $(tail -3 "$T/err")"
PCK="$T/ckpt/quickstart-pretrain/step-3.h5"
grep -q '== pretrain' "$T/err" || fail "no pretrain stage"
grep -q "pre-trained encoder: $PCK" "$T/err" || fail "pretrain stage result: $(grep -A3 '== pretrain' "$T/err")"
grep -q "teacher: encoder initialised from $PCK" "$T/err" || fail "teacher not from the pretrained encoder"
grep -q "^pretrain step 3/3" "$T/err" || fail "pretrain progress lines"
grep -q "^teacher step 2/2" "$T/err" || fail "teacher progress lines (the one loop)"
grep -q '"step":2,' "$T/runs/quickstart/teacher/metrics.jsonl" && [ -f "$T/runs/quickstart/teacher/step-2.h5" ] ||
  fail "the teacher's metrics.jsonl and checkpoint in the run directory"

# bad input
"$BIN" pretrain --help | grep -q -- '--resume' || fail "--help"
"$BIN" pretrain >/dev/null 2>&1; [ $? -eq 2 ] || fail "no config should be a usage error"
"$BIN" pretrain "$T/run.yaml" --set pretrain.mask_prob=1.5 >/dev/null 2>"$T/err"; [ $? -eq 1 ] || fail "mask_prob 1.5"
grep -q 'pretrain.mask_prob' "$T/err" || fail "mask_prob message: $(cat "$T/err")"
"$BIN" pretrain "$T/run.yaml" --set output.name=long --set pretrain.max_length=100 >/dev/null 2>"$T/err" && fail "max_length > positions"
grep -q 'max_position_embeddings' "$T/err" || fail "max_length message: $(cat "$T/err")"
echo "ok"
