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
#include "index/shards.h"
#include "eval/metrics.h"
#include "core/os.h"

#define MAX_SHARDS 256

static void search_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc search --index INDEX --query-embeddings Q.h5 --output RUN.trec [options]\n"
            "       bienc search --index INDEX --model CKPT --queries QUERIES --output RUN.trec [options]\n"
            "       bienc search --index SHARD0 --index SHARD1 ... (a collection in shards: README\n"
            "                    \"Sharded encode, index and search\")\n\n"
            "Searches every query row of Q.h5 (same layout as the embeddings of `bienc index build`;\n"
            "its /ids are the query ids), or every query of QUERIES (queries.tsv `qid<TAB>text`, or\n"
            "BEIR queries.jsonl) encoded with the bi-encoder CKPT (a model or training checkpoint), and\n"
            "writes a TREC run, one line per hit:\n"
            "    qid Q0 docid rank score run_name\n"
            "Scores: cosine similarity, dot product, or -squared L2 distance (higher is better).\n"
            "Document ids are the ids stored in the index (element numbers if it has none).\n\n"
            "options:\n"
            "  --index FILE             index from `bienc index build` (required); repeated: the shards\n"
            "                           of one collection, each searched, the top-k merged by score\n"
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
            "  --precision P            matrix products of the query encoder: fp32 (default), bf16\n"
            "                           or int8, as `bienc encode --precision`\n");
}

/* The results as a TREC run through the one run writer (src/eval/run.c: trec_eval's
 * ranking rule, scores that read back to the same number). Hit j of query i: document
 * ids[i k + j] of index h[shard[i k + j]] (shard NULL: h[0]). */
static int write_run(const char *path, bienc_hnsw *const *h, const int32_t *shard, const bienc_embeddings *q, int k,
                     const int64_t *ids, const float *scores, const char *run_name)
{
    bienc_run *run = NULL;
    BIENC_TRY(run_new(&run, run_name));
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < q->n; i++)
        for (int j = 0; rc == 0 && j < k; j++) {
            int64_t id = ids[i * k + j];
            if (id < 0) break; /* fewer live documents than k */
            const char *name = hnsw_name(h[shard ? shard[i * k + j] : 0], id);
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
    const char *index_paths[MAX_SHARDS], *index_path = NULL, *qpath = NULL, *out = NULL, *run_name = "bienc", *model = NULL, *queries = NULL;
    const char *precision_arg = NULL;
    int64_t k = 100, ef = 128, threads = 0, batch_size = 64;
    int exact = 0, n_index = 0;
    for (int i = 1; i < argc; i++) {
        int rc;
        if ((rc = arg_string(argc, argv, &i, "--index", &index_path)) > 0) {
            if (n_index == MAX_SHARDS) {
                fprintf(stderr, "bienc search: more than %d --index shards\n", MAX_SHARDS);
                return 2;
            }
            index_paths[n_index++] = index_path;
            continue;
        }
        if (rc < 0 ||
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
    if (!n_index || !out || (qpath ? (model || queries) : !(model && queries))) {
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
        fprintf(stderr, "bienc search: --precision must be fp32, bf16 or int8, not '%s'\n", precision_arg);
        return 2;
    }
    const char *inputs[MAX_SHARDS + 3] = {qpath, model, queries};
    for (int s = 0; s < n_index; s++) inputs[3 + s] = index_paths[s];
    if (atomic_file_check_inputs(out, inputs, 3 + n_index) < 0) return cli_fail("search");
    if (threads > 0) cpu_set_threads((int)threads);
    bienc_hnsw *h[MAX_SHARDS] = {NULL};
    int rc = 0;
    for (int s = 0; rc == 0 && s < n_index; s++) {
        rc = hnsw_load(&h[s], index_paths[s]);
        if (rc == 0 && s > 0 && (hnsw_dim(h[s]) != hnsw_dim(h[0]) || hnsw_metric(h[s]) != hnsw_metric(h[0])))
            rc = bienc_error(BIENC_EINVAL, "%s (dimension %d, %s) and %s (dimension %d, %s) are not shards of one "
                                           "collection: their dimensions or metrics differ",
                             index_paths[0], hnsw_dim(h[0]), hnsw_metric_name(hnsw_metric(h[0])), index_paths[s],
                             hnsw_dim(h[s]), hnsw_metric_name(hnsw_metric(h[s])));
    }
    bienc_embeddings q;
    if (rc < 0 || (qpath ? emb_read(qpath, &q) : encode_queries(model, queries, (int)batch_size, precision, &q)) < 0) {
        for (int s = 0; s < n_index; s++) hnsw_free(h[s]);
        return cli_fail("search");
    }
    if (!qpath) qpath = model; /* names the query source in messages below */
    index_path = index_paths[0];
    if (q.dim != hnsw_dim(h[0]))
        rc = bienc_error(BIENC_ESHAPE, "%s: queries have dimension %d, the index %s has %d", qpath, q.dim, index_path,
                         hnsw_dim(h[0]));
    for (int64_t i = 0; rc == 0 && i < q.n; i++)
        if (!q.ids[i][0] || strpbrk(q.ids[i], " \t\n"))
            rc = bienc_error(BIENC_EFORMAT, "%s: query id %lld ('%s') is empty or has white space", qpath, (long long)i,
                             q.ids[i]);
    /* one result block per shard, then (with shards) the merged block behind them */
    int n_blocks = n_index > 1 ? n_index + 1 : 1;
    size_t cells = (size_t)(q.n ? q.n : 1) * (size_t)k;
    int64_t *ids = NULL;
    float *scores = NULL;
    int32_t *shard = NULL;
    if (rc == 0) {
        ids = malloc(cells * n_blocks * sizeof(int64_t));
        scores = malloc(cells * n_blocks * sizeof(float));
        shard = n_index > 1 ? malloc(cells * sizeof(int32_t)) : NULL;
        if (!ids || !scores || (n_index > 1 && !shard))
            rc = bienc_error(BIENC_ENOMEM, "search: out of memory for %lld x %lld results", (long long)q.n,
                             (long long)k);
    }
    double t0 = os_now();
    const int64_t *shard_ids[MAX_SHARDS];
    const float *shard_scores[MAX_SHARDS];
    for (int s = 0; rc == 0 && s < n_index; s++) {
        int64_t *si = ids + cells * s;
        float *ss = scores + cells * s;
        rc = exact ? hnsw_search_exact(h[s], q.data, q.n, (int)k, (int)threads, si, ss)
                   : hnsw_search(h[s], q.data, q.n, (int)k, (int)ef, (int)threads, si, ss);
        if (rc < 0) rc = bienc_error_context(rc, "%s: ", index_paths[s]);
        shard_ids[s] = si;
        shard_scores[s] = ss;
    }
    int64_t *hit_ids = ids + cells * (n_blocks - 1);
    float *hit_scores = scores + cells * (n_blocks - 1);
    if (rc == 0 && n_index > 1)
        shards_merge_topk(n_index, q.n, (int)k, shard_ids, shard_scores, shard, hit_ids, hit_scores);
    double took = os_now() - t0;
    if (rc == 0) rc = write_run(out, h, shard, &q, (int)k, hit_ids, hit_scores, run_name);
    char shards_note[48] = "";
    if (n_index > 1) snprintf(shards_note, sizeof shards_note, " in %d index shards", n_index);
    if (rc == 0)
        fprintf(stderr, "searched %lld queries (%s, k %lld%s)%s in %.3f s (%.0f queries/s) -> %s\n", (long long)q.n,
                exact ? "exact" : "hnsw", (long long)k, exact ? "" : (ef < k ? ", ef = k" : ""), shards_note, took,
                took > 0 ? q.n / took : 0.0, out);
    free(ids);
    free(scores);
    free(shard);
    emb_free(&q);
    for (int s = 0; s < n_index; s++) hnsw_free(h[s]);
    return rc < 0 ? cli_fail("search") : 0;
}
