/* WordPiece vocabulary training, the algorithm of Hugging Face tokenizers' WordPieceTrainer:
 * BPE merges over the words of the BERT pre-tokenizer, where a symbol that does not start
 * a word carries the "##" prefix.
 *   1. count the words of the corpus (normalized like the tokenizer that will use the vocab)
 *   2. alphabet: every character, or the limit_alphabet most frequent ones
 *   3. each word is a sequence of symbols: c1 ##c2 ##c3 ...
 *   4. repeatedly merge the most frequent adjacent pair (a, b) into a new symbol a + b
 *      (b without its "##"), until the vocabulary is full or the best pair occurs fewer
 *      than min_frequency times.
 * Determinism: ties in counts are broken by the symbol ids (which follow the sorted
 * alphabet and then the merge order), never by hash-table order. Pair counts are kept
 * exact and incremental; a lazy max-heap picks the best pair. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text/bytemap.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"

struct vocab_trainer {
    vocab_train_options o;
    bytemap words;     /* word -> count */
    int status;       /* first error seen while feeding */
};

void vocab_train_defaults(vocab_train_options *o)
{
    o->vocab_size = 16384;
    o->min_frequency = 2;
    o->limit_alphabet = 1000;
    o->do_lower_case = 1;
}

int vocab_trainer_new(vocab_trainer **out, const vocab_train_options *o)
{
    BIENC_ASSERT(out && o);
    if (o->vocab_size < SPECIAL_COUNT + 1 || o->vocab_size > 1 << 24)
        return bienc_error(BIENC_EINVAL, "vocabulary size %d out of range [%d, %d]", o->vocab_size, SPECIAL_COUNT + 1,
                           1 << 24);
    if (o->min_frequency < 0 || o->limit_alphabet < 0)
        return bienc_error(BIENC_EINVAL, "min_frequency and limit_alphabet must be >= 0");
    vocab_trainer *vt = calloc(1, sizeof *vt);
    if (!vt) return bienc_error(BIENC_ENOMEM, "vocab trainer: out of memory");
    vt->o = *o;
    bytemap_init(&vt->words);
    *out = vt;
    return 0;
}

void vocab_trainer_free(vocab_trainer *vt)
{
    if (!vt) return;
    bytemap_free(&vt->words);
    free(vt);
}

static int count_word(const char *w, size_t len, void *ctx)
{
    vocab_trainer *vt = ctx;
    int32_t e = bytemap_intern(&vt->words, w, len);
    if (e < 0) return vt->status = BIENC_ENOMEM;
    vt->words.value[e]++;
    return 0;
}

int vocab_trainer_feed(vocab_trainer *vt, const char *text, size_t len)
{
    if (!vt || (!text && len)) return bienc_error(BIENC_EINVAL, "vocab_trainer_feed: NULL argument");
    if (vt->status < 0) return vt->status;
    tokenizer_pretokenize(text ? text : "", len, vt->o.do_lower_case, count_word, vt);
    return vt->status;
}

/* ---- the merge state ---- */

typedef struct pair_info {
    int32_t a, b;
    int64_t count;
    int32_t *where;  /* words that contained the pair at some point (may be stale) */
    int32_t n_where, cap_where;
    int32_t stamp;   /* last merge step that saw this pair newly created */
} pair_info;

typedef struct heap_entry { int64_t count; int32_t a, b, pair; } heap_entry;

typedef struct trainer_state {
    bytemap tokens;              /* token string -> (entry index = id) */
    int32_t *syms;              /* all words' symbols */
    size_t *word_off;
    int32_t *word_len;
    int64_t *word_count;
    int32_t *word_stamp;
    int32_t n_words;
    pair_info *pairs;
    int32_t n_pairs, cap_pairs;
    uint64_t *pair_keys;        /* hash table: (a << 32 | b) + 1, 0 = empty */
    int32_t *pair_slots;
    uint32_t pair_mask;
    heap_entry *heap;
    size_t n_heap, cap_heap;
} trainer_state;

static uint32_t hash_pair(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (uint32_t)k;
}

static int pair_table_grow(trainer_state *s)
{
    uint32_t n = s->pair_keys ? (s->pair_mask + 1) * 2 : 1 << 16;
    uint64_t *keys = calloc(n, sizeof *keys);
    int32_t *slots = malloc(sizeof *slots * n);
    if (!keys || !slots) { free(keys); free(slots); return bienc_error(BIENC_ENOMEM, "vocab training: out of memory"); }
    for (int32_t p = 0; p < s->n_pairs; p++) {
        uint64_t k = ((uint64_t)(uint32_t)s->pairs[p].a << 32 | (uint32_t)s->pairs[p].b) + 1;
        uint32_t i = hash_pair(k) & (n - 1);
        while (keys[i]) i = (i + 1) & (n - 1);
        keys[i] = k;
        slots[i] = p;
    }
    free(s->pair_keys);
    free(s->pair_slots);
    s->pair_keys = keys;
    s->pair_slots = slots;
    s->pair_mask = n - 1;
    return 0;
}

/* Index of pair (a, b), created with count 0 when new; -1 on allocation failure. */
static int32_t pair_get(trainer_state *s, int32_t a, int32_t b)
{
    uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    if (!s->pair_keys || (uint32_t)(s->n_pairs + 1) * 2 > s->pair_mask + 1)
        if (pair_table_grow(s) < 0) return -1;
    uint32_t i = hash_pair(k) & s->pair_mask;
    while (s->pair_keys[i]) {
        if (s->pair_keys[i] == k) return s->pair_slots[i];
        i = (i + 1) & s->pair_mask;
    }
    if (s->n_pairs == s->cap_pairs) {
        int32_t cap = s->cap_pairs ? s->cap_pairs * 2 : 4096;
        pair_info *p = realloc(s->pairs, sizeof *p * cap);
        if (!p) return bienc_error(BIENC_ENOMEM, "vocab training: out of memory"), -1;
        s->pairs = p;
        s->cap_pairs = cap;
    }
    int32_t idx = s->n_pairs++;
    pair_info *p = &s->pairs[idx];
    memset(p, 0, sizeof *p);
    p->a = a;
    p->b = b;
    p->stamp = -1;
    s->pair_keys[i] = k;
    s->pair_slots[i] = idx;
    return idx;
}

static int where_add(pair_info *p, int32_t w)
{
    if (p->n_where && p->where[p->n_where - 1] == w) return 0;
    if (p->n_where == p->cap_where) {
        int32_t cap = p->cap_where ? p->cap_where * 2 : 4;
        int32_t *nw = realloc(p->where, sizeof *nw * cap);
        if (!nw) return bienc_error(BIENC_ENOMEM, "vocab training: out of memory");
        p->where = nw;
        p->cap_where = cap;
    }
    p->where[p->n_where++] = w;
    return 0;
}

/* Max-heap on count; equal counts prefer the smaller (a, b). */
static int heap_less(const heap_entry *x, const heap_entry *y)
{
    if (x->count != y->count) return x->count < y->count;
    if (x->a != y->a) return x->a > y->a;
    return x->b > y->b;
}

static int heap_push(trainer_state *s, heap_entry e)
{
    if (s->n_heap == s->cap_heap) {
        size_t cap = s->cap_heap ? s->cap_heap * 2 : 4096;
        heap_entry *h = realloc(s->heap, sizeof *h * cap);
        if (!h) return bienc_error(BIENC_ENOMEM, "vocab training: out of memory");
        s->heap = h;
        s->cap_heap = cap;
    }
    size_t i = s->n_heap++;
    while (i > 0 && heap_less(&s->heap[(i - 1) / 2], &e)) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
    return 0;
}

static heap_entry heap_pop(trainer_state *s)
{
    heap_entry top = s->heap[0], last = s->heap[--s->n_heap];
    size_t i = 0, n = s->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(&s->heap[c], &s->heap[c + 1])) c++;
        if (!heap_less(&last, &s->heap[c])) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static void state_free(trainer_state *s)
{
    bytemap_free(&s->tokens);
    free(s->syms);
    free(s->word_off);
    free(s->word_len);
    free(s->word_count);
    free(s->word_stamp);
    for (int32_t p = 0; p < s->n_pairs; p++) free(s->pairs[p].where);
    free(s->pairs);
    free(s->pair_keys);
    free(s->pair_slots);
    free(s->heap);
}

/* ---- alphabet and initial symbols ---- */

typedef struct char_count { uint32_t cp; int64_t count; int initial_only; } char_count;

static int cmp_char_by_count(const void *x, const void *y)
{
    const char_count *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

static int cmp_char_by_cp(const void *x, const void *y)
{
    const char_count *a = x, *b = y;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

static int add_token(trainer_state *s, const char *tok, size_t len, int32_t *id)
{
    int32_t e = bytemap_intern(&s->tokens, tok, len);
    if (e < 0) return BIENC_ENOMEM;
    *id = e;
    return 0;
}

/* Specials, the alphabet and the "##" forms, then every word as symbol ids. */
static int init_symbols(trainer_state *s, const vocab_trainer *vt)
{
    const bytemap *W = &vt->words;
    /* per-character counts (weighted by word counts); chars seen in non-initial positions */
    bytemap chars;
    bytemap_init(&chars);
    size_t total_syms = 0;
    int rc = 0;
    for (int32_t w = 0; w < W->n && rc == 0; w++) {
        const unsigned char *p = (const unsigned char *)bytemap_key(W, w);
        size_t len = W->key_len[w], i = 0;
        int first = 1;
        while (i < len) {
            uint32_t cp;
            size_t n = utf8_decode(p + i, len - i, &cp);
            int32_t e = bytemap_intern(&chars, (const char *)p + i, n);
            if (e < 0) { rc = BIENC_ENOMEM; break; }
            /* value: count in the low 62 bits, bit 62 = appears after the first position */
            chars.value[e] += W->value[w];
            if (!first) chars.value[e] |= (int64_t)1 << 62;
            first = 0;
            i += n;
            total_syms++;
        }
    }
    char_count *cc = rc ? NULL : malloc(sizeof *cc * (chars.n ? chars.n : 1));
    if (!rc && !cc) rc = bienc_error(BIENC_ENOMEM, "vocab training: out of memory");
    int32_t n_alpha = 0;
    if (rc == 0) {
        for (int32_t e = 0; e < chars.n; e++) {
            utf8_decode((const unsigned char *)bytemap_key(&chars, e), chars.key_len[e], &cc[e].cp);
            cc[e].count = chars.value[e] & (((int64_t)1 << 62) - 1);
            cc[e].initial_only = !(chars.value[e] >> 62);
        }
        qsort(cc, (size_t)chars.n, sizeof *cc, cmp_char_by_count);
        n_alpha = chars.n;
        if (vt->o.limit_alphabet > 0 && n_alpha > vt->o.limit_alphabet) n_alpha = vt->o.limit_alphabet;
        qsort(cc, (size_t)n_alpha, sizeof *cc, cmp_char_by_cp);
        int32_t id;
        for (int k = 0; k < SPECIAL_COUNT && rc == 0; k++)
            rc = add_token(s, tokenizer_special_names[k], strlen(tokenizer_special_names[k]), &id);
        char buf[8];
        for (int32_t k = 0; k < n_alpha && rc == 0; k++) {
            int n = utf8_encode(cc[k].cp, buf);
            rc = add_token(s, buf, (size_t)n, &id);
        }
        buf[0] = buf[1] = '#';
        for (int32_t k = 0; k < n_alpha && rc == 0; k++) {
            if (cc[k].initial_only) continue;
            int n = utf8_encode(cc[k].cp, buf + 2);
            rc = add_token(s, buf, (size_t)n + 2, &id);
        }
    }
    free(cc);
    bytemap_free(&chars);
    if (rc < 0) return rc;
    /* the words as symbols; characters outside the alphabet are left out */
    s->n_words = W->n;
    s->syms = malloc(sizeof *s->syms * (total_syms ? total_syms : 1));
    s->word_off = malloc(sizeof *s->word_off * (W->n ? W->n : 1));
    s->word_len = malloc(sizeof *s->word_len * (W->n ? W->n : 1));
    s->word_count = malloc(sizeof *s->word_count * (W->n ? W->n : 1));
    s->word_stamp = malloc(sizeof *s->word_stamp * (W->n ? W->n : 1));
    if (!s->syms || !s->word_off || !s->word_len || !s->word_count || !s->word_stamp)
        return bienc_error(BIENC_ENOMEM, "vocab training: out of memory");
    size_t pos = 0;
    char buf[8] = "##";
    for (int32_t w = 0; w < W->n; w++) {
        const unsigned char *p = (const unsigned char *)bytemap_key(W, w);
        size_t len = W->key_len[w], i = 0;
        s->word_off[w] = pos;
        s->word_count[w] = W->value[w];
        s->word_stamp[w] = -1;
        while (i < len) {
            uint32_t cp;
            size_t n = utf8_decode(p + i, len - i, &cp);
            memcpy(buf + 2, p + i, n);
            int32_t id = i == 0 ? bytemap_find(&s->tokens, buf + 2, n) : bytemap_find(&s->tokens, buf, n + 2);
            if (id >= 0) s->syms[pos++] = id;
            i += n;
        }
        s->word_len[w] = (int32_t)(pos - s->word_off[w]);
    }
    return 0;
}

/* Adds `delta` occurrences of every adjacent pair of word w; pairs containing `fresh`
 * (the symbol just created) record w in their where-list and are collected in *new_pairs. */
static int count_word_pairs(trainer_state *s, int32_t w, int64_t delta, int32_t fresh, int32_t step, int32_t **new_pairs,
                            int32_t *n_new, int32_t *cap_new)
{
    const int32_t *sy = s->syms + s->word_off[w];
    for (int32_t i = 0; i + 1 < s->word_len[w]; i++) {
        int32_t p = pair_get(s, sy[i], sy[i + 1]);
        if (p < 0) return BIENC_ENOMEM;
        pair_info *pi = &s->pairs[p];
        pi->count += delta;
        if (delta > 0 && (fresh < 0 || sy[i] == fresh || sy[i + 1] == fresh)) {
            BIENC_TRY(where_add(pi, w));
            if (fresh >= 0 && pi->stamp != step) {
                pi->stamp = step;
                if (*n_new == *cap_new) {
                    int32_t cap = *cap_new ? *cap_new * 2 : 256;
                    int32_t *np = realloc(*new_pairs, sizeof *np * cap);
                    if (!np) return bienc_error(BIENC_ENOMEM, "vocab training: out of memory");
                    *new_pairs = np;
                    *cap_new = cap;
                }
                (*new_pairs)[(*n_new)++] = p;
            }
        }
    }
    return 0;
}

/* Merges every (a, b) of the words that contain it into `c`. */
static int apply_merge(trainer_state *s, int32_t pair, int32_t c, int32_t step)
{
    int32_t a = s->pairs[pair].a, b = s->pairs[pair].b;
    int32_t *where = s->pairs[pair].where, n_where = s->pairs[pair].n_where;
    s->pairs[pair].where = NULL;
    s->pairs[pair].n_where = s->pairs[pair].cap_where = 0;
    int32_t *new_pairs = NULL, n_new = 0, cap_new = 0;
    int rc = 0;
    for (int32_t k = 0; k < n_where && rc == 0; k++) {
        int32_t w = where[k];
        if (s->word_stamp[w] == step) continue;
        s->word_stamp[w] = step;
        int32_t *sy = s->syms + s->word_off[w];
        int32_t len = s->word_len[w], i;
        for (i = 0; i + 1 < len; i++)
            if (sy[i] == a && sy[i + 1] == b) break;
        if (i + 1 >= len) continue;  /* stale entry */
        rc = count_word_pairs(s, w, -s->word_count[w], -1, step, NULL, NULL, NULL);
        if (rc) break;
        int32_t o = 0;
        for (i = 0; i < len; i++) {
            if (i + 1 < len && sy[i] == a && sy[i + 1] == b) { sy[o++] = c; i++; }
            else sy[o++] = sy[i];
        }
        s->word_len[w] = o;
        rc = count_word_pairs(s, w, s->word_count[w], c, step, &new_pairs, &n_new, &cap_new);
    }
    free(where);
    /* pairs with the new symbol enter the queue with their final counts */
    for (int32_t k = 0; k < n_new && rc == 0; k++) {
        pair_info *p = &s->pairs[new_pairs[k]];
        if (p->count > 0) rc = heap_push(s, (heap_entry){p->count, p->a, p->b, new_pairs[k]});
    }
    free(new_pairs);
    return rc;
}

int vocab_trainer_finish(vocab_trainer *vt, bienc_tokenizer **out)
{
    BIENC_ASSERT(vt && out);
    *out = NULL;
    if (vt->status < 0) return vt->status;
    trainer_state s;
    memset(&s, 0, sizeof s);
    bytemap_init(&s.tokens);
    int rc = init_symbols(&s, vt);
    for (int32_t w = 0; w < s.n_words && rc == 0; w++)
        rc = count_word_pairs(&s, w, s.word_count[w], -1, 0, NULL, NULL, NULL);
    for (int32_t p = 0; p < s.n_pairs && rc == 0; p++)
        if (s.pairs[p].count > 0) rc = heap_push(&s, (heap_entry){s.pairs[p].count, s.pairs[p].a, s.pairs[p].b, p});
    int64_t min_freq = vt->o.min_frequency > 0 ? vt->o.min_frequency : 1;
    char buf[2 * (VOCAB_MAX_TOKEN_BYTES + 2)];
    int32_t step = 0;
    while (rc == 0 && s.tokens.n < vt->o.vocab_size && s.n_heap > 0) {
        heap_entry top = heap_pop(&s);
        int64_t now = s.pairs[top.pair].count;
        if (now != top.count) {
            /* stale: counts of existing pairs only fall, so re-queue with the true count */
            if (now > 0) rc = heap_push(&s, (heap_entry){now, top.a, top.b, top.pair});
            continue;
        }
        if (now < min_freq) break;
        /* new symbol: a + b without b's "##" */
        const char *ta = bytemap_key(&s.tokens, top.a), *tb = bytemap_key(&s.tokens, top.b);
        size_t la = s.tokens.key_len[top.a], lb = s.tokens.key_len[top.b];
        if (lb >= 2 && tb[0] == '#' && tb[1] == '#') { tb += 2; lb -= 2; }
        if (la + lb > VOCAB_MAX_TOKEN_BYTES) { s.pairs[top.pair].count = 0; continue; }
        memcpy(buf, ta, la);
        memcpy(buf + la, tb, lb);
        int32_t c;
        rc = add_token(&s, buf, la + lb, &c);
        if (rc == 0) rc = apply_merge(&s, top.pair, c, ++step);
    }
    if (rc == 0) {
        const char **toks = malloc(sizeof *toks * (s.tokens.n ? s.tokens.n : 1));
        if (!toks) rc = bienc_error(BIENC_ENOMEM, "vocab training: out of memory");
        else {
            for (int32_t i = 0; i < s.tokens.n; i++) toks[i] = bytemap_key(&s.tokens, i);
            rc = tokenizer_from_vocab_lines(out, toks, s.tokens.n, vt->o.do_lower_case, "trained vocabulary");
            free(toks);
        }
    } else if (rc == BIENC_ENOMEM) {
        rc = bienc_error(BIENC_ENOMEM, "vocab training: out of memory");
    }
    state_free(&s);
    return rc;
}
