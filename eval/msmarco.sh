#!/bin/bash
# Evaluates a bi-encoder (and optionally a cross-encoder teacher) on MS MARCO style files:
# encode the collection and the queries, build an HNSW index, search (HNSW and, unless
# --no-exact, brute force), rerank the top-N with the teacher, and score every run with
# `bienc eval` (teacher agreement included when there is a teacher).
#
#   eval/msmarco.sh --collection collection.tsv --queries queries.dev.small.tsv \
#       --qrels qrels.dev.small.tsv --model model.h5 [--teacher teacher.h5] --out DIR
#
# options (defaults in brackets):
#   --k N               hits per query [1000]        --ef N          HNSW search list [max(k, 128)]
#   --M N               HNSW links [16]              --efc N         HNSW ef_construction [200]
#   --rerank-top N      teacher re-scores the top N [100]
#   --rerank-run R      which run the teacher reranks: exact or hnsw [exact; hnsw without exact]
#   --no-exact          skip brute-force search (for very large collections, see below)
#   --min-grade G       relevant grade for the binary metrics [1; TREC DL passage uses 2]
#   --threads N         threads [all cores]          --bin PATH      bienc executable [bienc on PATH]
# Outputs in DIR: passages.h5, queries.h5, index.hnsw, run.{hnsw,exact,teacher}.trec,
# eval.{hnsw,exact,teacher}.json, and summary.txt (every `bienc eval` table).
#
# The full MS MARCO passage collection (8,841,823 passages) works unchanged: every step
# streams or memory-maps its input. What it costs, for a 384-dim model (MiniLM-L6):
#   - passages.h5: 8.8M x 384 float32 = 13.6 GB on disk (written in batches; `bienc encode`
#     holds one chunk of texts and one batch of activations in memory).
#   - index build: the HNSW index keeps every vector plus 2*M level-0 links each:
#     8.8M x (384*4 + 32*4 + ~16) bytes ~ 14.8 GB of RAM at M=16 (and reads the 13.6 GB
#     embeddings file, which the loader holds while adding: plan for ~30 GB peak, or build
#     on a machine with that much memory); index.hnsw on disk ~ 14.8 GB.
#   - exact search needs the vectors in RAM (the index's own copy) and 2*N*dim FLOPs a
#     query: 6.8 GFLOP, ~0.1-0.5 s per query on 2 cores; for 6,980 dev queries that is
#     tens of minutes, so --no-exact (rerank the HNSW run) is the practical choice there.
#   - time is dominated by encoding: a MiniLM-L6 forward over ~8.8M passages of ~70 tokens
#     is ~6e14 FLOP, i.e. hours on 2 cores (measure with eval/bench_encoder.sh, then scale);
#     the tiny quickstart model is ~30x cheaper.
#   - reranking 6,980 queries x top-100 = 698k pairs with the teacher costs about 700k
#     cross-encoder forwards.
set -euo pipefail

COLL= QUERIES= QRELS= MODEL= TEACHER= OUT= K=1000 EF= M=16 EFC=200 TOPN=100 RR= EXACT=1 GRADE=1 THREADS= BIN=bienc
usage() { sed -n '2,21p' "$0"; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --collection) COLL=$2; shift 2 ;;
    --queries) QUERIES=$2; shift 2 ;;
    --qrels) QRELS=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --teacher) TEACHER=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --k) K=$2; shift 2 ;;
    --ef) EF=$2; shift 2 ;;
    --M) M=$2; shift 2 ;;
    --efc) EFC=$2; shift 2 ;;
    --rerank-top) TOPN=$2; shift 2 ;;
    --rerank-run) RR=$2; shift 2 ;;
    --no-exact) EXACT=0; shift ;;
    --min-grade) GRADE=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "msmarco.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$COLL" ] && [ -n "$QUERIES" ] && [ -n "$QRELS" ] && [ -n "$MODEL" ] && [ -n "$OUT" ] || usage
[ -z "$EF" ] && EF=$(( K > 128 ? K : 128 ))
[ -z "$RR" ] && { [ "$EXACT" = 1 ] && RR=exact || RR=hnsw; }
if [ "$RR" = exact ] && [ "$EXACT" = 0 ]; then echo "msmarco.sh: --rerank-run exact needs exact search" >&2; exit 2; fi
T=(); [ -n "$THREADS" ] && T=(--threads "$THREADS")
mkdir -p "$OUT"
SECONDS=0
step() { echo "== $* (t=${SECONDS}s)" >&2; }

step "encode passages"
"$BIN" encode --model "$MODEL" --input "$COLL" --output "$OUT/passages.h5" --side passage "${T[@]}" --quiet
step "encode queries"
"$BIN" encode --model "$MODEL" --input "$QUERIES" --output "$OUT/queries.h5" --side query "${T[@]}" --quiet
step "index"
"$BIN" index build --embeddings "$OUT/passages.h5" --output "$OUT/index.hnsw" --M "$M" --ef-construction "$EFC" "${T[@]}"
step "search (HNSW, k=$K, ef=$EF)"
"$BIN" search --index "$OUT/index.hnsw" --query-embeddings "$OUT/queries.h5" --k "$K" --ef "$EF" \
  --output "$OUT/run.hnsw.trec" --run-name hnsw "${T[@]}"
RUNS=(hnsw)
if [ "$EXACT" = 1 ]; then
  step "search (exact)"
  "$BIN" search --index "$OUT/index.hnsw" --query-embeddings "$OUT/queries.h5" --k "$K" --exact \
    --output "$OUT/run.exact.trec" --run-name exact "${T[@]}"
  RUNS+=(exact)
fi
REF=()
if [ -n "$TEACHER" ]; then
  step "rerank the $RR top-$TOPN with the teacher"
  "$BIN" rerank --model "$TEACHER" --run "$OUT/run.$RR.trec" --queries "$QUERIES" --collection "$COLL" \
    --top "$TOPN" --name teacher --output "$OUT/run.teacher.trec" "${T[@]}"
  RUNS+=(teacher)
  REF=(--reference "$OUT/run.teacher.trec")
fi
step "evaluate"
: > "$OUT/summary.txt"
for r in "${RUNS[@]}"; do
  ref=("${REF[@]}"); [ "$r" = teacher ] && ref=()
  { echo "### run.$r.trec"; "$BIN" eval --run "$OUT/run.$r.trec" --qrels "$QRELS" --min-relevant-grade "$GRADE" \
      --json "$OUT/eval.$r.json" "${ref[@]}"; echo; } >> "$OUT/summary.txt" 2>&1
done
if [ "$EXACT" = 1 ]; then
  { echo "### ANN recall: run.hnsw.trec against run.exact.trec"
    "$BIN" eval --run "$OUT/run.hnsw.trec" --qrels "$QRELS" --reference "$OUT/run.exact.trec" | grep -i -A4 'reference\|agree' || true
  } >> "$OUT/summary.txt" 2>&1
fi
cat "$OUT/summary.txt"
echo "msmarco.sh: done in ${SECONDS}s -> $OUT" >&2
