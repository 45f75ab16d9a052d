#!/bin/bash
# Retrieval quality of reduced-precision encoding (issue 12: "recall@10 within 0.005 of
# fp32"): encodes a collection and the first Q dev queries with a trained bi-encoder in fp32
# and in each of bf16 and int8 (`--precision`), searches the exact top-10 of each (`bienc
# search --exact`: brute force, no HNSW approximation in the way), and reports
#   - recall@10 of each top-10 against the fp32 top-10 (`bienc eval --reference`: the
#     share of the fp32 run's top 10 that the other run also has in its top 10),
#   - MRR@10 and Recall@10 against the qrels of every run (`bienc eval`), and their
#     differences from fp32.
#   eval/precision_recall.sh [CKPT] [--data DIR] [--queries Q] [--passages N] [--threads T] [--out DIR]
#                            [--precisions bf16,int8]
# CKPT: a bi-encoder checkpoint [checkpoints/quickstart/step-550.h5]; DIR: an MS MARCO style
# data set with collection.tsv, queries.dev.tsv, qrels.dev.tsv [data/debian, from
# `bienc data debian`]; Q [500]; --passages N encodes only the first N passages (a smoke
# run; 0 = all, the default); T [2]. Work files and the report (report.md, also printed) go
# to --out [/tmp/bienc_precision_recall]; the figure in eval/results/ is that report.
# BUILD_DIR [build/] holds the bienc executable. Quality, not speed: nothing here is timed.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BUILD_DIR:-$SRC/build}/bienc
CKPT=checkpoints/quickstart/step-550.h5 DATA=data/debian Q=500 P=0 T=2 OUT=/tmp/bienc_precision_recall PRECS=bf16,int8
while [ $# -gt 0 ]; do
  case $1 in
    --data) DATA=$2; shift 2;;
    --queries) Q=$2; shift 2;;
    --passages) P=$2; shift 2;;
    --threads) T=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    --precisions) PRECS=$2; shift 2;;
    -h|--help) sed -n '2,17p' "$0"; exit 0;;
    -*) echo "usage: $0 [CKPT] [--data DIR] [--queries Q] [--passages N] [--threads T] [--out DIR] [--precisions LIST]" >&2
        exit 2;;
    *) CKPT=$1; shift;;
  esac
done
[ -x "$BIN" ] || { echo "precision_recall: build bienc first ($BIN)" >&2; exit 1; }
for f in "$CKPT" "$DATA/collection.tsv" "$DATA/queries.dev.tsv" "$DATA/qrels.dev.tsv"; do
  [ -r "$f" ] || { echo "precision_recall: cannot read $f" >&2; exit 1; }
done
mkdir -p "$OUT"
head -n "$Q" "$DATA/queries.dev.tsv" > "$OUT/queries.tsv"
COLL=$DATA/collection.tsv
if [ "$P" -gt 0 ]; then head -n "$P" "$DATA/collection.tsv" > "$OUT/collection.tsv"; COLL=$OUT/collection.tsv; fi
for prec in fp32 ${PRECS//,/ }; do
  "$BIN" encode --model "$CKPT" --input "$COLL" --output "$OUT/passages.$prec.h5" --side passage \
    --threads "$T" --precision "$prec" --quiet
  # --exact searches the index's vectors by brute force: the graph is unused, so build a cheap one
  "$BIN" index build --embeddings "$OUT/passages.$prec.h5" --output "$OUT/index.$prec.hnsw" --M 4 \
    --ef-construction 8 --threads "$T" > /dev/null
  "$BIN" search --index "$OUT/index.$prec.hnsw" --model "$CKPT" --queries "$OUT/queries.tsv" --precision "$prec" \
    --exact --k 10 --threads "$T" --run-name "$prec" --output "$OUT/run.$prec.trec"
  "$BIN" eval --run "$OUT/run.$prec.trec" --qrels "$DATA/qrels.dev.tsv" --json "$OUT/eval.$prec.json" > /dev/null
  if [ "$prec" != fp32 ]; then
    "$BIN" eval --run "$OUT/run.$prec.trec" --qrels "$DATA/qrels.dev.tsv" --reference "$OUT/run.fp32.trec" \
      --json "$OUT/eval.${prec}_vs_fp32.json" > /dev/null
  fi
done
/usr/bin/python3 - "$OUT" "$CKPT" "$COLL" "$Q" "$PRECS" <<'EOF' | tee "$OUT/report.md"
import json, sys
out, ckpt, coll, q, precs = sys.argv[1:]
precs = precs.split(",")
e = {k: json.load(open("%s/eval.%s.json" % (out, k))) for k in ["fp32"] + precs + [p + "_vs_fp32" for p in precs]}
m = {p: e[p]["metrics"] for p in ["fp32"] + precs}
print("# Reduced-precision encoding: retrieval quality against fp32 (eval/precision_recall.sh)\n")
print("checkpoint %s, collection %s (%d passages), the first %s dev queries (%d judged), exact top-10.\n"
      % (ckpt, coll, sum(1 for _ in open(coll, encoding="utf-8")), q, e["fp32"]["num_queries"]))
print("| precision | MRR@10 | Recall@10 (qrels) | - fp32: MRR@10 | - fp32: Recall@10 | top-10 overlap with fp32 | "
      "Recall@10 within 0.005 of fp32 |\n|---|---:|---:|---:|---:|---:|---|")
for p in ["fp32"] + precs:
    if p == "fp32":
        print("| fp32 | %.4f | %.4f | | | | |" % (m[p]["mrr@10"], m[p]["recall@10"]))
        continue
    d_mrr, d_rec = m[p]["mrr@10"] - m["fp32"]["mrr@10"], m[p]["recall@10"] - m["fp32"]["recall@10"]
    print("| %s | %.4f | %.4f | %+.4f | %+.4f | %.4f | %s |"
          % (p, m[p]["mrr@10"], m[p]["recall@10"], d_mrr, d_rec, e[p + "_vs_fp32"]["agreement"]["recall@10"],
             "yes" if abs(d_rec) <= 0.005 else "NO"))
print("\ntop-10 overlap: recall@10 of the run's top-10 against the fp32 top-10 (`bienc eval --reference`).")
EOF
