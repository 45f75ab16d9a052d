/* The stable public API of include/bienc/bienc.h: thin wrappers that hide the module
 * types (bi-encoder + tape, HNSW index) behind opaque handles. Lives in `train` because
 * that module may depend on both the model/io and the index modules. */
#include <stdlib.h>
#include <string.h>

#include "bienc/bienc.h"
#include "model/biencoder.h"
#include "core/error.h"
#include "index/hnsw.h"
#include "io/model_io.h"
#include "core/tape.h"
#include "core/version.h"

struct bienc_model {
    bienc_biencoder *bi;
    bienc_tape *tape;   /* reused across calls: one batch's activations */
};

struct bienc_index {
    bienc_hnsw *h;
};

const char *bienc_version(void) { return BIENC_VERSION_STRING; }

int bienc_model_open(const char *path, bienc_model **out)
{
    if (!path || !out) return bienc_error(BIENC_EINVAL, "bienc_model_open: NULL argument");
    *out = NULL;
    bienc_model *m = calloc(1, sizeof *m);
    if (!m) return bienc_error(BIENC_ENOMEM, "bienc_model_open: out of memory");
    int rc = model_io_load(path, &m->bi);
    if (rc == 0) rc = tape_new(&m->tape);
    if (rc < 0) {
        bienc_model_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void bienc_model_close(bienc_model *m)
{
    if (!m) return;
    tape_free(m->tape);
    biencoder_free(m->bi);
    free(m);
}

int bienc_model_dim(const bienc_model *m) { return m ? biencoder_dim(m->bi) : 0; }

int bienc_model_normalized(const bienc_model *m) { return m ? m->bi->normalize : 0; }

int bienc_model_set_precision(bienc_model *m, const char *precision)
{
    if (!m) return bienc_error(BIENC_EINVAL, "bienc_model_set_precision: NULL model");
    bienc_precision p;
    BIENC_TRY(precision_parse(precision, &p));
    tape_set_precision(m->tape, p);
    return 0;
}

int bienc_encode(bienc_model *m, const char *const *texts, int64_t n, int is_query, float *out)
{
    if (!m || n < 0 || (n > 0 && (!texts || !out))) return bienc_error(BIENC_EINVAL, "bienc_encode: NULL argument or n < 0");
    for (int64_t i = 0; i < n; i++)
        if (!texts[i]) return bienc_error(BIENC_EINVAL, "bienc_encode: texts[%lld] is NULL", (long long)i);
    if (n == 0) return 0;
    return biencoder_encode_texts(m->bi, m->tape, texts, NULL, n, is_query ? BIENC_SIDE_QUERY : BIENC_SIDE_PASSAGE, 64,
                                  out);
}

int bienc_index_open(const char *path, bienc_index **out)
{
    if (!path || !out) return bienc_error(BIENC_EINVAL, "bienc_index_open: NULL argument");
    *out = NULL;
    bienc_index *x = calloc(1, sizeof *x);
    if (!x) return bienc_error(BIENC_ENOMEM, "bienc_index_open: out of memory");
    int rc = hnsw_load(&x->h, path);
    if (rc < 0) {
        free(x);
        return rc;
    }
    *out = x;
    return 0;
}

void bienc_index_close(bienc_index *x)
{
    if (!x) return;
    hnsw_free(x->h);
    free(x);
}

int bienc_index_dim(const bienc_index *x) { return x ? hnsw_dim(x->h) : 0; }

int64_t bienc_index_count(const bienc_index *x) { return x ? hnsw_live_count(x->h) : 0; }

int bienc_search(const bienc_index *x, const float *queries, int64_t nq, int k, int ef, int64_t *ids, float *scores)
{
    if (!x || nq < 0 || (nq > 0 && (!queries || !ids || !scores)))
        return bienc_error(BIENC_EINVAL, "bienc_search: NULL argument or nq < 0");
    if (k < 1) return bienc_error(BIENC_EINVAL, "bienc_search: k must be >= 1, not %d", k);
    if (ef <= 0) ef = k > 100 ? k : 100;
    return hnsw_search(x->h, queries, nq, k, ef, 0, ids, scores);
}

const char *bienc_index_name(const bienc_index *x, int64_t id)
{
    if (!x || id < 0 || id >= hnsw_count(x->h)) return NULL;
    return hnsw_name(x->h, id);
}
