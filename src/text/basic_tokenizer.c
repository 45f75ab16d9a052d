/* BERT's basic tokenizer in one pass over the bytes: clean-up, CJK spacing, lower-casing,
 * accent stripping (NFD, drop Mn) and the split on whitespace and punctuation, emitting
 * each word as soon as it ends. It follows Hugging Face BertTokenizer step for step:
 *   clean:   drop U+0000, U+FFFD, C* characters (but \t \n \r); Zs and \t\n\r are spaces
 *   CJK:     an ideograph in BERT's ranges is a word of its own
 *   split:   on whitespace (plus U+2028/U+2029, which Python's str.split() also splits on)
 *   lower:   Python str.lower() (full mapping, final sigma), then NFD and drop Mn
 *   punct:   each P* / ASCII punctuation character (after NFD) is a word of its own
 * Invalid UTF-8 decodes to U+FFFD and is therefore dropped like any U+FFFD.
 * ASCII letters and digits take a fast path with no table lookup. */
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"

#define WORD_BUF (TOKENIZER_MAX_WORD_CHARS * 4 + 16)

typedef struct scan_state {
    basic_emit_fn emit;
    void *ctx;
    char buf[WORD_BUF];
    size_t len;           /* bytes in buf */
    int nchars;           /* characters in the word (may exceed what buf holds) */
    int prev_cased;       /* final sigma: the last non-case-ignorable char of this whitespace token was cased */
    int run_active;       /* canonical ordering: inside a run of kept non-starters */
    size_t run_start;     /* byte offset of that run in buf */
} scan_state;

static int flush(scan_state *s)
{
    int rc = 0;
    if (s->nchars > 0) rc = s->emit(s->ctx, s->buf, s->len, s->nchars);
    s->len = 0;
    s->nchars = 0;
    s->run_active = 0;
    return rc;
}

static void append(scan_state *s, uint32_t cp)
{
    s->nchars++;
    if (s->nchars <= TOKENIZER_MAX_WORD_CHARS) s->len += (size_t)utf8_encode(cp, s->buf + s->len);
}

/* A punctuation or CJK character: ends the current word and is a word by itself. */
static int single(scan_state *s, uint32_t cp)
{
    int rc = flush(s);
    if (rc) return rc;
    char b[4];
    int n = utf8_encode(cp, b);
    return s->emit(s->ctx, b, (size_t)n, 1);
}

/* Inserts a kept non-starter (a non-Mn mark with ccc != 0, e.g. U+302E) at its canonical
 * position among the previous kept non-starters of the run: a stable sort by ccc, as NFD
 * does. The dropped Mn marks of the run cannot change the relative order of kept ones. */
static void append_nonstarter(scan_state *s, uint32_t cp)
{
    if (s->nchars >= TOKENIZER_MAX_WORD_CHARS) { append(s, cp); return; }
    int ccc = unicode_ccc(cp);
    size_t pos = s->run_active ? s->run_start : s->len;
    if (!s->run_active) { s->run_active = 1; s->run_start = s->len; }
    while (pos < s->len) {
        uint32_t c;
        size_t n = utf8_decode((const unsigned char *)s->buf + pos, s->len - pos, &c);
        if (unicode_ccc(c) > ccc) break;
        pos += n;
    }
    char b[4];
    int n = utf8_encode(cp, b);
    memmove(s->buf + pos + n, s->buf + pos, s->len - pos);
    memcpy(s->buf + pos, b, (size_t)n);
    s->len += (size_t)n;
    s->nchars++;
}

/* Python's Final_Sigma: Σ lowers to ς when a cased letter precedes it (skipping
 * case-ignorables) and none follows it within the whitespace token. */
static int sigma_is_final(const unsigned char *p, size_t len, int prev_cased)
{
    if (!prev_cased) return 0;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        i += n;
        if (cp == 0 || cp == 0xFFFD) continue;
        uint32_t cls = unicode_class(cp);
        if ((cls & UC_CTRL) && cp != '\t' && cp != '\n' && cp != '\r') continue;
        if (cls & UC_CASE_IGN) continue;
        return !(cls & UC_CASED);
    }
    return 1;
}

/* One non-ASCII (or ASCII punctuation) character after the clean-up step. */
static int process_char(scan_state *s, uint32_t cp, uint32_t cls, int lower, const unsigned char *rest, size_t rest_len)
{
    if (cls & UC_CJK) {
        s->prev_cased = 0;
        if (!lower) return single(s, cp);
        uint32_t d[UNICODE_MAX_DECOMP];
        unicode_decompose(cp, d);  /* compatibility ideographs map to unified ones */
        return single(s, d[0]);
    }
    uint32_t low[UNICODE_MAX_LOWER];
    int nlow = 1;
    low[0] = cp;
    if (lower && (cls & UC_LOWER)) {
        if (cp == 0x3A3) low[0] = sigma_is_final(rest, rest_len, s->prev_cased) ? 0x3C2 : 0x3C3;
        else nlow = unicode_lower(cp, low);
    }
    if (!(cls & UC_CASE_IGN)) s->prev_cased = (cls & UC_CASED) != 0;
    for (int k = 0; k < nlow; k++) {
        uint32_t d[UNICODE_MAX_DECOMP];
        int nd = 1;
        d[0] = low[k];
        if (lower) nd = unicode_decompose(low[k], d);
        for (int j = 0; j < nd; j++) {
            uint32_t c = d[j];
            uint32_t ccls = (c == cp) ? cls : unicode_class(c);
            if (!lower) {
                if (ccls & UC_PUNCT) { int rc = single(s, c); if (rc) return rc; }
                else append(s, c);
                continue;
            }
            if (!(ccls & UC_CCC)) s->run_active = 0;
            if (ccls & UC_MN) continue;
            if (ccls & UC_PUNCT) {
                int rc = single(s, c);
                if (rc) return rc;
            } else if (ccls & UC_CCC) {
                append_nonstarter(s, c);
            } else {
                append(s, c);
            }
        }
    }
    return 0;
}

static int match_special(const bienc_tokenizer *t, const char *p, size_t avail)
{
    for (int k = 0; k < SPECIAL_COUNT; k++) {
        if (t->special[k] < 0) continue;
        size_t n = t->length[t->special[k]];
        if (n <= avail && memcmp(p, t->pool + t->offset[t->special[k]], n) == 0) return k;
    }
    return -1;
}

int basic_tokenize(const char *text, size_t len, int lower, const bienc_tokenizer *specials, basic_emit_fn emit,
                   basic_special_fn emit_special, void *ctx)
{
    scan_state s;
    s.emit = emit;
    s.ctx = ctx;
    s.len = 0;
    s.nchars = 0;
    s.prev_cased = 0;
    s.run_active = 0;
    s.run_start = 0;
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    int rc;
    while (i < len) {
        unsigned char b = p[i];
        if (b < 0x80) {
            i++;
            if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9')) {
                s.prev_cased = b >= 'a';
                s.run_active = 0;
                s.nchars++;
                if (s.nchars <= TOKENIZER_MAX_WORD_CHARS) s.buf[s.len++] = (char)b;
                continue;
            }
            if (b >= 'A' && b <= 'Z') {
                s.prev_cased = 1;
                s.run_active = 0;
                s.nchars++;
                if (s.nchars <= TOKENIZER_MAX_WORD_CHARS) s.buf[s.len++] = (char)(lower ? b + 32 : b);
                continue;
            }
            if (b == ' ' || b == '\t' || b == '\n' || b == '\r') {
                s.prev_cased = 0;
                if ((rc = flush(&s))) return rc;
                continue;
            }
            if (b < 32 || b == 127) continue;  /* control characters are dropped */
            if (b == '[' && specials && emit_special) {
                int k = match_special(specials, text + i - 1, len - (i - 1));
                if (k >= 0) {
                    if ((rc = flush(&s))) return rc;
                    if ((rc = emit_special(ctx, k))) return rc;
                    s.prev_cased = 0;
                    i += specials->length[specials->special[k]] - 1;
                    continue;
                }
            }
            /* ASCII punctuation; ' . : ^ ` are case-ignorable, the rest resets the sigma context */
            if (!(b == '\'' || b == '.' || b == ':' || b == '^' || b == '`')) s.prev_cased = 0;
            if ((rc = single(&s, b))) return rc;
            continue;
        }
        uint32_t cp;
        size_t n = utf8_decode(p + i, len - i, &cp);
        i += n;
        if (cp == 0xFFFD) continue;
        uint32_t cls = unicode_class(cp);
        if (cls & UC_CTRL) continue;
        if ((cls & UC_WS) || cp == 0x2028 || cp == 0x2029) {
            s.prev_cased = 0;
            if ((rc = flush(&s))) return rc;
            continue;
        }
        if ((rc = process_char(&s, cp, cls, lower, p + i, len - i))) return rc;
    }
    return flush(&s);
}

/* Public pre-tokenizer (used by vocabulary training): words over the length limit are
 * skipped, as WordPiece would only turn them into [UNK]. */
typedef struct pretok_ctx { tokenizer_word_fn fn; void *ctx; } pretok_ctx;

static int pretok_emit(void *ctx, const char *word, size_t len, int nchars)
{
    pretok_ctx *c = ctx;
    if (nchars > TOKENIZER_MAX_WORD_CHARS) return 0;
    return c->fn(word, len, c->ctx);
}

int tokenizer_pretokenize(const char *text, size_t len, int do_lower_case, tokenizer_word_fn fn, void *ctx)
{
    pretok_ctx c = {fn, ctx};
    if (!text && len) return bienc_error(BIENC_EINVAL, "tokenizer_pretokenize: NULL text");
    return basic_tokenize(text, len, do_lower_case != 0, NULL, pretok_emit, NULL, &c);
}
