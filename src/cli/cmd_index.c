/* bienc index: build an HNSW index from an embeddings file, or describe one. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/cpu.h"
#include "io/embeddings.h"
#include "core/error.h"
#include "index/hnsw.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/os.h"

static void index_usage(FILE *f)
{
    fprintf(f,
            "usage: bienc index build --embeddings EMB.h5 --output INDEX [options]\n"
            "       bienc index info --index INDEX\n\n"
            "build: an HNSW index over every row of EMB.h5 (datasets /embeddings float32 [N, dim] and\n"
            "/ids [N] strings, as written by `bienc encode` or h5py). The ids are stored in the index\n"
            "and become the document ids of `bienc search` runs. The file is written atomically.\n\n"
            "options:\n"
            "  --embeddings FILE        input embeddings (required)\n"
            "  --output FILE            index file to write (required)\n"
            "  --metric NAME            cosine (default; rows normalised at insertion), ip, or l2\n"
            "  --M N                    links per element (2*M on level 0), default 16\n"
            "  --ef-construction N      candidate list while building, default 200\n"
            "  --threads N              build threads (default: all cores). With 1 thread the index is\n"
            "                           identical for a given seed; with more it is equally good but\n"
            "                           its links depend on timing\n"
            "  --seed S                 seed of the element levels, default 100\n\n"
            "info: prints the parameters and counts of INDEX (and validates it).\n");
}

static int index_build(int argc, char **argv)
{
    const char *emb_path = NULL, *out = NULL, *metric = "cosine";
    int64_t M = 16, efc = 200, threads = 0, seed = 100;
    for (int i = 1; i < argc; i++) {
        int rc;
        if ((rc = arg_string(argc, argv, &i, "--embeddings", &emb_path)) ||
            (rc = arg_string(argc, argv, &i, "--output", &out)) ||
            (rc = arg_string(argc, argv, &i, "--metric", &metric)) ||
            (rc = arg_int(argc, argv, &i, "--M", 2, 512, &M)) ||
            (rc = arg_int(argc, argv, &i, "--ef-construction", 1, 1000000, &efc)) ||
            (rc = arg_int(argc, argv, &i, "--threads", 1, 4096, &threads)) ||
            (rc = arg_int(argc, argv, &i, "--seed", 0, INT64_MAX, &seed))) {
            if (rc < 0) return 2;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            index_usage(stdout);
            return 0;
        }
        return arg_unknown("index build", argv[i]);
    }
    if (!emb_path || !out) {
        fprintf(stderr, "bienc index build: --embeddings and --output are required (see --help)\n");
        return 2;
    }
    bienc_hnsw_params p;
    hnsw_params_default(&p);
    if (hnsw_metric_parse(metric, &p.metric) < 0) {
        fprintf(stderr, "bienc index build: --metric: %s\n", bienc_last_error());
        return 2;
    }
    p.M = (int)M;
    p.ef_construction = (int)efc;
    p.seed = (uint64_t)seed;
    if (threads > 0) cpu_set_threads((int)threads);

    if (atomic_file_check_inputs(out, &emb_path, 1) < 0) return cli_fail("index build");
    bienc_embeddings e;
    if (emb_read(emb_path, &e) < 0) return cli_fail("index build");
    if (e.n == 0) {
        emb_free(&e);
        fprintf(stderr, "bienc index build: %s has no rows\n", emb_path);
        return 1;
    }
    if (p.metric == BIENC_INDEX_IP && e.normalized == 0)
        fprintf(stderr, "bienc index build: note: %s says its rows are not normalised; ip scores them as they are\n",
                emb_path);
    p.dim = e.dim;
    bienc_hnsw *h = NULL;
    double t0 = os_now();
    int rc = hnsw_create(&h, &p);
    if (rc == 0) rc = hnsw_add(h, e.data, e.n, (const char *const *)e.ids, (int)threads);
    double built = os_now() - t0;
    if (rc == 0) rc = hnsw_save(h, out);
    if (rc < 0) {
        hnsw_free(h);
        emb_free(&e);
        return cli_fail("index build");
    }
    printf("indexed %lld vectors of dim %d (metric %s, M %d, ef_construction %d) in %.2f s; %.1f MB in memory -> %s\n",
           (long long)e.n, e.dim, hnsw_metric_name(p.metric), p.M, p.ef_construction, built,
           hnsw_memory_bytes(h) / 1048576.0, out);
    hnsw_free(h);
    emb_free(&e);
    return 0;
}

static int index_info(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        int rc;
        if ((rc = arg_string(argc, argv, &i, "--index", &path))) {
            if (rc < 0) return 2;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            index_usage(stdout);
            return 0;
        }
        return arg_unknown("index info", argv[i]);
    }
    if (!path) {
        fprintf(stderr, "bienc index info: --index is required\n");
        return 2;
    }
    bienc_hnsw *h;
    if (hnsw_load(&h, path) < 0) return cli_fail("index info");
    const bienc_hnsw_params *p = hnsw_params(h);
    printf("index %s\nelements %lld (live %lld)\ndim %d\nmetric %s\nM %d\nef_construction %d\nseed %llu\n"
           "levels %d\nnamed %s\nmemory_mb %.1f\n",
           path, (long long)hnsw_count(h), (long long)hnsw_live_count(h), p->dim, hnsw_metric_name(p->metric), p->M,
           p->ef_construction, (unsigned long long)p->seed, hnsw_max_level(h) + 1,
           hnsw_count(h) && hnsw_name(h, 0) ? "yes" : "no", hnsw_memory_bytes(h) / 1048576.0);
    hnsw_free(h);
    return 0;
}

int cmd_index(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        index_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "build") == 0) return index_build(argc - 1, argv + 1);
    if (strcmp(argv[1], "info") == 0) return index_info(argc - 1, argv + 1);
    fprintf(stderr, "bienc index: unknown subcommand '%s' (build or info)\n", argv[1]);
    return 2;
}
