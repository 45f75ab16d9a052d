/* The bi-encoder: one shared encoder for both towers, plus inference over many texts. */
#include <stdlib.h>
#include <string.h>

#include "model/biencoder.h"
#include "core/error.h"

void biencoder_opts_default(bienc_biencoder_opts *o)
{
    o->pool = BIENC_POOL_MEAN;
    o->normalize = 0;
    o->max_query_len = 32;
    o->max_passage_len = 128;
    o->late_interaction = 0;
}

int biencoder_check(const bienc_biencoder *bi)
{
    if (!bi || !bi->enc || !bi->tok) return bienc_error(BIENC_EINVAL, "bi-encoder: NULL encoder or tokenizer");
    const bienc_encoder_config *c = &bi->enc->cfg;
    if (bi->pool < BIENC_POOL_MEAN || bi->pool > BIENC_POOL_MAX)
        return bienc_error(BIENC_EINVAL, "bi-encoder: unknown pooling mode %d", (int)bi->pool);
    if (bi->max_query_len < 2 || bi->max_query_len > c->max_position_embeddings)
        return bienc_error(BIENC_EINVAL, "bi-encoder: max query length %d outside [2, max_position_embeddings %d]",
                           bi->max_query_len, c->max_position_embeddings);
    if (bi->max_passage_len < 2 || bi->max_passage_len > c->max_position_embeddings)
        return bienc_error(BIENC_EINVAL, "bi-encoder: max passage length %d outside [2, max_position_embeddings %d]",
                           bi->max_passage_len, c->max_position_embeddings);
    int v = tokenizer_vocab_size(bi->tok);
    if (v > c->vocab_size)
        return bienc_error(BIENC_EINVAL, "bi-encoder: the tokenizer has %d tokens but the encoder's vocab_size is %d", v,
                           c->vocab_size);
    if (tokenizer_cls_id(bi->tok) < 0 || tokenizer_sep_id(bi->tok) < 0)
        return bienc_error(BIENC_EINVAL, "bi-encoder: the vocabulary lacks [CLS] or [SEP]");
    return 0;
}

int biencoder_wrap(bienc_biencoder **out, bienc_encoder *enc, bienc_tokenizer *tok, const bienc_biencoder_opts *o)
{
    if (out) *out = NULL;
    bienc_biencoder *bi = calloc(1, sizeof *bi);
    if (!out || !enc || !tok || !bi) {
        free(bi);
        encoder_free(enc);
        tokenizer_free(tok);
        return out && enc && tok ? bienc_error(BIENC_ENOMEM, "bi-encoder: out of memory")
                                 : bienc_error(BIENC_EINVAL, "biencoder_wrap: NULL argument");
    }
    bienc_biencoder_opts d;
    if (!o) {
        biencoder_opts_default(&d);
        o = &d;
    }
    bi->enc = enc;
    bi->tok = tok;
    bi->pool = o->pool;
    bi->normalize = o->normalize;
    bi->max_query_len = o->max_query_len;
    bi->max_passage_len = o->max_passage_len;
    bi->late_interaction = o->late_interaction != 0;
    int rc = biencoder_check(bi);
    if (rc < 0) {
        biencoder_free(bi);
        return rc;
    }
    *out = bi;
    return 0;
}

int biencoder_new(bienc_biencoder **out, const bienc_encoder_config *cfg, uint64_t seed, bienc_tokenizer *tok,
                  const bienc_biencoder_opts *o)
{
    if (out) *out = NULL;
    if (!out || !cfg) {
        tokenizer_free(tok);
        return bienc_error(BIENC_EINVAL, "biencoder_new: NULL argument");
    }
    bienc_encoder *enc;
    int rc = encoder_new(&enc, cfg, seed);
    if (rc < 0) {
        tokenizer_free(tok);
        return rc;
    }
    return biencoder_wrap(out, enc, tok, o);
}

void biencoder_free(bienc_biencoder *bi)
{
    if (!bi) return;
    encoder_free(bi->enc);
    tokenizer_free(bi->tok);
    free(bi);
}

int biencoder_dim(const bienc_biencoder *bi) { return bi && bi->enc ? bi->enc->cfg.hidden_size : 0; }

int biencoder_max_len(const bienc_biencoder *bi, bienc_side side)
{
    if (!bi) return 0;
    return side == BIENC_SIDE_QUERY ? bi->max_query_len : bi->max_passage_len;
}

int biencoder_embed(bienc_biencoder *bi, bienc_tape *tape, const bienc_batch_ids *batch, int training,
                    uint64_t dropout_key, bienc_tensor **emb)
{
    if (!bi || !bi->enc) return bienc_error(BIENC_EINVAL, "biencoder_embed: NULL bi-encoder");
    return encoder_embed(bi->enc, tape, batch, bi->pool, bi->normalize, training, dropout_key, emb);
}

/* ---- inference over many texts ---- */

/* Texts are processed in chunks: each chunk is tokenised (in parallel) into a fixed
 * [chunk, max_len] id block, sorted by length and cut into batches. Memory stays at one
 * chunk's ids plus one batch's activations whatever n is. */
#define ENCODE_CHUNK 16384

typedef struct encode_chunk {
    int32_t *ids;      /* [cap * max_len] */
    int *len;          /* [cap] */
    int64_t *order;    /* [cap] sort keys: length << 32 | chunk-local index */
    int32_t *packed;   /* [batch * max_len] */
    int *offsets;      /* [batch + 1] */
} encode_chunk;

/* Sort keys are (length << 32 | chunk index): ascending length, input order on ties,
 * with no global state (qsort has no context argument). */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int tokenize_chunk(const bienc_biencoder *bi, const char *const *texts, const size_t *lens, int64_t start,
                          int64_t count, int max_len, encode_chunk *c)
{
    int rc = 0;
    int64_t bad = -1;
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < count; i++) {
        const char *s = texts[start + i];
        size_t l = s ? (lens ? lens[start + i] : strlen(s)) : 0;
        int n = 0;
        int r = tokenizer_encode(bi->tok, s ? s : "", l, 1, max_len, c->ids + i * max_len, max_len, &n);
        c->len[i] = n;
        if (r < 0) {
/* unnamed: a named critical section is a global symbol libbienc would export */
#pragma omp critical
            if (bad < 0 || start + i < bad) {
                bad = start + i;
                rc = r;
            }
        }
    }
    if (rc < 0) return bienc_error_context(rc, "encoding text %lld: ", (long long)bad);
    return 0;
}

static int encode_batch(bienc_biencoder *bi, bienc_tape *tape, encode_chunk *c, int64_t start, int64_t b0, int nb,
                        int max_len, float *out)
{
    int C = biencoder_dim(bi);
    c->offsets[0] = 0;
    for (int j = 0; j < nb; j++) {
        int64_t k = c->order[b0 + j] & 0xffffffff;
        memcpy(c->packed + c->offsets[j], c->ids + k * max_len, (size_t)c->len[k] * sizeof(int32_t));
        c->offsets[j + 1] = c->offsets[j] + c->len[k];
    }
    bienc_batch_ids b = {.ids = c->packed, .type_ids = NULL, .seqs = {.n = nb, .offsets = c->offsets}};
    tape_reset(tape);
    bienc_tensor *emb;
    BIENC_TRY(biencoder_embed(bi, tape, &b, 0, 0, &emb));
    for (int j = 0; j < nb; j++)
        memcpy(out + (start + (c->order[b0 + j] & 0xffffffff)) * (int64_t)C, emb->data + (int64_t)j * C, (size_t)C * sizeof(float));
    tape_reset(tape);
    return 0;
}

int biencoder_encode_texts(bienc_biencoder *bi, bienc_tape *tape, const char *const *texts, const size_t *lens,
                           int64_t n, bienc_side side, int batch_size, float *out)
{
    if (!bi || (n > 0 && (!texts || !out)) || n < 0)
        return bienc_error(BIENC_EINVAL, "biencoder_encode_texts: NULL or invalid argument");
    BIENC_TRY(biencoder_check(bi));
    if (bi->late_interaction)
        return bienc_error(BIENC_EINVAL, "a late-interaction (ColBERT) model scores a query against a passage by MaxSim "
                                         "over their token vectors and has no single vector per text to encode or index: "
                                         "use it to rerank (bienc rerank, or the teacher of bienc run)");
    if (n == 0) return 0;
    if (batch_size <= 0) batch_size = 64;
    int max_len = biencoder_max_len(bi, side);
    int64_t cap = n < ENCODE_CHUNK ? n : ENCODE_CHUNK;
    if (batch_size > cap) batch_size = (int)cap;

    bienc_tape *own = NULL;
    if (!tape) BIENC_TRY(tape_new(&own));
    bienc_tape *tp = tape ? tape : own;
    int grad_was = tape_grad_enabled(tp);
    tape_set_grad_enabled(tp, 0);

    encode_chunk c;
    c.ids = malloc((size_t)cap * max_len * sizeof(int32_t));
    c.len = malloc((size_t)cap * sizeof(int));
    c.order = malloc((size_t)cap * sizeof(int64_t));
    c.packed = malloc((size_t)batch_size * max_len * sizeof(int32_t));
    c.offsets = malloc((size_t)(batch_size + 1) * sizeof(int));
    int rc = (c.ids && c.len && c.order && c.packed && c.offsets) ? 0 : bienc_error(BIENC_ENOMEM, "encoding: out of memory");
    for (int64_t start = 0; rc == 0 && start < n; start += cap) {
        int64_t count = n - start < cap ? n - start : cap;
        rc = tokenize_chunk(bi, texts, lens, start, count, max_len, &c);
        if (rc < 0) break;
        for (int64_t i = 0; i < count; i++) c.order[i] = ((int64_t)c.len[i] << 32) | i;
        qsort(c.order, (size_t)count, sizeof *c.order, cmp_i64);
        for (int64_t b0 = 0; rc == 0 && b0 < count; b0 += batch_size) {
            int nb = (int)(count - b0 < batch_size ? count - b0 : batch_size);
            rc = encode_batch(bi, tp, &c, start, b0, nb, max_len, out);
        }
    }
    free(c.ids);
    free(c.len);
    free(c.order);
    free(c.packed);
    free(c.offsets);
    tape_reset(tp);
    tape_set_grad_enabled(tp, grad_was);
    tape_free(own);
    return rc;
}
