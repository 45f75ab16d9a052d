#!/usr/bin/env bash
# bienc eval end to end: usage errors, a hand-checked table, malformed input, and an oracle
# comparison against tests/eval/trec_eval_ref.py (trec_eval's definitions re-implemented in
# Python, since Debian packages neither trec_eval nor pytrec_eval) on TREC DL 2019 qrels and
# BEIR SciFact qrels with synthetic runs full of tied scores.
set -euo pipefail
BIN=${BIENC_BIN:?BIENC_BIN not set}
SRC=${BIENC_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
REF="$SRC/tests/eval/trec_eval_ref.py"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- usage ----
"$BIN" eval --help | grep -q -- "--min-relevant-grade" || fail "--help lacks options"
set +e
"$BIN" eval --run x.trec 2>/dev/null; [ $? -eq 2 ] || fail "missing --qrels should exit 2"
"$BIN" eval --run x --qrels y --bogus 2>/dev/null; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$BIN" eval --run x --qrels y --min-relevant-grade 0 2>/dev/null; [ $? -eq 2 ] || fail "grade 0 should exit 2"
set -e

# ---- the hand case of tests/eval/test_metrics.c (test_graded_hand_case) ----
printf 'q1 0 d1 1\nq1 0 d2 0\nq1 0 d3 1\nq1 0 d4 2\n' > "$T/q.txt"
printf 'q1 Q0 d4 4 0.6 t\nq1 Q0 d5 1 0.9 t\nq1 Q0 d1 2 0.8 t\nq1 Q0 d6 5 0.5 t\nq1 Q0 d2 3 0.7 t\n' > "$T/r.trec"
out=$("$BIN" eval --run "$T/r.trec" --qrels "$T/q.txt")
grep -Eq '^mrr@10 +0\.5000$' <<<"$out" || fail "mrr@10 table line: $out"
grep -Eq '^ndcg@10 +0\.4766$' <<<"$out" || fail "ndcg@10 table line: $out"
grep -Eq '^map@100 +0\.3333$' <<<"$out" || fail "map@100 table line: $out"
out=$("$BIN" eval --run "$T/r.trec" --qrels "$T/q.txt" --min-relevant-grade 2 --per-query)
grep -Eq '^mrr@10 +0\.2500$' <<<"$out" || fail "mrr@10 with grade 2: $out"
grep -Eq '^map@100 +q1	0\.2500$' <<<"$out" || fail "per-query line: $out"

# ---- errors name the file and line; exit code 1 ----
printf 'q1 Q0 d1 1 0.5 t\nq1 Q0 d2 2 oops t\n' > "$T/bad.trec"
set +e
msg=$("$BIN" eval --run "$T/bad.trec" --qrels "$T/q.txt" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "malformed run should exit 1, got $rc"
grep -q "bad.trec line 2" <<<"$msg" || fail "message should name bad.trec line 2: $msg"
printf 'zz Q0 d1 1 0.5 t\n' > "$T/other.trec"
set +e
msg=$("$BIN" eval --run "$T/other.trec" --qrels "$T/q.txt" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "a run sharing no query with the qrels should exit 1"
grep -q "no query" <<<"$msg" || fail "message for disjoint run: $msg"
"$BIN" eval --run "$T/other.trec" --qrels "$T/q.txt" --complete | grep -Eq '^mrr@10 +0\.0000$' ||
    fail "--complete should score the missing query 0"

# ---- oracle comparison on real qrels ----
DATA=${BIENC_SHARED_DATA:-}
if [ -z "$DATA" ] || [ ! -f "$DATA/msmarco-dl19/qrels.txt" ]; then
    echo "SKIP oracle comparison: shared data (msmarco-dl19) not available"
    echo "test_eval: usage, table and error checks passed"
    exit 0
fi

# Synthetic runs: every judged passage plus random unjudged ones, scores rounded to 2 decimals
# so that many ties must be broken by the docid rule; one judged query dropped, one unjudged
# query added; a second run serves as the reference (teacher).
gen_run() { # qrels out seed
    "$PY" - "$1" "$2" "$3" <<'EOF'
import random, sys
qrels_path, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
judged = {}
with open(qrels_path) as f:
    for i, ln in enumerate(f):
        p = ln.split()
        if not p or p[0] == "query-id":
            continue
        q, d = (p[0], p[2]) if len(p) == 4 else (p[0], p[1])
        judged.setdefault(q, []).append(d)
pool = sorted({d for ds in judged.values() for d in ds})
qids = sorted(judged)[1:] + ["unjudged-query"]
with open(out, "w") as f:
    for q in qids:
        docs = list(judged.get(q, pool[:5]))
        extra = rng.sample(pool, min(len(pool), rng.randint(0, 1100)))
        docs = list(dict.fromkeys(docs + extra))[:1200]
        rng.shuffle(docs)
        for r, d in enumerate(docs):
            f.write("%s Q0 %s %d %.2f synth\n" % (q, d, r + 1, rng.random() * 3))
EOF
}

compare() { # label json-from-bienc json-from-ref
    "$PY" - "$@" <<'EOF'
import json, sys
label, a, b = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
bad = []
if a["num_queries"] != b["num_queries"]:
    bad.append("num_queries %s vs %s" % (a["num_queries"], b["num_queries"]))
for m, v in b["metrics"].items():
    if abs(a["metrics"][m] - v) > 1e-9:
        bad.append("%s: bienc %.6f ref %.6f" % (m, a["metrics"][m], v))
for q, vals in b["per_query"].items():
    for m, v in vals.items():
        if abs(a["per_query"][q][m] - v) > 1e-9:
            bad.append("query %s %s: bienc %.6f ref %.6f" % (q, m, a["per_query"][q][m], v))
if "agreement" in b:
    for m, v in b["agreement"].items():
        if abs(a["agreement"][m] - v) > 1e-9:
            bad.append("agreement %s: bienc %.6f ref %.6f" % (m, a["agreement"][m], v))
    if a["agreement"]["num_queries"] != b["agreement_queries"]:
        bad.append("agreement queries differ")
if bad:
    print("%s: %d differences, first: %s" % (label, len(bad), "; ".join(bad[:5])))
    sys.exit(1)
print("%s: %d queries, %d metrics agree with the reference (|diff| <= 1e-9)"
      % (label, a["num_queries"], len(b["metrics"])))
EOF
}

oracle() { # label qrels run ref-run bienc-flags ref-flags
    local label=$1 qrels=$2 run=$3 refrun=$4 bflags=$5 rflags=$6
    # shellcheck disable=SC2086
    "$BIN" eval --run "$run" --qrels "$qrels" --reference "$refrun" --per-query --json "$T/b.json" $bflags >/dev/null
    # shellcheck disable=SC2086
    "$PY" "$REF" $rflags --reference "$refrun" "$qrels" "$run" > "$T/r.json"
    compare "$label" "$T/b.json" "$T/r.json"
}

DL19="$DATA/msmarco-dl19/qrels.txt"
gen_run "$DL19" "$T/dl19.trec" 1
gen_run "$DL19" "$T/dl19-teacher.trec" 2
oracle "dl19" "$DL19" "$T/dl19.trec" "$T/dl19-teacher.trec" "" ""
oracle "dl19 -c" "$DL19" "$T/dl19.trec" "$T/dl19-teacher.trec" "--complete" "-c"
oracle "dl19 -l 2" "$DL19" "$T/dl19.trec" "$T/dl19-teacher.trec" "--min-relevant-grade 2" "-l 2"

# A run written by bienc's own reader/writer path must score the same (round trip of scores).
SCIFACT="$DATA/scifact/qrels/test.tsv"
if [ -f "$SCIFACT" ]; then
    gen_run "$SCIFACT" "$T/scifact.trec" 3
    gen_run "$SCIFACT" "$T/scifact-teacher.trec" 4
    oracle "scifact (BEIR qrels)" "$SCIFACT" "$T/scifact.trec" "$T/scifact-teacher.trec" "" ""
fi
echo "test_eval: all checks passed"
