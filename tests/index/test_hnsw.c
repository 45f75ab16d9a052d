/* HNSW: recall against the exact oracle for every metric, deletion, save/load
 * round trips, incremental adds, graph invariants after a parallel build, and a loader
 * that rejects every truncation, byte flip and foreign file without crashing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "index/exact.h"
#include "index/hnsw.h"
#include "core/rng.h"
#include "index/hnsw_internal.h"

/* n points around `centres` Gaussian centres (clustered like real embeddings). */
static float *clustered(int64_t n, int dim, int centres, uint64_t seed)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    float *c = malloc((size_t)centres * dim * sizeof(float));
    float *x = malloc((size_t)n * dim * sizeof(float));
    for (int64_t i = 0; i < (int64_t)centres * dim; i++) c[i] = rng_normal(&rng);
    for (int64_t i = 0; i < n; i++) {
        int k = (int)rng_below(&rng, (uint64_t)centres);
        for (int j = 0; j < dim; j++) x[i * dim + j] = c[k * dim + j] + 0.35f * rng_normal(&rng);
    }
    free(c);
    return x;
}

/* Inner-product search is only meaningful (and HNSW only works well) when norms vary
 * moderately, as with bi-encoder embeddings: rescale rows to norms in [0.8, 1.2]. */
static void ip_norms(float *x, int64_t n, int dim, uint64_t seed)
{
    bienc_rng rng;
    rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < dim; j++) s += (double)x[i * dim + j] * x[i * dim + j];
        float f = (float)((0.8 + 0.4 * rng_uniform(&rng)) / sqrt(s));
        for (int j = 0; j < dim; j++) x[i * dim + j] *= f;
    }
}

static double recall_at(const int64_t *got, const int64_t *truth, int64_t nq, int k)
{
    int64_t hit = 0, total = 0;
    for (int64_t q = 0; q < nq; q++)
        for (int i = 0; i < k; i++) {
            if (truth[q * k + i] < 0) continue;
            total++;
            for (int j = 0; j < k; j++)
                if (got[q * k + j] == truth[q * k + i]) {
                    hit++;
                    break;
                }
        }
    return total ? (double)hit / (double)total : 1.0;
}

static bienc_hnsw *build(const float *x, int64_t n, int dim, int metric, int threads, uint64_t seed)
{
    bienc_hnsw_params p;
    hnsw_params_default(&p);
    p.dim = dim;
    p.metric = metric;
    p.seed = seed;
    bienc_hnsw *h = NULL;
    assert_int_equal(hnsw_create(&h, &p), 0);
    assert_int_equal(hnsw_add(h, x, n, NULL, threads), 0);
    return h;
}

enum { N = 5000, D = 32, NQ = 200, K = 10 };

static void test_recall_every_metric(void **state)
{
    (void)state;
    float *x = clustered(N, D, 50, 1), *q = clustered(NQ, D, 50, 2);
    int64_t *ids = malloc(NQ * K * sizeof(int64_t)), *truth = malloc(NQ * K * sizeof(int64_t));
    float *sc = malloc(NQ * K * sizeof(float)), *tsc = malloc(NQ * K * sizeof(float));
    for (int metric = 0; metric < 3; metric++) {
        if (metric == BIENC_INDEX_IP) ip_norms(x, N, D, 3);
        bienc_hnsw *h = build(x, N, D, metric, 2, 7);
        assert_int_equal(hnsw_check(h), 0);
        assert_int_equal(hnsw_search(h, q, NQ, K, 64, 2, ids, sc), 0);
        assert_int_equal(hnsw_search_exact(h, q, NQ, K, 2, truth, tsc), 0);
        double r = recall_at(ids, truth, NQ, K);
        printf("metric %s: recall@10 = %.4f (ef 64)\n", hnsw_metric_name(metric), r);
        assert_true(r >= 0.95);
        /* scores descending, and equal to a direct computation of the metric */
        for (int i = 0; i < NQ; i++)
            for (int j = 0; j < K; j++) {
                if (j) assert_true(sc[i * K + j] <= sc[i * K + j - 1]);
                const float *v = x + truth[i * K + j] * D, *qq = q + i * D;
                double dot = 0, nv = 0, nq = 0, l2 = 0;
                for (int t = 0; t < D; t++) {
                    dot += (double)v[t] * qq[t];
                    nv += (double)v[t] * v[t];
                    nq += (double)qq[t] * qq[t];
                    l2 += ((double)v[t] - qq[t]) * ((double)v[t] - qq[t]);
                }
                double want = metric == BIENC_INDEX_IP ? dot : metric == BIENC_INDEX_L2 ? -l2 : dot / sqrt(nv * nq);
                assert_true(fabs(tsc[i * K + j] - want) <= 1e-3 * (1 + fabs(want)));
            }
        hnsw_free(h);
    }
    free(x), free(q), free(ids), free(truth), free(sc), free(tsc);
}

/* exact_search on raw (unnormalised) rows agrees with a naive loop, ties by smaller id. */
static void test_exact_oracle(void **state)
{
    (void)state;
    float base[6 * 2] = {1, 0, 0, 1, 1, 0, -1, 0, 2, 0, 0.5f, 0.5f};
    float q[2] = {1, 0};
    int64_t ids[8];
    float sc[8];
    assert_int_equal(exact_search(base, 6, 2, 2, BIENC_INDEX_IP, 0, NULL, q, 1, 8, 1, ids, sc), 0);
    int64_t want_ip[8] = {4, 0, 2, 5, 1, 3, -1, -1};
    for (int i = 0; i < 8; i++) assert_int_equal(ids[i], want_ip[i]);
    assert_true(isinf(sc[7]) && sc[7] < 0);
    assert_int_equal(exact_search(base, 6, 2, 2, BIENC_INDEX_COSINE, 0, NULL, q, 1, 3, 1, ids, sc), 0);
    assert_int_equal(ids[0], 0); /* 0, 2 and 4 all have cosine 1: smaller id first */
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 4);
    uint8_t skip[6] = {1, 0, 0, 0, 0, 0};
    assert_int_equal(exact_search(base, 6, 2, 2, BIENC_INDEX_L2, 0, skip, q, 1, 2, 1, ids, sc), 0);
    assert_int_equal(ids[0], 2);
    assert_float_equal(sc[0], 0.0f, 1e-6);
    assert_int_equal(ids[1], 5); /* |(0.5,0.5)-(1,0)|^2 = 0.5 beats |(2,0)-(1,0)|^2 = 1 */
}

static void test_single_thread_deterministic(void **state)
{
    (void)state;
    float *x = clustered(2000, D, 20, 3);
    bienc_hnsw *a = build(x, 2000, D, BIENC_INDEX_COSINE, 1, 11);
    bienc_hnsw *b = build(x, 2000, D, BIENC_INDEX_COSINE, 1, 11);
    for (int64_t i = 0; i < 2000; i++) {
        assert_int_equal(hnsw_element_level(a, i), hnsw_element_level(b, i));
        for (int l = 0; l <= hnsw_element_level(a, i); l++) {
            int na, nb;
            const int32_t *la = hnsw_links(a, i, l, &na), *lb = hnsw_links(b, i, l, &nb);
            assert_int_equal(na, nb);
            assert_memory_equal(la, lb, (size_t)na * sizeof(int32_t));
        }
    }
    hnsw_free(a);
    hnsw_free(b);
    free(x);
}

/* Parallel build: the graph's invariants hold (links in range, no self links, degree
 * <= M on upper levels and 2M on level 0, linked elements exist on the level). */
static void test_parallel_build_valid(void **state)
{
    (void)state;
    float *x = clustered(N, D, 50, 4);
    bienc_hnsw *h = build(x, N, D, BIENC_INDEX_L2, 4, 5);
    assert_int_equal(hnsw_check(h), 0);
    int64_t total = 0;
    for (int64_t i = 0; i < N; i++) {
        int n;
        const int32_t *l = hnsw_links(h, i, 0, &n);
        assert_true(n >= 1 && n <= 32);
        for (int j = 0; j < n; j++) assert_true(l[j] >= 0 && l[j] < N && l[j] != i);
        total += n;
    }
    assert_true(total > N * 8); /* a real graph, not a chain */
    hnsw_free(h);
    free(x);
}

/* A parallel build leaves no orphan: every element has an in-link on level 0 and a
 * search for its own vector finds it. (Writing an element's levels top down let a
 * concurrent insertion enter at it from above before its level-0 list existed: a few
 * elements per thousand ended with one out-link and no in-link, unreachable.) */
static void test_parallel_build_no_orphans(void **state)
{
    (void)state;
    float *x = clustered(N, D, 50, 4);
    for (uint64_t seed = 5; seed < 8; seed++) {
        bienc_hnsw *h = build(x, N, D, BIENC_INDEX_L2, 4, seed);
        int *in_degree = calloc(N, sizeof(int));
        for (int64_t i = 0; i < N; i++) {
            int n;
            const int32_t *l = hnsw_links(h, i, 0, &n);
            for (int j = 0; j < n; j++) in_degree[l[j]]++;
        }
        int64_t *ids = malloc(N * sizeof(int64_t));
        float *scores = malloc(N * sizeof(float));
        assert_int_equal(hnsw_search(h, x, N, 1, 50, 2, ids, scores), 0);
        for (int64_t i = 0; i < N; i++) {
            if (in_degree[i] == 0 || ids[i] != i) fail_msg("element %lld: in-degree %d, own search found %lld",
                                                           (long long)i, in_degree[i], (long long)ids[i]);
        }
        free(in_degree);
        free(ids);
        free(scores);
        hnsw_free(h);
    }
    free(x);
}

static void test_add_delete_search(void **state)
{
    (void)state;
    float *x = clustered(3000, D, 30, 5), *q = clustered(100, D, 30, 6);
    ip_norms(x, 3000, D, 4);
    bienc_hnsw *h = build(x, 3000, D, BIENC_INDEX_IP, 2, 9);
    for (int64_t i = 0; i < 3000; i += 2) assert_int_equal(hnsw_delete(h, i), 0);
    assert_int_equal(hnsw_delete(h, 0), 0); /* twice is fine */
    assert_int_equal(hnsw_live_count(h), 1500);
    assert_int_equal(hnsw_delete(h, 3000), BIENC_ERANGE);
    int64_t ids[100 * K], truth[100 * K];
    float sc[100 * K], tsc[100 * K];
    assert_int_equal(hnsw_search(h, q, 100, K, 64, 2, ids, sc), 0);
    assert_int_equal(hnsw_search_exact(h, q, 100, K, 2, truth, tsc), 0);
    for (int i = 0; i < 100 * K; i++) {
        assert_true(ids[i] >= 0 && ids[i] % 2 == 1);
        assert_true(truth[i] % 2 == 1);
    }
    assert_true(recall_at(ids, truth, 100, K) >= 0.9);
    hnsw_free(h);

    /* k > live count: the live ones first, then id -1 / score -inf (documented in hnsw.h) */
    h = build(x, 5, D, BIENC_INDEX_L2, 1, 1);
    hnsw_delete(h, 1);
    hnsw_delete(h, 3);
    assert_int_equal(hnsw_search(h, q, 1, 8, 16, 1, ids, sc), 0);
    int seen[5] = {0};
    for (int i = 0; i < 3; i++) {
        assert_true(ids[i] == 0 || ids[i] == 2 || ids[i] == 4);
        seen[ids[i]]++;
    }
    assert_int_equal(seen[0] + seen[2] + seen[4], 3);
    for (int i = 3; i < 8; i++) {
        assert_int_equal(ids[i], -1);
        assert_true(isinf(sc[i]) && sc[i] < 0);
    }
    /* every element deleted: nothing returned */
    for (int i = 0; i < 5; i++) hnsw_delete(h, i);
    assert_int_equal(hnsw_search(h, q, 1, 3, 16, 1, ids, sc), 0);
    assert_int_equal(ids[0], -1);
    hnsw_free(h);
    free(x), free(q);
}

static char *tmp_path(const char *tag)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "test_hnsw_%s_%d.idx", tag, (int)getpid());
    return buf;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void test_save_load_add(void **state)
{
    (void)state;
    float *x = clustered(3000, D, 30, 7), *q = clustered(100, D, 30, 8);
    char **names = malloc(3000 * sizeof(char *));
    for (int i = 0; i < 3000; i++) {
        names[i] = malloc(16);
        snprintf(names[i], 16, "p%d", i * 3);
    }
    bienc_hnsw_params p;
    hnsw_params_default(&p);
    p.dim = D;
    bienc_hnsw *h;
    assert_int_equal(hnsw_create(&h, &p), 0);
    assert_int_equal(hnsw_add(h, x, 2000, (const char *const *)names, 2), 0);
    hnsw_delete(h, 17);
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("rt"));
    assert_int_equal(hnsw_save(h, path), 0);
    bienc_hnsw *g;
    assert_int_equal(hnsw_load(&g, path), 0);
    assert_int_equal(hnsw_count(g), 2000);
    assert_int_equal(hnsw_live_count(g), 1999);
    assert_string_equal(hnsw_name(g, 1999), "p5997");
    int64_t a[100 * K], b[100 * K];
    float sa[100 * K], sb[100 * K];
    assert_int_equal(hnsw_search(h, q, 100, K, 50, 2, a, sa), 0);
    assert_int_equal(hnsw_search(g, q, 100, K, 50, 1, b, sb), 0);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(sa, sb, sizeof sa);
    /* incremental add after load; the rest of the batch keeps names, so must these */
    assert_int_equal(hnsw_add(g, x + 2000 * D, 1000, NULL, 2), BIENC_EINVAL);
    assert_int_equal(hnsw_add(g, x + 2000 * D, 1000, (const char *const *)names + 2000, 2), 0);
    assert_int_equal(hnsw_check(g), 0);
    assert_string_equal(hnsw_name(g, 2999), "p8997");
    int64_t t[100 * K];
    float st[100 * K];
    assert_int_equal(hnsw_search(g, q, 100, K, 64, 2, b, sb), 0);
    assert_int_equal(hnsw_search_exact(g, q, 100, K, 2, t, st), 0);
    double r = recall_at(b, t, 100, K);
    printf("recall after incremental add: %.4f\n", r);
    assert_true(r >= 0.95);
    int found_new = 0;
    for (int i = 0; i < 100 * K; i++) found_new += b[i] >= 2000;
    assert_true(found_new > 0);
    /* saving again over the same path replaces it atomically */
    assert_int_equal(hnsw_save(g, path), 0);
    bienc_hnsw *g2;
    assert_int_equal(hnsw_load(&g2, path), 0);
    assert_int_equal(hnsw_count(g2), 3000);
    hnsw_free(g2);
    unlink(path);
    hnsw_free(g);
    hnsw_free(h);
    for (int i = 0; i < 3000; i++) free(names[i]);
    free(names), free(x), free(q);
}

/* Saves a small named index with deletions and returns the bytes. */
static unsigned char *small_index_bytes(size_t *n)
{
    float *x = clustered(300, 8, 5, 9);
    const char *names[300];
    char buf[300][8];
    for (int i = 0; i < 300; i++) {
        snprintf(buf[i], 8, "d%d", i);
        names[i] = buf[i];
    }
    bienc_hnsw_params p;
    hnsw_params_default(&p);
    p.dim = 8;
    p.M = 4;
    bienc_hnsw *h;
    assert_int_equal(hnsw_create(&h, &p), 0);
    assert_int_equal(hnsw_add(h, x, 300, names, 1), 0);
    hnsw_delete(h, 3);
    assert_true(hnsw_max_level(h) >= 1); /* so the upper-links section is not empty */
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("small"));
    assert_int_equal(hnsw_save(h, path), 0);
    unsigned char *b = slurp(path, n);
    unlink(path);
    hnsw_free(h);
    free(x);
    return b;
}

static int load_fails(const unsigned char *b, size_t n, unsigned flags)
{
    bienc_hnsw *h = NULL;
    int rc = hnsw_load_memory(&h, b, n, flags, "t.idx");
    if (rc == 0) {
        hnsw_free(h);
        return 0;
    }
    assert_null(h);
    assert_int_equal(rc, BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "t.idx"));
    return 1;
}

static void test_truncation(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = small_index_bytes(&n);
    bienc_hnsw *h;
    assert_int_equal(hnsw_load_memory(&h, b, n, 0, "t.idx"), 0);
    hnsw_free(h);
    /* every section boundary (and one byte either side), from the header's table */
    for (int s = 0; s < 5; s++) {
        uint64_t off, size;
        memcpy(&off, b + 72 + 24 * s, 8);
        memcpy(&size, b + 80 + 24 * s, 8);
        uint64_t cuts[4] = {off, off + 1, off + size - 1, off + size};
        for (int c = 0; c < 4; c++) {
            if (cuts[c] >= n || cuts[c] == 0) continue;
            assert_true(load_fails(b, (size_t)cuts[c], 0));
            assert_true(load_fails(b, (size_t)cuts[c], HNSW_LOAD_SKIP_CHECKSUM));
        }
    }
    /* a sweep of every length (step 7 through the body) */
    for (size_t len = 0; len < n; len += (len < 260 ? 1 : 7)) {
        assert_true(load_fails(b, len, 0));
        assert_true(load_fails(b, len, HNSW_LOAD_SKIP_CHECKSUM));
    }
    /* a truncated file on disk, through hnsw_load */
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("trunc"));
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n - 5, f);
    fclose(f);
    assert_int_equal(hnsw_load(&h, path), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), path));
    printf("truncated: %s\n", bienc_last_error());
    unlink(path);
    /* trailing bytes are rejected too */
    unsigned char *longer = malloc(n + 3);
    memcpy(longer, b, n);
    memset(longer + n, 0, 3);
    assert_true(load_fails(longer, n + 3, 0));
    free(longer);
    free(b);
}

static void test_byte_flips(void **state)
{
    (void)state;
    size_t n;
    unsigned char *b = small_index_bytes(&n);
    bienc_rng rng;
    rng_seed(&rng, 42);
    /* every header byte and 2000 random body bytes: the checksums catch each flip */
    for (size_t i = 0; i < n; i += (i < 200 ? 1 : 1 + rng_below(&rng, 20))) {
        unsigned char old = b[i];
        b[i] ^= (unsigned char)(1u << rng_below(&rng, 8));
        assert_true(load_fails(b, n, 0));
        b[i] = old;
    }
    /* without checksums, random mutations must still never crash or pass invalid data
     * into the index (hnsw_check runs after every successful load) */
    for (int t = 0; t < 3000; t++) {
        size_t i = 200 + rng_below(&rng, n - 200);
        unsigned char old = b[i];
        b[i] = (unsigned char)rng_below(&rng, 256);
        bienc_hnsw *h = NULL;
        if (hnsw_load_memory(&h, b, n, HNSW_LOAD_SKIP_CHECKSUM, "t.idx") == 0) {
            assert_int_equal(hnsw_check(h), 0);
            float q[8] = {1, 2, 3, 4, 5, 6, 7, 8};
            int64_t ids[5];
            float sc[5];
            assert_int_equal(hnsw_search(h, q, 1, 5, 10, 1, ids, sc), 0);
            hnsw_free(h);
        }
        b[i] = old;
    }
    /* a targeted structural error: a level-0 link out of range (checksum skipped) */
    uint32_t dim = 8, M0 = 8;
    size_t rec = dim * 4 + (1 + M0) * 4;
    int32_t bad = 100000;
    memcpy(b + 200 + rec * 5 + dim * 4 + 4, &bad, 4);
    int32_t cnt;
    memcpy(&cnt, b + 200 + rec * 5 + dim * 4, 4);
    assert_true(cnt >= 1);
    assert_true(load_fails(b, n, HNSW_LOAD_SKIP_CHECKSUM));
    assert_non_null(strstr(bienc_last_error(), "outside"));
    free(b);
}

static void test_foreign_file(void **state)
{
    (void)state;
    const char *txt = "qid\tQ0\tpid\t1\t0.5\trun\nthis is not an index at all, but long enough to have a header ...."
                      "......................................................................................"
                      "......................................................................................";
    assert_true(load_fails((const unsigned char *)txt, strlen(txt), 0));
    assert_non_null(strstr(bienc_last_error(), "not a bienc HNSW index"));
    /* right magic, wrong version */
    size_t n;
    unsigned char *b = small_index_bytes(&n);
    b[8] = 9;
    assert_true(load_fails(b, n, HNSW_LOAD_SKIP_CHECKSUM));
    assert_non_null(strstr(bienc_last_error(), "version"));
    free(b);
    bienc_hnsw *h;
    assert_int_equal(hnsw_load(&h, "/nonexistent/dir/x.idx"), BIENC_ENOTFOUND);
}

static void test_empty_and_args(void **state)
{
    (void)state;
    bienc_hnsw_params p;
    hnsw_params_default(&p);
    bienc_hnsw *h;
    assert_int_equal(hnsw_create(&h, &p), BIENC_EINVAL); /* dim 0 */
    p.dim = 4;
    p.M = 1;
    assert_int_equal(hnsw_create(&h, &p), BIENC_EINVAL);
    p.M = 16;
    assert_int_equal(hnsw_create(&h, &p), 0);
    float q[4] = {1, 0, 0, 0}, nan4[4] = {NAN, 0, 0, 0};
    int64_t ids[2];
    float sc[2];
    assert_int_equal(hnsw_search(h, q, 1, 2, 10, 1, ids, sc), 0);
    assert_int_equal(ids[0], -1);
    assert_int_equal(hnsw_add(h, nan4, 1, NULL, 1), BIENC_EINVAL);
    assert_int_equal(hnsw_count(h), 0);
    /* an empty index round-trips */
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("empty"));
    assert_int_equal(hnsw_save(h, path), 0);
    bienc_hnsw *g;
    assert_int_equal(hnsw_load(&g, path), 0);
    assert_int_equal(hnsw_count(g), 0);
    assert_int_equal(hnsw_add(g, q, 1, NULL, 1), 0);
    assert_int_equal(hnsw_search(g, q, 1, 2, 10, 1, ids, sc), 0);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], -1);
    unlink(path);
    hnsw_free(g);
    hnsw_free(h);
    hnsw_free(NULL);
    int m;
    assert_int_equal(hnsw_metric_parse("cosine", &m), 0);
    assert_int_equal(m, BIENC_INDEX_COSINE);
    assert_int_equal(hnsw_metric_parse("dot", &m), BIENC_EINVAL);
}

/* A crafted index with valid checksums whose vectors are finite but huge (3e38: their dot
 * products are Inf, scores NaN) is refused at load, naming the element (issue 14). */
static void test_load_refuses_overflowing_vectors(void **state)
{
    float x[20 * 8];
    for (int i = 0; i < 20 * 8; i++) x[i] = (float)((i * 7) % 13) - 6.0f;
    bienc_hnsw *h = build(x, 20, 8, BIENC_INDEX_IP, 1, 1);
    hnsw_vec(h, 11)[3] = 3e38f; /* behind the builder's back: the writer checksums what it finds */
    char path[256];
    snprintf(path, sizeof path, "%s", tmp_path("big"));
    assert_int_equal(hnsw_save(h, path), 0);
    bienc_hnsw *g = NULL;
    assert_int_equal(hnsw_load(&g, path), BIENC_EFORMAT);
    assert_non_null(strstr(bienc_last_error(), "element 11"));
    assert_non_null(strstr(bienc_last_error(), "overflow"));
    hnsw_vec(h, 11)[3] = 1.0f;
    assert_int_equal(hnsw_save(h, path), 0);
    assert_int_equal(hnsw_load(&g, path), 0);
    hnsw_free(g);
    hnsw_free(h);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recall_every_metric), cmocka_unit_test(test_exact_oracle),
        cmocka_unit_test(test_single_thread_deterministic), cmocka_unit_test(test_parallel_build_valid),
        cmocka_unit_test(test_parallel_build_no_orphans),
        cmocka_unit_test(test_add_delete_search), cmocka_unit_test(test_save_load_add),
        cmocka_unit_test(test_load_refuses_overflowing_vectors),
        cmocka_unit_test(test_truncation), cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_foreign_file), cmocka_unit_test(test_empty_and_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
