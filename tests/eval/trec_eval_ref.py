#!/usr/bin/python3
"""An independent reference for `bienc eval`, written from trec_eval's documented behaviour
(no trec_eval or pytrec_eval package exists in Debian, so this stands in for the real tool).

It follows trec_eval's structure rather than bienc's code:
  * qrels: `qid iter docno rel` (or BEIR `query-id corpus-id score` with header, or tab forms);
  * results: `qid iter docno rank sim run_id`; the rank field is ignored; each query's documents
    are ordered by sim descending, ties by docno descending (trec_eval form_res_rels.c);
  * a ranked list of relevance values is built (-1 for documents not in the qrels);
  * measures: recip_rank on the list cut at 10 (-M 10), ndcg_cut.10 (gain = rel value,
    discount log2(i+2) for 0-based i, ideal built level by level from the qrels' rel counts),
    map_cut.100, recall.k, P.k, success.k (= accuracy@k), all with relevance_level (-l);
  * queries: only those in the qrels; a qrels query absent from the run is skipped unless -c,
    which averages over every qrels query with 0 for missing ones.
Teacher agreement (not a trec_eval measure) is |top-k(run) & top-k(ref)| / |top-k(ref)|.

usage: trec_eval_ref.py [-c] [-l LEVEL] [--reference REF] QRELS RUN   -> JSON on stdout
"""
import argparse
import json
import math
import sys


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        lines = [ln.rstrip("\r\n") for ln in f]
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        parts = ln.split("\t") if "\t" in ln and len(ln.split("\t")) in (2, 3) else ln.split()
        if i == 0 and parts[0] == "query-id":
            continue
        if len(parts) == 4:
            qid, _, docno, rel = parts
        elif len(parts) == 3:
            qid, docno, rel = parts
        else:
            qid, docno = parts
            rel = "1"
        qrels.setdefault(qid, {})[docno] = int(rel)
    return qrels


def read_run(path):
    run = {}
    with open(path, encoding="utf-8") as f:
        for ln in f:
            if not ln.strip() or ln.lstrip().startswith("#"):
                continue
            qid, _, docno, _rank, sim, _run_id = ln.split()
            run.setdefault(qid, []).append((float(sim), docno))
    # trec_eval: sim descending, ties broken by docno descending (strcmp on bytes).
    return {q: [d for _, d in sorted(docs, key=lambda t: (t[0], t[1].encode()), reverse=True)]
            for q, docs in run.items()}


def ranked_rels(docs, judged):
    return [judged.get(d, -1) for d in docs]


def ndcg_cut(rels, judged, cutoff):
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(rels[:cutoff]) if g > 0)
    # trec_eval's ideal: take rel levels from the highest down, rel_levels[l] documents each.
    levels = {}
    for g in judged.values():
        if g >= 0:
            levels[g] = levels.get(g, 0) + 1
    ideal, i = 0.0, 0
    for lvl in sorted(levels, reverse=True):
        if lvl <= 0:
            break
        for _ in range(levels[lvl]):
            if i >= cutoff:
                break
            ideal += lvl / math.log2(i + 2)
            i += 1
    return dcg / ideal if ideal > 0 else 0.0


def measures(rels, judged, level):
    num_rel = sum(1 for g in judged.values() if g >= level)
    out = {}
    cut10 = rels[:10]
    rr = 0.0
    for i, g in enumerate(cut10):
        if g >= level:
            rr = 1.0 / (i + 1)
            break
    out["mrr@10"] = rr
    out["ndcg@10"] = ndcg_cut(rels, judged, 10)
    s, found = 0.0, 0
    for i, g in enumerate(rels[:100]):
        if g >= level:
            found += 1
            s += found / (i + 1)
    out["map@100"] = s / num_rel if num_rel else 0.0
    for k in (1, 5, 10, 100, 1000):
        hit = sum(1 for g in rels[:k] if g >= level)
        out["recall@%d" % k] = hit / num_rel if num_rel else 0.0
    for k in (1, 3, 5, 10):
        out["accuracy@%d" % k] = 1.0 if any(g >= level for g in rels[:k]) else 0.0
    for k in (1, 3, 5, 10):
        out["precision@%d" % k] = sum(1 for g in rels[:k] if g >= level) / k
    return out


def agreement(run, ref, complete):
    sums = {1: 0.0, 10: 0.0, 100: 0.0}
    n = 0
    for qid, rdocs in ref.items():
        if not rdocs:
            continue
        if qid not in run:
            if complete:
                n += 1
            continue
        n += 1
        for k in sums:
            top = set(rdocs[:k])
            sums[k] += len(top & set(run[qid][:k])) / len(top)
    return {"recall@%d" % k: (v / n if n else 0.0) for k, v in sums.items()}, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", action="store_true")
    ap.add_argument("-l", type=int, default=1)
    ap.add_argument("--reference")
    ap.add_argument("qrels")
    ap.add_argument("run")
    a = ap.parse_args()
    qrels, run = read_qrels(a.qrels), read_run(a.run)
    per_query = {}
    for qid, judged in qrels.items():
        if qid not in run:
            if not a.c:
                continue
            docs = []
        else:
            docs = run[qid]
        per_query[qid] = measures(ranked_rels(docs, judged), judged, a.l)
    names = list(measures([], {}, a.l).keys())
    n = len(per_query)
    mean = {m: (sum(v[m] for v in per_query.values()) / n if n else 0.0) for m in names}
    out = {"num_queries": n, "metrics": mean, "per_query": per_query}
    if a.reference:
        out["agreement"], out["agreement_queries"] = agreement(run, read_run(a.reference), a.c)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
