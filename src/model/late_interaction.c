/* Late interaction: MaxSim over a bi-encoder's token vectors (see late_interaction.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/late_interaction.h"

/* tok[T, C]: the token states of a packed batch, each row L2-normalised (cosines). */
static int late_tokens(bienc_biencoder *bi, bienc_tape *tape, const bienc_batch_ids *b, int training, uint64_t key,
                       bienc_tensor **out)
{
    bienc_tensor *hidden;
    BIENC_TRY(encoder_forward(bi->enc, tape, b, training, key, &hidden));
    return op_l2_normalize(tape, hidden, out);
}

int late_scores(bienc_biencoder *bi, bienc_tape *tape, const bienc_batch_ids *qb, const bienc_batch_ids *pb,
                int training, uint64_t dropout_key, float scale, bienc_tensor **scores)
{
    if (scores) *scores = NULL;
    if (!bi || !bi->enc || !tape || !qb || !pb || !scores) return bienc_error(BIENC_EINVAL, "late_scores: NULL argument");
    bienc_tensor *q, *p;
    BIENC_TRY(late_tokens(bi, tape, qb, training, dropout_key, &q));
    BIENC_TRY(late_tokens(bi, tape, pb, training, dropout_key + 1, &p));
    return op_maxsim(tape, q, &qb->seqs, p, &pb->seqs, scale, scores);
}

/* One packed side of a chunk: ids of up to cap texts of at most max_len tokens. */
typedef struct packed_side {
    int32_t *ids;
    int *offsets; /* [cap + 1] */
    int n, max_len;
} packed_side;

static int side_init(packed_side *s, int cap, int max_len)
{
    s->ids = malloc((size_t)cap * max_len * sizeof *s->ids);
    s->offsets = malloc((size_t)(cap + 1) * sizeof *s->offsets);
    s->n = 0;
    s->max_len = max_len;
    return s->ids && s->offsets ? 0 : bienc_error(BIENC_ENOMEM, "late interaction: out of memory");
}

static int side_add(packed_side *s, const bienc_biencoder *bi, const char *text, size_t len)
{
    if (s->n == 0) s->offsets[0] = 0;
    int got = 0, at = s->offsets[s->n];
    int rc = tokenizer_encode(bi->tok, text ? text : "", text ? len : 0, 1, s->max_len, s->ids + at, s->max_len, &got);
    if (rc < 0) return rc;
    s->offsets[++s->n] = at + got;
    return 0;
}

static bienc_batch_ids side_batch(const packed_side *s)
{
    return (bienc_batch_ids){.ids = s->ids, .type_ids = NULL, .seqs = {.n = s->n, .offsets = s->offsets}};
}

static size_t text_len(const char *const *t, const size_t *lens, int64_t k)
{
    return lens ? lens[k] : (t[k] ? strlen(t[k]) : 0);
}

/* Pair k shares pair k-1's query when both point at the same text. */
static int same_query(const char *const *q, const size_t *qlens, int64_t k)
{
    return k > 0 && q[k] == q[k - 1] && text_len(q, qlens, k) == text_len(q, qlens, k - 1);
}

int late_score_pairs(bienc_biencoder *bi, bienc_precision precision, const char *const *q, const size_t *qlens,
                     const char *const *p, const size_t *plens, int64_t n, int batch_size, float *scores)
{
    if (!bi || n < 0 || (n > 0 && (!q || !p || !scores)))
        return bienc_error(BIENC_EINVAL, "late_score_pairs: NULL or invalid argument");
    BIENC_TRY(biencoder_check(bi));
    if (precision == BIENC_PRECISION_AUTO)
        return bienc_error(BIENC_EINVAL, "late_score_pairs: resolve the precision first (train_precision)");
    if (n == 0) return 0;
    if (batch_size <= 0) batch_size = 128;
    bienc_tape *tape;
    BIENC_TRY(tape_new(&tape));
    tape_set_grad_enabled(tape, 0);
    tape_set_precision(tape, precision);
    packed_side qs, ps;
    memset(&qs, 0, sizeof qs);
    memset(&ps, 0, sizeof ps);
    int *group = malloc((size_t)batch_size * sizeof *group); /* pair -> its query's row in the chunk */
    int rc = side_init(&qs, batch_size, bi->max_query_len);
    if (rc == 0) rc = side_init(&ps, batch_size, bi->max_passage_len);
    if (rc == 0 && !group) rc = bienc_error(BIENC_ENOMEM, "late interaction: out of memory");
    /* chunks of up to batch_size pairs, cut anywhere: a query split over two chunks is
     * encoded in both (its vectors are the same: every op is per sequence) */
    for (int64_t start = 0; rc == 0 && start < n; start += batch_size) {
        int m = (int)(n - start < batch_size ? n - start : batch_size);
        qs.n = ps.n = 0;
        for (int j = 0; rc == 0 && j < m; j++) {
            int64_t k = start + j;
            if (j == 0 || !same_query(q, qlens, k)) rc = side_add(&qs, bi, q[k], text_len(q, qlens, k));
            group[j] = qs.n - 1;
            if (rc == 0) rc = side_add(&ps, bi, p[k], text_len(p, plens, k));
        }
        bienc_batch_ids qb = side_batch(&qs), pb = side_batch(&ps);
        bienc_tensor *s = NULL;
        tape_reset(tape);
        if (rc == 0) rc = late_scores(bi, tape, &qb, &pb, 0, 0, 1.0f, &s);
        for (int j = 0; rc == 0 && j < m; j++) scores[start + j] = s->data[(int64_t)group[j] * m + j];
        if (rc < 0) rc = bienc_error_context(rc, "late interaction, pairs %lld..%lld: ", (long long)start,
                                             (long long)(start + m - 1));
    }
    free(qs.ids);
    free(qs.offsets);
    free(ps.ids);
    free(ps.offsets);
    free(group);
    tape_free(tape);
    return rc;
}
