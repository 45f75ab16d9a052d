#!/usr/bin/python3
"""BM25 baseline with Xapian (Debian: python3-xapian): index a collection, search queries,
write a TREC run. The reference point `bienc run` reports next to the bi-encoder.

    /usr/bin/python3 eval/bm25_xapian.py --collection collection.tsv --queries queries.tsv \
        --k 100 --output run.bm25.trec [--index DIR] [--k1 0.9 --b 0.4]

Inputs are MS MARCO style TSV (`id<TAB>text`). Text is indexed with Xapian's TermGenerator
and the English (Porter2) stemmer; queries are parsed as a plain OR of their stemmed terms
(no boolean syntax), ranked by BM25 with Anserini's MS MARCO parameters k1 = 0.9, b = 0.4 by
default. --index keeps the on-disk index (reused when it exists); otherwise a temporary one
is built and removed. Ties are written in Xapian's order (docid ascending)."""
import argparse
import os
import shutil
import sys
import tempfile
import time

import xapian


def read_tsv(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line:
                continue
            parts = line.split("\t", 1)
            if len(parts) != 2:
                continue
            yield parts[0], parts[1]


def build_index(path, collection):
    db = xapian.WritableDatabase(path, xapian.DB_CREATE_OR_OPEN)
    tg = xapian.TermGenerator()
    tg.set_stemmer(xapian.Stem("english"))
    tg.set_stemming_strategy(xapian.TermGenerator.STEM_SOME)
    n = 0
    t0 = time.time()
    db.begin_transaction(False)
    for pid, text in read_tsv(collection):
        doc = xapian.Document()
        tg.set_document(doc)
        tg.index_text(text)
        doc.set_data(pid)
        db.add_document(doc)
        n += 1
    db.commit_transaction()
    db.close()
    print(f"bm25: indexed {n} passages in {time.time() - t0:.1f} s", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--collection", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--index", help="index directory to keep / reuse")
    ap.add_argument("--k1", type=float, default=0.9)
    ap.add_argument("--b", type=float, default=0.4)
    a = ap.parse_args()
    tmp = None
    index = a.index
    if not index:
        tmp = tempfile.mkdtemp(prefix="bienc-bm25-")
        index = os.path.join(tmp, "db")
    try:
        if not os.path.exists(os.path.join(index, "iamglass")) and not os.path.exists(os.path.join(index, "iamchert")):
            build_index(index, a.collection)
        db = xapian.Database(index)
        qp = xapian.QueryParser()
        qp.set_stemmer(xapian.Stem("english"))
        qp.set_stemming_strategy(xapian.QueryParser.STEM_SOME)
        qp.set_database(db)
        qp.set_default_op(xapian.Query.OP_OR)
        enq = xapian.Enquire(db)
        enq.set_weighting_scheme(xapian.BM25Weight(a.k1, 0, 1, a.b, 0.5))
        t0 = time.time()
        nq = 0
        tmp_out = a.output + ".tmp"
        with open(tmp_out, "w") as out:
            for qid, text in read_tsv(a.queries):
                enq.set_query(qp.parse_query(text, 0))
                for rank, m in enumerate(enq.get_mset(0, a.k), 1):
                    pid = m.document.get_data().decode("utf-8")
                    out.write(f"{qid} Q0 {pid} {rank} {m.weight:.6f} bm25\n")
                nq += 1
        os.replace(tmp_out, a.output)
        print(f"bm25: {nq} queries in {time.time() - t0:.1f} s -> {a.output}", file=sys.stderr)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
