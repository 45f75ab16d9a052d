#!/bin/bash
# Tokenizer throughput on one core: `bienc tokenize --stats` over the passages of the
# MS MARCO TREC DL19 collection (../shared/data/msmarco-dl19/collection.tsv, 5.9 MB), with
# the BERT uncased vocabulary. Prints each run and the medians of MB/s, tokens/s and the
# wall time of the whole command (load + tokenize + write ids to /dev/null).
# usage: scripts/bench_tokenizer.sh [BIENC_BIN] [RUNS]   (run under: flock /tmp/bienc-heavy.lock ...)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$SRC/build/bienc}
RUNS=${2:-5}
DATA=${BIENC_SHARED_DATA:-$SRC/../shared/data}
COLL=$DATA/msmarco-dl19/collection.tsv
VOCAB=$DATA/bert-base-uncased/vocab.txt
[ -f "$COLL" ] && [ -f "$VOCAB" ] || { echo "bench_tokenizer: needs $COLL and $VOCAB"; exit 77; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cut -f2- "$COLL" > "$TMP/texts.txt"
echo "input: $(wc -l < "$TMP/texts.txt") passages, $(wc -c < "$TMP/texts.txt") bytes; $($BIN version | head -1)"
for r in $(seq "$RUNS"); do
    start=$(date +%s.%N)
    OMP_NUM_THREADS=1 taskset -c 0 "$BIN" tokenize --vocab "$VOCAB" --stats < "$TMP/texts.txt" > /dev/null 2> "$TMP/stats"
    end=$(date +%s.%N)
    line=$(cat "$TMP/stats")
    wall=$(echo "$end - $start" | bc -l)
    echo "run $r: $line; wall $(printf %.3f "$wall") s"
    echo "$line" | sed -E 's/.*: ([0-9.]+) MB\/s, ([0-9]+) tokens\/s/\1 \2/' | awk -v w="$wall" '{print $1, $2, w}' >> "$TMP/all"
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "median: $(cut -d' ' -f1 "$TMP/all" | median) MB/s, $(cut -d' ' -f2 "$TMP/all" | median) tokens/s," \
     "whole command $(cut -d' ' -f3 "$TMP/all" | median | xargs printf %.3f) s"
