#!/bin/bash
# Late interaction (ColBERT) end to end on the built-in Debian data (tiny models, a few
# steps): `bienc train` with model.kind late_interaction from a bi-encoder checkpoint
# (finite losses that change; --stop-at + --resume repeats them digit for digit); its
# checkpoint reranks with `bienc rerank` (scores are mean cosines, the same bytes at 1 and 2
# threads, and up to rounding at any batch size) and is refused by `bienc encode`; `bienc run` with
# teacher.model.kind late_interaction trains it from the trained bi-encoder, reports it,
# and `bienc rerank` with its teacher.h5 reproduces run.teacher.trec (also with --reuse);
# the configurations it cannot serve are refused with messages naming the key.
set -u
SRC=${BIENC_SOURCE_DIR:-.}
. "$(dirname "$0")/lib.sh"
scratch late
retrieval_fixture # $M: a 2-step tiny bi-encoder; $T/c.tsv, q.tsv, qrels.tsv, run.trec

late_train() { # NAME [ARGS]: trains the late-interaction model of $T/late.yaml; its losses in $T/NAME.losses
  local name=$1; shift
  "$BIN" train "$T/late.yaml" --no-progress --set output.name="$name" "$@" >"$T/$name.out" 2>"$T/$name.err" ||
    return 1
  grep -o '"loss":[^,]*' "$T/runs/$name/metrics.jsonl" > "$T/$name.losses"
}
tiny_config 6 "$T/ckpt" li > "$T/late.yaml"
cat >> "$T/late.yaml" <<YAML
loss: {name: MultipleNegativesRankingLoss, scale: 20, hard_negatives: 1}
YAML
SETS=(--set model.kind=late_interaction --set model.init_from="$M" --set train.log_every_steps=1
      --set checkpoint.every_steps=2 --set train.precision=fp32)

tried=$((tried + 1))
if late_train li "${SETS[@]}"; then
  if ! grep -q "pooling none (late interaction: MaxSim over token vectors)" "$T/li.err"; then
    bad "the trainer did not train a late-interaction model: $(grep 'model:' "$T/li.err")"
  elif [ "$(wc -l < "$T/li.losses")" -ne 6 ] || [ "$(sort -u "$T/li.losses" | wc -l)" -lt 2 ] ||
       grep -Eqi 'nan|inf' "$T/li.losses"; then
    bad "losses should be 6 finite values that change: $(tr '\n' ' ' < "$T/li.losses")"
  else ok; fi
else bad "bienc train (late interaction): $(tail -3 "$T/li.err")"; fi
LI="$T/ckpt/li/step-6.h5"

tried=$((tried + 1)) # interrupted at step 3 and resumed: the same losses, digit for digit
if late_train lr "${SETS[@]}" --stop-at 3 && late_train lr "${SETS[@]}" --resume; then
  cmp -s "$T/li.losses" "$T/lr.losses" && ok ||
    bad "resumed losses differ: $(paste "$T/li.losses" "$T/lr.losses" | tr '\n' ' ')"
else bad "stop/resume: $(tail -3 "$T/lr.err")"; fi

tried=$((tried + 1)) # no single vector per text: encode refuses, and writes nothing
"$BIN" encode --model "$LI" --input "$T/c.tsv" --output "$T/li.h5" --quiet >/dev/null 2>"$T/e"
if [ $? -eq 0 ] || [ -e "$T/li.h5" ]; then bad "encode accepted a late-interaction model"
elif ! grep -q "late-interaction (ColBERT) model" "$T/e"; then bad "encode: message: $(cat "$T/e")"
else ok; fi

rerank() { # MODEL OUT [ARGS]
  local model=$1 out=$2; shift 2
  "$BIN" rerank --model "$model" --run "$T/run.trec" --queries "$T/q.tsv" --collection "$T/c.tsv" --top 10 \
    --output "$out" "$@" 2>"$T/e"
}
tried=$((tried + 1)) # the same (query, document) pairs, MaxSim scores (mean cosines) in [-1, 1]
if rerank "$LI" "$T/rr.trec" --threads 2; then
  $PY - "$T/run.trec" "$T/rr.trec" <<'PY' && ok || bad "rerank output"
import sys
pairs = lambda p: sorted((l.split()[0], l.split()[2]) for l in open(p))
a, b = pairs(sys.argv[1]), pairs(sys.argv[2])
assert a == b, "different (query, document) pairs"
s = [float(l.split()[4]) for l in open(sys.argv[2])]
assert all(-1.0001 <= v <= 1.0001 for v in s) and len(set(s)) > len(s) // 2, (min(s), max(s))
PY
else bad "bienc rerank (late interaction): $(cat "$T/e")"; fi

tried=$((tried + 1)) # one thread: the same bytes
if rerank "$LI" "$T/rr1.trec" --threads 1; then
  cmp -s "$T/rr.trec" "$T/rr1.trec" && ok || bad "rerank depends on the thread count"
else bad "bienc rerank --threads 1: $(cat "$T/e")"; fi

tried=$((tried + 1)) # batches of 3 pairs (queries cut across batches): the same scores up to
# rounding (OpenBLAS multiplies tiny matrices with other kernels)
if rerank "$LI" "$T/rr3.trec" --batch-size 3; then
  $PY - "$T/rr.trec" "$T/rr3.trec" <<'PY' && ok || bad "rerank --batch-size 3 differs"
import sys
read = lambda p: {(l.split()[0], l.split()[2]): float(l.split()[4]) for l in open(p)}
a, b = read(sys.argv[1]), read(sys.argv[2])
assert a.keys() == b.keys() and max(abs(a[k] - b[k]) for k in a) < 1e-5
PY
else bad "bienc rerank --batch-size 3: $(cat "$T/e")"; fi

tried=$((tried + 1)) # a bi-encoder is not a reranker
if rerank "$M" "$T/x.trec"; then bad "rerank accepted a bi-encoder checkpoint"
elif ! grep -q "model/kind is 'bi_encoder'; a reranker is a cross_encoder or a late_interaction model" "$T/e"; then
  bad "rerank with a bi-encoder: message: $(cat "$T/e")"
elif [ -e "$T/x.trec" ]; then bad "rerank with a bi-encoder wrote an output"
else ok; fi

# bienc run with the late-interaction teacher (no BM25: it reranks the exact run)
debian_slice "$T/deb" "$T/slice" 600
RUNSETS=(--set data.dir="$T/slice" --set output.dir="$T/runs" --set checkpoint.dir="$T/ckpt"
         --set model.hidden=32 --set model.layers=1 --set model.heads=2 --set model.intermediate=64
         --set tokenizer.train.size=1500 --set tokenizer.max_query_length=16 --set tokenizer.max_passage_length=48
         --set train.steps=3 --set train.batch_size=8 --set eval.every_steps=0 --set eval.max_queries=20
         --set eval.baseline=false --set eval.precision=fp32 --set index.k=30 --set checkpoint.every_steps=0
         --set teacher.model.kind=late_interaction --set teacher.init_from_bi_encoder=true
         --set teacher.loss.name=MultipleNegativesRankingLoss --set teacher.loss.scale=20
         --set teacher.loss.hard_negatives=1 --set teacher.random_negatives=0 --set teacher.train.steps=3
         --set teacher.train.batch_size=8 --set teacher.rerank_depth=10 --set output.name=lirun)
R="$T/runs/lirun"
tried=$((tried + 1))
if "$BIN" run "$SRC/configs/quickstart.yaml" "${RUNSETS[@]}" --threads 2 --no-bm25 >"$T/out" 2>"$T/err"; then
  if ! grep -q '^| teacher late-interaction model (MultipleNegativesRankingLoss) | 3 |' "$R/report.md"; then
    bad "report.md: teacher row: $(grep '^| teacher' "$R/report.md")"
  elif ! grep -q "pooling none (late interaction" "$T/err" || ! [ -s "$R/run.teacher.trec" ]; then
    bad "bienc run did not train or use the late-interaction teacher"
  else
    "$BIN" rerank --model "$R/teacher.h5" --run "$R/run.exact.trec" --queries "$T/slice/queries.dev.tsv" \
      --collection "$T/slice/collection.tsv" --top 10 --name teacher --output "$T/rt.trec" 2>"$T/e" &&
      cmp -s "$T/rt.trec" "$R/run.teacher.trec" && ok ||
      bad "bienc rerank with teacher.h5 differs from run.teacher.trec: $(cat "$T/e")"
  fi
else bad "bienc run (late-interaction teacher): $(tail -3 "$T/err")"; fi

tried=$((tried + 1)) # --reuse loads teacher.h5 by its kind, and reranks the same
cp "$R/run.teacher.trec" "$T/teacher1"
if "$BIN" run "$SRC/configs/quickstart.yaml" "${RUNSETS[@]}" --threads 2 --no-bm25 --reuse >"$T/out" 2>"$T/err"; then
  grep -q "reusing $R/teacher.h5" "$T/err" && cmp -s "$T/teacher1" "$R/run.teacher.trec" && ok ||
    bad "--reuse: teacher not reused or its rerank differs"
else bad "bienc run --reuse: $(tail -3 "$T/err")"; fi

tried=$((tried + 1)) # --reuse with a teacher.h5 of the other kind
"$BIN" run "$SRC/configs/quickstart.yaml" "${RUNSETS[@]}" --set teacher.model.kind=cross_encoder --threads 2 \
  --no-bm25 --reuse >/dev/null 2>"$T/e"
[ $? -ne 0 ] && grep -q "is a late_interaction model but teacher.model.kind is cross_encoder" "$T/e" && ok ||
  bad "--reuse with the other kind: $(tail -2 "$T/e")"

tried=$((tried + 1)) # the distilled second round: mined from the bi-encoder, the teacher trains
# from the first round's model BEFORE the second round, which learns its MaxSim scores (KL)
if "$BIN" run "$SRC/configs/quickstart.yaml" "${RUNSETS[@]}" --set output.name=likl --set mine.enabled=true \
     --set mine.dense=true --set mine.bi_encoder=false --set mine.max_queries=40 --set mine.num_negatives=0 \
     --set mine.refine_steps=2 --set mine.refine_negatives=2 --set mine.refine_batch_size=4 \
     --set mine.refine_loss=DistillKLDivLoss --threads 2 --no-bm25 >"$T/out" 2>"$T/err"; then
  order=$(grep -o "== [a-z ]*" "$T/err" | tr '\n' ',')
  if [[ "$order" != *"== mine"*"== teacher"*"== refine"*"== encode again"*"== rerank"* ]]; then
    bad "distilled second round: stage order $order"
  elif ! grep -q '^| bi-encoder, second round on re-mined negatives (DistillKLDivLoss) | 2 |' "$T/runs/likl/report.md"; then
    bad "distilled second round: report row: $(grep 'second round' "$T/runs/likl/report.md")"
  elif ! grep -q "batch 4 x 1, DistillKLDivLoss" "$T/err"; then
    bad "the second round did not train with DistillKLDivLoss: $(grep 'training examples' "$T/err")"
  else ok; fi
else bad "bienc run with mine.refine_loss DistillKLDivLoss: $(tail -3 "$T/err")"; fi

tried=$((tried + 1)) # no sentence-transformers or ONNX form: export refuses
"$BIN" export --model "$LI" --output "$T/hf_li" >/dev/null 2>"$T/e"
[ $? -ne 0 ] && grep -q "late-interaction (ColBERT) model has no sentence-transformers form" "$T/e" && ok ||
  bad "export of a late-interaction model: $(cat "$T/e")"

refused() { # MESSAGE [--set ...]: bienc config check refuses the quickstart config with MESSAGE
  local msg=$1; shift
  tried=$((tried + 1))
  "$BIN" config check "$SRC/configs/quickstart.yaml" --set teacher.model.kind=late_interaction \
    --set teacher.loss.name=MultipleNegativesRankingLoss --set teacher.random_negatives=0 "$@" >/dev/null 2>"$T/e"
  [ $? -ne 0 ] && grep -q -- "$msg" "$T/e" && ok || bad "expected '$msg': $(cat "$T/e")"
}
refused "teacher.model.kind late_interaction is trained with teacher.loss.name: MultipleNegativesRankingLoss, not TripletLoss" \
  --set teacher.loss.name=TripletLoss
refused "teacher.random_negatives is the cross-encoder's" --set teacher.random_negatives=2
refused "MarginMSELoss trains on triples a cross-encoder scored" --set loss.name=MarginMSELoss --set loss.hard_negatives=1
refused "mine.refine_loss is MultipleNegativesRankingLoss, or DistillKLDivLoss with teacher.enabled (not TripletLoss)" \
  --set mine.enabled=true --set mine.dense=true --set mine.bi_encoder=false --set mine.refine_steps=5 \
  --set mine.num_negatives=0 --set mine.refine_loss=TripletLoss
tried=$((tried + 1))
"$BIN" run "$SRC/configs/quickstart.yaml" "${RUNSETS[@]}" --set model.kind=late_interaction --no-bm25 >/dev/null 2>"$T/e"
[ $? -ne 0 ] && grep -q "bienc run trains and indexes a bi-encoder: model.kind must be bi_encoder" "$T/e" && ok ||
  bad "bienc run with model.kind late_interaction: $(tail -2 "$T/e")"
finish
