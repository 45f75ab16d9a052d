/* WordPiece: each word of the basic tokenizer becomes the greedy longest-match-first
 * sequence of vocabulary pieces, continuations carrying "##"; a word with no complete
 * segmentation (or over 100 characters) becomes one [UNK]. Then the special tokens and
 * truncation of single texts and pairs, as Hugging Face's fast BERT tokenizer does. */
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"

/* Collects ids into a caller buffer; stops the scan once `limit` ids are known. */
typedef struct wp_out {
    const bienc_tokenizer *t;
    int32_t *ids;
    int cap;     /* room in ids */
    int n;       /* ids produced so far (may exceed cap only up to limit) */
    int limit;   /* stop after this many ids (INT_MAX-ish when unlimited) */
} wp_out;

static int out_push(wp_out *o, int32_t id)
{
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
    return o->n >= o->limit;  /* non-zero stops the scan */
}

static int wordpiece_word(void *ctx, const char *w, size_t len, int nchars)
{
    wp_out *o = ctx;
    const bienc_tokenizer *t = o->t;
    if (nchars > TOKENIZER_MAX_WORD_CHARS) return out_push(o, t->special[SPECIAL_UNK]);
    /* Whole word first: the common case in English text. */
    int id = vocab_lookup(t, 0, w, len);
    if (id >= 0) return out_push(o, id);
    int32_t pieces[TOKENIZER_MAX_WORD_CHARS];
    int np = 0;
    size_t start = 0;
    while (start < len) {
        size_t end = len;
        if (end - start > (size_t)t->max_piece_bytes) end = start + (size_t)t->max_piece_bytes;
        int found = -1;
        while (end > start) {
            /* only cut at character boundaries */
            while (end > start && end < len && ((unsigned char)w[end] & 0xC0) == 0x80) end--;
            if (end == start) break;
            found = vocab_lookup(t, start > 0, w + start, end - start);
            if (found >= 0) break;
            end--;
        }
        if (found < 0) return out_push(o, t->special[SPECIAL_UNK]);
        pieces[np++] = found;
        start = end;
    }
    for (int k = 0; k < np; k++)
        if (out_push(o, pieces[k])) return 1;
    return 0;
}

static int special_word(void *ctx, int k)
{
    wp_out *o = ctx;
    return out_push(o, o->t->special[k]);
}

/* Pieces of one text into ids[0..cap), at most `limit` of them; returns the count
 * (which is min(total, limit), possibly more than cap). */
static int encode_text(const bienc_tokenizer *t, const char *text, size_t len, int32_t *ids, int cap, int limit)
{
    wp_out o = {t, ids, cap, 0, limit};
    if (limit <= 0) return 0;
    basic_tokenize(text, len, t->do_lower_case, t, wordpiece_word, special_word, &o);
    return o.n;
}

#define NO_LIMIT 0x3FFFFFFF

int tokenizer_encode(const bienc_tokenizer *t, const char *text, size_t len, int add_special, int max_len,
                     int32_t *ids, int cap, int *n_out)
{
    if (!t || (!text && len) || !n_out || cap < 0 || (!ids && cap > 0))
        return bienc_error(BIENC_EINVAL, "tokenizer_encode: invalid argument");
    if (!text) text = "";
    int nspecial = add_special ? 2 : 0;
    if (add_special && (t->special[SPECIAL_CLS] < 0 || t->special[SPECIAL_SEP] < 0))
        return bienc_error(BIENC_ESTATE, "tokenizer_encode: the vocabulary has no [CLS] / [SEP] token");
    if (max_len > 0 && max_len < nspecial)
        return bienc_error(BIENC_EINVAL, "tokenizer_encode: max length %d leaves no room for [CLS] and [SEP]", max_len);
    int limit = max_len > 0 ? max_len - nspecial : NO_LIMIT;
    int off = add_special ? 1 : 0;
    int room = cap - off > 0 ? cap - off : 0;
    int n = encode_text(t, text, len, ids + (cap > 0 ? off : 0), room, limit);
    int total = n + nspecial;
    if (add_special) {
        if (cap > 0) ids[0] = t->special[SPECIAL_CLS];
        if (total - 1 < cap) ids[total - 1] = t->special[SPECIAL_SEP];
    }
    *n_out = total;
    if (total > cap)
        return bienc_error(BIENC_ERANGE, "tokenizer_encode: %d ids do not fit in a buffer of %d", total, cap);
    return 0;
}

/* Longest-first truncation of a pair to `room` pieces, as tokenizers' truncate_encodings:
 * the shorter part is kept whole when it fits in half, else both get half (the part that
 * was longer gets the odd one). */
static void truncate_pair(int *na, int *nb, int room)
{
    if (*na + *nb <= room) return;
    int n1 = *na, n2 = *nb, swap = 0;
    if (n1 > n2) { int x = n1; n1 = n2; n2 = x; swap = 1; }
    if (n1 > room) n2 = n1;
    else n2 = n1 > room - n1 ? n1 : room - n1;
    if (n1 + n2 > room) {
        n1 = room / 2;
        n2 = n1 + room % 2;
    }
    if (swap) { int x = n1; n1 = n2; n2 = x; }
    if (n1 < *na) *na = n1;
    if (n2 < *nb) *nb = n2;
}

int tokenizer_encode_pair(const bienc_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                          int max_len, int32_t *ids, int32_t *type_ids, int cap, int *n_out)
{
    if (!t || (!a && alen) || (!b && blen) || !n_out || cap < 0 || (!ids && cap > 0))
        return bienc_error(BIENC_EINVAL, "tokenizer_encode_pair: invalid argument");
    if (t->special[SPECIAL_CLS] < 0 || t->special[SPECIAL_SEP] < 0)
        return bienc_error(BIENC_ESTATE, "tokenizer_encode_pair: the vocabulary has no [CLS] / [SEP] token");
    if (max_len > 0 && max_len < 3)
        return bienc_error(BIENC_EINVAL, "tokenizer_encode_pair: max length %d leaves no room for the specials",
                           max_len);
    if (!a) a = "";
    if (!b) b = "";
    int room = max_len > 0 ? max_len - 3 : NO_LIMIT;
    /* a is counted in full (written straight after [CLS]); b only as far as the truncation
     * rule can tell: beyond room and beyond a's length its exact length does not matter. */
    int acap = cap - 1 > 0 ? cap - 1 : 0;
    int na = encode_text(t, a, alen, ids + (cap > 0 ? 1 : 0), acap, NO_LIMIT);
    int blimit = max_len > 0 ? (na > room ? na : room) + 1 : NO_LIMIT;
    int32_t dummy;
    int nb = encode_text(t, b, blen, &dummy, 0, blimit);
    int na_kept = na, nb_kept = nb;
    truncate_pair(&na_kept, &nb_kept, room);
    int total = na_kept + nb_kept + 3;
    *n_out = total;
    if (total > cap)
        return bienc_error(BIENC_ERANGE, "tokenizer_encode_pair: %d ids do not fit in a buffer of %d", total, cap);
    ids[0] = t->special[SPECIAL_CLS];
    ids[na_kept + 1] = t->special[SPECIAL_SEP];
    int bpos = na_kept + 2;
    encode_text(t, b, blen, ids + bpos, nb_kept, nb_kept);
    ids[total - 1] = t->special[SPECIAL_SEP];
    if (type_ids)
        for (int i = 0; i < total; i++) type_ids[i] = i < bpos ? 0 : 1;
    return 0;
}
