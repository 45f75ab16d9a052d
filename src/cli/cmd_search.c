/* bienc search: k-NN of query embeddings in an HNSW index (or exactly), as a TREC run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/biencoder.h"
#include "core/cpu.h"
#include "data/data.h"
#include "io/embeddings.h"
#include "core/error.h"
#include "index/hnsw.h"
#include "io/model_io.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "eval/metrics.h"
#include "core/os.h"

static void search_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc search --index INDEX --query-embeddings Q.h5 --output RUN.trec [options]\n"
            "       bienc search --index INDEX --model CKPT --queries QUERIES --output RUN.trec [options]\n\n"
            "Searches every query row of Q.h5 (same layout as the embeddings of `bienc index build`;\n"
            "its /ids are the query ids), or every query of QUERIES (queries.tsv `qid<TAB>text`, or\n"
            "BEIR queries.jsonl) encoded with the bi-encoder CKPT (a model or training checkpoint), and\n"
            "writes a TREC run, one line per hit:\n"
            "    qid Q0 docid rank score run_name\n"
            "Scores: cosine similarity, dot product, or -squared L2 distance (higher is better).\n"
            "Document ids are the ids stored in the index (element numbers if it has none).\n\n"
            "options:\n"
            "  --index FILE             index from `bienc index build` (required)\n"
            "  --query-embeddings FILE  query embeddings (HDF5, required)\n"
            "  --output FILE            the run to write (required)\n"
            "  --k N                    hits per query, default 100\n"
            "  --ef N                   search candidate list (>= k is used), default 128\n"
            "  --exact                  brute-force search over the index's vectors (BLAS) instead of HNSW\n"
            "  --threads N              search threads (default: all cores); results do not depend on it\n"
            "  --run-name NAME          last column of the run, default bienc\n"
            "  --model CKPT             encode --queries with this bi-encoder (query side)\n"
            "  --queries FILE           queries.tsv or queries.jsonl (with --model)\n"
            "  --batch-size N           queries per forward pass when encoding, default 64\n"
            "  --precision fp32|bf16    matrix products of the query encoder (default fp32; bf16: bf16\n"
            "                           inputs, fp32 accumulation, see `bienc version`)\n");
}

/* The results as a TREC run through the one run writer (src/eval/run.c: trec_eval's
 * ranking rule, scores that read back to the same number). */
static int write_run(const char *path, const bienc_hnsw *h, const bienc_embeddings *q, int k, const int64_t *ids,
                     const float *scores, const char *run_name)
{
    bienc_run *run = NULL;
    BIENC_TRY(run_new(&run, run_name));
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < q->n; i++)
        for (int j = 0; rc == 0 && j < k; j++) {
            int64_t id = ids[i * k + j];
            if (id < 0) break; /* fewer live documents than k */
            const char *name = hnsw_name(h, id);
            char num[24];
            if (!name) snprintf(num, sizeof num, "%lld", (long long)id);
            rc = run_add(run, q->ids[i], name ? name : num, scores[i * k + j]);
        }
    if (rc == 0) rc = run_write(run, path);
    run_free(run);
    return rc;
}

/* Encodes the queries of `qfile` with the bi-encoder `model` into q (ids and rows). */
static int encode_queries(const char *model, const char *qfile, int batch_size, bienc_precision precision,
                          bienc_embeddings *q)
{
    memset(q, 0, sizeof *q);
    q->normalized = -1;
    bienc_biencoder *bi = NULL;
    bienc_texts *t = NULL;
    bienc_tape *tape = NULL;
    const char **texts = NULL;
    size_t *lens = NULL;
    int rc = model_io_load(model, &bi);
    if (rc == 0) rc = tape_new(&tape);
    if (rc == 0) tape_set_precision(tape, precision);
    if (rc == 0) rc = cli_load_texts(qfile, &t);
    if (rc == 0) {
        q->n = texts_count(t);
        q->dim = biencoder_dim(bi);
        texts = malloc((size_t)(q->n ? q->n : 1) * sizeof *texts);
        lens = malloc((size_t)(q->n ? q->n : 1) * sizeof *lens);
        q->ids = calloc((size_t)(q->n ? q->n : 1), sizeof(char *));
        q->data = malloc((size_t)(q->n ? q->n : 1) * (size_t)q->dim * sizeof(float));
        if (!texts || !lens || !q->ids || !q->data) rc = bienc_error(BIENC_ENOMEM, "search: out of memory");
    }
    for (int64_t i = 0; rc == 0 && i < q->n; i++) {
        const char *id;
        size_t id_len;
        rc = texts_get(t, i, &id, &id_len, &texts[i], &lens[i]);
        if (rc == 0 && !(q->ids[i] = strndup(id, id_len))) rc = bienc_error(BIENC_ENOMEM, "search: out of memory");
    }
    if (rc == 0 && q->n > 0)
        rc = biencoder_encode_texts(bi, tape, texts, lens, q->n, BIENC_SIDE_QUERY, batch_size, q->data);
    tape_free(tape);
    free(texts);
    free(lens);
    texts_free(t);
    biencoder_free(bi);
    if (rc < 0) emb_free(q);
    return rc;
}

int cmd_search(int argc, char **argv)
{
    const char *index_path = NULL, *qpath = NULL, *out = NULL, *run_name = "bienc", *model = NULL, *queries = NULL;
    const char *precision_arg = NULL;
    int64_t k = 100, ef = 128, threads = 0, batch_size = 64;
    int exact = 0;
    for (int i = 1; i < argc; i++) {
        int rc;
        if ((rc = arg_string(argc, argv, &i, "--index", &index_path)) ||
            (rc = arg_string(argc, argv, &i, "--query-embeddings", &qpath)) ||
            (rc = arg_string(argc, argv, &i, "--output", &out)) ||
            (rc = arg_string(argc, argv, &i, "--run-name", &run_name)) ||
            (rc = arg_string(argc, argv, &i, "--model", &model)) ||
            (rc = arg_string(argc, argv, &i, "--queries", &queries)) ||
            (rc = arg_string(argc, argv, &i, "--precision", &precision_arg)) ||
            (rc = arg_int(argc, argv, &i, "--k", 1, 100000, &k)) ||
            (rc = arg_int(argc, argv, &i, "--ef", 1, 1000000, &ef)) ||
            (rc = arg_int(argc, argv, &i, "--threads", 1, 4096, &threads)) ||
            (rc = arg_int(argc, argv, &i, "--batch-size", 1, 65536, &batch_size)) ||
            (rc = arg_flag(argv, i, "--exact", &exact))) {
            if (rc < 0) return 2;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            search_usage(stdout);
            return 0;
        }
        return arg_unknown("search", argv[i]);
    }
    if (!index_path || !out || (qpath ? (model || queries) : !(model && queries))) {
        fprintf(stderr, "bienc search: --index, --output and either --query-embeddings or --model with --queries "
                        "are required (see --help)\n");
        return 2;
    }
    if (strchr(run_name, ' ') || strchr(run_name, '\t') || !*run_name) {
        fprintf(stderr, "bienc search: --run-name must be one word\n");
        return 2;
    }
    bienc_precision precision = BIENC_PRECISION_FP32;
    if (precision_arg && precision_parse(precision_arg, &precision) < 0) {
        fprintf(stderr, "bienc search: --precision must be fp32 or bf16, not '%s'\n", precision_arg);
        return 2;
    }
    const char *inputs[] = {index_path, qpath, model, queries};
    if (atomic_file_check_inputs(out, inputs, 4) < 0) return cli_fail("search");
    if (threads > 0) cpu_set_threads((int)threads);
    bienc_hnsw *h = NULL;
    if (hnsw_load(&h, index_path) < 0) return cli_fail("search");
    bienc_embeddings q;
    if ((qpath ? emb_read(qpath, &q) : encode_queries(model, queries, (int)batch_size, precision, &q)) < 0) {
        hnsw_free(h);
        return cli_fail("search");
    }
    if (!qpath) qpath = model; /* names the query source in messages below */
    int rc = 0;
    if (q.dim != hnsw_dim(h))
        rc = bienc_error(BIENC_ESHAPE, "%s: queries have dimension %d, the index %s has %d", qpath, q.dim, index_path,
                         hnsw_dim(h));
    for (int64_t i = 0; rc == 0 && i < q.n; i++)
        if (!q.ids[i][0] || strpbrk(q.ids[i], " \t\n"))
            rc = bienc_error(BIENC_EFORMAT, "%s: query id %lld ('%s') is empty or has white space", qpath, (long long)i,
                             q.ids[i]);
    int64_t *ids = NULL;
    float *scores = NULL;
    if (rc == 0) {
        ids = malloc((size_t)(q.n ? q.n : 1) * (size_t)k * sizeof(int64_t));
        scores = malloc((size_t)(q.n ? q.n : 1) * (size_t)k * sizeof(float));
        if (!ids || !scores) rc = bienc_error(BIENC_ENOMEM, "search: out of memory for %lld x %lld results",
                                              (long long)q.n, (long long)k);
    }
    double t0 = os_now();
    if (rc == 0)
        rc = exact ? hnsw_search_exact(h, q.data, q.n, (int)k, (int)threads, ids, scores)
                   : hnsw_search(h, q.data, q.n, (int)k, (int)ef, (int)threads, ids, scores);
    double took = os_now() - t0;
    if (rc == 0) rc = write_run(out, h, &q, (int)k, ids, scores, run_name);
    if (rc == 0)
        fprintf(stderr, "searched %lld queries (%s, k %lld%s) in %.3f s (%.0f queries/s) -> %s\n", (long long)q.n,
                exact ? "exact" : "hnsw", (long long)k, exact ? "" : (ef < k ? ", ef = k" : ""), took,
                took > 0 ? q.n / took : 0.0, out);
    free(ids);
    free(scores);
    emb_free(&q);
    hnsw_free(h);
    return rc < 0 ? cli_fail("search") : 0;
}
