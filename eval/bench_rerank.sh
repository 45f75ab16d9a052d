#!/bin/bash
# Reranking speed of two bienc builds, side by side: `bienc rerank` of the same run with the
# same teacher, alternating A, B, A, B, ... (so drift in the machine's load hits both), wall
# time and peak RSS of each (GNU time), their medians, the ratio, and whether the two
# reranked runs are identical (or the largest score difference).
#   eval/bench_rerank.sh --a BIN_A --b BIN_B --model TEACHER --run RUN.trec [--data DIR]
#                        [--top N] [--precision fp32|bf16] [--repeats R] [--threads T] [--out DIR]
# BIN_A / BIN_B: two bienc executables (e.g. a build of the previous commit and of this
# one); TEACHER: a cross-encoder or late-interaction checkpoint; RUN: the candidate lists
# (runs/debian-best/run.hybrid.trec); DIR [data/debian] holds collection.tsv and
# queries.dev.tsv; N [20]; precision [bf16]; R [3]; T [2]. Results (runs, times, report.md,
# also printed) go to --out [/tmp/bienc_bench_rerank]. Run it on a quiet machine, holding
# /tmp/bienc-heavy.lock.
set -euo pipefail
A= B= MODEL= RUN= DATA=data/debian TOP=20 PREC=bf16 R=3 T=2 OUT=/tmp/bienc_bench_rerank
while [ $# -gt 0 ]; do
  case $1 in
    --a) A=$2; shift 2;;
    --b) B=$2; shift 2;;
    --model) MODEL=$2; shift 2;;
    --run) RUN=$2; shift 2;;
    --data) DATA=$2; shift 2;;
    --top) TOP=$2; shift 2;;
    --precision) PREC=$2; shift 2;;
    --repeats) R=$2; shift 2;;
    --threads) T=$2; shift 2;;
    --out) OUT=$2; shift 2;;
    -h|--help) sed -n '2,13p' "$0"; exit 0;;
    *) echo "usage: $0 --a BIN_A --b BIN_B --model TEACHER --run RUN.trec [--data DIR] [--top N] [--precision P] [--repeats R] [--threads T] [--out DIR]" >&2
       exit 2;;
  esac
done
for f in "$A" "$B"; do [ -x "$f" ] || { echo "bench_rerank: $f is not an executable (--a, --b)" >&2; exit 1; }; done
for f in "$MODEL" "$RUN" "$DATA/collection.tsv" "$DATA/queries.dev.tsv"; do
  [ -r "$f" ] || { echo "bench_rerank: cannot read $f" >&2; exit 1; }
done
mkdir -p "$OUT"
: > "$OUT/times.tsv"
for i in $(seq 1 "$R"); do
  for side in a b; do
    bin=$A; [ $side = b ] && bin=$B
    /usr/bin/time -f "%e %M" -o "$OUT/t" "$bin" rerank --model "$MODEL" --run "$RUN" --queries "$DATA/queries.dev.tsv" \
      --collection "$DATA/collection.tsv" --top "$TOP" --precision "$PREC" --threads "$T" --output "$OUT/$side.trec" \
      > "$OUT/$side.log" 2>&1
    echo "$side $i $(cat "$OUT/t")" | tee -a "$OUT/times.tsv"
  done
done
python3 - "$OUT" "$A" "$B" "$RUN" "$TOP" "$PREC" "$T" <<'EOF'
import statistics, sys
out, a, b, run, top, prec, threads = sys.argv[1:]
t = {'a': [], 'b': []}
for line in open(out + '/times.tsv'):
    side, _, sec, kb = line.split()
    t[side].append((float(sec), int(kb)))
def scores(path):
    return {(l.split()[0], l.split()[2]): float(l.split()[4]) for l in open(path)}
sa, sb = scores(out + '/a.trec'), scores(out + '/b.trec')
diff = max(abs(sa[k] - sb.get(k, float('inf'))) for k in sa) if sa.keys() == sb.keys() else float('inf')
pairs = len(sa)
med = {s: statistics.median(x for x, _ in v) for s, v in t.items()}
rss = {s: max(k for _, k in v) / 1024 for s, v in t.items()}
rep = ["# bienc rerank: A vs B", "",
       "%d pairs (top %s of %s), precision %s, %s threads, %d runs each, interleaved." % (pairs, top, run, prec, threads, len(t['a'])),
       "", "| build | median s | runs (s) | pairs/s | peak RSS MB |", "|---|---:|---|---:|---:|"]
for s, path in (('a', a), ('b', b)):
    rep.append("| %s `%s` | %.1f | %s | %.0f | %.0f |" % (s.upper(), path, med[s], ", ".join("%.1f" % x for x, _ in t[s]),
                                                      pairs / med[s], rss[s]))
rep += ["", "A / B time: %.2fx. Scores: %s." % (med['a'] / med['b'],
        "identical" if diff == 0 else "largest difference %.3g" % diff)]
open(out + '/report.md', 'w').write("\n".join(rep) + "\n")
print("\n".join(rep))
EOF
