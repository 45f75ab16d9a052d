/* Cross-encoder (BertForSequenceClassification, one label): encoder + pooler + classifier.
 * See src/model/cross_encoder.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/cross_encoder.h"
#include "core/error.h"
#include "ops/ops.h"
#include "ops/pooling.h"
#include "core/rng.h"

/* ---- construction ---- */

static int head_param(bienc_tensor **slot, const char *name, int64_t rows, int64_t cols,
                      bienc_rng *rng, float std)
{
    bienc_tensor *t;
    BIENC_TRY(cols > 0 ? tensor_new_2d(&t, rows, cols, 1) : tensor_new_1d(&t, rows, 1));
    *slot = t;
    BIENC_TRY(tensor_set_name(t, name));
    if (std > 0)
        for (int64_t i = 0; i < t->size; i++) t->data[i] = std * rng_normal(rng);
    return 0;
}

int cross_encoder_new(bienc_cross_encoder **out, const bienc_encoder_config *cfg, uint64_t seed,
                      bienc_tokenizer *tok, int max_len, int max_query_len)
{
    if (out) *out = NULL;
    if (!out || !cfg || !tok) {
        tokenizer_free(tok);
        return bienc_error(BIENC_EINVAL, "cross_encoder_new: NULL argument");
    }
    int rc = encoder_config_check(cfg);
    if (rc == 0 && (max_len < 4 || max_len > cfg->max_position_embeddings))
        rc = bienc_error(BIENC_EINVAL, "cross-encoder: max_len %d outside [4, max_position_embeddings %d]", max_len,
                         cfg->max_position_embeddings);
    if (rc == 0 && (max_query_len < 2 || max_query_len > max_len - 2))
        rc = bienc_error(BIENC_EINVAL, "cross-encoder: max_query_len %d outside [2, max_len - 2 = %d]", max_query_len,
                         max_len - 2);
    if (rc == 0 && (tokenizer_cls_id(tok) < 0 || tokenizer_sep_id(tok) < 0))
        rc = bienc_error(BIENC_EINVAL, "cross-encoder: the vocabulary lacks [CLS] or [SEP]");
    if (rc == 0 && tokenizer_vocab_size(tok) > cfg->vocab_size)
        rc = bienc_error(BIENC_EINVAL, "cross-encoder: tokenizer has %d tokens, model vocab_size is %d",
                         tokenizer_vocab_size(tok), cfg->vocab_size);
    if (cfg->type_vocab_size < 2 && rc == 0)
        rc = bienc_error(BIENC_EINVAL, "cross-encoder: type_vocab_size must be >= 2 (query and passage segments)");
    if (rc < 0) {
        tokenizer_free(tok);
        return rc;
    }
    bienc_cross_encoder *ce = calloc(1, sizeof *ce);
    if (!ce) {
        tokenizer_free(tok);
        return bienc_error(BIENC_ENOMEM, "cross_encoder_new: out of memory");
    }
    ce->tok = tok;
    ce->max_len = max_len;
    ce->max_query_len = max_query_len;
    rc = encoder_new(&ce->enc, cfg, seed);
    /* the head's own stream, so the encoder's parameters equal a bi-encoder's of the same seed */
    bienc_rng rng;
    rng_seed(&rng, rng_hash_u64(seed, 0x68656164ull));
    int64_t C = cfg->hidden_size;
    float std = cfg->initializer_range;
    if (rc == 0) rc = head_param(&ce->pooler_w, "pooler.dense.weight", C, C, &rng, std);
    if (rc == 0) rc = head_param(&ce->pooler_b, "pooler.dense.bias", C, 0, &rng, 0);
    if (rc == 0) rc = head_param(&ce->cls_w, "classifier.weight", 1, C, &rng, std);
    if (rc == 0) rc = head_param(&ce->cls_b, "classifier.bias", 1, 0, &rng, 0);
    if (rc == 0) {
        ce->n_params = ce->enc->n_params + 4;
        ce->params = malloc((size_t)ce->n_params * sizeof *ce->params);
        if (!ce->params) rc = bienc_error(BIENC_ENOMEM, "cross_encoder_new: out of memory");
    }
    if (rc < 0) {
        cross_encoder_free(ce);
        return rc;
    }
    memcpy(ce->params, ce->enc->params, (size_t)ce->enc->n_params * sizeof *ce->params);
    bienc_tensor *head[4] = {ce->pooler_w, ce->pooler_b, ce->cls_w, ce->cls_b};
    memcpy(ce->params + ce->enc->n_params, head, sizeof head);
    *out = ce;
    return 0;
}

void cross_encoder_free(bienc_cross_encoder *ce)
{
    if (!ce) return;
    encoder_free(ce->enc);
    tokenizer_free(ce->tok);
    tensor_free(ce->pooler_w);
    tensor_free(ce->pooler_b);
    tensor_free(ce->cls_w);
    tensor_free(ce->cls_b);
    free(ce->params);
    free(ce);
}

void cross_encoder_zero_grad(bienc_cross_encoder *ce)
{
    for (int i = 0; ce && i < ce->n_params; i++) tensor_zero_grad(ce->params[i]);
}

bienc_tensor *cross_encoder_find_param(bienc_cross_encoder *ce, const char *name)
{
    if (!ce || !name) {
        bienc_error(BIENC_EINVAL, "cross_encoder_find_param: NULL argument");
        return NULL;
    }
    for (int i = 0; i < ce->n_params; i++)
        if (strcmp(ce->params[i]->name, name) == 0) return ce->params[i];
    bienc_error(BIENC_ENOTFOUND, "cross-encoder: no parameter named '%s'", name);
    return NULL;
}

/* ---- forward ---- */

int cross_encoder_forward(bienc_cross_encoder *ce, bienc_tape *tape, const bienc_batch_ids *batch, int training,
                          uint64_t dropout_key, bienc_tensor **logits)
{
    BIENC_ASSERT(ce && tape && batch && logits);
    bienc_tensor *hidden, *cls, *pooled, *act, *drop;
    BIENC_TRY(encoder_forward(ce->enc, tape, batch, training, dropout_key, &hidden));
    BIENC_TRY(op_pool(tape, hidden, &batch->seqs, BIENC_POOL_CLS, &cls));     /* [n, C] */
    BIENC_TRY(op_linear(tape, cls, ce->pooler_w, ce->pooler_b, &pooled));     /* [n, C] */
    BIENC_TRY(op_tanh(tape, pooled, &act));
    /* BertForSequenceClassification: dropout(hidden_dropout_prob) before the classifier */
    BIENC_TRY(op_dropout(tape, act, ce->enc->cfg.hidden_dropout, rng_hash_u64(dropout_key, 0xc1a55ull), training,
                         &drop));
    return op_linear(tape, drop, ce->cls_w, ce->cls_b, logits);              /* [n, 1] */
}

int cross_encoder_tokenize_pair(const bienc_cross_encoder *ce, const char *q, size_t qlen, const char *p, size_t plen,
                                int32_t *ids, int32_t *type_ids, int *n_out)
{
    BIENC_ASSERT(ce && ids && type_ids && n_out);
    /* cut the query first (its pieces without specials), so long queries never crowd out
     * the passage; the pair is then cut longest-first to max_len */
    int qcap = ce->max_query_len - 2, nq = 0;
    int32_t qbuf[512];
    if (qcap > 512) qcap = 512;
    if (qcap > 0) { /* max_len <= 0 would mean "no limit" to the tokenizer */
        int rc = tokenizer_encode(ce->tok, q ? q : "", q ? qlen : 0, 0, qcap, qbuf, qcap, &nq);
        if (rc < 0 && rc != BIENC_ERANGE) return rc;
        if (nq > qcap) nq = qcap;
    }
    int np = 0, room = ce->max_len - 3 - nq;
    if (room > 0) { /* the passage's pieces go straight into place after [CLS] q [SEP] */
        int rc = tokenizer_encode(ce->tok, p ? p : "", p ? plen : 0, 0, room, ids + 2 + nq, room, &np);
        if (rc < 0 && rc != BIENC_ERANGE) return rc;
        if (np > room) np = room;
    }
    ids[0] = tokenizer_cls_id(ce->tok);
    memcpy(ids + 1, qbuf, (size_t)nq * sizeof *ids);
    ids[1 + nq] = tokenizer_sep_id(ce->tok);
    ids[2 + nq + np] = tokenizer_sep_id(ce->tok);
    int n = 3 + nq + np;
    for (int i = 0; i < n; i++) type_ids[i] = i < 2 + nq ? 0 : 1;
    /* exact-match token types: with a third token type, a passage piece that also occurs in
     * the query is marked 2, which a model trained from scratch picks up at once (matching
     * through attention alone takes a long plateau to learn) */
    if (ce->enc->cfg.type_vocab_size >= 3)
        for (int i = 2 + nq; i < 2 + nq + np; i++)
            for (int j = 1; j <= nq; j++)
                if (ids[i] == ids[j]) {
                    type_ids[i] = 2;
                    break;
                }
    *n_out = n;
    return 0;
}

/* ---- inference over many pairs ---- */

/* Pairs go through in chunks: tokenised in parallel into a [chunk, max_len] block, sorted
 * by length (input order on ties) and cut into batches, so packed batches waste nothing. */
#define SCORE_CHUNK 8192

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int cross_encoder_score(bienc_cross_encoder *ce, bienc_tape *tape, const char *const *q, const size_t *qlens,
                        const char *const *p, const size_t *plens, int64_t n, int batch_size, float *scores)
{
    if (!ce || n < 0 || (n > 0 && (!q || !p || !scores)))
        return bienc_error(BIENC_EINVAL, "cross_encoder_score: NULL or invalid argument");
    if (n == 0) return 0;
    if (batch_size <= 0) batch_size = 64;
    int L = ce->max_len;
    int64_t cap = n < SCORE_CHUNK ? n : SCORE_CHUNK;
    if (batch_size > cap) batch_size = (int)cap;
    bienc_tape *own = NULL;
    if (!tape) BIENC_TRY(tape_new(&own));
    bienc_tape *tp = tape ? tape : own;
    int grad_was = tape_grad_enabled(tp);
    tape_set_grad_enabled(tp, 0);

    int32_t *ids = malloc((size_t)cap * L * sizeof *ids), *types = malloc((size_t)cap * L * sizeof *types);
    int32_t *pids = malloc((size_t)batch_size * L * sizeof *pids), *ptypes = malloc((size_t)batch_size * L * sizeof *ptypes);
    int *len = malloc((size_t)cap * sizeof *len), *offsets = malloc((size_t)(batch_size + 1) * sizeof *offsets);
    int64_t *order = malloc((size_t)cap * sizeof *order);
    int rc = ids && types && pids && ptypes && len && offsets && order ? 0 : bienc_error(BIENC_ENOMEM, "scoring pairs: out of memory");
    for (int64_t start = 0; rc == 0 && start < n; start += cap) {
        int64_t count = n - start < cap ? n - start : cap;
        int64_t bad = -1;
#pragma omp parallel for schedule(dynamic, 64)
        for (int64_t i = 0; i < count; i++) {
            int64_t k = start + i;
            size_t ql = q[k] ? (qlens ? qlens[k] : strlen(q[k])) : 0, pl = p[k] ? (plens ? plens[k] : strlen(p[k])) : 0;
            int r = cross_encoder_tokenize_pair(ce, q[k], ql, p[k], pl, ids + i * L, types + i * L, &len[i]);
            if (r < 0) {
/* unnamed: a named critical section is a global symbol libbienc would export */
#pragma omp critical
                if (bad < 0 || k < bad) bad = k;
            }
        }
        if (bad >= 0) {
            rc = bienc_error(BIENC_EINVAL, "scoring pairs: pair %lld could not be tokenised", (long long)bad);
            break;
        }
        for (int64_t i = 0; i < count; i++) order[i] = ((int64_t)len[i] << 32) | i;
        qsort(order, (size_t)count, sizeof *order, cmp_i64);
        for (int64_t b0 = 0; rc == 0 && b0 < count; b0 += batch_size) {
            int nb = (int)(count - b0 < batch_size ? count - b0 : batch_size);
            offsets[0] = 0;
            for (int j = 0; j < nb; j++) {
                int64_t k = order[b0 + j] & 0xffffffff;
                memcpy(pids + offsets[j], ids + k * L, (size_t)len[k] * sizeof *ids);
                memcpy(ptypes + offsets[j], types + k * L, (size_t)len[k] * sizeof *types);
                offsets[j + 1] = offsets[j] + len[k];
            }
            bienc_batch_ids b = {.ids = pids, .type_ids = ptypes, .seqs = {.n = nb, .offsets = offsets}};
            tape_reset(tp);
            bienc_tensor *logits;
            rc = cross_encoder_forward(ce, tp, &b, 0, 0, &logits);
            for (int j = 0; rc == 0 && j < nb; j++) scores[start + (order[b0 + j] & 0xffffffff)] = logits->data[j];
        }
    }
    free(ids);
    free(types);
    free(pids);
    free(ptypes);
    free(len);
    free(offsets);
    free(order);
    tape_reset(tp);
    tape_set_grad_enabled(tp, grad_was);
    tape_free(own);
    return rc;
}
