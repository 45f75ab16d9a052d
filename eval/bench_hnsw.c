/* Benchmark driver for bienc's HNSW (run by eval/bench_hnsw.py through bench_hnsw.sh).
 * Reads raw float32 base/query files and int32 ground truth, builds the index with
 * the given threads, then for every ef and search-thread count times a batch of
 * queries (median of repeats). Prints one JSON object per line. With a save path, an
 * existing index is loaded instead (search-only rounds: the first line then reports
 * load_s, not build_s). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index/hnsw.h"
#include "core/error.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* CPU time of the calling thread: with one search thread the whole batch runs here, so
 * this is the search's own cost even when other jobs share the cores. */
static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) v = atol(line + 6);
    if (f) fclose(f);
    return v;
}

static void *load(const char *path, size_t bytes)
{
    FILE *f = fopen(path, "rb");
    void *p = malloc(bytes);
    if (!f || !p || fread(p, 1, bytes, f) != bytes) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", bytes, path);
        exit(1);
    }
    fclose(f);
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 12) {
        fprintf(stderr, "usage: %s base.f32 N dim queries.f32 NQ gt.i32 K M efc build_threads efs(csv) "
                        "[search_threads(csv)] [repeats] [save_path]\n", argv[0]);
        return 2;
    }
    const char *bpath = argv[1], *qpath = argv[4], *gpath = argv[6];
    long n = atol(argv[2]), nq = atol(argv[5]);
    int dim = atoi(argv[3]), k = atoi(argv[7]), M = atoi(argv[8]), efc = atoi(argv[9]), bt = atoi(argv[10]);
    const char *efs = argv[11], *sts = argc > 12 ? argv[12] : "1,2";
    int repeats = argc > 13 ? atoi(argv[13]) : 3;
    const char *save = argc > 14 ? argv[14] : NULL;
    float *x = load(bpath, (size_t)n * dim * 4), *q = load(qpath, (size_t)nq * dim * 4);
    int *gt = load(gpath, (size_t)nq * k * 4);

    bienc_hnsw_params p;
    hnsw_params_default(&p);
    p.dim = dim;
    p.metric = BIENC_INDEX_IP; /* the vectors are unit length: ip == cosine */
    p.M = M;
    p.ef_construction = efc;
    bienc_hnsw *h;
    long rss0 = rss_kb();
    double t0 = now();
    /* a saved index is reused (search-only reruns while tuning); the build line then
     * reports the load time */
    int loaded = save && access(save, R_OK) == 0;
    if (loaded) {
        if (hnsw_load(&h, save)) {
            fprintf(stderr, "load failed: %s\n", bienc_last_error());
            return 1;
        }
        save = NULL;
    } else if (hnsw_create(&h, &p) || hnsw_add(h, x, n, NULL, bt)) {
        fprintf(stderr, "build failed: %s\n", bienc_last_error());
        return 1;
    }
    double build = now() - t0;
    long rss1 = rss_kb();
    printf("{\"lib\": \"bienc\", \"%s\": %.3f, \"build_threads\": %d, \"rss_mb\": %.1f, \"index_mb\": %.1f}\n",
           loaded ? "load_s" : "build_s", build, bt, (rss1 - rss0) / 1024.0, hnsw_memory_bytes(h) / 1048576.0);
    fflush(stdout);
    free(x);
    if (save && hnsw_save(h, save)) fprintf(stderr, "save failed: %s\n", bienc_last_error());

    int64_t *ids = malloc((size_t)nq * k * sizeof(int64_t));
    float *sc = malloc((size_t)nq * k * sizeof(float));
    char *ts = strdup(sts);
    for (char *tt = strtok(ts, ","); tt; tt = strtok(NULL, ",")) {
        int threads = atoi(tt);
        char *es = strdup(efs), *save_e;
        for (char *e = strtok_r(es, ",", &save_e); e; e = strtok_r(NULL, ",", &save_e)) {
            int ef = atoi(e);
            double times[16], cpu[16];
            if (repeats > 16) repeats = 16;
            hnsw_search(h, q, nq, k, ef, threads, ids, sc); /* warm-up */
            for (int r = 0; r < repeats; r++) {
                double s = now(), c = thread_cpu();
                hnsw_search(h, q, nq, k, ef, threads, ids, sc);
                times[r] = now() - s;
                cpu[r] = thread_cpu() - c;
            }
            qsort(times, (size_t)repeats, sizeof(double), cmp_double);
            qsort(cpu, (size_t)repeats, sizeof(double), cmp_double);
            long hit = 0;
            for (long i = 0; i < nq; i++)
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++)
                        if (ids[i * k + b] == gt[i * k + a]) {
                            hit++;
                            break;
                        }
            printf("{\"lib\": \"bienc\", \"ef\": %d, \"threads\": %d, \"recall\": %.4f, \"qps\": %.1f, "
                   "\"qps_cpu\": %.1f}\n", ef, threads, (double)hit / (nq * k), nq / times[repeats / 2],
                   threads == 1 ? nq / cpu[repeats / 2] : 0.0);
            fflush(stdout);
        }
        free(es);
    }
    free(ts);
    hnsw_free(h);
    free(q), free(gt), free(ids), free(sc);
    return 0;
}
